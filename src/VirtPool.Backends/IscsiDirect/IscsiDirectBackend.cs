using System.Text;
using VirtPool.Backends.Network;
using VirtPool.Core.Backends;
using VirtPool.Core.Errors;
using VirtPool.Core.Model;

namespace VirtPool.Backends.IscsiDirect;

/// <summary>
/// libvirt's iscsi-direct pool (storage_backend_iscsi_direct.c): one iSCSI target reached through
/// libiscsi, no kernel initiator; its LUNs are the volumes (<c>unit:0:0:N</c>, key and path
/// <c>ip-PORTAL-iscsi-IQN-lun-N</c>, type network), tgt's LUN 0 controller included with size 0. The
/// login uses the pool's initiator IQN and, with <c>&lt;auth type='chap'&gt;</c>, the secret the pool
/// names as password. Refresh and wipe do what libvirt's do; upload, download and checksums, which
/// libvirt lacks here, go to the LUN with READ/WRITE(16) (<see cref="IscsiDirectTransfer"/>).
/// </summary>
/// <remarks>
/// libvirt logs in and out for every operation. This backend holds one session with the target per
/// pool (<see cref="NetworkConnection{THandle}"/>: kept across the daemon's calls, closed on stop and
/// after idling; a CLI command opens it once), every call bounded by libiscsi's own PDU timeout and by
/// the connection's limit behind it. Capacities are the LUN's real size, (last LBA + 1) × block
/// length: libvirt 9.0 multiplies the last LBA, one block short.
/// </remarks>
public sealed partial class IscsiDirectBackend : IStorageBackend, IVolumeWiper, IVolumeTransfer, IConnectionHealth, IDisposable
{
    private readonly NetworkConnection<IscsiSession> _connection;

    /// <summary>The login the next open uses: settled from the pool's context by every operation before it connects.</summary>
    private volatile IscsiLogin? _login;

    /// <summary>
    /// libiscsi's own PDU limit: a second under the connection's call limit, so a dead target fails in
    /// libiscsi's words before the connection gives up on the call.
    /// </summary>
    private readonly int _libraryTimeoutSeconds;

    private IscsiDirectBackend(PoolContext pool, NetworkConnectionOptions options)
    {
        _libraryTimeoutSeconds = Math.Max(1, (int)Math.Ceiling(options.CallTimeout.TotalSeconds) - 1);
        var host = pool.Definition.Source.Hosts.Count > 0 ? IscsiByPath.Portal(pool.Definition.Source.Hosts[0]) : "(no host)";
        var target = pool.Definition.Source.Devices.Count > 0 ? pool.Definition.Source.Devices[0].Path : "(no target)";
        _connection = new NetworkConnection<IscsiSession>(
            $"the iSCSI target {target} at {host}",
            options,
            () => IscsiSession.Open(_login ?? throw VirtPoolException.Internal("iscsi-direct: no login settled")),
            session => session.Dispose());
    }

    /// <summary>The iscsi-direct pool type: an <see cref="IscsiDirectBackend"/> per pool, with the process's network time limits.</summary>
    public static BackendType Type() => BackendType.Of(PoolType.IscsiDirect, pool => new IscsiDirectBackend(pool, NetworkConnectionOptions.Default), new IscsiDirectSourceFinder());

    /// <summary>A backend with explicit time limits (tests of a dead target).</summary>
    internal static IscsiDirectBackend Load(PoolContext pool, NetworkConnectionOptions options) => new(pool, options);

    public bool IsReachable => _connection.IsReachable;

    /// <summary>libvirt's checkPool: the pool is as active as it was; the target is asked on the refresh that follows.</summary>
    public Task<bool> CheckPoolAsync(PoolContext pool, CancellationToken cancellationToken) => Task.FromResult(true);

