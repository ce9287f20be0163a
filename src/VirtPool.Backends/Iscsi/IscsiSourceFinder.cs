using VirtPool.Core.Backends;
using VirtPool.Core.Errors;
using VirtPool.Core.Model;
using VirtPool.Core.Process;

namespace VirtPool.Backends.Iscsi;

/// <summary>
/// Source discovery for iscsi pools (libvirt's virStorageBackendISCSIFindPoolSources): a non-persistent
/// sendtargets discovery at the one host srcSpec names (port 3260 unless given), through the iface of its
/// initiator IQN when it names one; each target found is a source with that host (and its port), the
/// initiator, and the target as its device.
/// </summary>
public sealed class IscsiSourceFinder(IProcessRunner runner, IscsiEnvironment environment) : IPoolSourceFinder
{
    private const string Function = "virStorageBackendISCSIFindPoolSources";

    private readonly IProcessRunner _runner = runner ?? throw new ArgumentNullException(nameof(runner));
    private readonly IscsiEnvironment _environment = environment ?? throw new ArgumentNullException(nameof(environment));

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

        // libvirt's portal helper writes the default port into the source it then copies into each result.
        var host = hint.Hosts[0] with { Port = hint.Hosts[0].Port == 0 ? IscsiCommands.DefaultPort : hint.Hosts[0].Port };
        var initiator = _environment.Initiator(_runner);
        var targets = await initiator.ScanTargetsAsync(IscsiCommands.Portal(host), hint.InitiatorIqn, persist: false, cancellationToken).ConfigureAwait(false);
        return [.. targets.Select(t => new PoolSource { Hosts = [host], Devices = [new PoolSourceDevice(t.Target)], InitiatorIqn = hint.InitiatorIqn })];
    }
}
