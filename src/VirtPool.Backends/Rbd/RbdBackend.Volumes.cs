using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging;
using VirtPool.Core.Backends;
using VirtPool.Core.Errors;
using VirtPool.Core.Interop;
using VirtPool.Core.Model;

namespace VirtPool.Backends.Rbd;

/// <summary>Volume create, delete, resize and clone, as libvirt's rbd backend has them (and where it fails, better).</summary>
public sealed partial class RbdBackend
{
    /// <summary>The prefix of the snapshots a clone is made from (libvirt's "libvirt-NNNN").</summary>
    internal const string ClonePrefix = "libvirt-";

    /// <summary>libvirt's createVol: a raw network volume at "POOL/NAME", keyed the same.</summary>
    public VolumeDefinition PrepareVolume(PoolContext pool, VolumeDefinition volume)
    {
        if (volume.Target.Format is { } format && format != "raw")
        {
            throw VirtPoolException.Unsupported("only RAW volumes are supported by this storage pool");
        }

        var prepared = volume.DeepClone();
        var path = $"{PoolName(pool)}/{volume.Name}";
        prepared.Type = VolumeType.Network;
        prepared.Key = path;
        prepared.Target.Path = path;
        prepared.Target.Format = "raw";
        return prepared;
    }

    /// <summary>
    /// libvirt's buildVol: rbd_create with order 0, so librbd's defaults make it (format 2, as the
    /// connection sets rbd_default_format; the cluster's default features, 4 MiB objects, one stripe).
    /// </summary>
    public async Task<VolumeDefinition> CreateVolumeAsync(PoolContext pool, VolumeDefinition volume, VolumeCreateFlags flags, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        BackendFlags.Check((uint)flags, 0, "virStorageBackendRBDBuildVol");
        if (volume.Capacity == 0)
        {
            throw VirtPoolException.NoSupport("volume capacity required for this storage pool");
        }

        if (volume.Target.Encryption is not null)
        {
            throw VirtPoolException.Unsupported("storage pool does not support encrypted volumes");
        }

        var byDiff = AllocationByDiff(pool);
        var created = await CallAsync(
            pool,
            c =>
            {
                var order = 0;
                var rc = RbdNative.Create(c.Ioctx, volume.Name, volume.Capacity, ref order);
                if (rc < 0)
                {
                    throw new RbdException($"failed to create volume '{c.PoolName}/{volume.Name}'", rc);
                }

                using var image = RbdImage.Open(c, volume.Name, readOnly: true);
                return RbdListing.DescribeOpen(c.PoolName, image, byDiff);
            },
            "vol-create",
            cancellationToken).ConfigureAwait(false);
        created.Target.Permissions = volume.Target.Permissions;
        return created;
    }

    public void CheckDeleteFlags(VolumeDefinition volume, VolumeDeleteFlags flags)
        => BackendFlags.Check((uint)flags, (uint)(VolumeDeleteFlags.ZeroedOut | VolumeDeleteFlags.WithSnapshots), "virStorageBackendRBDDeleteVol");

