using System.Runtime.InteropServices;
using VirtPool.Core.Errors;
using VirtPool.Core.Interop;

namespace VirtPool.Backends.Gluster;

/// <summary>
/// One connected <c>glfs_t</c>: a gluster volume as libgfapi mounts it in this process, its current
/// folder the pool's. Blocking calls only; the backend runs them through its NetworkConnection, which
/// bounds them in time and frees this (<see cref="Dispose"/>, glfs_fini: ~10 s) once no call uses it.
/// Errors are libvirt's (storage_backend_gluster.c) with strerror appended.
/// </summary>
public sealed unsafe class GlusterMount : IDisposable
{
    private nint _fs;

    private GlusterMount(GlusterLocation location, nint fs)
    {
        Location = location;
        _fs = fs;
    }

    public GlusterLocation Location { get; }

    internal nint Handle => _fs != 0 ? _fs : throw new ObjectDisposedException(nameof(GlusterMount));

    /// <summary>
    /// virStorageBackendGlusterOpen: glfs_new, the volfile server over tcp, glfs_init, then a chdir into
    /// the pool's folder. gfapi's own log goes nowhere: its lines are not libvirt's errors.
    /// </summary>
    public static GlusterMount Connect(GlusterLocation location)
    {
        ArgumentNullException.ThrowIfNull(location);
        var fs = GfapiNative.New(location.Volume);
        if (fs == 0)
        {
            throw VirtPoolException.Verbatim(VirErrorCode.NoMemory, "out of memory");
        }

        var mount = new GlusterMount(location, fs);
        try
        {
            _ = GfapiNative.SetLogging(fs, "/dev/null", 0);
            if (GfapiNative.SetVolfileServer(fs, "tcp", location.Host, location.Port) < 0 || GfapiNative.Init(fs) < 0)
            {
                throw VirtPoolException.System($"failed to connect to {location.DirectoryUri}", Errno(GfapiNative.LastErrno));
            }

            GfapiNative.MarkInheritedDescriptorsCloseOnExec();
            if (GfapiNative.ChDir(fs, location.Directory) < 0)
            {
                throw VirtPoolException.System($"failed to change to directory '{location.Directory}' in '{location.Volume}'", Errno(GfapiNative.LastErrno));
            }

            return mount;
        }
        catch
        {
            mount.Dispose();
            throw;
        }
    }

    /// <summary>glfs_fini: waits for gfapi's threads (~10 s on GlusterFS 10). Idempotent.</summary>
    public void Dispose()
    {
        var fs = Interlocked.Exchange(ref _fs, 0);
        if (fs != 0)
        {
            _ = GfapiNative.Fini(fs);
        }
    }

    /// <summary>glfs_statvfs of the pool's folder, as libvirt turns it into the pool's sizes.</summary>
    public (ulong Capacity, ulong Allocation, ulong Available) PoolSizes()
    {
        if (GfapiNative.StatVfs(Handle, Location.Directory, out var sb) < 0)
        {
            throw VirtPoolException.System($"cannot statvfs path '{Location.Directory}' in '{Location.Volume}'", Errno(GfapiNative.LastErrno));
        }

        var capacity = sb.FragmentSize * sb.Blocks;
        var available = sb.BlocksFree * sb.FragmentSize;
        return (capacity, capacity - available, available);
    }

    /// <summary>The pool folder's entries with their lstat, as glfs_readdirplus_r gives them ('.' and '..' left out).</summary>
    public List<(string Name, FileStat Stat)> ReadDirectory()
    {
        var dir = GfapiNative.OpenDir(Handle, Location.Directory);
        if (dir == 0)
        {
            throw VirtPoolException.System($"cannot open path '{Location.Directory}' in '{Location.Volume}'", Errno(GfapiNative.LastErrno));
        }

        var entries = new List<(string, FileStat)>();
        try
        {
            GfapiNative.RawDirent entry;
            FileStat.RawStat st;
            while (true)
            {
                var rc = GfapiNative.ReaddirplusR(dir, &st, &entry, out var result);
                if (rc != 0)
                {
                    var errno = rc > 0 ? rc : GfapiNative.LastErrno;
                    throw VirtPoolException.System($"failed to read directory '{Location.Directory}' in '{Location.Volume}'", Errno(errno));
                }

                if (result == 0)
                {
                    return entries;
                }

                var name = Marshal.PtrToStringUTF8((nint)entry.Name) ?? string.Empty;
                if (name is not ("." or ".."))
                {
                    entries.Add((name, st.ToStat()));
                }
            }
        }
        finally
        {
            _ = GfapiNative.CloseDir(dir);
        }
    }

