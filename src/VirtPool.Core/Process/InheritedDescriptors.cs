using System.Globalization;
using System.Runtime.InteropServices;

namespace VirtPool.Core.Process;

/// <summary>
/// Descriptors this process got from its parent (a shell's extra redirections, a test host's pipes)
/// that are not close-on-exec would reach every tool it runs: libvirt closes all of them in its
/// children, and LVM warns about each one it finds ("File descriptor N leaked on pvs invocation"),
/// which would land in the error text of a failing tool. .NET opens its own descriptors close-on-exec
/// and cannot close the rest in the child, so they are marked close-on-exec here, before the first
/// tool runs.
/// </summary>
public static partial class InheritedDescriptors
{
    private const int FGetFd = 1;
    private const int FSetFd = 2;
    private const int FdCloexec = 1;

    private static int s_marked;

    /// <summary>Marks, once per process, every descriptor above stderr close-on-exec.</summary>
    public static void MarkOnce()
    {
        if (Interlocked.Exchange(ref s_marked, 1) == 0)
        {
            MarkCloseOnExec();
        }
    }

    /// <summary>Marks every descriptor above stderr close-on-exec; returns how many were not.</summary>
    public static int MarkCloseOnExec()
    {
        var changed = 0;
        string[] entries;
        try
        {
            entries = Directory.GetFileSystemEntries("/proc/self/fd");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return 0; // no /proc: nothing to do that could be done safely
        }

        foreach (var entry in entries)
        {
            if (!int.TryParse(Path.GetFileName(entry), NumberStyles.None, CultureInfo.InvariantCulture, out var fd) || fd <= 2)
            {
                continue;
            }

            var flags = Fcntl(fd, FGetFd, 0);
            if (flags >= 0 && (flags & FdCloexec) == 0 && Fcntl(fd, FSetFd, flags | FdCloexec) == 0)
            {
                changed++;
            }
        }

        return changed;
    }

    [LibraryImport("libc", EntryPoint = "fcntl")]
    private static partial int Fcntl(int fd, int command, int argument);
}
