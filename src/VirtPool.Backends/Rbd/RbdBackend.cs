using System.Collections.Concurrent;
using VirtPool.Backends.Network;
using VirtPool.Core.Backends;
using VirtPool.Core.Errors;
using VirtPool.Core.Model;

namespace VirtPool.Backends.Rbd;

/// <summary>
/// libvirt's rbd pool (storage_backend_rbd.c) through librados and librbd: the pool is a RADOS pool
/// of a Ceph cluster, its volumes are RBD images, "POOL/IMAGE" their key and path. One connection
/// (rados_t + the pool's I/O context) per pool, held by a <see cref="NetworkConnection{THandle}"/>: in
/// the daemon it lives across calls until the pool stops or idles, where libvirt connects and
/// disconnects on every operation; every call is bounded by librados's own timeouts and the
/// connection's. Additions to libvirt 9.0: upload, download and checksum (holes kept both ways),
/// delete with snapshots that also works for a parent whose clones are gone, and a refresh that
/// re-reads only the images whose RADOS objects changed.
/// </summary>
public sealed partial class RbdBackend : IStorageBackend, IVolumeCreator, IVolumeCloner, IVolumeDeleter, IVolumeResizer, IVolumeWiper, IVolumeTransfer, IConnectionHealth, IDisposable
{
    /// <summary>Images whose versions are read in one round of asynchronous stats.</summary>
    private const int VersionBatch = 1024;

    /// <summary>Images opened at once in a refresh (each open is a few round trips to the OSD).</summary>
    private const int OpenBatch = 64;

    /// <summary>How much longer than librados's own time limits the connection waits before it gives up on a call.</summary>
    private static readonly TimeSpan BackstopMargin = TimeSpan.FromSeconds(5);

    private readonly NetworkConnection<RbdCluster> _connection;

    /// <summary>
    /// The images as the last refresh described them, by name, with the versions read before they
    /// were described: an image whose versions are the same again is not opened.
    /// </summary>
    private readonly ConcurrentDictionary<string, CachedImage> _images = new(StringComparer.Ordinal);

    /// <summary>The context of the latest call: the connection opens with its secret accessor.</summary>
    private volatile PoolContext _context;

    private RbdBackend(PoolContext pool, NetworkConnectionOptions options)
    {
        _context = pool;
        // librados gets the limits (libvirt's 30 s by default) and reports its own ETIMEDOUT; the
        // connection's backstop waits a little longer, for a library that does not keep to them.
        var backstop = options with { ConnectTimeout = options.ConnectTimeout + BackstopMargin, CallTimeout = options.CallTimeout + BackstopMargin };
        _connection = new NetworkConnection<RbdCluster>(
            $"the RADOS cluster at {RbdCluster.MonitorList(pool.Definition).TrimEnd(',')}",
            backstop,
            () => RbdCluster.Open(_context, options.ConnectTimeout, options.CallTimeout),
            cluster => cluster.Close());
    }

    /// <summary>The rbd pool type: an <see cref="RbdBackend"/> per pool.</summary>
    public static BackendType Type() => BackendType.Of(PoolType.Rbd, pool => new RbdBackend(pool, NetworkConnectionOptions.Default));

    /// <summary>With other time limits than the environment's (tests of a dead cluster).</summary>
    internal static BackendType Type(NetworkConnectionOptions options) => BackendType.Of(PoolType.Rbd, pool => new RbdBackend(pool, options));

    /// <summary>How many images the last pool refresh opened (the others were unchanged since the one before).</summary>
    internal int ImagesReadByLastRefresh { get; private set; }

    public bool IsReachable => _connection.IsReachable;

