using VirtPool.TestSupport;

namespace VirtPool.Cli.Tests;

/// <summary>
/// The test Ceph itself (tests/services/ceph-up.sh through <see cref="CephCluster"/>): what the rbd
/// tests rely on — client.libvirt writes to pool rbd with its key, only there, and a wrong key is refused.
/// </summary>
public sealed class RbdCephClusterTests
{
    [Fact]
    public void The_libvirt_user_writes_images_in_pool_rbd_with_its_key_and_nowhere_else()
    {
        var ceph = CephCluster.Shared;
        var image = $"{CephCluster.Pool}/fixture-{Guid.NewGuid():N}";
        string[] asLibvirt = ["--id", CephCluster.User, "--key", ceph.LibvirtKey, "-m", $"{CephCluster.MonHost}:{ceph.MonPort}"];
        try
        {
            ceph.Rbd([.. asLibvirt, "create", "--size", "4M", image]);
            Assert.Contains(image[(CephCluster.Pool.Length + 1)..], ceph.Rbd("ls", CephCluster.Pool).Split('\n'));
            Assert.Equal(ceph.Ceph("auth", "get-key", "client." + CephCluster.User).Trim(), ceph.LibvirtKey);

            var elsewhere = ceph.RbdResult([.. asLibvirt, "ls", "vp-no-such-pool"]);
            Assert.NotEqual(0, elsewhere.ExitCode);

            var wrongKey = ceph.RbdResult("--id", CephCluster.User, "--key", Convert.ToBase64String(new byte[28]), "ls", CephCluster.Pool);
            Assert.NotEqual(0, wrongKey.ExitCode);
        }
        finally
        {
            ceph.RbdResult("rm", "--no-progress", image);
        }
    }

    [Fact]
    public void A_second_cluster_runs_beside_the_shared_one_and_its_teardown_stops_only_its_own_daemons()
    {
        var shared = CephCluster.Shared;
        int osd, mon;
        string folder;
        using (var drill = new CephCluster())
        {
            Assert.NotEqual(shared.MonPort, drill.MonPort);
            (osd, mon, folder) = (drill.OsdPid, drill.MonPid, drill.Folder);
            drill.Rbd("create", "--size", "1M", $"{CephCluster.Pool}/only-here");
            Assert.DoesNotContain("only-here", shared.Rbd("ls", CephCluster.Pool).Split('\n'));
        }

        Assert.False(Directory.Exists($"/proc/{osd}") && File.ReadAllText($"/proc/{osd}/cmdline").Contains(folder, StringComparison.Ordinal));
        Assert.False(Directory.Exists($"/proc/{mon}") && File.ReadAllText($"/proc/{mon}/cmdline").Contains(folder, StringComparison.Ordinal));
        Assert.False(Directory.Exists(folder));
        Assert.Equal(0, shared.RbdResult("ls", CephCluster.Pool).ExitCode);
    }
}
