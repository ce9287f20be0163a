using System.Runtime.InteropServices;
using VirtPool.Core.Errors;
using VirtPool.Core.Interop;

namespace VirtPool.Backends.Rbd;

/// <summary>
/// An open RBD image (rbd_image_t), closed once on dispose. Its methods are librbd's calls with
/// libvirt's error words for each; they block, so callers run them on the connection's worker.
/// </summary>
internal sealed unsafe class RbdImage : IDisposable
{
    private nint _image;

    private RbdImage(nint image, string name)
    {
        _image = image;
        Name = name;
    }

    public string Name { get; }

    public nint Handle => _image != 0 ? _image : throw new ObjectDisposedException(nameof(RbdImage));

    /// <summary>rbd_open (read-only: no watch, no lock), libvirt's "failed to open the RBD image 'NAME'".</summary>
    public static RbdImage Open(RbdCluster cluster, string name, bool readOnly, string? snapshot = null)
    {
        var rc = readOnly
            ? RbdNative.OpenReadOnly(cluster.Ioctx, name, out var image, snapshot)
            : RbdNative.Open(cluster.Ioctx, name, out image, snapshot);
        return rc < 0 ? throw new RbdException($"failed to open the RBD image '{name}'", rc) : new RbdImage(image, name);
    }

    /// <summary>rbd_watchers_list: clients watching the image (one that has it open read-write; a read-only open watches nothing).</summary>
    public int WatcherCount()
    {
        nuint max = 16;
        while (true)
        {
            var watchers = new RbdNative.ImageWatcher[(int)max];
            fixed (RbdNative.ImageWatcher* p = watchers)
            {
                var asked = max;
                var rc = RbdNative.WatchersList(Handle, p, ref max);
                if (rc == -RbdErrno.ERANGE && max > asked)
                {
                    continue;
                }

                if (rc < 0)
                {
                    throw new RbdException($"failed to list the watchers of the RBD image '{Name}'", rc);
                }

                RbdNative.WatchersListCleanup(p, max);
                return (int)max;
            }
        }
    }

    /// <summary>rbd_get_id: the image's id, which a removed and re-created image of the same name does not share.</summary>
    public string Id()
    {
        Span<byte> id = stackalloc byte[128];
        fixed (byte* p = id)
        {
            var rc = RbdNative.GetId(Handle, p, (nuint)id.Length);
            if (rc < 0)
            {
                throw new RbdException($"failed to get the id of the RBD image '{Name}'", rc);
            }
        }

        var end = id.IndexOf((byte)0);
        return System.Text.Encoding.UTF8.GetString(end < 0 ? id : id[..end]);
    }

    /// <summary>
    /// Whether this image is still the one the pool names so (a read-only open registers no watch, so
    /// another client may remove it while it is read, and librbd then reads its removed objects as
    /// holes): fails with libvirt's open error (ENOENT) when it is gone or replaced.
    /// </summary>
    public void CheckStillThere(RbdCluster cluster)
    {
        using var current = Open(cluster, Name, readOnly: true);
        if (current.Id() != Id())
        {
            throw new RbdException($"failed to open the RBD image '{Name}'", -VirtPool.Core.Interop.Errno.ENOENT);
        }
    }

    /// <summary>Takes an image opened elsewhere (an asynchronous open).</summary>
    public static RbdImage Adopt(nint image, string name) => new(image, name);

    public RbdNative.ImageInfo Stat()
    {
        RbdNative.ImageInfo info;
        var rc = RbdNative.Stat(Handle, &info, (nuint)sizeof(RbdNative.ImageInfo));
        return rc < 0 ? throw new RbdException($"failed to stat the RBD image '{Name}'", rc) : info;
    }

    public ulong Features()
    {
        var rc = RbdNative.GetFeatures(Handle, out var features);
        return rc < 0 ? throw new RbdException($"failed to get the features of RBD image {Name}", rc) : features;
    }

