using VirtPool.Backends.Netfs;
using VirtPool.Core.Backends;
using VirtPool.Core.Errors;
using VirtPool.Core.Model;
using VirtPool.Core.Process;

namespace VirtPool.Backends.Gluster;

/// <summary>
/// Source discovery for gluster pools (libvirt's virStorageBackendGlusterFindPoolSources): the volumes
/// <c>gluster volume info all</c> lists on the one host srcSpec names, each as
/// <c>&lt;host name='HOST'/&gt;&lt;dir path='/'/&gt;&lt;name&gt;VOLUME&lt;/name&gt;</c>.
/// </summary>
/// <remarks>
/// Unlike the netfs search, where gluster is only the second half, here nothing found is the error:
/// a gluster that fails (no glusterd on the host) or lists no volume gives libvirt's "no storage pools
/// were found on host", and a host without the gluster tool an error naming the package to install.
/// </remarks>
public sealed class GlusterSourceFinder(IProcessRunner runner) : IPoolSourceFinder
{
    private const string Function = "virStorageBackendGlusterFindPoolSources";

    private readonly IProcessRunner _runner = runner ?? throw new ArgumentNullException(nameof(runner));

    /// <summary>Before srcSpec is parsed, as libvirt's virCheckFlags(0) comes first.</summary>
    public void CheckFlags(uint flags) => BackendFlags.Check(flags, 0, Function);

    public async Task<IReadOnlyList<PoolSource>> FindPoolSourcesAsync(PoolSource? hint, uint flags, CancellationToken cancellationToken)
    {
        BackendFlags.Check(flags, 0, Function);
        if (hint is null)
        {
            throw VirtPoolException.InvalidArg("hostname must be specified for gluster sources");
        }

        if (hint.Hosts.Count != 1)
        {
            throw VirtPoolException.Unsupported("Expected exactly 1 host for the storage pool");
        }

        var host = hint.Hosts[0].Name;

        // libvirt: "'gluster' command line tool not found"; the package to install says more.
        var names = await GlusterVolumeInfo.QueryAsync(_runner, host, cancellationToken).ConfigureAwait(false)
            ?? throw ChildProcessErrors.NotFound("gluster");
        if (names.Count == 0)
        {
            throw VirtPoolException.Failed($"no storage pools were found on host '{host}'");
        }

        return [.. names.Select(name => new PoolSource { Hosts = [new PoolSourceHost(host)], Dir = "/", Name = name })];
    }
}
