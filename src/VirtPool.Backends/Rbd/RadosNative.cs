using System.Runtime.InteropServices;

namespace VirtPool.Backends.Rbd;

/// <summary>
/// The librados calls the rbd pool uses, by the soname Debian installs (librados2 ships no -dev
/// symlink). Every call returns 0 or a negative errno; handles are plain pointers owned by
/// <see cref="RbdCluster"/>, which frees them once.
/// </summary>
internal static unsafe partial class RadosNative
{
    private const string Library = "librados.so.2";

    [LibraryImport(Library, EntryPoint = "rados_create", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Create(out nint cluster, string? id);

    /// <summary>Never with a null value: librados aborts the process on one.</summary>
    [LibraryImport(Library, EntryPoint = "rados_conf_set", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int ConfSet(nint cluster, string option, string value);

    [LibraryImport(Library, EntryPoint = "rados_conf_read_file", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int ConfReadFile(nint cluster, string path);

    [LibraryImport(Library, EntryPoint = "rados_cluster_fsid")]
    public static partial int ClusterFsid(nint cluster, byte* buffer, nuint length);

    [LibraryImport(Library, EntryPoint = "rados_connect")]
    public static partial int Connect(nint cluster);

    [LibraryImport(Library, EntryPoint = "rados_shutdown")]
    public static partial void Shutdown(nint cluster);

    [LibraryImport(Library, EntryPoint = "rados_ioctx_create", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int IoctxCreate(nint cluster, string poolName, out nint ioctx);

    [LibraryImport(Library, EntryPoint = "rados_ioctx_destroy")]
    public static partial void IoctxDestroy(nint ioctx);

    [LibraryImport(Library, EntryPoint = "rados_cluster_stat")]
    public static partial int ClusterStat(nint cluster, out ClusterStats stats);

    [LibraryImport(Library, EntryPoint = "rados_ioctx_pool_stat")]
    public static partial int PoolStat(nint ioctx, PoolStats* stats);

    [LibraryImport(Library, EntryPoint = "rados_aio_create_completion2")]
    public static partial int AioCreateCompletion(nint arg, nint complete, out nint completion);

    [LibraryImport(Library, EntryPoint = "rados_aio_stat", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int AioStat(nint ioctx, string objectName, nint completion, ulong* size, long* mtime);

    [LibraryImport(Library, EntryPoint = "rados_aio_wait_for_complete")]
    public static partial void AioWaitForComplete(nint completion);

    [LibraryImport(Library, EntryPoint = "rados_aio_get_return_value")]
    public static partial int AioGetReturnValue(nint completion);

    /// <summary>The object's version after the operation: it changes with every write to the object.</summary>
    [LibraryImport(Library, EntryPoint = "rados_aio_get_version")]
    public static partial ulong AioGetVersion(nint completion);

    [LibraryImport(Library, EntryPoint = "rados_aio_release")]
    public static partial void AioRelease(nint completion);

    /// <summary>struct rados_cluster_stat_t.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct ClusterStats
    {
        public ulong Kb;
        public ulong KbUsed;
        public ulong KbAvail;
        public ulong NumObjects;
    }

    /// <summary>
    /// struct rados_pool_stat_t: only the first member is read; the room after it is generous, as
    /// librados fills in as many members as its own version has.
    /// </summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct PoolStats
    {
        public ulong NumBytes;
        public fixed ulong Rest[31];
    }
}