    public ulong Flags()
    {
        var rc = RbdNative.GetFlags(Handle, out var flags);
        return rc < 0 ? throw new RbdException($"failed to get the flags of RBD image {Name}", rc) : flags;
    }

    /// <summary>libvirt's volStorageBackendRBDUseFastDiff: the feature on and its map valid.</summary>
    public bool UsesFastDiff() => (Features() & RbdNative.FeatureFastDiff) != 0 && (Flags() & RbdNative.FlagFastDiffInvalid) == 0;

    /// <summary>libvirt's virStorageBackendRBDImageInfo: a format 2 image's features and striping, for its clones.</summary>
    public (ulong Features, ulong StripeUnit, ulong StripeCount) Layout()
    {
        var rc = RbdNative.GetOldFormat(Handle, out var oldFormat);
        if (rc < 0)
        {
            throw new RbdException($"failed to get the format of RBD image {Name}", rc);
        }

        if (oldFormat != 0)
        {
            throw new VirtPoolException(VirErrorCode.OperationUnsupported, $"RBD image {Name} is old format. Does not support extended features and striping");
        }

        var features = Features();
        rc = RbdNative.GetStripeUnit(Handle, out var unit);
        if (rc < 0)
        {
            throw new RbdException($"failed to get the stripe unit of RBD image {Name}", rc);
        }

        rc = RbdNative.GetStripeCount(Handle, out var count);
        return rc < 0 ? throw new RbdException($"failed to get the stripe count of RBD image {Name}", rc) : (features, unit, count);
    }

    /// <summary>
    /// The image's allocated ranges, from <paramref name="offset"/> for <paramref name="length"/>
    /// bytes, merged where they touch: rbd_diff_iterate2 against nothing, with the parent's data for a
    /// clone when <paramref name="includeParent"/>, by object when <paramref name="wholeObject"/> (the
    /// object map: fast, whole objects), else exact extents.
    /// </summary>
    public List<(ulong Offset, ulong Length)> AllocatedExtents(ulong offset, ulong length, bool wholeObject, bool includeParent)
    {
        var extents = new List<(ulong Offset, ulong Length)>();
        if (length == 0)
        {
            return extents;
        }

        var state = GCHandle.Alloc(extents);
        try
        {
            var rc = RbdNative.DiffIterate2(Handle, null, offset, length, includeParent ? (byte)1 : (byte)0, wholeObject ? 1 : 0, &CollectExtent, GCHandle.ToIntPtr(state));
            return rc < 0 ? throw new RbdException($"failed to iterate RBD image '{Name}'", rc) : extents;
        }
        finally
        {
            state.Free();
        }
    }

    /// <summary>The bytes rbd_diff_iterate2 finds allocated by whole objects: libvirt's fast-diff allocation.</summary>
    public ulong AllocatedBytes(ulong size)
    {
        ulong total = 0;
        foreach (var (_, length) in AllocatedExtents(0, size, wholeObject: true, includeParent: false))
        {
            total += length;
        }

        return total;
    }

    public void Resize(ulong size)
    {
        var rc = RbdNative.Resize(Handle, size);
        if (rc < 0)
        {
            throw new RbdException($"failed to resize the RBD image '{Name}'", rc);
        }
    }

    /// <summary>The image's snapshots, by name, as rbd_snap_list gives them.</summary>
    public List<string> Snapshots()
    {
        var max = 16;
        while (true)
        {
            var snaps = new RbdNative.SnapInfo[max];
            fixed (RbdNative.SnapInfo* p = snaps)
            {
                var count = RbdNative.SnapList(Handle, p, ref max);
                if (count == -RbdErrno.ERANGE)
                {
                    continue;
                }

                if (count < 0)
                {
                    throw new RbdException($"failed to list the snapshots of RBD image '{Name}'", count);
                }

                var names = new List<string>(count);
                for (var i = 0; i < count; i++)
                {
                    names.Add(RbdNative.Utf8(p[i].Name) ?? string.Empty);
                }

                RbdNative.SnapListEnd(p);
                return names;
            }
        }
    }

