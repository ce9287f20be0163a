using VirtPool.Cli.Tests.Support;

namespace VirtPool.Cli.Tests.Differential;

/// <summary>pool-list's filters and views over a mix of pools: active, inactive, transient, autostarted, several types.</summary>
[Collection(LibvirtCollection.Name)]
public sealed class PoolListDifferentialTests(LibvirtOracle oracle)
{
    private const string FsPool = """
        <pool type='fs'>
          <name>dl-fs-auto</name>
          <uuid>1f1f1f1f-0000-4000-8000-000000000001</uuid>
          <source><device path='/dev/vp-test-list-fs'/><format type='ext4'/></source>
          <target><path>@ROOT@/p/list-fs</path></target>
        </pool>
        """;

    private const string NetfsPool = """
        <pool type='netfs'>
          <name>dl-netfs</name>
          <uuid>1f1f1f1f-0000-4000-8000-000000000002</uuid>
          <source><host name='nfs.example.com'/><dir path='/export/list'/><format type='nfs'/></source>
          <target><path>@ROOT@/p/list-netfs</path></target>
        </pool>
        """;

    private const string RbdPool = """
        <pool type='rbd'>
          <name>dl-rbd-auto</name>
          <uuid>1f1f1f1f-0000-4000-8000-000000000003</uuid>
          <source><name>vp-list</name><host name='mon1.example.com' port='6789'/></source>
        </pool>
        """;

    private const string LogicalPool = """
        <pool type='logical'>
          <name>dl-a-logical-pool-with-a-much-longer-name</name>
          <uuid>1f1f1f1f-0000-4000-8000-000000000004</uuid>
          <source><name>vplistvg</name><device path='/dev/vp-test-list-pv'/></source>
          <target><path>/dev/vplistvg</path></target>
        </pool>
        """;

    public static IEnumerable<string[]> Filters()
    {
        var flags = new[]
        {
            Array.Empty<string>(),
            ["--all"],
            ["--inactive"],
            ["--persistent"],
            ["--transient"],
            ["--autostart"],
            ["--no-autostart"],
            ["--all", "--persistent"],
            ["--all", "--transient"],
            ["--all", "--autostart"],
            ["--all", "--no-autostart"],
            ["--inactive", "--autostart"],
            ["--inactive", "--no-autostart"],
            ["--persistent", "--autostart"],
            ["--persistent", "--no-autostart"],
            ["--transient", "--no-autostart"],
            ["--inactive", "--transient"],
            ["--persistent", "--transient"],
            ["--autostart", "--no-autostart"],
            ["--all", "--type", "dir"],
            ["--all", "--type", "dir,fs"],
            ["--all", "--type", "fs,dir"],
            ["--all", "--type", "netfs,rbd,logical"],
            ["--all", "--type", "iscsi"],
            ["--type", "dir"],
            ["--inactive", "--type", "rbd,fs", "--autostart"],
            ["--all", "--type", "floppy"],
            ["--all", "--type", "dir,floppy"],
            ["--all", "--type", ""],
            ["--all", "--type", "dir,"],
            ["--all", "--type", "DIR"],
        };
        var views = new[] { Array.Empty<string>(), ["--details"], ["--name"], ["--uuid"], ["--name", "--uuid"] };
        var data = new List<string[]>();
        foreach (var f in flags)
        {
            data.Add([.. f]);
        }

        foreach (var v in views.Skip(1))
        {
            data.Add(["--all", .. v]);
            data.Add(["--inactive", .. v]);
            data.Add(["--transient", .. v]);
        }

        data.Add(["--details", "--name"]);
        data.Add(["--details", "--uuid"]);
        data.Add(["--all", "--details", "--name", "--uuid"]);
        data.Add(["--title"]);
        data.Add(["--bogus"]);
        data.Add(["--all", "extra"]);
        return data;
    }

    /// <summary>One set-up, then every filter combination (with and without --details) as its own step.</summary>
    [Fact]
    public async Task Filters_and_views_over_a_mix_of_pools()
    {
        await using var s = await oracle.NewSandboxAsync();

        // dir: persistent, running, autostart
        (await s.StepAsync("pool-define-as", "dl-dir-run-auto", "dir", "--target", "@ROOT@/p/a")).ExpectOracle(0);
        await s.StepAsync("pool-build", "dl-dir-run-auto");
        (await s.StepAsync("pool-start", "dl-dir-run-auto")).ExpectOracle(0);
        await s.StepAsync("pool-autostart", "dl-dir-run-auto");
        await s.StepAsync("vol-create-as", "dl-dir-run-auto", "v.img", "3M");

        // dir: persistent, inactive
        await s.StepAsync("pool-define-as", "dl-dir-off", "dir", "--target", "@ROOT@/p/b");

        // dir: transient, running
        (await s.StepAsync("pool-create-as", "dl-dir-transient", "dir", "--target", "@ROOT@/p/c", "--build")).ExpectOracle(0);

        // dir: persistent, running, no autostart
        await s.StepAsync("pool-define-as", "dl-dir-run", "dir", "--target", "@ROOT@/p/d");
        await s.StepAsync("pool-start", "--build", "dl-dir-run");

        // other types, defined only
        (await s.StepAsync("pool-define", s.WriteFile("fs.xml", FsPool))).ExpectOracle(0);
        await s.StepAsync("pool-autostart", "dl-fs-auto");
        (await s.StepAsync("pool-define", s.WriteFile("netfs.xml", NetfsPool))).ExpectOracle(0);
        (await s.StepAsync("pool-define", s.WriteFile("rbd.xml", RbdPool))).ExpectOracle(0);
        await s.StepAsync("pool-autostart", "dl-rbd-auto");
        (await s.StepAsync("pool-define", s.WriteFile("logical.xml", LogicalPool))).ExpectOracle(0);

        foreach (var options in Filters())
        {
            await s.StepAsync(["pool-list", .. options]);
            await s.StepAsync(["pool-list", "--details", .. options]);
        }

        // after a destroy and an undefine, the listings change accordingly
        await s.StepAsync("pool-destroy", "dl-dir-transient");
        await s.StepAsync("pool-destroy", "dl-dir-run");
        await s.StepAsync("pool-undefine", "dl-netfs");
        await s.StepAsync("pool-list", "--all", "--details");
        await s.StepAsync("pool-list", "--all", "--uuid");
        await s.StepAsync("pool-list", "--inactive", "--name");

        s.AssertNoDifferences();
    }
}
