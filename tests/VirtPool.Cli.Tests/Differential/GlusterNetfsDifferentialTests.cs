using VirtPool.Cli.Tests.Support;
using VirtPool.TestSupport;

namespace VirtPool.Cli.Tests.Differential;

/// <summary>
/// netfs pools of format glusterfs on a private GlusterFS server, the same virsh steps through
/// libvirtd and through embedded virtpool, each side on its own volume (shown as @VOL@ in both
/// outputs): the FUSE mount, volumes on it, umount, rmdir, and the start errors byte for byte.
/// Figures that follow the disk under the bricks (pool-info, dumpxml) are left out: other work on this
/// machine moves them between the two sides' steps.
/// </summary>
[Collection(LibvirtCollection.Name)]
public sealed class GlusterNetfsDifferentialTests(LibvirtOracle oracle, GlusterServer gluster) : IClassFixture<GlusterServer>
{
    [Fact]
    public async Task Glusterfs_pool_from_define_to_undefine_matches_libvirt()
    {
        await using var s = await oracle.NewSandboxAsync();
        s.Alias("@VOL@", gluster.Volumes[0], gluster.Volumes[1]);

        (await s.StepAsync("pool-define-as", "netgl", "netfs", "--source-host", "127.0.0.1", "--source-path", "/@VOL@", "--source-format", "glusterfs", "--target", "@ROOT@/p/gl")).ExpectOracle(0);
        await s.StepAsync("pool-dumpxml", "--inactive", "netgl");
        (await s.StepAsync("pool-start", "netgl")).ExpectOracle(1);
        (await s.StepAsync("pool-build", "netgl", "--overwrite")).ExpectOracle(1);
        (await s.StepAsync("pool-build", "netgl")).ExpectOracle(0);
        (await s.StepAsync("pool-start", "netgl")).ExpectOracle(0);
        await s.StepAsync("pool-start", "netgl");

        (await s.StepAsync("vol-create-as", "netgl", "raw1", "10M")).ExpectOracle(0);
        (await s.StepAsync("vol-create-as", "netgl", "qcow1", "20M", "--format", "qcow2")).ExpectOracle(0);
        await s.StepAsync("vol-create-as", "netgl", "raw1", "10M");
        await s.StepAsync("vol-list", "netgl", "--details");
        await s.StepAsync("vol-info", "qcow1", "--pool", "netgl");
        await s.StepAsync("pool-refresh", "netgl");
        (await s.StepAsync("vol-delete", "raw1", "--pool", "netgl")).ExpectOracle(0);
        await s.StepAsync("pool-delete", "netgl");
        (await s.StepAsync("pool-destroy", "netgl")).ExpectOracle(0);
        await s.StepAsync("vol-list", "netgl");

        // Mounted again, the volume is back from the server.
        (await s.StepAsync("pool-start", "netgl")).ExpectOracle(0);
        await s.StepAsync("vol-list", "netgl");
        (await s.StepAsync("vol-delete", "qcow1", "--pool", "netgl")).ExpectOracle(0);
        (await s.StepAsync("pool-destroy", "netgl")).ExpectOracle(0);
        (await s.StepAsync("pool-delete", "netgl")).ExpectOracle(0);
        (await s.StepAsync("pool-undefine", "netgl")).ExpectOracle(0);

        // A volume the server does not have.
        (await s.StepAsync("pool-define-as", "netglbad", "netfs", "--source-host", "127.0.0.1", "--source-path", "/nosuchvol", "--source-format", "glusterfs", "--target", "@ROOT@/p/glbad")).ExpectOracle(0);
        (await s.StepAsync("pool-build", "netglbad")).ExpectOracle(0);
        (await s.StepAsync("pool-start", "netglbad")).ExpectOracle(1);
        (await s.StepAsync("pool-undefine", "netglbad")).ExpectOracle(0);
        s.AssertNoDifferences();
    }
}