    public bool IsProtected(string pool, string snapshot)
    {
        var rc = RbdNative.SnapIsProtected(Handle, snapshot, out var isProtected);
        return rc < 0 ? throw new RbdException($"failed to verify if snapshot '{pool}/{Name}@{snapshot}' is protected", rc) : isProtected != 0;
    }

    /// <summary>The clones made from <paramref name="snapshot"/>, as "POOL/NAME" (moved to the trash ones too, marked so).</summary>
    public List<string> Children(string snapshot)
    {
        var rc = RbdNative.SnapSet(Handle, snapshot);
        if (rc < 0)
        {
            throw new RbdException($"failed to open snapshot '{Name}@{snapshot}'", rc);
        }

        try
        {
            nuint max = 16;
            while (true)
            {
                var specs = new RbdNative.LinkedImageSpec[(int)max];
                fixed (RbdNative.LinkedImageSpec* p = specs)
                {
                    rc = RbdNative.ListChildren3(Handle, p, ref max);
                    if (rc == -RbdErrno.ERANGE)
                    {
                        continue;
                    }

                    if (rc < 0)
                    {
                        throw new RbdException($"failed to list the clones of snapshot '{Name}@{snapshot}'", rc);
                    }

                    var children = new List<string>((int)max);
                    for (var i = 0; i < (int)max; i++)
                    {
                        var child = $"{RbdNative.Utf8(p[i].PoolName)}/{RbdNative.Utf8(p[i].ImageName)}";
                        children.Add(p[i].Trash != 0 ? child + " (in the trash)" : child);
                    }

                    RbdNative.LinkedImageSpecListCleanup(p, max);
                    return children;
                }
            }
        }
        finally
        {
            RbdNative.SnapSet(Handle, null);
        }
    }

    /// <summary>The parent a clone was made from (pool, image, snapshot), or null for an image that is no clone.</summary>
    public (string Pool, string Image, string Snapshot)? Parent()
    {
        RbdNative.LinkedImageSpec image;
        RbdNative.SnapSpec snap;
        var rc = RbdNative.GetParent(Handle, &image, &snap);
        if (rc == -Errno.ENOENT)
        {
            return null;
        }

        if (rc < 0)
        {
            throw new RbdException($"failed to get the parent of RBD image '{Name}'", rc);
        }

        var parent = (RbdNative.Utf8(image.PoolName) ?? string.Empty, RbdNative.Utf8(image.ImageName) ?? string.Empty, RbdNative.Utf8(snap.Name) ?? string.Empty);
        RbdNative.LinkedImageSpecCleanup(&image);
        RbdNative.SnapSpecCleanup(&snap);
        return parent;
    }

    public void Dispose()
    {
        var image = Interlocked.Exchange(ref _image, 0);
        if (image != 0)
        {
            RbdNative.Close(image);
        }
    }

    [UnmanagedCallersOnly]
    private static int CollectExtent(ulong offset, nuint length, int exists, nint arg)
    {
        if (exists == 0 || length == 0)
        {
            return 0;
        }

        var extents = (List<(ulong Offset, ulong Length)>)GCHandle.FromIntPtr(arg).Target!;
        if (extents.Count > 0 && extents[^1].Offset + extents[^1].Length == offset)
        {
            extents[^1] = (extents[^1].Offset, extents[^1].Length + length);
        }
        else
        {
            extents.Add((offset, length));
        }

        return 0;
    }
}

/// <summary>A librbd/librados call failed: libvirt's virReportSystemError, "what: strerror(-rc)".</summary>
internal sealed class RbdException(string what, int rc) : Exception($"{what}: {StrError.Describe(-rc)}")
{
    public string What { get; } = what;

    /// <summary>The positive errno.</summary>
    public int Errno { get; } = -rc;

    public VirtPoolException ToVirtPool() => VirtPoolException.System(What, Errno);
}
