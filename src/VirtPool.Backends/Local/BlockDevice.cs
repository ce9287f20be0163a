using VirtPool.Core.Errors;
using VirtPool.Core.Interop;

namespace VirtPool.Backends.Local;

/// <summary>
/// A block device as a volume's storage: its size and sector size, asked of the device (st_size of a
/// device node is 0). Shared by every pool type whose volumes are devices (disk partitions, LVs, zvols).
/// </summary>
internal static class BlockDevice
{
    private const int ENOTTY = 25;

    public static bool IsBlockDevice(int fd) => FileStat.TryFStat(fd, out var st, out _) && st.IsBlockDevice;

    /// <summary>The device's size in bytes (BLKGETSIZE64); libvirt's words when it cannot be had.</summary>
    public static unsafe long Size(int fd, string path)
    {
        ulong size = 0;
        if (LibC.Ioctl(fd, LibC.BLKGETSIZE64, &size) < 0)
        {
            throw VirtPoolException.System($"failed to seek to end of {path}", LibC.Errno);
        }

        return (long)size;
    }

    /// <summary>The size, or 0 when the device does not say (a probe reports what it can).</summary>
    public static unsafe long SizeOrZero(int fd)
    {
        ulong size = 0;
        return LibC.Ioctl(fd, LibC.BLKGETSIZE64, &size) < 0 ? 0 : (long)size;
    }

    /// <summary>The logical sector size (BLKSSZGET): the granularity the zeroing requests need.</summary>
    public static unsafe int SectorSize(int fd)
    {
        var size = 0;
        return LibC.Ioctl(fd, LibC.BLKSSZGET, &size) < 0 || size < 512 ? 512 : size;
    }

    /// <summary>BLKZEROOUT or BLKDISCARD over a sector-aligned range: 0, or the errno.</summary>
    public static unsafe int RangeIoctl(int fd, ulong request, long offset, long length)
    {
        var range = stackalloc ulong[2];
        range[0] = (ulong)offset;
        range[1] = (ulong)length;
        while (LibC.Ioctl(fd, request, range) < 0)
        {
            var errno = LibC.Errno;
            if (errno != Errno.EINTR)
            {
                return errno;
            }
        }

        return 0;
    }

    /// <summary>The errors meaning "this device or driver cannot do that request": a plainer way is taken.</summary>
    public static bool IsUnsupported(int errno) => errno is Errno.EOPNOTSUPP or Errno.ENOSYS or Errno.EINVAL or ENOTTY or 19 /* ENODEV */;
}

/// <summary>
/// Makes ranges of a block device read as zeroes. A device has no holes, so a hole in what is written
/// onto it must be zeroes there, never the device's old data:
/// <list type="bullet">
/// <item>a hole of a sparse transfer: fallocate(PUNCH_HOLE|KEEP_SIZE) on the device, which the kernel
/// turns into a write-zeroes request that may unmap (a thin LV, a loop device's backing file, an SSD give
/// the space back) but must read back as zeroes (BLKDEV_ZERO_NOFALLBACK); never BLKDISCARD, which
/// promises nothing about what is read afterwards;</item>
/// <item>a hole that is to stay allocated (non-sparse), or a device without write-zeroes: BLKZEROOUT, for
/// which the kernel writes zero pages itself where the device cannot;</item>
/// <item>the unaligned edges of a range (an upload at an odd offset), and a driver refusing both: pwrite
/// of zeroes.</item>
/// </list>
/// Each fallback is taken once and remembered for the rest of the transfer.
/// </summary>
internal sealed class BlockDeviceZeroing(int fd, string path)
{
    /// <summary>Bytes per request, so a cancel is noticed between them.</summary>
    private const long RequestBytes = 64L << 20;

    private const int PunchHoleKeepSize = 0x02 | 0x01; // FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE

    private static readonly byte[] Zeroes = new byte[1 << 20];

    private readonly int _sector = BlockDevice.SectorSize(fd);
    private bool _punchUnsupported;
    private bool _zeroOutUnsupported;

    public void Zero(long offset, long length, bool deallocate, CancellationToken cancellationToken)
    {
        if (length <= 0)
        {
            return;
        }

        var end = offset + length;
        var alignedStart = (offset + _sector - 1) / _sector * _sector;
        var alignedEnd = end / _sector * _sector;
        if (alignedEnd <= alignedStart)
        {
            WriteZeroes(offset, length, cancellationToken);
            return;
        }

        WriteZeroes(offset, alignedStart - offset, cancellationToken);
        for (var pos = alignedStart; pos < alignedEnd;)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var n = Math.Min(RequestBytes, alignedEnd - pos);
            ZeroAligned(pos, n, deallocate, cancellationToken);
            pos += n;
        }

        WriteZeroes(alignedEnd, end - alignedEnd, cancellationToken);
    }

    private void ZeroAligned(long offset, long length, bool deallocate, CancellationToken cancellationToken)
    {
        if (deallocate && !_punchUnsupported)
        {
            int rc;
            while ((rc = LibC.FAllocate(fd, PunchHoleKeepSize, offset, length)) < 0 && LibC.Errno == Errno.EINTR)
            {
            }

            if (rc == 0)
            {
                return;
            }

            var errno = LibC.Errno;
            if (!BlockDevice.IsUnsupported(errno))
            {
                throw Failed(offset, length, errno);
            }

            _punchUnsupported = true;
        }

        if (!_zeroOutUnsupported)
        {
            var errno = BlockDevice.RangeIoctl(fd, LibC.BLKZEROOUT, offset, length);
            if (errno == 0)
            {
                return;
            }

            if (!BlockDevice.IsUnsupported(errno))
            {
                throw Failed(offset, length, errno);
            }

            _zeroOutUnsupported = true;
        }

        WriteZeroes(offset, length, cancellationToken);
    }

    private unsafe void WriteZeroes(long offset, long length, CancellationToken cancellationToken)
    {
        fixed (byte* zeroes = Zeroes)
        {
            while (length > 0)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var n = LibC.PWrite(fd, zeroes, (nint)Math.Min(length, Zeroes.Length), offset);
                if (n < 0)
                {
                    var errno = LibC.Errno;
                    if (errno == Errno.EINTR)
                    {
                        continue;
                    }

                    throw VirtPoolException.System($"failed writing to file '{path}'", errno);
                }

                offset += n;
                length -= n;
            }
        }
    }

    private VirtPoolException Failed(long offset, long length, int errno)
        => VirtPoolException.System($"Failed to zero {length} bytes from offset {offset} of storage volume with path '{path}'", errno);
}
