using VirtPool.Cli.Tests.Support;
using VirtPool.TestSupport;

namespace VirtPool.Cli.Tests.Differential;

/// <summary>
/// zfs pools on a private zfs-fuse 0.7 daemon (<see cref="ZfsDaemon"/>): the scenarios of
/// tests/testdata/libvirt-local/zfs, the same virsh steps through libvirtd 9.0 and through embedded
/// virtpool, each side on its own zpools (shown as @ZPOOL@, @ZBUILT@ and @VDEV@ in both outputs). Both
/// drive the one zfs-fuse daemon with zpool and zfs.
/// <para>
/// Deliberate differences (Data/known-differences/README.md): libvirt 9.0 ignores the failure of its
/// <c>zpool get -Hp</c>, which zfs-fuse refuses, so it shows capacity 0 and starts a zpool that does not
/// exist; virtpool asks the old CLI again (real, rounded sizes) and refuses to start a missing zpool.
/// zfs-fuse makes no zvols: vol-create stops at <c>zfs create -V</c>, with the same error on both sides.
/// </para>
/// </summary>
[Collection(LibvirtCollection.Name)]
public sealed class ZfsPoolDifferentialTests(LibvirtOracle oracle, ZfsDaemon zfs) : IClassFixture<ZfsDaemon>
{
    private const string SizesDiffer = "zfs-fuse refuses 'zpool get -Hp': libvirtd shows capacity 0, virtpool the old CLI's sizes";

    [Fact]
    public async Task Existing_zpool_define_start_and_vol_create_boundary_match_libvirt()
    {
        await using var s = await oracle.NewSandboxAsync();
        var (oracleZpool, cliZpool) = (ZfsDaemon.NewZpoolName(), ZfsDaemon.NewZpoolName());
        try
        {
            foreach (var zpool in new[] { oracleZpool, cliZpool })
            {
                ZfsDaemon.Tool("zpool", "create", "-o", "cachefile=none", "-m", "none", zpool, zfs.NewVdev());
                ZfsDaemon.Tool("zfs", "create", "-o", "mountpoint=none", zpool + "/fs1");
            }

            s.Alias("@ZPOOL@", oracleZpool, cliZpool);
            var xml = s.WriteFile("zfspool.xml", "<pool type='zfs'>\n  <name>zfspool</name>\n  <source>\n    <name>@ZPOOL@</name>\n  </source>\n</pool>\n");
            (await s.StepAsync("pool-define", xml)).ExpectOracle(0);
            await s.StepAsync("pool-dumpxml", "--inactive", "zfspool");
            (await s.StepAsync("pool-start", "zfspool")).ExpectOracle(0);
            (await s.StepAsync("pool-info", "zfspool")).ExpectDifference(SizesDiffer);
            (await s.StepAsync("pool-dumpxml", "zfspool")).ExpectDifference(SizesDiffer);
            await s.StepAsync("vol-list", "zfspool", "--details");

            // zfs-fuse's zfs aborts on -V: the error passes through on both sides, nothing is left.
            (await s.StepAsync("vol-create-as", "zfspool", "zv1", "64M")).ExpectOracle(1);
            (await s.StepAsync("vol-create-as", "zfspool", "zv2", "64M", "--allocation", "0")).ExpectOracle(1);
            (await s.StepAsync("vol-create-as", "zfspool", "zv3", "64M", "--allocation", "1M")).ExpectOracle(1);
            await s.StepAsync("vol-list", "zfspool", "--details");
            (await s.StepAsync("pool-refresh", "zfspool")).ExpectOracle(0);
            await s.StepAsync("vol-list", "zfspool");
            (await s.StepAsync("pool-build", "zfspool")).ExpectOracle(1);
            (await s.StepAsync("pool-destroy", "zfspool")).ExpectOracle(0);
            await s.StepAsync("pool-info", "zfspool");
            (await s.StepAsync("pool-undefine", "zfspool")).ExpectOracle(0);

            (await s.StepAsync("pool-define-as", "zfsas", "zfs", "--source-name", "@ZPOOL@")).ExpectOracle(0);
            await s.StepAsync("pool-dumpxml", "--inactive", "zfsas");
            (await s.StepAsync("pool-undefine", "zfsas")).ExpectOracle(0);
            s.AssertNoDifferences();
        }
        finally
        {
            ZfsDaemon.DestroyIfPresent(oracleZpool);
            ZfsDaemon.DestroyIfPresent(cliZpool);
        }
    }

