using VirtPool.Backends.Network;
using VirtPool.Core.Backends;
using VirtPool.Core.Errors;
using VirtPool.Core.Interop;
using VirtPool.Core.Model;
using VirtPool.Core.Process;

namespace VirtPool.Backends.Gluster;

/// <summary>
/// libvirt's gluster pool (storage_backend_gluster.c) through libgfapi: the files and folders of one
/// folder of a gluster volume are the pool's volumes (<c>network</c> and <c>netdir</c>, path and key
/// <c>gluster://HOST[:PORT]/VOLUME/DIR/NAME</c>). Refresh and delete are libvirt's; create (raw natively,
/// other formats built here and copied), resize, clone, wipe, upload, download and checksum are
/// additions (libvirt 9.0 refuses them all on gluster pools).
/// </summary>
/// <remarks>
/// libvirt connects and disconnects on every operation, and glfs_fini takes ~10 s; this backend keeps one
/// connected glfs_t per pool (<see cref="NetworkConnection{THandle}"/>): opened on first use, shared by
/// concurrent operations, each gfapi call bounded in time, closed on pool stop, on dispose and after
/// idling, in the background so nobody waits for glfs_fini.
/// </remarks>
public sealed class GlusterBackend : IStorageBackend, IVolumeCloner, IVolumeBuilder, IVolumeDeleter, IVolumeResizer, IVolumeWiper, IVolumeTransfer, IConnectionHealth, IDisposable
{
    private readonly NetworkConnection<GlusterMount> _connection;
    private readonly GlusterLocation? _location;
    private readonly VirtPoolException? _invalid;
    private readonly GlusterVolumes? _volumes;

    private GlusterBackend(PoolContext pool, IProcessRunner runner, NetworkConnectionOptions options)
    {
        // A bad name or folder is libvirt's error at start or refresh, not at load (the pool can be defined).
        try
        {
            _location = GlusterLocation.Of(pool.Definition);
            _volumes = new GlusterVolumes(runner, _location);
        }
        catch (VirtPoolException ex)
        {
            _invalid = ex;
        }

        var location = _location;
        _connection = new NetworkConnection<GlusterMount>(
            location?.Describe() ?? "the gluster server",
            options with { CloseInBackground = true },
            () => GlusterMount.Connect(location!),
            mount => mount.Dispose());
    }

    /// <summary>The gluster pool type, with its source discovery; one backend (one connection) per pool.</summary>
    public static BackendType Type(IProcessRunner runner)
        => BackendType.Of(PoolType.Gluster, pool => new GlusterBackend(pool, runner, NetworkConnectionOptions.Default), new GlusterSourceFinder(runner));

    /// <summary>For tests: a backend with its own time limits.</summary>
    public static BackendType Type(IProcessRunner runner, NetworkConnectionOptions options)
        => BackendType.Of(PoolType.Gluster, pool => new GlusterBackend(pool, runner, options), new GlusterSourceFinder(runner));

    public bool IsReachable => _connection.IsReachable;

    /// <summary>libvirt has no checkPool for gluster: an active pool stays active (an unreachable server shows as inaccessible).</summary>
    public Task<bool> CheckPoolAsync(PoolContext pool, CancellationToken cancellationToken) => Task.FromResult(true);

    /// <summary>Connects (libvirt's start is its first refresh, which connects): a refused connection fails the start.</summary>
    public Task StartPoolAsync(PoolContext pool, PoolStartFlags flags, CancellationToken cancellationToken)
        => RunAsync(_ => true, "glfs_init", cancellationToken);

    /// <summary>Lets the connection go: closed in the background once no operation uses it.</summary>
    public Task StopPoolAsync(PoolContext pool, CancellationToken cancellationToken)
    {
        _connection.Close();
        return Task.CompletedTask;
    }

    public Task<PoolScan> RefreshPoolAsync(PoolContext pool, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(pool);
        return WithSessionAsync(session => GlusterScan.RefreshAsync(session, pool.Log, cancellationToken), cancellationToken);
    }

