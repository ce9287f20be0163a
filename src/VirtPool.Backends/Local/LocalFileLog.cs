using Microsoft.Extensions.Logging;
using VirtPool.Core.Interop;

namespace VirtPool.Backends.Local;

/// <summary>
/// What local-file backends log through the pool context's logger (source-generated: free when off),
/// and why a scan skipped an entry, which only a logged warning asks.
/// </summary>
internal static partial class LocalFileLog
{
    [LoggerMessage(Level = LogLevel.Warning, Message = "{Reason} (refresh of '{Directory}')")]
    public static partial void EntrySkipped(ILogger logger, string reason, string directory);

    /// <summary>
    /// Why a scan (<see cref="LocalFileVolumes.Scan"/>) skipped an entry, in the words of libvirt's warnings
    /// (virStorageBackendVolOpen). Asked again after the fact, only when the warning is logged: the
    /// scan itself stays one open per entry.
    /// </summary>
    public static string WhySkipped(string path)
    {
        if (!FileStat.TryLStat(path, out var st, out var errno))
        {
            return errno == Errno.ENOENT ? $"ignoring missing file '{path}'" : $"cannot stat file '{path}': {StrError.Describe(errno)}";
        }

        switch (st.Mode & 0xF000)
        {
            case 0x1000:
                return $"ignoring FIFO '{path}'";
            case 0xC000:
                return $"ignoring socket '{path}'";
        }

        var fd = LibC.Open(path, LibC.O_RDONLY | LibC.O_NOCTTY | LibC.O_CLOEXEC | LibC.O_NONBLOCK, 0);
        if (fd >= 0)
        {
            LibC.Close(fd);
            return st.IsDirectory
                ? $"ignoring ploop folder '{path}': its image '{LocalVolumeProbe.PloopImage}' cannot be read"
                : $"ignoring unexpected type for file '{path}'";
        }

        var openErrno = LibC.Errno;
        return openErrno switch
        {
            Errno.ENOENT or Errno.ELOOP when st.IsSymlink => $"ignoring dangling symlink '{path}'",
            Errno.ENOENT => $"ignoring missing file '{path}'",
            Errno.ENXIO => $"ignoring missing fifo '{path}'",
            Errno.EACCES or Errno.EPERM => $"ignoring permission error for '{path}'",
            _ => $"cannot open volume '{path}': {StrError.Describe(openErrno)}",
        };
    }
}
