using System.Runtime.InteropServices;

namespace VirtPool.Backends.Rbd;

/// <summary>
/// The librbd calls the rbd pool uses (Ceph Pacific's librbd.so.1), by soname. Every call returns 0
/// (or a count) or a negative errno. An open image is owned by <see cref="RbdImage"/>.
/// </summary>
internal static unsafe partial class RbdNative
{
    private const string Library = "librbd.so.1";

    /// <summary>RBD_FEATURE_FAST_DIFF.</summary>
    public const ulong FeatureFastDiff = 1UL << 4;

    /// <summary>RBD_FLAG_FAST_DIFF_INVALID.</summary>
    public const ulong FlagFastDiffInvalid = 1UL << 1;

    [LibraryImport(Library, EntryPoint = "rbd_list2")]
    public static partial int List2(nint ioctx, ImageSpec* images, ref nuint maxImages);

    [LibraryImport(Library, EntryPoint = "rbd_image_spec_list_cleanup")]
    public static partial void ImageSpecListCleanup(ImageSpec* images, nuint count);

    [LibraryImport(Library, EntryPoint = "rbd_open", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Open(nint ioctx, string name, out nint image, string? snapName);

    [LibraryImport(Library, EntryPoint = "rbd_open_read_only", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int OpenReadOnly(nint ioctx, string name, out nint image, string? snapName);

    /// <summary>The image pointer is written before the open completes: <paramref name="image"/> must stay put.</summary>
    [LibraryImport(Library, EntryPoint = "rbd_aio_open_read_only", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int AioOpenReadOnly(nint ioctx, string name, nint* image, string? snapName, nint completion);

    /// <summary>Its result (0, or an error flushing a written image) is of no use: the image is freed either way.</summary>
    [LibraryImport(Library, EntryPoint = "rbd_close")]
    public static partial void Close(nint image);

    [LibraryImport(Library, EntryPoint = "rbd_aio_close")]
    public static partial int AioClose(nint image, nint completion);

    [LibraryImport(Library, EntryPoint = "rbd_aio_create_completion")]
    public static partial int AioCreateCompletion(nint arg, nint callback, out nint completion);

    [LibraryImport(Library, EntryPoint = "rbd_aio_wait_for_complete")]
    public static partial void AioWaitForComplete(nint completion);

    [LibraryImport(Library, EntryPoint = "rbd_aio_get_return_value")]
    public static partial nint AioGetReturnValue(nint completion);

    [LibraryImport(Library, EntryPoint = "rbd_aio_release")]
    public static partial void AioRelease(nint completion);

    [LibraryImport(Library, EntryPoint = "rbd_stat")]
    public static partial int Stat(nint image, ImageInfo* info, nuint infoSize);

    [LibraryImport(Library, EntryPoint = "rbd_get_features")]
    public static partial int GetFeatures(nint image, out ulong features);

    [LibraryImport(Library, EntryPoint = "rbd_get_flags")]
    public static partial int GetFlags(nint image, out ulong flags);

    [LibraryImport(Library, EntryPoint = "rbd_get_old_format")]
    public static partial int GetOldFormat(nint image, out byte oldFormat);

    [LibraryImport(Library, EntryPoint = "rbd_get_stripe_unit")]
    public static partial int GetStripeUnit(nint image, out ulong stripeUnit);

    [LibraryImport(Library, EntryPoint = "rbd_get_stripe_count")]
    public static partial int GetStripeCount(nint image, out ulong stripeCount);

    [LibraryImport(Library, EntryPoint = "rbd_watchers_list")]
    public static partial int WatchersList(nint image, ImageWatcher* watchers, ref nuint maxWatchers);

    [LibraryImport(Library, EntryPoint = "rbd_watchers_list_cleanup")]
    public static partial void WatchersListCleanup(ImageWatcher* watchers, nuint count);

    [LibraryImport(Library, EntryPoint = "rbd_get_id")]
    public static partial int GetId(nint image, byte* id, nuint length);

    [LibraryImport(Library, EntryPoint = "rbd_diff_iterate2", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int DiffIterate2(nint image, string? fromSnapName, ulong offset, ulong length, byte includeParent, int wholeObject, delegate* unmanaged<ulong, nuint, int, nint, int> callback, nint arg);

    /// <summary>Makes the image with librbd's defaults (format 2 as the connection sets it, default features and order when order is 0).</summary>
    [LibraryImport(Library, EntryPoint = "rbd_create", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Create(nint ioctx, string name, ulong size, ref int order);

    [LibraryImport(Library, EntryPoint = "rbd_remove", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Remove(nint ioctx, string name);

    [LibraryImport(Library, EntryPoint = "rbd_resize")]
    public static partial int Resize(nint image, ulong size);

    [LibraryImport(Library, EntryPoint = "rbd_read")]
    public static partial nint Read(nint image, ulong offset, nuint length, byte* buffer);

    [LibraryImport(Library, EntryPoint = "rbd_aio_write")]
    public static partial int AioWrite(nint image, ulong offset, nuint length, byte* buffer, nint completion);

    [LibraryImport(Library, EntryPoint = "rbd_aio_read")]
    public static partial int AioRead(nint image, ulong offset, nuint length, byte* buffer, nint completion);

    [LibraryImport(Library, EntryPoint = "rbd_aio_discard")]
    public static partial int AioDiscard(nint image, ulong offset, ulong length, nint completion);

    [LibraryImport(Library, EntryPoint = "rbd_aio_write_zeroes")]
    public static partial int AioWriteZeroes(nint image, ulong offset, nuint length, nint completion, int zeroFlags, int opFlags);

    [LibraryImport(Library, EntryPoint = "rbd_snap_list")]
    public static partial int SnapList(nint image, SnapInfo* snaps, ref int maxSnaps);

    [LibraryImport(Library, EntryPoint = "rbd_snap_list_end")]
    public static partial void SnapListEnd(SnapInfo* snaps);

    [LibraryImport(Library, EntryPoint = "rbd_snap_create", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int SnapCreate(nint image, string snapName);

    [LibraryImport(Library, EntryPoint = "rbd_snap_remove", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int SnapRemove(nint image, string snapName);

    [LibraryImport(Library, EntryPoint = "rbd_snap_protect", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int SnapProtect(nint image, string snapName);

    [LibraryImport(Library, EntryPoint = "rbd_snap_unprotect", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int SnapUnprotect(nint image, string snapName);

    [LibraryImport(Library, EntryPoint = "rbd_snap_is_protected", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int SnapIsProtected(nint image, string snapName, out int isProtected);

    /// <summary>Sets the snapshot later calls read (null: the image's head).</summary>
    [LibraryImport(Library, EntryPoint = "rbd_snap_set", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int SnapSet(nint image, string? snapName);

    /// <summary>The clones of the snapshot set with <see cref="SnapSet"/>.</summary>
    [LibraryImport(Library, EntryPoint = "rbd_list_children3")]
    public static partial int ListChildren3(nint image, LinkedImageSpec* images, ref nuint maxImages);

    [LibraryImport(Library, EntryPoint = "rbd_linked_image_spec_list_cleanup")]
    public static partial void LinkedImageSpecListCleanup(LinkedImageSpec* images, nuint count);

    [LibraryImport(Library, EntryPoint = "rbd_get_parent")]
    public static partial int GetParent(nint image, LinkedImageSpec* parentImage, SnapSpec* parentSnap);

    [LibraryImport(Library, EntryPoint = "rbd_linked_image_spec_cleanup")]
    public static partial void LinkedImageSpecCleanup(LinkedImageSpec* image);

    [LibraryImport(Library, EntryPoint = "rbd_snap_spec_cleanup")]
    public static partial void SnapSpecCleanup(SnapSpec* snap);

    [LibraryImport(Library, EntryPoint = "rbd_clone2", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Clone2(nint parentIoctx, string parentName, string parentSnapName, nint childIoctx, string childName, ulong features, ref int childOrder, ulong stripeUnit, ulong stripeCount);

    /// <summary>rbd_image_spec_t.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct ImageSpec
    {
        public byte* Id;
        public byte* Name;
    }

    /// <summary>rbd_linked_image_spec_t.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct LinkedImageSpec
    {
        public long PoolId;
        public byte* PoolName;
        public byte* PoolNamespace;
        public byte* ImageId;
        public byte* ImageName;
        public byte Trash;
    }

    /// <summary>rbd_snap_spec_t.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct SnapSpec
    {
        public ulong Id;
        public int NamespaceType;
        public byte* Name;
    }

    /// <summary>rbd_snap_info_t.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct SnapInfo
    {
        public ulong Id;
        public ulong Size;
        public byte* Name;
    }

    /// <summary>rbd_image_info_t (the deprecated parent members included, as librbd checks the size passed).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct ImageInfo
    {
        public ulong Size;
        public ulong ObjectSize;
        public ulong ObjectCount;
        public int Order;
        public fixed byte BlockNamePrefix[24];
        public long ParentPool;
        public fixed byte ParentName[96];
    }

    public static string? Utf8(byte* text) => text is null ? null : Marshal.PtrToStringUTF8((nint)text);

    /// <summary>rbd_image_watcher_t.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct ImageWatcher
    {
        public nint Address;
        public long Id;
        public ulong Cookie;
    }
}
