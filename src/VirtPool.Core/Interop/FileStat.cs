using System.Runtime.InteropServices;

namespace VirtPool.Core.Interop;

/// <summary>The fields of struct stat the storage code reads (x86_64 glibc layout).</summary>
public readonly partial record struct FileStat(ulong Device, ulong Inode, uint Mode, uint Uid, uint Gid, ulong RDev, long Size, long BlockSize, long Blocks, long ATimeSec, long ATimeNsec, long MTimeSec, long MTimeNsec, long CTimeSec, long CTimeNsec)
{
    public const uint S_IFMT = 0xF000;
    public const uint S_IFDIR = 0x4000;
    public const uint S_IFREG = 0x8000;
    public const uint S_IFBLK = 0x6000;
    public const uint S_IFLNK = 0xA000;

    public bool IsDirectory => (Mode & S_IFMT) == S_IFDIR;

    public bool IsRegular => (Mode & S_IFMT) == S_IFREG;

    public bool IsBlockDevice => (Mode & S_IFMT) == S_IFBLK;

    public bool IsSymlink => (Mode & S_IFMT) == S_IFLNK;

    /// <summary>Bytes actually allocated (st_blocks is in 512-byte units).</summary>
    public long AllocatedBytes => Blocks * 512;

    public static bool TryStat(string path, out FileStat st, out int errno) => Native.Call(path, false, out st, out errno);

    public static bool TryLStat(string path, out FileStat st, out int errno) => Native.Call(path, true, out st, out errno);

    public static bool TryFStat(int fd, out FileStat st, out int errno)
    {
        var rc = Native.FStat(fd, out var raw);
        errno = rc < 0 ? Marshal.GetLastPInvokeError() : 0;
        st = rc < 0 ? default : raw.ToStat();
        return rc == 0;
    }

    private static partial class Native
    {
        public static bool Call(string path, bool noFollow, out FileStat st, out int errno)
        {
            var rc = noFollow ? LStat(path, out var raw) : Stat(path, out raw);
            errno = rc < 0 ? Marshal.GetLastPInvokeError() : 0;
            st = rc < 0 ? default : raw.ToStat();
            return rc == 0;
        }

        [LibraryImport("libc", EntryPoint = "stat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        private static partial int Stat(string path, out RawStat buf);

        [LibraryImport("libc", EntryPoint = "lstat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        private static partial int LStat(string path, out RawStat buf);

        [LibraryImport("libc", EntryPoint = "fstat", SetLastError = true)]
        public static partial int FStat(int fd, out RawStat buf);
    }

    /// <summary>struct stat, x86_64 glibc: also what libgfapi's glfs_stat family fills.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct RawStat
    {
        public ulong Dev;
        public ulong Ino;
        public ulong Nlink;
        public uint Mode;
        public uint Uid;
        public uint Gid;
        public int Pad0;
        public ulong Rdev;
        public long Size;
        public long Blksize;
        public long Blocks;
        public long ATime;
        public long ATimeNsec;
        public long MTime;
        public long MTimeNsec;
        public long CTime;
        public long CTimeNsec;
        public long Reserved0;
        public long Reserved1;
        public long Reserved2;

        public readonly FileStat ToStat() => new(Dev, Ino, Mode, Uid, Gid, Rdev, Size, Blksize, Blocks, ATime, ATimeNsec, MTime, MTimeNsec, CTime, CTimeNsec);
    }
}
