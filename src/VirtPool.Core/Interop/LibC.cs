using System.Runtime.InteropServices;

namespace VirtPool.Core.Interop;

/// <summary>
/// The few libc calls the storage code needs with errno intact (O_EXCL creation, fallocate, fsync,
/// flock, stat with st_blocks). Everything else uses the BCL.
/// </summary>
public static partial class LibC
{
    public const int O_RDONLY = 0;
    public const int O_WRONLY = 1;
    public const int O_RDWR = 2;
    public const int O_CREAT = 0x40;
    public const int O_EXCL = 0x80;
    public const int O_NOCTTY = 0x100;
    public const int O_TRUNC = 0x200;
    public const int O_APPEND = 0x400;
    public const int O_NONBLOCK = 0x800;
    public const int O_DIRECTORY = 0x10000;
    public const int O_NOFOLLOW = 0x20000;
    public const int O_CLOEXEC = 0x80000;

    public const int LOCK_SH = 1;
    public const int LOCK_EX = 2;
    public const int LOCK_NB = 4;
    public const int LOCK_UN = 8;

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Open(string path, int flags, uint mode);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    public static partial int Close(int fd);

    public const uint MFD_CLOEXEC = 1;

    [LibraryImport("libc", EntryPoint = "memfd_create", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int MemfdCreate(string name, uint flags);

    [LibraryImport("libc", EntryPoint = "ftruncate", SetLastError = true)]
    public static partial int FTruncate(int fd, long length);

    [LibraryImport("libc", EntryPoint = "fallocate", SetLastError = true)]
    public static partial int FAllocate(int fd, int mode, long offset, long len);

    [LibraryImport("libc", EntryPoint = "posix_fallocate")]
    public static partial int PosixFAllocate(int fd, long offset, long len);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    public static partial int FSync(int fd);

    [LibraryImport("libc", EntryPoint = "fdatasync", SetLastError = true)]
    public static partial int FDataSync(int fd);

    [LibraryImport("libc", EntryPoint = "flock", SetLastError = true)]
    public static partial int Flock(int fd, int operation);

    [LibraryImport("libc", EntryPoint = "fchmod", SetLastError = true)]
    public static partial int FChmod(int fd, uint mode);

    [LibraryImport("libc", EntryPoint = "chmod", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Chmod(string path, uint mode);

    [LibraryImport("libc", EntryPoint = "chown", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Chown(string path, int owner, int group);

    [LibraryImport("libc", EntryPoint = "fchown", SetLastError = true)]
    public static partial int FChown(int fd, int owner, int group);

    [LibraryImport("libc", EntryPoint = "mkdir", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Mkdir(string path, uint mode);

    [LibraryImport("libc", EntryPoint = "rmdir", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Rmdir(string path);

    [LibraryImport("libc", EntryPoint = "unlink", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Unlink(string path);

    [LibraryImport("libc", EntryPoint = "rename", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Rename(string oldPath, string newPath);

    [LibraryImport("libc", EntryPoint = "access", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Access(string path, int mode);

    [LibraryImport("libc", EntryPoint = "geteuid")]
    public static partial uint GetEuid();

    [LibraryImport("libc", EntryPoint = "getegid")]
    public static partial uint GetEgid();

    [LibraryImport("libc", EntryPoint = "umask")]
    public static partial uint Umask(uint mask);

    [LibraryImport("libc", EntryPoint = "pread", SetLastError = true)]
    public static unsafe partial nint PRead(int fd, byte* buf, nint count, long offset);

    [LibraryImport("libc", EntryPoint = "write", SetLastError = true)]
    public static unsafe partial nint Write(int fd, byte* buf, nint count);

    [LibraryImport("libc", EntryPoint = "pwrite", SetLastError = true)]
    public static unsafe partial nint PWrite(int fd, byte* buf, nint count, long offset);

    /// <summary>Block device ioctls (linux/fs.h): size in bytes (u64), logical sector size (int), and the
    /// range requests taking a u64 pair {start, length}: zero out (written zeroes, kept allocated) and discard.</summary>
    public const ulong BLKGETSIZE64 = 0x80081272;
    public const ulong BLKSSZGET = 0x1268;
    public const ulong BLKDISCARD = 0x1277;
    public const ulong BLKZEROOUT = 0x127F;

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    public static unsafe partial int Ioctl(int fd, ulong request, void* arg);

    [LibraryImport("libc", EntryPoint = "statvfs", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int StatVfs(string path, out StatVfsBuf buf);

    /// <summary>struct statvfs on 64-bit Linux (glibc).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct StatVfsBuf
    {
        public ulong Bsize;
        public ulong Frsize;
        public ulong Blocks;
        public ulong Bfree;
        public ulong Bavail;
        public ulong Files;
        public ulong Ffree;
        public ulong Favail;
        public ulong Fsid;
        public ulong Flag;
        public ulong Namemax;
        private unsafe fixed int _spare[6];
    }

    /// <summary>
    /// pread until <paramref name="buffer"/> is full or the file ends (pread may return short, and
    /// EINTR is retried); returns the bytes read, or -errno on failure.
    /// </summary>
    public static unsafe int PReadFully(int fd, Span<byte> buffer, long offset)
    {
        var total = 0;
        fixed (byte* p = buffer)
        {
            while (total < buffer.Length)
            {
                var n = PRead(fd, p + total, buffer.Length - total, offset + total);
                if (n < 0)
                {
                    var errno = Errno;
                    if (errno == Interop.Errno.EINTR)
                    {
                        continue;
                    }

                    return -errno;
                }

                if (n == 0)
                {
                    break;
                }

                total += (int)n;
            }
        }

        return total;
    }

    private const int MSG_DONTWAIT = 0x40;
    private const int MSG_NOSIGNAL = 0x4000;

    [LibraryImport("libc", EntryPoint = "send", SetLastError = true)]
    private static unsafe partial nint SendRaw(int fd, byte* buffer, nint length, int flags);

    /// <summary>
    /// send without blocking (and without SIGPIPE) until the socket buffer is full: returns the bytes
    /// taken, which may be fewer than asked (0 when the buffer is full), or -errno on failure.
    /// </summary>
    public static unsafe int SendNonBlocking(int fd, ReadOnlySpan<byte> data)
    {
        var total = 0;
        fixed (byte* p = data)
        {
            while (total < data.Length)
            {
                var n = SendRaw(fd, p + total, data.Length - total, MSG_DONTWAIT | MSG_NOSIGNAL);
                if (n >= 0)
                {
                    total += (int)n;
                    continue;
                }

                var errno = Errno;
                if (errno == Interop.Errno.EINTR)
                {
                    continue;
                }

                return errno == Interop.Errno.EAGAIN ? total : -errno;
            }
        }

        return total;
    }

    public const int IN_NONBLOCK = 0x800;
    public const int IN_CLOEXEC = 0x80000;

    [LibraryImport("libc", EntryPoint = "inotify_init1", SetLastError = true)]
    public static partial int InotifyInit1(int flags);

    [LibraryImport("libc", EntryPoint = "inotify_add_watch", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int InotifyAddWatch(int fd, string path, uint mask);

    [LibraryImport("libc", EntryPoint = "read", SetLastError = true)]
    private static unsafe partial nint ReadRaw(int fd, byte* buffer, nint count);

    /// <summary>One read(2), EINTR retried: bytes read, or -errno.</summary>
    public static unsafe int Read(int fd, Span<byte> buffer)
    {
        fixed (byte* p = buffer)
        {
            while (true)
            {
                var n = ReadRaw(fd, p, buffer.Length);
                if (n >= 0)
                {
                    return (int)n;
                }

                var errno = Errno;
                if (errno != Interop.Errno.EINTR)
                {
                    return -errno;
                }
            }
        }
    }

    /// <summary>Last errno of a call made with SetLastError.</summary>
    public static int Errno => Marshal.GetLastPInvokeError();

    /// <summary>Throws libvirt's system error when <paramref name="rc"/> is negative.</summary>
    public static int Check(int rc, string what)
    {
        if (rc < 0)
        {
            throw Errors.VirtPoolException.System(what, Errno);
        }

        return rc;
    }
}