    public Task<VolumeDefinition> RefreshVolumeAsync(PoolContext pool, VolumeDefinition volume, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(volume);
        return RunAsync(mount => GlusterScan.Rediscover(mount, volume.Name), "stat", cancellationToken);
    }

    /// <summary>A <c>network</c> volume (a folder: <c>netdir</c>) at its gluster:// URI, raw unless a format is asked for.</summary>
    public VolumeDefinition PrepareVolume(PoolContext pool, VolumeDefinition volume)
    {
        ArgumentNullException.ThrowIfNull(volume);
        var location = Location;

        // As libvirt's file pools: a name is one entry of the pool's folder, never a path out of it.
        if (volume.Name.Contains('/', StringComparison.Ordinal))
        {
            throw VirtPoolException.InvalidOperation($"volume name '{volume.Name}' cannot contain '/'");
        }

        var prepared = volume.DeepClone();
        var uri = location.UriOf(volume.Name);
        var format = volume.Target.Format ?? "raw";
        prepared.Type = format == "dir" ? VolumeType.NetDir : VolumeType.Network;
        prepared.Key = uri;
        prepared.Allocation = volume.Allocation ?? volume.Capacity;
        prepared.Target = volume.Target with { Path = uri, Format = format };
        return prepared;
    }

    public Task<VolumeDefinition> CreateVolumeAsync(PoolContext pool, VolumeDefinition volume, VolumeCreateFlags flags, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        BackendFlags.Check((uint)flags, 0, "virStorageBackendGlusterVolCreate");
        return WithSessionAsync(session => Volumes.CreateAsync(session, volume, progress, cancellationToken), cancellationToken);
    }

    public Task<VolumeDefinition> CreateVolumeFromAsync(PoolContext pool, VolumeDefinition volume, VolumeDefinition source, VolumeCreateFlags flags, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        BackendFlags.Check((uint)flags, 0, "virStorageBackendGlusterVolCreateFrom");
        return WithSessionAsync(session => Volumes.CloneAsync(session, volume, source, progress, cancellationToken), cancellationToken);
    }

    /// <summary>libvirt's virCheckFlags(0) of virStorageBackendGlusterVolDelete.</summary>
    public void CheckDeleteFlags(VolumeDefinition volume, VolumeDeleteFlags flags)
        => BackendFlags.Check((uint)flags, 0, "virStorageBackendGlusterVolDelete");

    public Task DeleteVolumeAsync(PoolContext pool, VolumeDefinition volume, VolumeDeleteFlags flags, CancellationToken cancellationToken)
    {
        CheckDeleteFlags(volume, flags);
        return WithSessionAsync(async session =>
        {
            await GlusterVolumes.DeleteAsync(session, Location, volume, cancellationToken).ConfigureAwait(false);
            return true;
        }, cancellationToken);
    }

    public Task ResizeVolumeAsync(PoolContext pool, VolumeDefinition volume, ulong capacity, bool allocate, CancellationToken cancellationToken)
        => WithSessionAsync(async session =>
        {
            await Volumes.ResizeAsync(session, volume, capacity, allocate, cancellationToken).ConfigureAwait(false);
            return true;
        }, cancellationToken);

    public Task<VolumeDefinition> WipeVolumeAsync(PoolContext pool, VolumeDefinition volume, VolumeWipeAlgorithm algorithm, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(volume);
        RefuseFolder(volume);
        return WithSessionAsync(async session =>
        {
            await GlusterWipe.WipeAsync(session, Location.PathOf(volume.Name), Location.UriOf(volume.Name), algorithm, progress, cancellationToken).ConfigureAwait(false);
            return await session.RunAsync(m => GlusterScan.Rediscover(m, volume.Name), "stat", cancellationToken).ConfigureAwait(false);
        }, cancellationToken);
    }

