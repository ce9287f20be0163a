using VirtPool.TestSupport;

namespace VirtPool.Daemon.Tests.Clients;

/// <summary>
/// A zfs pool through real virsh against virtpoold, on zfs-fuse (tests/services/zfs-up.sh) with a file
/// vdev: define, build (zpool create), start, info with the zpool's real space, the empty volume list
/// and the zvol create zfs-fuse aborts, each printed as virsh printed libvirtd's (the recording in
/// tests/testdata/libvirt-local/zfs), then destroy, delete (zpool destroy) and undefine. libvirtd's own
/// run of the same steps is in the CLI's ZfsPoolDifferentialTests; here the RPC path is what is checked.
/// </summary>
public sealed class ZfsPoolDaemonTests(OracleAndDaemonFixture f, ZfsDaemon zfs) : IClassFixture<OracleAndDaemonFixture>, IClassFixture<ZfsDaemon>
{
    [Fact]
    public async Task Zfs_pool_through_virsh_on_virtpoold()
    {
        var zpool = ZfsDaemon.NewZpoolName();
        var vdev = zfs.NewVdev();
        try
        {
            async Task<(int Exit, string Out, string Err)> Virsh(params string[] args)
            {
                var r = await Tool.RunAsync(Tool.Virsh, ["-c", f.Daemon.Uri, .. args]);
                return (r.Exit, r.Out, r.Err);
            }

            Assert.Equal((0, "Pool zdd defined\n\n", ""), await Virsh("pool-define-as", "zdd", "zfs", "--source-name", zpool, "--source-dev", vdev));
            Assert.Equal((0, "Pool zdd built\n\n", ""), await Virsh("pool-build", "zdd"));
            Assert.Contains(zpool, ZfsDaemon.Tool("zpool", "list", "-H", "-o", "name").Split('\n'));
            Assert.Equal((0, "Pool zdd started\n\n", ""), await Virsh("pool-start", "zdd"));

            var info = await Virsh("pool-info", "zdd");
            Assert.Equal(0, info.Exit);
            Assert.Contains("State:          running\n", info.Out, StringComparison.Ordinal);
            Assert.Matches(@"Capacity:\s+1[0-9]{2}\.[0-9]{2} MiB\n", info.Out);

            var recorded = Path.Combine(OracleAndDaemonFixture.RepoRoot, "tests", "testdata", "libvirt-local", "zfs");
            var list = await Virsh("vol-list", "zdd", "--details");
            Assert.Equal((0, File.ReadAllText(Path.Combine(recorded, "05-vol-list.out")), ""), list);

            var zvol = await Virsh("vol-create-as", "zdd", "zv1", "64M");
            var expected = File.ReadAllText(Path.Combine(recorded, "06-vol-create-zvol-unsupported-bad.err")).Replace("ztank/zv1", $"{zpool}/zv1", StringComparison.Ordinal);
            Assert.Equal((1, expected), (zvol.Exit, zvol.Err));
            Assert.Equal((0, File.ReadAllText(Path.Combine(recorded, "05-vol-list.out")), ""), await Virsh("vol-list", "zdd", "--details"));

            Assert.Equal((0, "Pool zdd destroyed\n\n", ""), await Virsh("pool-destroy", "zdd"));
            Assert.Equal((0, "Pool zdd deleted\n\n", ""), await Virsh("pool-delete", "zdd"));
            Assert.DoesNotContain(zpool, ZfsDaemon.Tool("zpool", "list", "-H", "-o", "name").Split('\n'));
            Assert.Equal((0, "Pool zdd has been undefined\n\n", ""), await Virsh("pool-undefine", "zdd"));
        }
        finally
        {
            await Tool.RunAsync(Tool.Virsh, ["-c", f.Daemon.Uri, "pool-destroy", "zdd"]);
            await Tool.RunAsync(Tool.Virsh, ["-c", f.Daemon.Uri, "pool-undefine", "zdd"]);
            ZfsDaemon.DestroyIfPresent(zpool);
        }
    }
}
