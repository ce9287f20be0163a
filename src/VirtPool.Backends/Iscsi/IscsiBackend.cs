using System.Text;
using VirtPool.Backends.Local;
using VirtPool.Core.Backends;
using VirtPool.Core.Errors;
using VirtPool.Core.Model;
using VirtPool.Core.Process;

namespace VirtPool.Backends.Iscsi;

/// <summary>
/// libvirt's iscsi pool (storage_backend_iscsi.c over viriscsi.c): a target on an iSCSI portal, logged
/// in through the kernel's initiator with open-iscsi's iscsiadm; its LUNs are the volumes, block devices
/// found through sysfs at their links in the target folder (/dev/disk/by-path). Start finds the
/// target's session or makes the node record, sets CHAP on it and logs in (through the iface of the
/// pool's initiator IQN when it names one); refresh rescans the session and walks its LUNs; stop logs
/// out. Volumes are neither made nor deleted (as in libvirt); wipe, upload, download and checksum work on
/// the LUN's block device.
/// </summary>
/// <remarks>
/// Where libvirt leaves behind what a failed start made (the node record, the iface of a new initiator
/// IQN), VirtPool removes it again; it asks for the CHAP secret before it changes anything, so a
/// missing secret leaves nothing behind either.
/// </remarks>
public sealed class IscsiBackend : IStorageBackend, IVolumeWiper, IVolumeTransfer
{
    private readonly IProcessRunner _runner;
    private readonly IscsiEnvironment _environment;
    private readonly BlockVolumes _volumes;

    private IscsiBackend(IProcessRunner runner, IscsiEnvironment environment)
    {
        _runner = runner;
        _environment = environment;
        _volumes = new BlockVolumes(runner);
    }

    /// <summary>The iscsi pool type on this machine (<see cref="IscsiEnvironment.Host"/>).</summary>
    public static BackendType Type(IProcessRunner runner) => Type(runner, IscsiEnvironment.Host());

    /// <summary>The iscsi pool type with the given tools and sysfs/dev folders (tests).</summary>
    public static BackendType Type(IProcessRunner runner, IscsiEnvironment environment)
        => BackendType.Of(PoolType.Iscsi, _ => new IscsiBackend(runner, environment), new IscsiSourceFinder(runner, environment));

    /// <summary>virStorageBackendISCSICheckPool: the source checks, then whether the target has a session.</summary>
    public async Task<bool> CheckPoolAsync(PoolContext pool, CancellationToken cancellationToken)
    {
        var (_, target) = Source(pool);
        return await Initiator().FindSessionAsync(target, probe: true, cancellationToken).ConfigureAwait(false) is not null;
    }

