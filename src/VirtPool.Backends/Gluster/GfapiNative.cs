using System.Runtime.InteropServices;
using VirtPool.Core.Interop;

namespace VirtPool.Backends.Gluster;

/// <summary>
/// libgfapi (GlusterFS 10's client library) by its versioned soname, source-generated (NativeAOT clean).
/// Handles are raw pointers: <c>glfs_t*</c> is owned by <see cref="GlusterMount"/>, a <c>glfs_fd_t*</c> by
/// <see cref="GlusterFile"/>. Every call sets errno on failure (SetLastError).
/// </summary>
/// <remarks>
/// The unversioned dlsym the runtime does binds the default symbol version: GFAPI_6.0 for pread,
/// pwrite, ftruncate, fsync and fdatasync, whose signatures gained pre/post <c>struct glfs_stat*</c>
/// arguments (passed NULL here). Structures are x86_64 glibc's (stat 144 bytes, statvfs 112, dirent 280).
/// </remarks>
internal static unsafe partial class GfapiNative
{
    private const string Library = "libgfapi.so.0";

    public const int SeekData = 3;
    public const int SeekHole = 4;

    [LibraryImport(Library, EntryPoint = "glfs_new", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial nint New(string volname);

    [LibraryImport(Library, EntryPoint = "glfs_set_volfile_server", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int SetVolfileServer(nint fs, string transport, string host, int port);

    [LibraryImport(Library, EntryPoint = "glfs_set_logging", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int SetLogging(nint fs, string logfile, int level);

    [LibraryImport(Library, EntryPoint = "glfs_set_xlator_option", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int SetXlatorOption(nint fs, string xlator, string key, string value);

    [LibraryImport(Library, EntryPoint = "glfs_init", SetLastError = true)]
    public static partial int Init(nint fs);

    [LibraryImport(Library, EntryPoint = "glfs_fini", SetLastError = true)]
    public static partial int Fini(nint fs);

    [LibraryImport(Library, EntryPoint = "glfs_statvfs", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int StatVfs(nint fs, string path, out RawStatVfs buf);

    [LibraryImport(Library, EntryPoint = "glfs_stat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Stat(nint fs, string path, FileStat.RawStat* buf);

    [LibraryImport(Library, EntryPoint = "glfs_lstat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int LStat(nint fs, string path, FileStat.RawStat* buf);

    [LibraryImport(Library, EntryPoint = "glfs_fstat", SetLastError = true)]
    public static partial int FStat(nint fd, FileStat.RawStat* buf);

    [LibraryImport(Library, EntryPoint = "glfs_opendir", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial nint OpenDir(nint fs, string path);

    /// <summary>0 with <paramref name="result"/> NULL at the end; else an error (the return value or errno).</summary>
    [LibraryImport(Library, EntryPoint = "glfs_readdirplus_r", SetLastError = true)]
    public static partial int ReaddirplusR(nint dir, FileStat.RawStat* stat, RawDirent* entry, out nint result);

    [LibraryImport(Library, EntryPoint = "glfs_closedir", SetLastError = true)]
    public static partial int CloseDir(nint dir);

    [LibraryImport(Library, EntryPoint = "glfs_creat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial nint Creat(nint fs, string path, int flags, uint mode);

    [LibraryImport(Library, EntryPoint = "glfs_open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial nint Open(nint fs, string path, int flags);

    [LibraryImport(Library, EntryPoint = "glfs_close", SetLastError = true)]
    public static partial int Close(nint fd);

    [LibraryImport(Library, EntryPoint = "glfs_pread", SetLastError = true)]
    public static partial nint PRead(nint fd, byte* buffer, nuint count, long offset, int flags, nint poststat);

    [LibraryImport(Library, EntryPoint = "glfs_pwrite", SetLastError = true)]
    public static partial nint PWrite(nint fd, byte* buffer, nuint count, long offset, int flags, nint prestat, nint poststat);

    [LibraryImport(Library, EntryPoint = "glfs_ftruncate", SetLastError = true)]
    public static partial int FTruncate(nint fd, long length, nint prestat, nint poststat);

    [LibraryImport(Library, EntryPoint = "glfs_fsync", SetLastError = true)]
    public static partial int FSync(nint fd, nint prestat, nint poststat);

    /// <param name="mode">fallocate(2)'s mode (0, or FALLOC_FL_KEEP_SIZE).</param>
    [LibraryImport(Library, EntryPoint = "glfs_fallocate", SetLastError = true)]
    public static partial int FAllocate(nint fd, int mode, long offset, nuint length);

    [LibraryImport(Library, EntryPoint = "glfs_discard", SetLastError = true)]
    public static partial int Discard(nint fd, long offset, nuint length);

    [LibraryImport(Library, EntryPoint = "glfs_zerofill", SetLastError = true)]
    public static partial int ZeroFill(nint fd, long offset, long length);

    [LibraryImport(Library, EntryPoint = "glfs_lseek", SetLastError = true)]
    public static partial long LSeek(nint fd, long offset, int whence);

    [LibraryImport(Library, EntryPoint = "glfs_unlink", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Unlink(nint fs, string path);

    [LibraryImport(Library, EntryPoint = "glfs_mkdir", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int MkDir(nint fs, string path, uint mode);

    [LibraryImport(Library, EntryPoint = "glfs_rmdir", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int RmDir(nint fs, string path);

    [LibraryImport(Library, EntryPoint = "glfs_rename", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Rename(nint fs, string from, string to);

    [LibraryImport(Library, EntryPoint = "glfs_chdir", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int ChDir(nint fs, string path);

    [LibraryImport(Library, EntryPoint = "glfs_chmod", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Chmod(nint fs, string path, uint mode);

    [LibraryImport(Library, EntryPoint = "glfs_chown", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Chown(nint fs, string path, uint uid, uint gid);

    public static int LastErrno => Marshal.GetLastPInvokeError();

    private const int FGetFd = 1;
    private const int FSetFd = 2;
    private const int FdCloExec = 1;

    [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    private static partial int FcntlInt(int fd, int command, int argument);

    /// <summary>
    /// libgfapi opens its epoll and socket descriptors without O_CLOEXEC, so every tool this process
    /// runs later (lvcreate, qemu-img) would inherit them (LVM warns "File descriptor … leaked"). Every
    /// descriptor this project opens is close-on-exec, so any descriptor without the flag is a native
    /// library's: it gets the flag. Called after each connect (sockets of later reconnects are not caught).
    /// </summary>
    public static void MarkInheritedDescriptorsCloseOnExec()
    {
        foreach (var entry in Directory.EnumerateFileSystemEntries("/proc/self/fd"))
        {
            if (!int.TryParse(Path.GetFileName(entry), out var fd) || fd <= 2)
            {
                continue;
            }

            var flags = FcntlInt(fd, FGetFd, 0);
            if (flags >= 0 && (flags & FdCloExec) == 0)
            {
                _ = FcntlInt(fd, FSetFd, flags | FdCloExec);
            }
        }
    }

    /// <summary>struct statvfs, x86_64 glibc.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct RawStatVfs
    {
        public ulong BlockSize;
        public ulong FragmentSize;
        public ulong Blocks;
        public ulong BlocksFree;
        public ulong BlocksAvailable;
        public ulong Files;
        public ulong FilesFree;
        public ulong FilesAvailable;
        public ulong FsId;
        public ulong Flag;
        public ulong NameMax;
        public fixed int Spare[6];
    }

    /// <summary>struct dirent, x86_64 glibc (d_name[256]).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct RawDirent
    {
        public ulong Ino;
        public long Off;
        public ushort RecLen;
        public byte Type;
        public fixed byte Name[256];
    }
}