    /// <summary>Connected: libvirt has no checkPool for rbd; a pool that can connect is usable.</summary>
    public async Task<bool> CheckPoolAsync(PoolContext pool, CancellationToken cancellationToken)
    {
        try
        {
            await CallAsync(pool, _ => 0, "check", cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (VirtPoolException)
        {
            return false;
        }
    }

    /// <summary>
    /// Connects (libvirt has no startPool: its refresh after the start connects); a wrong key, a missing
    /// secret or an unknown RADOS pool fails the start here.
    /// </summary>
    public Task StartPoolAsync(PoolContext pool, PoolStartFlags flags, CancellationToken cancellationToken)
        => CallAsync(pool, _ => 0, "start", cancellationToken);

    /// <summary>Closes the connection (now, or when its last call ends).</summary>
    public Task StopPoolAsync(PoolContext pool, CancellationToken cancellationToken)
    {
        _connection.Close();
        _images.Clear();
        return Task.CompletedTask;
    }

    /// <summary>
    /// libvirt's refreshPool: the sizes, the image names, and each image as libvirt describes it. The
    /// addition is how: two asynchronous stats per image tell which images changed since the last
    /// refresh (their header or object map has a new version); only those are opened, many at once.
    /// </summary>
    public async Task<PoolScan> RefreshPoolAsync(PoolContext pool, CancellationToken cancellationToken)
    {
        var byDiff = AllocationByDiff(pool);
        using var lease = await AcquireAsync(pool, cancellationToken).ConfigureAwait(false);
        var (sizes, images) = await CallAsync(lease, c => (RbdListing.ReadSizes(c), RbdListing.ListImages(c)), "refresh", cancellationToken).ConfigureAwait(false);

        var versions = new RbdImageVersion[images.Count];
        for (var start = 0; start < images.Count; start += VersionBatch)
        {
            var first = start;
            var count = Math.Min(VersionBatch, images.Count - start);
            await CallAsync(lease, c => { RbdListing.ReadVersions(c, images, first, count, byDiff, versions); return 0; }, "refresh", cancellationToken).ConfigureAwait(false);
        }

        var volumes = new VolumeDefinition?[images.Count];
        var stale = new List<int>();
        for (var i = 0; i < images.Count; i++)
        {
            if (versions[i].IsKnown && _images.TryGetValue(images[i].Name, out var cached) && cached.Matches(images[i].Id, versions[i], byDiff))
            {
                volumes[i] = cached.Volume.DeepClone();
            }
            else
            {
                stale.Add(i);
            }
        }

        ImagesReadByLastRefresh = stale.Count;
        for (var start = 0; start < stale.Count; start += OpenBatch)
        {
            var batch = stale.Skip(start).Take(OpenBatch).ToList();
            var names = batch.Select(i => images[i].Name).ToList();
            var described = await CallAsync(lease, c => RbdListing.Describe(c, names, byDiff), "refresh", cancellationToken).ConfigureAwait(false);
            for (var j = 0; j < batch.Count; j++)
            {
                var i = batch[j];
                volumes[i] = described[j];
                if (described[j] is { } volume && versions[i].IsKnown)
                {
                    _images[images[i].Name] = new CachedImage(images[i].Id, versions[i], byDiff, volume.DeepClone());
                }
            }
        }

        // Images gone since the last refresh leave the cache with it.
        var listed = images.Select(i => i.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var name in _images.Keys.Where(n => !listed.Contains(n)).ToList())
        {
            _images.TryRemove(name, out _);
        }

        return new PoolScan(sizes, [.. volumes.OfType<VolumeDefinition>()]);
    }

    /// <summary>libvirt's refreshVol: the image opened read-only and described.</summary>
    public Task<VolumeDefinition> RefreshVolumeAsync(PoolContext pool, VolumeDefinition volume, CancellationToken cancellationToken)
    {
        var byDiff = AllocationByDiff(pool);
        return CallAsync(
            pool,
            c =>
            {
                using var image = RbdImage.Open(c, volume.Name, readOnly: true);
                var described = RbdListing.DescribeOpen(c.PoolName, image, byDiff);
                described.Target.Permissions = volume.Target.Permissions;
                described.BackendData = ClusterNote(c);
                return described;
            },
            "vol-info",
            cancellationToken);
    }

    public void Dispose() => _connection.Dispose();

    /// <summary>A volume's note of the cluster it lives on (its fsid), so a clone tells this cluster's images from another's of the same RADOS pool name.</summary>
    private static string ClusterNote(RbdCluster cluster) => $"ceph-fsid={cluster.Fsid()}";

    /// <summary>libvirt asks for the fast-diff allocation only when the pool has &lt;refresh&gt;&lt;volume allocation='default'/&gt;.</summary>
    private static bool AllocationByDiff(PoolContext pool) => pool.Definition.RefreshVolumeAllocation == PoolRefreshAllocation.Default;

    private async Task<NetworkLease<RbdCluster>> AcquireAsync(PoolContext pool, CancellationToken cancellationToken)
    {
        _context = pool;
        return await _connection.AcquireAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>One blocking call on the pool's connection; librbd's failures become libvirt's errors.</summary>
    private Task<T> CallAsync<T>(PoolContext pool, Func<RbdCluster, T> call, string operation, CancellationToken cancellationToken)
    {
        _context = pool;
        return _connection.CallAsync(c => Translate(c, call), operation, cancellationToken);
    }

    private Task<T> CallAsync<T>(NetworkLease<RbdCluster> lease, Func<RbdCluster, T> call, string operation, CancellationToken cancellationToken)
        => lease.CallAsync(c => Translate(c, call), operation, cancellationToken);

    private T Translate<T>(RbdCluster cluster, Func<RbdCluster, T> call)
    {
        try
        {
            return call(cluster);
        }
        catch (RbdException ex)
        {
            if (RbdErrno.MeansConnectionLost(ex.Errno))
            {
                _connection.MarkBroken();
            }

            throw ex.ToVirtPool();
        }
    }

    private static string PoolName(PoolContext pool)
        => pool.Definition.Source.Name is { Length: > 0 } name ? name : throw VirtPoolException.Internal("missing source name");

    /// <summary>An image as a refresh described it, and the versions read just before.</summary>
    private sealed record CachedImage(string Id, RbdImageVersion Version, bool ByDiff, VolumeDefinition Volume)
    {
        public bool Matches(string id, RbdImageVersion version, bool byDiff)
            => Id == id && Version == version && ByDiff == byDiff;
    }
}
