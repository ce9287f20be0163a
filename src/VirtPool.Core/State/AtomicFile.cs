using System.Text;
using VirtPool.Core.Errors;
using VirtPool.Core.Interop;

namespace VirtPool.Core.State;

/// <summary>
/// Crash-safe file replacement: write a temporary sibling, fsync it, rename it over the target,
/// fsync the directory. A reader sees the old or the new content, never a mix.
/// </summary>
public static class AtomicFile
{
    public static void WriteAllText(string path, string content, uint mode = 0x180 /* 0600 */, bool durable = true)
        => WriteAllBytes(path, Encoding.UTF8.GetBytes(content), mode, durable);

    /// <summary>
    /// Replaces <paramref name="path"/> atomically. With <paramref name="durable"/> false the fsyncs are
    /// skipped: the replacement is still atomic for a killed process, but a power cut may lose it; only
    /// for caches that can be rebuilt (the volume index is rebuilt by a pool refresh).
    /// </summary>
    public static void WriteAllBytes(string path, ReadOnlySpan<byte> content, uint mode = 0x180, bool durable = true)
    {
        // PATH.new, as libvirt's virFileRewrite: writers hold the state lock, so one temporary name per
        // file is enough, a leftover from a killed writer is simply overwritten, and listings (which
        // match *.xml) never see it.
        var dir = Path.GetDirectoryName(path) ?? ".";
        var tmp = path + ".new";
        var fd = LibC.Open(tmp, LibC.O_WRONLY | LibC.O_CREAT | LibC.O_TRUNC | LibC.O_CLOEXEC, mode);
        if (fd < 0)
        {
            throw VirtPoolException.System($"Failed to create file '{tmp}'", LibC.Errno);
        }

        try
        {
            WriteFully(fd, content, tmp);
            if (durable)
            {
                LibC.Check(LibC.FSync(fd), $"cannot sync file '{tmp}'");
            }
        }
        catch
        {
            LibC.Close(fd);
            LibC.Unlink(tmp);
            throw;
        }

        LibC.Close(fd);
        if (LibC.Rename(tmp, path) < 0)
        {
            var errno = LibC.Errno;
            LibC.Unlink(tmp);
            throw VirtPoolException.System($"Failed to rename file '{tmp}' as '{path}'", errno);
        }

        if (durable)
        {
            SyncDirectory(dir);
        }
    }

    /// <summary>Removes a file and makes the removal durable; a missing file is not an error.</summary>
    public static void Delete(string path)
    {
        if (LibC.Unlink(path) < 0)
        {
            var errno = LibC.Errno;
            // Missing, or a name too long to have been stored: nothing to remove.
            if (errno is Errno.ENOENT or Errno.ENAMETOOLONG)
            {
                return;
            }

            throw VirtPoolException.System($"cannot remove config file '{path}'", errno);
        }

        SyncDirectory(Path.GetDirectoryName(path) ?? ".");
    }

    public static void SyncDirectory(string dir)
    {
        var fd = LibC.Open(dir, LibC.O_RDONLY | LibC.O_DIRECTORY | LibC.O_CLOEXEC, 0);
        if (fd >= 0)
        {
            LibC.FSync(fd);
            LibC.Close(fd);
        }
    }

    internal static unsafe void WriteFully(int fd, ReadOnlySpan<byte> content, string what)
    {
        fixed (byte* p = content)
        {
            var done = 0;
            while (done < content.Length)
            {
                var n = LibC.Write(fd, p + done, content.Length - done);
                if (n < 0)
                {
                    var errno = LibC.Errno;
                    if (errno == Errno.EINTR)
                    {
                        continue;
                    }

                    throw VirtPoolException.System($"cannot write to file '{what}'", errno);
                }

                done += (int)n;
            }
        }
    }
}