    /// <summary>
    /// libvirt's deleteVol (rbd_remove; an image already gone is no error; "zeroed" is only warned
    /// about). With <see cref="VolumeDeleteFlags.WithSnapshots"/>, libvirt unprotects and removes every
    /// snapshot and fails half-way on one that has clones; here every snapshot is checked first, and
    /// one with clones refuses the delete before anything changes, naming them. After a clone is
    /// removed, the libvirt-NNNN snapshot of its parent it was made from is unprotected and removed
    /// when no other clone uses it, so the parent can be deleted in turn (libvirt 9.0 leaves it behind).
    /// </summary>
    public async Task DeleteVolumeAsync(PoolContext pool, VolumeDefinition volume, VolumeDeleteFlags flags, CancellationToken cancellationToken)
    {
        CheckDeleteFlags(volume, flags);
        if (flags.HasFlag(VolumeDeleteFlags.ZeroedOut))
        {
            pool.Log.LogWarning("This storage backend does not support zeroed removal of volumes");
        }

        var withSnapshots = flags.HasFlag(VolumeDeleteFlags.WithSnapshots);
        using var lease = await AcquireAsync(pool, cancellationToken).ConfigureAwait(false);

        // Everything is checked before anything changes (clones of its snapshots, other clients using it).
        var plan = await CallAsync(lease, c => PlanRemove(c, volume.Name, withSnapshots), "vol-delete", cancellationToken).ConfigureAwait(false);
        if (plan is null)
        {
            _images.TryRemove(volume.Name, out _);
            return;
        }

        if (plan.Snapshots.Count > 0)
        {
            // Each snapshot's unprotect and remove is its own bounded call: a few round trips each, so
            // dozens of them are no dead cluster.
            var work = new RbdWork();
            try
            {
                var image = await CallAsync(lease, c => work.Open(() => RbdImage.Open(c, volume.Name, readOnly: false)), "vol-delete", cancellationToken).ConfigureAwait(false);
                foreach (var snapshot in plan.Snapshots)
                {
                    await CallAsync(lease, c => work.Run(() => { RemoveSnapshot(c.PoolName, image, snapshot); return 0; }), "vol-delete", cancellationToken).ConfigureAwait(false);
                }
            }
            finally
            {
                await work.EndAsync(lease).ConfigureAwait(false);
            }
        }

        await CallAsync(lease, c => { RemoveImage(c, volume.Name); return 0; }, "vol-delete", cancellationToken).ConfigureAwait(false);
        if (plan.Parent is { } p && p.Pool == PoolName(pool) && p.Snapshot.StartsWith(ClonePrefix, StringComparison.Ordinal))
        {
            try
            {
                await CallAsync(lease, c => { RemoveUnusedCloneSnapshot(c, p.Image, p.Snapshot); return 0; }, "vol-delete", cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is RbdException or VirtPoolException)
            {
                // The clone is gone as asked; a snapshot left behind is what libvirt leaves anyway.
                pool.Log.LogWarning("could not remove the clone snapshot {Parent}@{Snapshot}: {Error}", p.Image, p.Snapshot, ex.Message);
            }
        }
        _images.TryRemove(volume.Name, out _);
    }

    /// <summary>
    /// libvirt's resizeVol (rbd_resize). Allocating the new space is refused as libvirt refuses the
    /// flag; shrinking, which libvirt refuses the same way, is an addition: rbd_resize cuts the image
    /// (the caller asked with --shrink).
    /// </summary>
    public async Task ResizeVolumeAsync(PoolContext pool, VolumeDefinition volume, ulong capacity, bool allocate, CancellationToken cancellationToken)
    {
        BackendFlags.Check(allocate ? (uint)VolumeResizeFlags.Allocate : 0, 0, "virStorageBackendRBDResizeVol");
        await CallAsync(
            pool,
            c =>
            {
                using var image = RbdImage.Open(c, volume.Name, readOnly: false);
                image.Resize(capacity);
                return 0;
            },
            "vol-resize",
            cancellationToken).ConfigureAwait(false);
        _images.TryRemove(volume.Name, out _);
    }

    /// <summary>
    /// libvirt's buildVolFrom. From an image of the same RADOS pool: a copy-on-write clone, as libvirt
    /// makes it (a snapshot of the source without changes since, else a new libvirt-NNNN one,
    /// protected, then rbd_clone2 with the source's features and striping), grown to the capacity asked
    /// when that is larger. From any other volume (another pool, a file): a full copy into a new image,
    /// holes kept (<see cref="CopyIntoAsync"/>).
    /// </summary>
    public async Task<VolumeDefinition> CreateVolumeFromAsync(PoolContext pool, VolumeDefinition volume, VolumeDefinition source, VolumeCreateFlags flags, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        BackendFlags.Check((uint)flags, 0, "virStorageBackendRBDBuildVolFrom");
        var poolName = PoolName(pool);
        var byDiff = AllocationByDiff(pool);
        // The same RADOS pool name may live on another cluster: a copy-on-write clone only from this one.
        var sameCluster = source.Type == VolumeType.Network && source.Key == $"{poolName}/{source.Name}"
            && await CallAsync(pool, c => source.BackendData == ClusterNote(c), "vol-clone", cancellationToken).ConfigureAwait(false);
        if (source.Type == VolumeType.Network && source.Key == $"{poolName}/{source.Name}" && !sameCluster)
        {
            throw VirtPoolException.NoSupport($"cannot clone volume '{source.Name}' into RBD pool '{poolName}': it is an image of another Ceph cluster (or of a pool not refreshed as an RBD pool), and images are cloned only within one cluster");
        }

        if (sameCluster)
        {
            var cloned = await CallAsync(
                pool,
                c =>
                {
                    CloneImage(c, source.Name, volume.Name);
                    using var image = RbdImage.Open(c, volume.Name, readOnly: false);
                    if (image.Stat().Size < volume.Capacity)
                    {
                        image.Resize(volume.Capacity);
                    }

                    return RbdListing.DescribeOpen(c.PoolName, image, byDiff);
                },
                "vol-clone",
                cancellationToken).ConfigureAwait(false);
            cloned.Target.Permissions = volume.Target.Permissions;
            return cloned;
        }

        return await CopyIntoAsync(pool, volume, source, progress, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>libvirt's virStorageBackendRBDCloneImage.</summary>
    private static void CloneImage(RbdCluster cluster, string original, string clone)
    {
        using var image = RbdImage.Open(cluster, original, readOnly: false);
        var (features, stripeUnit, stripeCount) = image.Layout();
        var snapshot = FindUnchangedSnapshot(image);
        if (snapshot is null)
        {
            snapshot = ClonePrefix + Random.Shared.Next(65534);
            var rc = RbdNative.SnapCreate(image.Handle, snapshot);
            if (rc < 0)
            {
                throw new RbdException($"failed to create RBD snapshot {original}@{snapshot}", rc);
            }
        }

        var isProtected = RbdNative.SnapIsProtected(image.Handle, snapshot, out var state);
        if (isProtected < 0)
        {
            throw new RbdException($"failed to verify if RBD snapshot {original}@{snapshot} is protected", isProtected);
        }

        if (state == 0)
        {
            var rc = RbdNative.SnapProtect(image.Handle, snapshot);
            if (rc < 0)
            {
                throw new RbdException($"failed to protect RBD snapshot {original}@{snapshot}", rc);
            }
        }

        var order = 0;
        var cloned = RbdNative.Clone2(cluster.Ioctx, original, snapshot, cluster.Ioctx, clone, features, ref order, stripeUnit, stripeCount);
        if (cloned < 0)
        {
            throw new RbdException($"failed to clone RBD volume {original} to {clone}", cloned);
        }
    }

    /// <summary>libvirt's virStorageBackendRBDSnapshotFindNoDiff: the first snapshot the image has not changed since.</summary>
    private static string? FindUnchangedSnapshot(RbdImage image)
    {
        var size = image.Stat().Size;
        foreach (var snapshot in image.Snapshots())
        {
            var changed = false;
            var state = System.Runtime.InteropServices.GCHandle.Alloc(new StrongBox<bool>());
            try
            {
                unsafe
                {
                    var rc = RbdNative.DiffIterate2(image.Handle, snapshot, 0, size, 0, 1, &StopAtFirstChange, System.Runtime.InteropServices.GCHandle.ToIntPtr(state));
                    changed = ((StrongBox<bool>)state.Target!).Value;
                    if (rc < 0 && !changed)
                    {
                        throw new RbdException($"failed to iterate RBD snapshot {image.Name}@{snapshot}", rc);
                    }
                }
            }
            finally
            {
                state.Free();
            }

            if (!changed)
            {
                return snapshot;
            }
        }

        return null;
    }

    [System.Runtime.InteropServices.UnmanagedCallersOnly]
    private static int StopAtFirstChange(ulong offset, nuint length, int exists, nint arg)
    {
        ((StrongBox<bool>)System.Runtime.InteropServices.GCHandle.FromIntPtr(arg).Target!).Value = true;
        return -1;
    }

    /// <summary>What a delete will remove: the snapshots (when asked) and the parent the image was cloned from.</summary>
    private sealed record RemovePlan(List<string> Snapshots, (string Pool, string Image, string Snapshot)? Parent);

    /// <summary>
    /// The image opened read-only (no watch of our own): null when it is gone already. With its
    /// snapshots, refused before anything changes when a snapshot has clones (naming them) or another
    /// client has the image open (a running VM, an rbd-nbd map): rbd_remove would then fail with EBUSY
    /// after the snapshots were removed for good.
    /// </summary>
    private static RemovePlan? PlanRemove(RbdCluster cluster, string name, bool withSnapshots)
    {
        var open = RbdNative.OpenReadOnly(cluster.Ioctx, name, out var handle, null);
        if (open == -Errno.ENOENT)
        {
            return null;
        }

        if (open < 0)
        {
            throw new RbdException($"failed to open the RBD image '{name}'", open);
        }

        using var image = RbdImage.Adopt(handle, name);
        var parent = image.Parent();
        var snapshots = withSnapshots ? image.Snapshots() : [];
        if (snapshots.Count > 0)
        {
            CheckNoClones(cluster.PoolName, image, snapshots);
            var watchers = image.WatcherCount();
            if (watchers > 0)
            {
                throw new RbdException($"cannot delete volume '{cluster.PoolName}/{name}' with its snapshots: the image is open in {watchers} other client(s)", -Errno.EBUSY);
            }
        }

        return new RemovePlan(snapshots, parent);
    }

    /// <summary>rbd_remove; an image already gone is no error.</summary>
    private static void RemoveImage(RbdCluster cluster, string name)
    {
        var rc = RbdNative.Remove(cluster.Ioctx, name);
        if (rc < 0 && rc != -Errno.ENOENT)
        {
            throw new RbdException($"failed to remove volume '{cluster.PoolName}/{name}'", rc);
        }
    }

    /// <summary>Every snapshot checked for clones: refused, naming them.</summary>
    private static void CheckNoClones(string poolName, RbdImage image, List<string> snapshots)
    {
        var used = new List<string>();
        foreach (var snapshot in snapshots)
        {
            var children = image.Children(snapshot);
            if (children.Count > 0)
            {
                used.Add($"'{poolName}/{image.Name}@{snapshot}' has clones {string.Join(", ", children.Select(c => $"'{c}'"))}");
            }
        }

        if (used.Count > 0)
        {
            throw VirtPoolException.InvalidOperation($"cannot delete volume '{poolName}/{image.Name}' with its snapshots: snapshot {string.Join("; snapshot ", used)}");
        }
    }

    /// <summary>One snapshot unprotected (when protected) and removed.</summary>
    private static void RemoveSnapshot(string poolName, RbdImage image, string snapshot)
    {
        if (image.IsProtected(poolName, snapshot))
        {
            var rc = RbdNative.SnapUnprotect(image.Handle, snapshot);
            if (rc < 0)
            {
                throw new RbdException($"failed to unprotect snapshot '{poolName}/{image.Name}@{snapshot}'", rc);
            }
        }

        var removed = RbdNative.SnapRemove(image.Handle, snapshot);
        if (removed < 0)
        {
            throw new RbdException($"failed to remove snapshot '{poolName}/{image.Name}@{snapshot}'", removed);
        }
    }

    /// <summary>The parent's libvirt-NNNN snapshot a removed clone was made from, when no clone uses it any more.</summary>
    private static void RemoveUnusedCloneSnapshot(RbdCluster cluster, string parentName, string snapshot)
    {
        using var parent = RbdImage.Open(cluster, parentName, readOnly: false);
        if (!parent.Snapshots().Contains(snapshot) || parent.Children(snapshot).Count > 0)
        {
            return;
        }

        if (parent.IsProtected(cluster.PoolName, snapshot))
        {
            var rc = RbdNative.SnapUnprotect(parent.Handle, snapshot);
            if (rc < 0)
            {
                throw new RbdException($"failed to unprotect snapshot '{cluster.PoolName}/{parentName}@{snapshot}'", rc);
            }
        }

        var removed = RbdNative.SnapRemove(parent.Handle, snapshot);
        if (removed < 0)
        {
            throw new RbdException($"failed to remove snapshot '{cluster.PoolName}/{parentName}@{snapshot}'", removed);
        }
    }
}