    public Task<long> UploadAsync(PoolContext pool, VolumeDefinition volume, VolumeDataEndpoint source, ulong offset, ulong length, bool sparse, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(volume);
        RefuseFolder(volume);
        return WithSessionAsync(session => GlusterVolumeData.UploadAsync(session, Location.PathOf(volume.Name), Location.UriOf(volume.Name), volume.Capacity, source, offset, length, sparse, progress, cancellationToken), cancellationToken);
    }

    public Task<long> DownloadAsync(PoolContext pool, VolumeDefinition volume, VolumeDataEndpoint target, ulong offset, ulong length, bool sparse, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(volume);
        RefuseFolder(volume);
        return WithSessionAsync(session => GlusterVolumeData.DownloadAsync(session, Location.PathOf(volume.Name), Location.UriOf(volume.Name), target, offset, length, sparse, progress, cancellationToken), cancellationToken);
    }

    public Task<byte[]> Sha256Async(PoolContext pool, VolumeDefinition volume, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(volume);
        RefuseFolder(volume);
        return WithSessionAsync(session => GlusterVolumeData.Sha256Async(session, Location.PathOf(volume.Name), Location.UriOf(volume.Name), progress, cancellationToken), cancellationToken);
    }

    public void Dispose() => _connection.Dispose();

    private GlusterLocation Location => _location ?? throw _invalid!;

    private GlusterVolumes Volumes => _volumes ?? throw _invalid!;

    private static void RefuseFolder(VolumeDefinition volume)
    {
        if (volume.Type == VolumeType.NetDir)
        {
            throw VirtPoolException.InvalidOperation($"volume '{volume.Name}' is a directory");
        }
    }

    /// <summary>One bounded call on the pool's connection.</summary>
    private async Task<T> RunAsync<T>(Func<GlusterMount, T> call, string operation, CancellationToken cancellationToken)
    {
        _ = Location;
        try
        {
            return await _connection.CallAsync(call, operation, cancellationToken).ConfigureAwait(false);
        }
        catch (VirtPoolException ex) when (IsConnectionLost(ex))
        {
            _connection.MarkBroken();
            throw;
        }
    }

    /// <summary>A series of bounded calls on one lease: the handle stays open for the whole operation.</summary>
    private async Task<T> WithSessionAsync<T>(Func<IGlusterSession, Task<T>> work, CancellationToken cancellationToken)
    {
        _ = Location;
        using var lease = await _connection.AcquireAsync(cancellationToken).ConfigureAwait(false);
        return await work(new LeaseSession(_connection, lease)).ConfigureAwait(false);
    }

    /// <summary>An error whose errno says the server went away: the handle is of no more use.</summary>
    private static bool IsConnectionLost(VirtPoolException ex)
        => LostConnection.Any(text => ex.Message.EndsWith(text, StringComparison.Ordinal));

    private static readonly string[] LostConnection = [.. new[] { 104, 107, 108, 110, 111, 113 }.Select(StrError.Describe)];

    /// <summary>
    /// The calls of one operation on one lease. Once a call says the connection is gone, the handle is
    /// retired and the rest of the operation fails with that error at once: a later call that happens to
    /// succeed on the dead handle (a local glfs_close) must not make the server look reachable again.
    /// </summary>
    private sealed class LeaseSession(NetworkConnection<GlusterMount> connection, NetworkLease<GlusterMount> lease) : IGlusterSession
    {
        private VirtPoolException? _lost;

        public async Task<T> RunAsync<T>(Func<GlusterMount, T> call, string operation, CancellationToken cancellationToken)
        {
            if (_lost is { } lost)
            {
                throw lost;
            }

            try
            {
                return await lease.CallAsync(call, operation, cancellationToken).ConfigureAwait(false);
            }
            catch (VirtPoolException ex) when (IsConnectionLost(ex) || ex.Code == VirErrorCode.OperationTimeout)
            {
                _lost = ex;
                connection.MarkBroken();
                throw;
            }
        }

        public Task CloseAsync(GlusterFile file)
            => _lost is not null ? Task.CompletedTask : this.RunAsync(_ => file.Dispose(), "close", CancellationToken.None);
    }
}
