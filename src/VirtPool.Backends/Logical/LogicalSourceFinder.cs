using VirtPool.Core.Backends;
using VirtPool.Core.Model;
using VirtPool.Core.Process;

namespace VirtPool.Backends.Logical;

/// <summary>
/// Source discovery for logical pools (libvirt's virStorageBackendLogicalFindPoolSources): <c>vgscan</c>
/// to touch what is there (its failure is only logged, as libvirt only warns), then <c>pvs</c>, whose
/// physical volumes are grouped by volume group into one &lt;source&gt; each.
/// </summary>
/// <remarks>
/// The tools run as libvirt runs them: its build's paths, no <c>--config</c>. Listing reads metadata
/// only, so it needs neither device-mapper nor activation settings (tested on a kernel without
/// device-mapper, where vgcreate needs <c>global{activation=0}</c> but vgscan and pvs do not); which
/// devices LVM looks at is the host's LVM configuration (lvm.conf filters, the devices file,
/// <c>LVM_SYSTEM_DIR</c>), for VirtPool as for libvirtd. srcSpec is ignored, as libvirt ignores it.
/// </remarks>
public sealed class LogicalSourceFinder(IProcessRunner runner) : IPoolSourceFinder
{
    /// <summary>The lvm2 tools where libvirt 9.0's build (Debian's) runs them from.</summary>
    private const string ToolDir = "/sbin/";

    /// <summary>The function libvirt names when it refuses flags.</summary>
    private const string Function = "virStorageBackendLogicalFindPoolSources";

    /// <summary>
    /// LVM scans every block device: one that hangs (a dead iSCSI or NBD path) would hang the call.
    /// libvirt waits forever; here the call fails after this long, with the tool's argv in the error.
    /// </summary>
    public static readonly TimeSpan ToolTimeout = TimeSpan.FromSeconds(60);

    private readonly IProcessRunner _runner = runner ?? throw new ArgumentNullException(nameof(runner));

    /// <summary>Refreshes LVM's view of the devices; its outcome does not matter.</summary>
    public static IReadOnlyList<string> VgscanArgv { get; } = [ToolDir + "vgscan"];

    /// <summary>Lists every physical volume with its volume group (none for an unused PV).</summary>
    public static IReadOnlyList<string> PvsArgv { get; } = [ToolDir + "pvs", "--noheadings", "-o", "pv_name,vg_name"];

    public bool ReadsSourceSpec => false;

    public async Task<IReadOnlyList<PoolSource>> FindPoolSourcesAsync(PoolSource? hint, uint flags, CancellationToken cancellationToken)
    {
        BackendFlags.Check(flags, 0, Function);

        // The runner logs a failed vgscan at Warning; libvirt goes on all the same.
        if (ExternalTools.Locate(VgscanArgv[0]) is { } vgscan)
        {
            await _runner.RunAsync(new ProcessRequest([vgscan, .. VgscanArgv.Skip(1)]) { Timeout = ToolTimeout }, cancellationToken).ConfigureAwait(false);
        }

        // Without lvm2 installed: "'pvs' not found: install lvm2", not a failed exec of /sbin/pvs.
        var pvsArgv = (IReadOnlyList<string>)[ExternalTools.Locate(PvsArgv[0]) ?? throw ChildProcessErrors.NotFound("pvs"), .. PvsArgv.Skip(1)];
        var pvs = await _runner.RunAsync(new ProcessRequest(pvsArgv) { Timeout = ToolTimeout }, cancellationToken).ConfigureAwait(false);
        if (!pvs.Succeeded)
        {
            throw ChildProcessErrors.UnexpectedExit(pvsArgv, pvs);
        }

        return LogicalPvsOutput.Parse(pvs.StandardOutput);
    }
}