    /// <summary>
    /// virStorageBackendISCSIStartPool: nothing when the target has a session already; else the node
    /// record (<c>--op new</c>), CHAP settings on it, and the login. A failure removes the node record
    /// when this start made it (VirtPool's <c>--mode node</c> check before <c>--op new</c> tells).
    /// </summary>
    public async Task StartPoolAsync(PoolContext pool, PoolStartFlags flags, CancellationToken cancellationToken)
    {
        var (host, target) = Source(pool);
        var initiator = Initiator();
        if (await initiator.FindSessionAsync(target, probe: true, cancellationToken).ConfigureAwait(false) is not null)
        {
            return;
        }

        var portal = IscsiCommands.Portal(host);
        var chap = ChapCredentials(pool);
        var existed = await initiator.NodeExistsAsync(portal, target, cancellationToken).ConfigureAwait(false);
        await initiator.NewNodeAsync(portal, target, cancellationToken).ConfigureAwait(false);
        try
        {
            if (chap is { } credentials)
            {
                await initiator.UpdateNodeAsync(portal, target, "node.session.auth.authmethod", "CHAP", cancellationToken).ConfigureAwait(false);
                await initiator.UpdateNodeAsync(portal, target, "node.session.auth.username", credentials.Username, cancellationToken).ConfigureAwait(false);
                await initiator.UpdateNodeAsync(portal, target, "node.session.auth.password", credentials.Password, cancellationToken).ConfigureAwait(false);
            }

            await initiator.ConnectAsync(portal, target, pool.Definition.Source.InitiatorIqn, login: true, cancellationToken).ConfigureAwait(false);
        }
        catch when (!existed)
        {
            await initiator.DeleteNodeAsync(portal, target).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>virStorageBackendISCSIStopPool: a logout when the target has a session; nothing otherwise.</summary>
    public async Task StopPoolAsync(PoolContext pool, CancellationToken cancellationToken)
    {
        var (host, target) = Source(pool);
        var initiator = Initiator();
        if (await initiator.FindSessionAsync(target, probe: true, cancellationToken).ConfigureAwait(false) is null)
        {
            return;
        }

        await initiator.ConnectAsync(IscsiCommands.Portal(host), target, pool.Definition.Source.InitiatorIqn, login: false, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// virStorageBackendISCSIRefreshPool: the target's session (none is an error now), its LUN rescan,
    /// then the session's LUNs. Capacity and allocation are the LUNs' sums; available stays 0.
    /// </summary>
    public async Task<PoolScan> RefreshPoolAsync(PoolContext pool, CancellationToken cancellationToken)
    {
        var (_, target) = Source(pool);
        var initiator = Initiator();
        var session = (await initiator.FindSessionAsync(target, probe: false, cancellationToken).ConfigureAwait(false))!;
        await initiator.RescanAsync(session, cancellationToken).ConfigureAwait(false);
        var luns = new ScsiLogicalUnits(_runner, _environment);
        var host = await luns.HostNumberAsync(session, cancellationToken).ConfigureAwait(false);
        var volumes = await luns.FindAsync(host, pool.TargetPath, cancellationToken).ConfigureAwait(false);
        ulong capacity = 0, allocation = 0;
        foreach (var volume in volumes)
        {
            capacity += volume.Capacity;
            allocation += volume.EffectiveAllocation;
        }

        return new PoolScan(new PoolSizes(capacity, allocation, 0), volumes);
    }

    /// <summary>The LUN's block device as it is now (size, owner, times).</summary>
    public Task<VolumeDefinition> RefreshVolumeAsync(PoolContext pool, VolumeDefinition volume, CancellationToken cancellationToken)
        => Task.FromResult(_volumes.Refresh(volume));

    public Task<VolumeDefinition> WipeVolumeAsync(PoolContext pool, VolumeDefinition volume, VolumeWipeAlgorithm algorithm, IProgress<long>? progress, CancellationToken cancellationToken)
        => _volumes.WipeAsync(volume, algorithm, progress, cancellationToken);

    public Task<long> UploadAsync(PoolContext pool, VolumeDefinition volume, VolumeDataEndpoint source, ulong offset, ulong length, bool sparse, IProgress<long>? progress, CancellationToken cancellationToken)
        => _volumes.UploadAsync(volume, source, offset, length, sparse, progress, cancellationToken);

    public Task<long> DownloadAsync(PoolContext pool, VolumeDefinition volume, VolumeDataEndpoint target, ulong offset, ulong length, bool sparse, IProgress<long>? progress, CancellationToken cancellationToken)
        => _volumes.DownloadAsync(volume, target, offset, length, sparse, progress, cancellationToken);

    public Task<byte[]> Sha256Async(PoolContext pool, VolumeDefinition volume, IProgress<long>? progress, CancellationToken cancellationToken)
        => _volumes.Sha256Async(volume, progress, cancellationToken);

    private IscsiInitiator Initiator() => _environment.Initiator(_runner);

    /// <summary>The checks libvirt's checkPool and startPool open with: one host with a name, one device path (the target's IQN).</summary>
    private static (PoolSourceHost Host, string Target) Source(PoolContext pool)
    {
        var source = pool.Definition.Source;
        if (source.Hosts.Count != 1)
        {
            throw VirtPoolException.Unsupported("Expected exactly 1 host for the storage pool");
        }

        if (string.IsNullOrEmpty(source.Hosts[0].Name))
        {
            throw VirtPoolException.Internal("missing source host");
        }

        if (source.Devices.Count != 1 || string.IsNullOrEmpty(source.Devices[0].Path))
        {
            throw VirtPoolException.Internal("missing source device");
        }

        return (source.Hosts[0], source.Devices[0].Path);
    }

    /// <summary>
    /// virStorageBackendISCSISetAuth's secret: none without &lt;auth&gt;, libvirt's error for another auth
    /// type, else the user name and the secret's value as a C string (up to its first NUL byte).
    /// </summary>
    private static (string Username, string Password)? ChapCredentials(PoolContext pool)
    {
        if (pool.Definition.Source.Auth is not { } auth || auth.Type == PoolAuthType.None)
        {
            return null;
        }

        if (auth.Type != PoolAuthType.Chap)
        {
            throw VirtPoolException.Xml("iscsi pool only supports 'chap' auth type");
        }

        var secret = (pool.AuthSecret ?? throw VirtPoolException.Internal($"no secret store for the <auth> of pool '{pool.Name}'"))(auth);
        var end = Array.IndexOf(secret, (byte)0);
        return (auth.Username, Encoding.UTF8.GetString(secret, 0, end < 0 ? secret.Length : end));
    }
}
