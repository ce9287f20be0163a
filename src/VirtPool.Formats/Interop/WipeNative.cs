using System.Runtime.InteropServices;
using VirtPool.Core.Interop;

namespace VirtPool.Formats.Interop;

/// <summary>The libc calls and Linux constants <c>VolumeWiper</c> needs beyond VirtPool.Core's LibC.</summary>
internal static unsafe partial class WipeNative
{
    // linux/falloc.h
    public const int FALLOC_FL_KEEP_SIZE = 0x01;
    public const int FALLOC_FL_PUNCH_HOLE = 0x02;
    public const int FALLOC_FL_ZERO_RANGE = 0x10;

    // linux/fs.h: _IOR(0x12, 114, size_t), _IO(0x12, 119), _IO(0x12, 127).
    public const ulong BLKGETSIZE64 = 0x80081272;
    public const ulong BLKDISCARD = 0x1277;
    public const ulong BLKZEROOUT = 0x127F;

    public const int POSIX_FADV_DONTNEED = 4;

    public const int ENOTTY = 25;

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    private static partial int Ioctl(int fd, ulong request, void* arg);

    [LibraryImport("libc", EntryPoint = "pwrite", SetLastError = true)]
    private static partial nint PWrite(int fd, byte* buf, nint count, long offset);

    /// <summary>Returns the error number itself (0 on success), as POSIX specifies; errno is untouched.</summary>
    [LibraryImport("libc", EntryPoint = "posix_fadvise")]
    public static partial int PosixFAdvise(int fd, long offset, long len, int advice);

    /// <summary>The size in bytes of the block device open on <paramref name="fd"/>, or -errno.</summary>
    public static long BlockDeviceSize(int fd)
    {
        ulong size = 0;
        return Ioctl(fd, BLKGETSIZE64, &size) < 0 ? -LibC.Errno : (long)size;
    }

    /// <summary>BLKZEROOUT/BLKDISCARD over [offset, offset+length): 0, or -errno.</summary>
    public static int BlockRangeIoctl(int fd, ulong request, long offset, long length)
    {
        // The kernel reads a uint64_t[2] {start, len}.
        var range = stackalloc ulong[2];
        range[0] = (ulong)offset;
        range[1] = (ulong)length;
        while (true)
        {
            if (Ioctl(fd, request, range) == 0)
            {
                return 0;
            }

            var errno = LibC.Errno;
            if (errno != Errno.EINTR)
            {
                return -errno;
            }
        }
    }

    /// <summary>fallocate retrying EINTR: 0, or -errno.</summary>
    public static int FAllocate(int fd, int mode, long offset, long length)
    {
        while (true)
        {
            if (LibC.FAllocate(fd, mode, offset, length) == 0)
            {
                return 0;
            }

            var errno = LibC.Errno;
            if (errno != Errno.EINTR)
            {
                return -errno;
            }
        }
    }

    /// <summary>
    /// pwrite until all of <paramref name="data"/> is written (short writes and EINTR continue);
    /// 0, or -errno. A write that makes no progress is reported as EINVAL rather than looping.
    /// </summary>
    public static int PWriteFully(int fd, ReadOnlySpan<byte> data, long offset)
    {
        var done = 0;
        fixed (byte* p = data)
        {
            while (done < data.Length)
            {
                var n = PWrite(fd, p + done, data.Length - done, offset + done);
                if (n < 0)
                {
                    var errno = LibC.Errno;
                    if (errno == Errno.EINTR)
                    {
                        continue;
                    }

                    return -errno;
                }

                if (n == 0)
                {
                    // scrub treats a 0-byte write as writing past the end of the device.
                    return -Errno.EINVAL;
                }

                done += (int)n;
            }
        }

        return 0;
    }
}
