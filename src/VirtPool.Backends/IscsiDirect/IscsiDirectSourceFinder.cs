using VirtPool.Backends.Network;
using VirtPool.Core.Backends;
using VirtPool.Core.Errors;
using VirtPool.Core.Model;

namespace VirtPool.Backends.IscsiDirect;

/// <summary>
/// Source discovery for iscsi-direct pools (libvirt's virStorageBackendISCSIDirectFindPoolSources): a
/// discovery session with the portal srcSpec names, logged in with its initiator IQN, and SendTargets;
/// each target one source <c>&lt;host/&gt;&lt;device path='IQN'/&gt;&lt;initiator/&gt;</c>. Bounded
/// like every network call (libiscsi's PDU timeout, the connection limit behind it).
/// </summary>
/// <remarks>
/// libvirt 9.0 stores the second and later target names out of bounds (<c>*targets[i++]</c>), so its
/// daemon crashes on a portal with two targets; this lists them all.
/// </remarks>
public sealed class IscsiDirectSourceFinder : IPoolSourceFinder
{
    private const string Function = "virStorageBackendISCSIDirectFindPoolSources";

    private readonly NetworkConnectionOptions _options;

    public IscsiDirectSourceFinder()
        : this(NetworkConnectionOptions.Default)
    {
    }

    internal IscsiDirectSourceFinder(NetworkConnectionOptions options) => _options = options;

    /// <summary>Before srcSpec is parsed, as libvirt's virCheckFlags(0) comes first.</summary>
    public void CheckFlags(uint flags) => BackendFlags.Check(flags, 0, Function);

    public async Task<IReadOnlyList<PoolSource>> FindPoolSourcesAsync(PoolSource? hint, uint flags, CancellationToken cancellationToken)
    {
        BackendFlags.Check(flags, 0, Function);
        if (hint is null)
        {
            throw VirtPoolException.InvalidArg("hostname must be specified for iscsi sources");
        }

        if (hint.Hosts.Count != 1)
        {
            throw VirtPoolException.Unsupported("Expected exactly 1 host for the storage pool");
        }

        var initiator = hint.InitiatorIqn ?? throw VirtPoolException.Unsupported("missing initiator IQN");
        var portal = IscsiByPath.Portal(hint.Hosts[0]);
        var timeout = Math.Max(1, (int)Math.Ceiling(_options.CallTimeout.TotalSeconds) - 1);
        var limit = _options.ConnectTimeout + _options.CallTimeout;
        var targets = await NativeCalls.RunAsync(
            () =>
            {
                using var session = IscsiSession.Open(new IscsiLogin(portal, null, initiator, null, null, timeout));
                return session.DiscoverTargets();
            },
            limit,
            () => new VirtPoolException(VirErrorCode.OperationTimeout, $"the iSCSI portal {portal} did not answer SendTargets within {limit.TotalSeconds:0.###} s"),
            null,
            cancellationToken).ConfigureAwait(false);

        return [.. targets.Select(target => new PoolSource { Hosts = [hint.Hosts[0]], Devices = [new PoolSourceDevice(target)], InitiatorIqn = initiator })];
    }
}
