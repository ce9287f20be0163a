using VirtPool.Core.Errors;
using VirtPool.Core.Interop;
using VirtPool.Core.Model;
using VirtPool.Formats.Interop;

namespace VirtPool.Formats;

public static partial class ImageProbe
{
    /// <summary>The most <see cref="ProbeFile(string,int)"/> will read: a qcow2 header, its extensions and backing name live in its first cluster (at most 2 MiB).</summary>
    public const int MaxHeaderBytes = 4 * 1024 * 1024;

    /// <summary>
    /// Opens <paramref name="path"/> read-only, reads its first <see cref="HeaderBytes"/> bytes and probes them
    /// with the file size from fstat (the device size for a block device). A directory is reported as
    /// <see cref="StorageFileFormat.Dir"/> (or as its root.hds when it is a ploop directory) with capacity 0,
    /// as libvirt does.
    /// I/O failures throw libvirt's system errors; the header's content never makes this throw.
    /// </summary>
    public static ImageInfo ProbeFile(string path) => ProbeFile(path, HeaderBytes);

    /// <summary>
    /// As <see cref="ProbeFile(string)"/>, reading at most <paramref name="maxHeaderBytes"/> (up to
    /// <see cref="MaxHeaderBytes"/>). Anything other than <see cref="HeaderBytes"/> can disagree with libvirt.
    /// </summary>
    public static ImageInfo ProbeFile(string path, int maxHeaderBytes)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentOutOfRangeException.ThrowIfNegative(maxHeaderBytes);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(maxHeaderBytes, MaxHeaderBytes);

        var fd = LibC.Open(path, LibC.O_RDONLY | LibC.O_CLOEXEC | LibC.O_NOCTTY, 0);
        if (fd < 0)
        {
            throw VirtPoolException.System($"Failed to open file '{path}'", LibC.Errno);
        }

        try
        {
            if (!FileStat.TryFStat(fd, out var st, out var errno))
            {
                throw VirtPoolException.System($"cannot stat file '{path}'", errno);
            }

            if (st.IsDirectory)
            {
                return ProbeDirectory(path, maxHeaderBytes);
            }

            ulong size;
            if (st.IsBlockDevice)
            {
                var end = NativeFile.LSeek(fd, 0, NativeFile.SEEK_END);
                if (end < 0)
                {
                    throw VirtPoolException.System($"failed to seek to end of {path}", LibC.Errno);
                }

                size = (ulong)end;
            }
            else
            {
                size = (ulong)Math.Max(0, st.Size);
            }

            var header = new byte[maxHeaderBytes];
            var length = ReadAt(fd, header, path);
            return Probe(header.AsSpan(0, length), size);
        }
        finally
        {
            _ = LibC.Close(fd);
        }
    }

    /// <summary>
    /// A directory is a dir volume, or a ploop volume when it holds root.hds and DiskDescriptor.xml, in which
    /// case the header is root.hds's. libvirt gives directories a capacity of 0 (checked against libvirt 9.0
    /// for both kinds).
    /// </summary>
    private static ImageInfo ProbeDirectory(string path, int maxHeaderBytes)
    {
        var root = Path.Combine(path, "root.hds");
        if (File.Exists(root) && File.Exists(Path.Combine(path, "DiskDescriptor.xml")))
        {
            return ProbeFile(root, maxHeaderBytes) with { Capacity = 0 };
        }

        return new ImageInfo { Format = StorageFileFormat.Dir, Capacity = 0 };
    }

    /// <summary>Reads from offset 0 until the buffer is full or the file ends, like libvirt's saferead loop.</summary>
    private static int ReadAt(int fd, byte[] buffer, string path)
    {
        var n = LibC.PReadFully(fd, buffer, 0);
        return n >= 0 ? n : throw VirtPoolException.System($"cannot read header '{path}'", -n);
    }
}