    /// <summary>glfs_stat (follows links); false with the errno when it fails.</summary>
    public bool TryStat(string path, out FileStat stat, out int errno)
    {
        FileStat.RawStat raw;
        var rc = GfapiNative.Stat(Handle, path, &raw);
        errno = rc < 0 ? Errno(GfapiNative.LastErrno) : 0;
        stat = rc < 0 ? default : raw.ToStat();
        return rc == 0;
    }

    /// <summary>glfs_lstat; false with the errno when it fails.</summary>
    public bool TryLStat(string path, out FileStat stat, out int errno)
    {
        FileStat.RawStat raw;
        var rc = GfapiNative.LStat(Handle, path, &raw);
        errno = rc < 0 ? Errno(GfapiNative.LastErrno) : 0;
        stat = rc < 0 ? default : raw.ToStat();
        return rc == 0;
    }

    /// <summary>glfs_open; throws libvirt's "cannot open volume" with the name given.</summary>
    public GlusterFile Open(string path, int flags, string nameForErrors)
    {
        var fd = GfapiNative.Open(Handle, path, flags | LibC.O_NOCTTY);
        return fd != 0 ? new GlusterFile(fd, nameForErrors) : throw VirtPoolException.System($"cannot open volume '{nameForErrors}'", Errno(GfapiNative.LastErrno));
    }

    /// <summary>glfs_creat with O_EXCL: the name is this caller's, or the call fails with EEXIST.</summary>
    public GlusterFile CreateExclusive(string path, uint mode, string nameForErrors)
    {
        var fd = GfapiNative.Creat(Handle, path, LibC.O_RDWR | LibC.O_CREAT | LibC.O_EXCL, mode);
        return fd != 0 ? new GlusterFile(fd, nameForErrors) : throw VirtPoolException.System($"cannot create path '{nameForErrors}'", Errno(GfapiNative.LastErrno));
    }

    /// <summary>glfs_unlink; the errno, 0 on success.</summary>
    public int Unlink(string path) => GfapiNative.Unlink(Handle, path) < 0 ? Errno(GfapiNative.LastErrno) : 0;

    /// <summary>glfs_rename (atomic on the server); the errno, 0 on success.</summary>
    public int Rename(string from, string to) => GfapiNative.Rename(Handle, from, to) < 0 ? Errno(GfapiNative.LastErrno) : 0;

    /// <summary>glfs_rmdir; the errno, 0 on success.</summary>
    public int RemoveDirectory(string path) => GfapiNative.RmDir(Handle, path) < 0 ? Errno(GfapiNative.LastErrno) : 0;

    /// <summary>glfs_chmod / glfs_chown for a new volume's permissions; the errno, 0 on success.</summary>
    public int SetOwnerAndMode(string path, uint? uid, uint? gid, uint mode)
    {
        if ((uid is not null || gid is not null) && GfapiNative.Chown(Handle, path, uid ?? uint.MaxValue, gid ?? uint.MaxValue) < 0)
        {
            return Errno(GfapiNative.LastErrno);
        }

        return GfapiNative.Chmod(Handle, path, mode) < 0 ? Errno(GfapiNative.LastErrno) : 0;
    }

    /// <summary>gfapi sometimes fails without setting errno: EIO then, never "Success".</summary>
    internal static int Errno(int errno) => errno > 0 ? errno : Core.Interop.Errno.EIO;
}