    /// <summary>libvirt has no startPool here: the refresh that follows logs in, or fails the start.</summary>
    public Task StartPoolAsync(PoolContext pool, PoolStartFlags flags, CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Logs out of the target (once the operations still using the session end).</summary>
    public Task StopPoolAsync(PoolContext pool, CancellationToken cancellationToken)
    {
        _connection.Close();
        return Task.CompletedTask;
    }

    /// <summary>
    /// libvirt's refreshPool: REPORT LUNS, then per LUN TEST UNIT READY, INQUIRY and (a disk) READ
    /// CAPACITY; capacity and allocation are the LUN's size, the pool's the sum, available 0.
    /// </summary>
    public async Task<PoolScan> RefreshPoolAsync(PoolContext pool, CancellationToken cancellationToken)
    {
        var login = Settle(pool);
        return await WithSessionAsync(
            async lease =>
            {
                // One bounded call for the whole scan: a thread hop per command costs more than the commands.
                var luns = await CallAsync(lease, s => s.ReportLuns().Select(lun => (Lun: lun, Capacity: s.ReadyCapacity(lun))).ToList(), "REPORT LUNS and READ CAPACITY", cancellationToken).ConfigureAwait(false);
                var volumes = new List<VolumeDefinition>(luns.Count);
                ulong total = 0;
                foreach (var (lun, capacity) in luns)
                {
                    volumes.Add(Describe(login, lun, capacity.Bytes));
                    total += capacity.Bytes;
                }

                return new PoolScan(new PoolSizes(total, total, 0), volumes);
            },
            cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// As libvirt, which keeps what the last refresh found: the size from the backend note the refresh
    /// wrote, no login (a vol-info answers while the target is away). Without a note the target is asked.
    /// </summary>
    public async Task<VolumeDefinition> RefreshVolumeAsync(PoolContext pool, VolumeDefinition volume, CancellationToken cancellationToken)
    {
        var lun = LunOf(volume);
        var login = Settle(pool);
        if (!ulong.TryParse(volume.BackendData, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var bytes))
        {
            using var lease = await AcquireAsync(cancellationToken).ConfigureAwait(false);
            bytes = (await ReadCapacityAsync(lease, lun, cancellationToken).ConfigureAwait(false)).Bytes;
        }

        return Describe(login, lun, bytes);
    }

    /// <summary>
    /// libvirt's wipeVol: only the zero algorithm, the whole LUN written with zeroes (WRITE(16), 1 MiB a
    /// command where libvirt sends 64 KiB). An addition: trim deallocates the LUN with UNMAP when it is
    /// thin provisioned, and is refused on a LUN that is not; the others are refused as libvirt does.
    /// </summary>
    public async Task<VolumeDefinition> WipeVolumeAsync(PoolContext pool, VolumeDefinition volume, VolumeWipeAlgorithm algorithm, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        var lun = LunOf(volume);
        if (algorithm is not VolumeWipeAlgorithm.Zero and not VolumeWipeAlgorithm.Trim)
        {
            throw VirtPoolException.InvalidArg($"unsupported algorithm {(int)algorithm}");
        }

        Settle(pool);
        return await WithSessionAsync(
            async lease =>
            {
                var capacity = await ReadCapacityAsync(lease, lun, cancellationToken).ConfigureAwait(false);
                var io = new LunIo(this, lease, lun, capacity);
                if (algorithm == VolumeWipeAlgorithm.Trim)
                {
                    if (!capacity.ThinProvisioned)
                    {
                        throw VirtPoolException.InvalidArg($"unsupported algorithm {(int)algorithm}: LUN {lun} is not thin provisioned, it cannot deallocate (UNMAP) its blocks");
                    }

                    await io.UnmapAsync(0, capacity.Bytes, progress, cancellationToken).ConfigureAwait(false);
                }
                else
                {
                    await io.ZeroAsync(0, capacity.Bytes, progress, cancellationToken).ConfigureAwait(false);
                }

                return volume.DeepClone();
            },
            cancellationToken).ConfigureAwait(false);
    }

    public void Dispose() => _connection.Dispose();

    /// <summary>
    /// What the pool's definition asks for, checked in libvirt's order (one host; only CHAP; the
    /// secret), and kept for the connection's next open.
    /// </summary>
    private IscsiLogin Settle(PoolContext pool)
    {
        var source = pool.Definition.Source;
        if (source.Hosts.Count != 1)
        {
            throw VirtPoolException.Unsupported("Expected exactly 1 host for the storage pool");
        }

        if (source.Devices.Count == 0)
        {
            throw VirtPoolException.Unsupported("missing storage pool source device path");
        }

        string? user = null;
        string? password = null;
        if (source.Auth is { Type: not PoolAuthType.None } auth)
        {
            if (auth.Type != PoolAuthType.Chap)
            {
                throw VirtPoolException.Xml("iscsi-direct pool only supports 'chap' auth type");
            }

            var secret = pool.AuthSecret ?? throw VirtPoolException.Internal("no secret store to look up the pool's CHAP secret in");
            user = auth.Username;
            password = Encoding.UTF8.GetString(secret(auth));
        }

                var login = new IscsiLogin(IscsiByPath.Portal(source.Hosts[0]), source.Devices[0].Path, source.InitiatorIqn ?? string.Empty, user, password, _libraryTimeoutSeconds);
        _login = login;
        return login;
    }

    internal static VolumeDefinition Describe(IscsiLogin login, int lun, ulong bytes)
    {
        var path = IscsiByPath.LunPath(login.Portal, login.TargetIqn!, lun);
        return new VolumeDefinition
        {
            Name = IscsiByPath.VolumeName(lun),
            Key = path,
            Type = VolumeType.Network,
            Capacity = bytes,
            HasCapacity = true,
            Allocation = bytes,
            Target = new VolumeTarget { Path = path },

            // The size, for describing the volume later without a login.
            BackendData = bytes.ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
    }

    /// <summary>libvirt's virStorageBackendISCSIDirectGetLun.</summary>
    private static int LunOf(VolumeDefinition volume)
        => IscsiByPath.TryParseLun(volume.Name, out var lun) ? lun : throw VirtPoolException.Internal($"Invalid volume name {volume.Name}");

    private Task<LunCapacity> ReadCapacityAsync(NetworkLease<IscsiSession> lease, int lun, CancellationToken cancellationToken)
        => CallAsync(lease, s => s.ReadyCapacity(lun), $"READ CAPACITY of LUN {lun}", cancellationToken);

    private Task<NetworkLease<IscsiSession>> AcquireAsync(CancellationToken cancellationToken) => _connection.AcquireAsync(cancellationToken);

    /// <summary>
    /// Runs an operation that may start over (it changes nothing it would not change again) with the
    /// pool's session. When a session an earlier operation left open turns out to be gone (the target
    /// restarted or dropped it), the operation runs once more on a new login; a timeout is not retried.
    /// </summary>
    private async Task<T> WithSessionAsync<T>(Func<NetworkLease<IscsiSession>, Task<T>> operation, CancellationToken cancellationToken)
    {
        for (var attempt = 0; ; attempt++)
        {
            using var lease = await AcquireAsync(cancellationToken).ConfigureAwait(false);
            var reused = lease.Handle.Commands > 0;
            try
            {
                return await operation(lease).ConfigureAwait(false);
            }
            catch (VirtPoolException ex) when (attempt == 0 && reused && lease.Handle.IsBroken && ex.Code != VirErrorCode.OperationTimeout)
            {
                // The stale session is retired; the loop logs in again.
            }
        }
    }

    /// <summary>
    /// A held session and the LUN's size, for a transfer (which cannot start over once it moved data):
    /// a stale session found by the first command is replaced as in <see cref="WithSessionAsync{T}"/>.
    /// </summary>
    private async Task<(NetworkLease<IscsiSession> Lease, LunCapacity Capacity)> OpenLunAsync(int lun, CancellationToken cancellationToken)
    {
        for (var attempt = 0; ; attempt++)
        {
            var lease = await AcquireAsync(cancellationToken).ConfigureAwait(false);
            var reused = lease.Handle.Commands > 0;
            try
            {
                return (lease, await ReadCapacityAsync(lease, lun, cancellationToken).ConfigureAwait(false));
            }
            catch (VirtPoolException ex) when (attempt == 0 && reused && lease.Handle.IsBroken && ex.Code != VirErrorCode.OperationTimeout)
            {
                lease.Dispose();
            }
            catch
            {
                lease.Dispose();
                throw;
            }
        }
    }

    /// <summary>One bounded call; a session that lost its connection is retired (the next operation logs in again).</summary>
    internal async Task<T> CallAsync<T>(NetworkLease<IscsiSession> lease, Func<IscsiSession, T> call, string operation, CancellationToken cancellationToken)
    {
        try
        {
            return await lease.CallAsync(call, operation, cancellationToken).ConfigureAwait(false);
        }
        catch (VirtPoolException) when (lease.Handle.IsBroken)
        {
            _connection.MarkBroken();
            throw;
        }
    }
}
