using System.Buffers;
using Microsoft.Extensions.Logging;
using VirtPool.Backends.Local;
using VirtPool.Core.Backends;
using VirtPool.Core.Errors;
using VirtPool.Core.Interop;
using VirtPool.Core.Model;
using VirtPool.Formats;

namespace VirtPool.Backends.Gluster;

/// <summary>
/// libvirt's virStorageBackendGlusterRefreshPool / RefreshVol over one connected mount: the pool folder's
/// entries (links followed, dangling ones skipped), folders as <c>netdir</c> volumes of format dir, files
/// as <c>network</c> volumes probed from their first 0x8200 bytes; sizes from statvfs of the folder.
/// </summary>
public static class GlusterScan
{
    /// <summary>
    /// A whole refresh as a series of session calls: the listing, then the entries probed concurrently
    /// (each a bounded call of its own: a pool of many files costs a few round trips, not one per file),
    /// then the sizes. Volumes keep readdir order; the first failure fails the refresh, as in libvirt.
    /// </summary>
    public static async Task<PoolScan> RefreshAsync(IGlusterSession session, ILogger? log, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(session);
        var entries = await session.RunAsync(m => m.ReadDirectory(), "readdir", cancellationToken).ConfigureAwait(false);
        var found = new VolumeDefinition?[entries.Count];
        await Parallel.ForEachAsync(
            Enumerable.Range(0, entries.Count),
            new ParallelOptions { MaxDegreeOfParallelism = ProbeConcurrency, CancellationToken = cancellationToken },
            async (i, ct) =>
            {
                var (name, lstat) = entries[i];
                found[i] = await session.RunAsync(m => Describe(m, name, lstat, log), "probe", ct).ConfigureAwait(false);
            }).ConfigureAwait(false);
        var (capacity, allocation, available) = await session.RunAsync(m => m.PoolSizes(), "statvfs", cancellationToken).ConfigureAwait(false);
        return new PoolScan(new PoolSizes(capacity, allocation, available), [.. found.OfType<VolumeDefinition>()]);
    }

    /// <summary>Probes in flight at once during a refresh.</summary>
    private const int ProbeConcurrency = 8;

    private static VolumeDefinition? Describe(GlusterMount mount, string name, FileStat st, ILogger? log)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(ImageProbe.HeaderBytes);
        try
        {
            return Describe(mount, name, st, buffer, log);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>One volume by name, as a refresh would find it now; a name that is gone is VIR_ERR_NO_STORAGE_VOL.</summary>
    public static VolumeDefinition Rediscover(GlusterMount mount, string name)
    {
        ArgumentNullException.ThrowIfNull(mount);
        var path = mount.Location.PathOf(name);
        if (!mount.TryLStat(path, out var lstat, out var errno))
        {
            throw errno == Errno.ENOENT
                ? new VirtPoolException(VirErrorCode.NoStorageVol, $"no storage vol with matching path '{mount.Location.UriOf(name)}'")
                : VirtPoolException.System($"cannot stat '{name}'", errno);
        }

        var buffer = ArrayPool<byte>.Shared.Rent(ImageProbe.HeaderBytes);
        try
        {
            return Describe(mount, name, lstat, buffer, log: null)
                ?? throw new VirtPoolException(VirErrorCode.NoStorageVol, $"no storage vol with matching path '{mount.Location.UriOf(name)}'");
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>virStorageBackendGlusterRefreshVol: null for an entry libvirt skips (a dangling or looping link).</summary>
    private static VolumeDefinition? Describe(GlusterMount mount, string name, FileStat st, byte[] buffer, ILogger? log)
    {
        var path = mount.Location.PathOf(name);
        if (st.IsSymlink && !mount.TryStat(path, out st, out var errno))
        {
            if (errno is Errno.ENOENT or Errno.ELOOP)
            {
                log?.LogInformation("ignoring dangling symlink '{Name}'", name);
                return null;
            }

            throw VirtPoolException.System($"cannot stat '{name}'", errno);
        }

        var uri = mount.Location.UriOf(name);
        if (st.IsDirectory)
        {
            return Volume(name, uri, VolumeType.NetDir, st, new ImageInfo { Format = StorageFileFormat.Dir, Capacity = (ulong)st.Size });
        }

        // gluster has no fifos, so a plain blocking open cannot hang on one (libvirt's reasoning too).
        using var file = mount.Open(path, LibC.O_RDONLY, name);
        var read = file.ReadFully(buffer.AsSpan(0, ImageProbe.HeaderBytes), 0);
        var info = ImageProbe.Probe(buffer.AsSpan(0, read), (ulong)st.Size);
        return Volume(name, uri, VolumeType.Network, st, info);
    }

    /// <summary>
    /// virStorageBackendUpdateVolTargetInfoFD from the stat (capacity = size, allocation = blocks,
    /// physical = size), then what the header says: format, capacity when it has one, backing store
    /// (raw when its format is not known), encryption, compat and features. No cluster size: libvirt's
    /// gluster backend does not keep it.
    /// </summary>
    private static VolumeDefinition Volume(string name, string uri, VolumeType type, FileStat st, ImageInfo info)
    {
        var capacity = info.Capacity != 0 ? info.Capacity : (ulong)st.Size;
        return new VolumeDefinition
        {
            Name = name,
            Key = uri,
            Type = type,
            Capacity = capacity,
            Allocation = (ulong)st.AllocatedBytes,
            Physical = (ulong)st.Size,
            Target = new VolumeTarget
            {
                Path = uri,
                Format = info.Format.ToName(),
                Compat = info.Compat,
                Permissions = new Permissions { Mode = st.Mode & VolumeOwnership.PermissionBits, Owner = st.Uid, Group = st.Gid },
                Timestamps = LocalVolumeProbe.Timestamps(st),
                // libvirt keeps a feature bitmap, printed even when empty, for qcow2 version 3 and later.
                Features = new VolumeFeatures { LazyRefcounts = info.LazyRefcounts, ExtendedL2 = info.ExtendedL2, Present = info.Format == StorageFileFormat.Qcow2 && info.HeaderVersion >= 3 },
                Encryption = EncryptionNames.TryParse(info.EncryptionFormat, out EncryptionFormat encryption)
                    ? new EncryptionDefinition { Format = encryption }
                    : null,
            },
            BackingStore = info.BackingStore is null
                ? null
                : new VolumeBackingStore { Path = info.BackingStore, Format = (info.BackingFormat ?? StorageFileFormat.Raw).ToName() },
        };
    }
}
