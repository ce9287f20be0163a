using VirtPool.Backends.Mounts;
using VirtPool.Core.Backends;
using VirtPool.Core.Errors;
using VirtPool.Core.Model;
using VirtPool.Core.Process;

namespace VirtPool.Backends.Netfs;

/// <summary>
/// Source discovery for netfs pools (libvirt's virStorageBackendFileSystemNetFindPoolSources): the
/// NFS exports <c>showmount</c> lists, then the volumes <c>gluster volume info</c> lists, on the one
/// host srcSpec names, merged in that order.
/// </summary>
/// <remarks>
/// As in libvirt, a failing showmount (no rpcbind, no NFS server) is no error while gluster finds
/// volumes, and a failing or missing gluster (no glusterd) is no error while showmount answered; only
/// both together are ("no storage pools were found on host"). Both run with a time limit, since a host
/// that does not answer would hold the call: showmount past it counts as failed, gluster past it fails
/// the call with the runner's timeout error.
/// </remarks>
public sealed class NetfsSourceFinder(IProcessRunner runner) : IPoolSourceFinder
{
    /// <summary>libvirt's SHOWMOUNT.</summary>
    public const string LibvirtShowmountPath = "/sbin/showmount";

    private const string Function = "virStorageBackendFileSystemNetFindPoolSources";

    /// <summary>How long showmount may take (gluster: <see cref="GlusterVolumeInfo.ToolTimeout"/>).</summary>
    public static readonly TimeSpan ToolTimeout = TimeSpan.FromSeconds(60);

    private readonly IProcessRunner _runner = runner ?? throw new ArgumentNullException(nameof(runner));

    /// <summary><c>showmount --no-headers --exports HOST</c>.</summary>
    public static IReadOnlyList<string> ShowmountArgv(string showmount, string host) => [showmount, "--no-headers", "--exports", host];

    public async Task<IReadOnlyList<PoolSource>> FindPoolSourcesAsync(PoolSource? hint, uint flags, CancellationToken cancellationToken)
    {
        BackendFlags.Check(flags, 0, Function);
        if (hint is null)
        {
            throw VirtPoolException.InvalidArg("hostname must be specified for netfs sources");
        }

        if (hint.Hosts.Count != 1)
        {
            throw VirtPoolException.Unsupported("Expected exactly 1 host for the storage pool");
        }

        var host = hint.Hosts[0].Name;
        var sources = new List<PoolSource>();
        var nfsAnswered = await FindNfsExportsAsync(host, sources, cancellationToken).ConfigureAwait(false);
        var glusterVolumes = await FindGlusterVolumesAsync(host, sources, cancellationToken).ConfigureAwait(false);
        if (!nfsAnswered && glusterVolumes == 0)
        {
            throw VirtPoolException.Failed($"no storage pools were found on host '{host}'");
        }

        return sources;
    }

    /// <summary>False when showmount is missing, fails or times out (libvirt's -1, which is no error by itself).</summary>
    private async Task<bool> FindNfsExportsAsync(string host, List<PoolSource> sources, CancellationToken cancellationToken)
    {
        var showmount = ExternalTools.Locate(LibvirtShowmountPath);
        if (showmount is null)
        {
            return false;
        }

        ProcessResult result;
        try
        {
            result = await _runner.RunAsync(new ProcessRequest(ShowmountArgv(showmount, host)) { Timeout = ToolTimeout }, cancellationToken).ConfigureAwait(false);
        }
        catch (VirtPoolException) when (!cancellationToken.IsCancellationRequested)
        {
            return false;
        }

        if (!result.Succeeded)
        {
            return false;
        }

        foreach (var export in ShowmountOutput.ParseExports(result.StandardOutput))
        {
            sources.Add(Source(host, export, PoolNetfsFormat.Nfs));
        }

        return true;
    }

    /// <summary>virStorageBackendFindGlusterPoolSources without reporting: no gluster tool or a failing one finds nothing.</summary>
    private async Task<int> FindGlusterVolumesAsync(string host, List<PoolSource> sources, CancellationToken cancellationToken)
    {
        var names = await GlusterVolumeInfo.QueryAsync(_runner, host, cancellationToken).ConfigureAwait(false) ?? [];
        foreach (var name in names)
        {
            sources.Add(Source(host, name, PoolNetfsFormat.Glusterfs));
        }

        return names.Count;
    }

    private static PoolSource Source(string host, string dir, PoolNetfsFormat format)
        => new() { Hosts = [new PoolSourceHost(host)], Dir = dir, Format = (int)format };

    /// <summary>Before srcSpec is parsed, as libvirt's virCheckFlags(0) comes first.</summary>
    public void CheckFlags(uint flags) => BackendFlags.Check(flags, 0, Function);
}
