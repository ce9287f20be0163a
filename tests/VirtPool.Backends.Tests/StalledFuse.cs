using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace VirtPool.Backends.Tests;

/// <summary>
/// A FUSE filesystem whose server never answers: this process opens /dev/fuse, mounts it and reads
/// nothing, which is the kernel's view of a FUSE daemon stopped with SIGSTOP (or of a network
/// filesystem whose server went away). Looking anything up below the mount point blocks, killably,
/// until the connection ends; the mount point itself can still be resolved (readlink needs no answer).
/// Dispose detaches the mount and closes the connection, which fails every request still waiting.
/// </summary>
public sealed partial class StalledFuse : IDisposable
{
    private const ulong MsNoSuid = 2;
    private const ulong MsNoDev = 4;
    private const int MntDetach = 2;

    private readonly SafeFileHandle _connection;

    private StalledFuse(string mountPoint, SafeFileHandle connection)
    {
        MountPoint = mountPoint;
        _connection = connection;
    }

    public string MountPoint { get; }

    public static StalledFuse Mount(string mountPoint)
    {
        Directory.CreateDirectory(mountPoint);
        var connection = File.OpenHandle("/dev/fuse", FileMode.Open, FileAccess.ReadWrite);
        var options = $"fd={connection.DangerousGetHandle()},rootmode=40000,user_id=0,group_id=0";
        if (MountSyscall("vp-stalled", mountPoint, "fuse.vpstalled", MsNoSuid | MsNoDev, options) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            connection.Dispose();
            throw new InvalidOperationException($"mount of a FUSE filesystem on {mountPoint} failed (errno {errno})");
        }

        return new StalledFuse(mountPoint, connection);
    }

    public void Dispose()
    {
        _ = Umount2(MountPoint, MntDetach);
        _connection.Dispose();
    }

    [LibraryImport("libc", EntryPoint = "mount", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int MountSyscall(string source, string target, string type, ulong flags, string data);

    [LibraryImport("libc", EntryPoint = "umount2", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Umount2(string target, int flags);
}