    [Fact]
    public async Task A_missing_zpool_is_started_by_libvirt_and_refused_by_virtpool()
    {
        await using var s = await oracle.NewSandboxAsync();
        var xml = s.WriteFile("zfsmissing.xml", "<pool type='zfs'>\n  <name>zfsmissing</name>\n  <source>\n    <name>vpc11zfsnosuch</name>\n  </source>\n</pool>\n");
        (await s.StepAsync("pool-define", xml)).ExpectOracle(0);
        (await s.StepAsync("pool-start", "zfsmissing")).ExpectOracle(0)
            .ExpectDifference("a zpool that does not exist: libvirtd starts the pool (capacity 0), virtpool refuses with zpool's error");
        (await s.StepAsync("pool-info", "zfsmissing")).ExpectDifference("the pool libvirtd started is running there and inactive here");
        (await s.StepAsync("pool-destroy", "zfsmissing")).ExpectOracle(0).ExpectDifference("libvirtd stops the pool it started; virtpool's never started");
        await s.StepAsync("pool-info", "zfsmissing");
        (await s.StepAsync("pool-undefine", "zfsmissing")).ExpectOracle(0);
        s.AssertNoDifferences();
    }

    [Fact]
    public async Task Zpool_built_started_and_deleted_match_libvirt()
    {
        await using var s = await oracle.NewSandboxAsync();
        var (oracleZpool, cliZpool) = (ZfsDaemon.NewZpoolName(), ZfsDaemon.NewZpoolName());
        try
        {
            s.Alias("@ZBUILT@", oracleZpool, cliZpool);
            s.Alias("@VDEV@", zfs.NewVdev(), zfs.NewVdev());
            var xml = s.WriteFile("zfsbuilt.xml", "<pool type='zfs'>\n  <name>zfsbuilt</name>\n  <source>\n    <name>@ZBUILT@</name>\n    <device path='@VDEV@'/>\n  </source>\n</pool>\n");
            (await s.StepAsync("pool-define", xml)).ExpectOracle(0);
            (await s.StepAsync("pool-build", "zfsbuilt", "--overwrite")).ExpectOracle(1);
            (await s.StepAsync("pool-build", "zfsbuilt")).ExpectOracle(0);
            (await s.StepAsync("pool-build", "zfsbuilt")).ExpectOracle(1);
            (await s.StepAsync("pool-start", "zfsbuilt")).ExpectOracle(0);
            (await s.StepAsync("pool-info", "zfsbuilt")).ExpectDifference(SizesDiffer);
            (await s.StepAsync("pool-dumpxml", "zfsbuilt")).ExpectDifference(SizesDiffer);
            (await s.StepAsync("pool-delete", "zfsbuilt")).ExpectOracle(1);
            (await s.StepAsync("pool-destroy", "zfsbuilt")).ExpectOracle(0);

            // The harness's artifact, not libvirt's: zfs-fuse mounted the oracle's zpool (at /NAME) in
            // this namespace, where libvirtd's own mount namespace (scripts/libvirtd-up.sh) cannot see it
            // to unmount it, so its zpool destroy would find the pool busy. Unmounted here, as libvirtd
            // would have done had it shared the namespace (the recording ran both in one sandbox).
            ZfsDaemon.Tool("zfs", "unmount", oracleZpool);
            (await s.StepAsync("pool-delete", "zfsbuilt")).ExpectOracle(0);
            (await s.StepAsync("pool-delete", "zfsbuilt")).ExpectOracle(1);
            (await s.StepAsync("pool-undefine", "zfsbuilt")).ExpectOracle(0);

            // No device to build on.
            var bare = s.WriteFile("zfsbare.xml", "<pool type='zfs'>\n  <name>zfsbare</name>\n  <source>\n    <name>@ZBUILT@</name>\n  </source>\n</pool>\n");
            (await s.StepAsync("pool-define", bare)).ExpectOracle(0);
            (await s.StepAsync("pool-build", "zfsbare")).ExpectOracle(1);
            (await s.StepAsync("pool-undefine", "zfsbare")).ExpectOracle(0);
            s.AssertNoDifferences();
        }
        finally
        {
            ZfsDaemon.DestroyIfPresent(oracleZpool);
            ZfsDaemon.DestroyIfPresent(cliZpool);
        }
    }
}
