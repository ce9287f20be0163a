using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using VirtPool.Core.Interop;

namespace VirtPool.Formats.Interop;

/// <summary>The libc calls the data-movement layer (Copy/) needs: extent queries, in-kernel copy, clone, punch.</summary>
internal static unsafe partial class CopyNative
{
    public const int SEEK_SET = 0;
    public const int SEEK_END = 2;
    public const int SEEK_DATA = 3;
    public const int SEEK_HOLE = 4;

    public const int ENXIO = 6;
    public const int ENODEV = 19;
    public const int EDQUOT = 122;
    public const int ESPIPE = 29;
    public const int ENOTTY = 25;
    public const int ETXTBSY = 26;

    public const int FALLOC_FL_KEEP_SIZE = 0x01;
    public const int FALLOC_FL_PUNCH_HOLE = 0x02;
    public const int FALLOC_FL_ZERO_RANGE = 0x10;

    public const int POSIX_FADV_SEQUENTIAL = 2;

    // _IOW(0x94, 9, int), _IOW(0x94, 13, struct file_clone_range), _IOR(0x12, 114, size_t)
    public const ulong FICLONE = 0x40049409;
    public const ulong FICLONERANGE = 0x4020940D;
    public const ulong BLKGETSIZE64 = 0x80081272;

    [StructLayout(LayoutKind.Sequential)]
    public struct FileCloneRange
    {
        public long SrcFd;
        public ulong SrcOffset;
        public ulong SrcLength;
        public ulong DestOffset;
    }

    [LibraryImport("libc", EntryPoint = "lseek", SetLastError = true)]
    public static partial long LSeek(int fd, long offset, int whence);

    [LibraryImport("libc", EntryPoint = "copy_file_range", SetLastError = true)]
    public static partial nint CopyFileRange(int fdIn, long* offIn, int fdOut, long* offOut, nuint len, uint flags);

    [LibraryImport("libc", EntryPoint = "pwrite", SetLastError = true)]
    public static partial nint PWrite(int fd, byte* buf, nint count, long offset);

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    public static partial int IoctlInt(int fd, ulong request, int arg);

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    public static partial int IoctlCloneRange(int fd, ulong request, FileCloneRange* arg);

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    public static partial int IoctlU64(int fd, ulong request, ulong* arg);

    // Returns the error number (not -1/errno), as POSIX specifies.
    [LibraryImport("libc", EntryPoint = "posix_fadvise")]
    public static partial int PosixFAdvise(int fd, long offset, long len, int advice);

    /// <summary>pwrite all of <paramref name="buffer"/>, retrying short writes and EINTR; 0 or errno.</summary>
    public static int PWriteFully(int fd, ReadOnlySpan<byte> buffer, long offset)
    {
        fixed (byte* p = buffer)
        {
            var done = 0;
            while (done < buffer.Length)
            {
                var n = PWrite(fd, p + done, buffer.Length - done, offset + done);
                if (n < 0)
                {
                    var errno = LibC.Errno;
                    if (errno == Errno.EINTR)
                    {
                        continue;
                    }

                    return errno;
                }

                if (n == 0)
                {
                    // A zero-length write of a non-empty buffer means the device is full.
                    return Errno.ENOSPC;
                }

                done += (int)n;
            }
        }

        return 0;
    }

    /// <summary>Size of a regular file (st_size) or block device (BLKGETSIZE64); -errno on failure.</summary>
    public static long Size(int fd, out bool isRegular, out bool isBlock)
    {
        isRegular = isBlock = false;
        if (!FileStat.TryFStat(fd, out var st, out var errno))
        {
            return -errno;
        }

        isRegular = st.IsRegular;
        isBlock = st.IsBlockDevice;
        if (!isBlock)
        {
            return st.Size;
        }

        ulong bytes;
        return IoctlU64(fd, BLKGETSIZE64, &bytes) < 0 ? -LibC.Errno : (long)bytes;
    }
}

/// <summary>
/// Holds a reference on a SafeFileHandle while its raw descriptor is in use, so a concurrent Dispose
/// cannot close (and the kernel reuse) the number under a running syscall.
/// </summary>
internal readonly struct FdLease : IDisposable
{
    private readonly SafeFileHandle _handle;

    public FdLease(SafeFileHandle handle)
    {
        ArgumentNullException.ThrowIfNull(handle);
        var added = false;
        handle.DangerousAddRef(ref added);
        _handle = handle;
        Fd = (int)handle.DangerousGetHandle();
    }

    public int Fd { get; }

    public void Dispose() => _handle.DangerousRelease();
}
