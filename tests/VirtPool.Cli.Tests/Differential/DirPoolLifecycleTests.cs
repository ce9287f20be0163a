using VirtPool.Cli.Tests.Support;

namespace VirtPool.Cli.Tests.Differential;

/// <summary>A dir pool through its whole life, step by step on virsh+libvirtd and on virtpool.</summary>
[Collection(LibvirtCollection.Name)]
public sealed class DirPoolLifecycleTests(LibvirtOracle oracle)
{
    [Fact]
    public async Task Define_build_start_autostart_refresh_destroy_delete_undefine()
    {
        await using var s = await oracle.NewSandboxAsync();

        (await s.StepAsync("pool-define-as", "dl-life", "dir", "--target", "@ROOT@/p/life")).ExpectOracle(0);
        await s.StepAsync("pool-define-as", "dl-life", "dir", "--target", "@ROOT@/p/other");
        await s.StepAsync("pool-info", "dl-life");
        await s.StepAsync("pool-list", "--all", "--details");

        // start before build: the folder does not exist
        (await s.StepAsync("pool-start", "dl-life")).ExpectOracle(1);
        await s.StepAsync("pool-delete", "dl-life");
        (await s.StepAsync("pool-build", "dl-life")).ExpectOracle(0);
        await s.StepAsync("pool-build", "dl-life");
        await s.StepAsync("pool-build", "dl-life", "--no-overwrite");
        await s.StepAsync("pool-list", "--all", "--details");
        (await s.StepAsync("pool-start", "dl-life")).ExpectOracle(0);
        await s.StepAsync("pool-start", "dl-life");
        await s.StepAsync("pool-build", "dl-life");
        await s.StepAsync("pool-info", "dl-life");
        await s.StepAsync("pool-info", "--bytes", "dl-life");
        await s.StepAsync("pool-info", "--pool", "dl-life");
        await s.StepAsync("pool-list");
        await s.StepAsync("pool-list", "--details");
        await s.StepAsync("pool-list", "--all", "--details");
        await s.StepAsync("pool-dumpxml", "dl-life");
        await s.StepAsync("pool-dumpxml", "--inactive", "dl-life");
        await s.StepAsync("vol-list", "dl-life");
        await s.StepAsync("vol-list", "dl-life", "--details");

        // autostart on and off
        await s.StepAsync("pool-autostart", "dl-life");
        await s.StepAsync("pool-list", "--autostart");
        await s.StepAsync("pool-list", "--all", "--no-autostart");
        await s.StepAsync("pool-info", "dl-life");
        await s.StepAsync("pool-autostart", "dl-life", "--disable");
        await s.StepAsync("pool-autostart", "--pool", "dl-life", "--disable");
        await s.StepAsync("pool-list", "--autostart");
        await s.StepAsync("pool-info", "dl-life");

        await s.StepAsync("pool-refresh", "dl-life");
        await s.StepAsync("pool-refresh", "dl-none");

        // by name, by UUID
        var uuid = await s.StepAsync("pool-uuid", "dl-life");
        await s.StepAsync(["pool-name", uuid.Oracle.Stdout.Trim()], ["pool-name", uuid.Cli.Stdout.Trim()]);
        await s.StepAsync(["pool-info", uuid.Oracle.Stdout.Trim()], ["pool-info", uuid.Cli.Stdout.Trim()]);
        await s.StepAsync("pool-name", "dl-life");
        await s.StepAsync("pool-uuid", "dl-none");

        // refused while active
        (await s.StepAsync("pool-undefine", "dl-life")).ExpectOracle(1);
        (await s.StepAsync("pool-delete", "dl-life")).ExpectOracle(1);

        // a volume keeps the folder from being deleted
        (await s.StepAsync("vol-create-as", "dl-life", "keep.img", "1M")).ExpectOracle(0);
        await s.StepAsync("pool-list", "--details");
        (await s.StepAsync("pool-destroy", "dl-life")).ExpectOracle(0);
        await s.StepAsync("pool-destroy", "dl-life");
        await s.StepAsync("pool-info", "dl-life");
        await s.StepAsync("pool-dumpxml", "dl-life");
        await s.StepAsync("vol-list", "dl-life");
        await s.StepAsync("pool-list", "--all", "--details");
        (await s.StepAsync("pool-delete", "dl-life")).ExpectOracle(1);
        (await s.StepAsync("pool-start", "dl-life")).ExpectOracle(0);
        await s.StepAsync("vol-list", "dl-life", "--details");
        await s.StepAsync("vol-delete", "keep.img", "--pool", "dl-life");
        await s.StepAsync("pool-info", "--bytes", "dl-life");
        await s.StepAsync("pool-destroy", "dl-life");
        (await s.StepAsync("pool-delete", "dl-life")).ExpectOracle(0);
        await s.StepAsync("pool-delete", "dl-life");
        await s.StepAsync("pool-start", "dl-life");
        await s.StepAsync("pool-info", "dl-life");
        (await s.StepAsync("pool-undefine", "dl-life")).ExpectOracle(0);
        await s.StepAsync("pool-undefine", "dl-life");
        await s.StepAsync("pool-list", "--all");
        await s.StepAsync("pool-info", "dl-life");

        s.AssertNoDifferences();
    }

    [Fact]
    public async Task Start_with_build_flags_and_a_target_of_another_kind()
    {
        await using var s = await oracle.NewSandboxAsync();

        await s.StepAsync("pool-define-as", "dl-flags", "dir", "--target", "@ROOT@/p/flags");
        await s.StepAsync("pool-start", "dl-flags", "--build");
        await s.StepAsync("pool-list", "--all", "--details");
        await s.StepAsync("pool-destroy", "dl-flags");
        await s.StepAsync("pool-start", "dl-flags", "--build", "--overwrite", "--no-overwrite");
        await s.StepAsync("pool-start", "dl-flags", "--no-overwrite");
        await s.StepAsync("pool-destroy", "dl-flags");
        await s.StepAsync("pool-undefine", "dl-flags");

        // the target is a file, not a folder
        s.WriteBytes("p/afile", [1, 2, 3]);
        await s.StepAsync("pool-define-as", "dl-file", "dir", "--target", "@ROOT@/p/afile");
        await s.StepAsync("pool-build", "dl-file");
        await s.StepAsync("pool-start", "dl-file");
        await s.StepAsync("pool-list", "--all");
        await s.StepAsync("pool-undefine", "dl-file");

        // a target below a missing folder: build creates only the last level
        await s.StepAsync("pool-define-as", "dl-deep", "dir", "--target", "@ROOT@/p/no/such/deep");
        await s.StepAsync("pool-build", "dl-deep");
        await s.StepAsync("pool-start", "dl-deep");
        await s.StepAsync("pool-undefine", "dl-deep");

        s.AssertNoDifferences();
    }

    [Fact]
    public async Task Transient_pools_from_create_as_and_create()
    {
        await using var s = await oracle.NewSandboxAsync();

        (await s.StepAsync("pool-create-as", "dl-tr", "dir", "--target", "@ROOT@/p/tr")).ExpectOracle(1);
        (await s.StepAsync("pool-create-as", "dl-tr", "dir", "--target", "@ROOT@/p/tr", "--build")).ExpectOracle(0);
        await s.StepAsync("pool-list");
        await s.StepAsync("pool-list", "--transient");
        await s.StepAsync("pool-list", "--persistent");
        await s.StepAsync("pool-list", "--all", "--details");
        await s.StepAsync("pool-info", "dl-tr");
        await s.StepAsync("pool-dumpxml", "dl-tr");
        await s.StepAsync("pool-dumpxml", "--inactive", "dl-tr");
        await s.StepAsync("pool-autostart", "dl-tr");
        await s.StepAsync("pool-undefine", "dl-tr");
        await s.StepAsync("pool-build", "dl-tr");
        await s.StepAsync("pool-create-as", "dl-tr", "dir", "--target", "@ROOT@/p/tr2", "--build");
        await s.StepAsync("pool-define-as", "dl-tr", "dir", "--target", "@ROOT@/p/tr");
        await s.StepAsync("pool-list", "--all", "--details");
        await s.StepAsync("pool-destroy", "dl-tr");
        await s.StepAsync("pool-list", "--all", "--details");
        await s.StepAsync("pool-info", "dl-tr");

        // pool-create from a file: the target folder exists beforehand
        s.MakeDir("p/fromfile", (UnixFileMode)Convert.ToInt32("755", 8));
        var file = s.WriteFile("create-dir.xml", """
            <pool type='dir'>
              <name>dl-file</name>
              <uuid>6f6c4a1e-2d0b-4c61-9a55-0e6a1c3c7b01</uuid>
              <target>
                <path>@ROOT@/p/fromfile</path>
              </target>
            </pool>
            """);
        (await s.StepAsync("pool-create", file)).ExpectOracle(0);
        await s.StepAsync("pool-create", file);
        await s.StepAsync("pool-list", "--transient", "--details");
        await s.StepAsync("pool-info", "6f6c4a1e-2d0b-4c61-9a55-0e6a1c3c7b01");
        await s.StepAsync("pool-dumpxml", "dl-file");
        await s.StepAsync("pool-define", file);
        await s.StepAsync("pool-list", "--all", "--details");
        await s.StepAsync("pool-info", "dl-file");
        await s.StepAsync("pool-destroy", "dl-file");
        await s.StepAsync("pool-list", "--all", "--details");
        await s.StepAsync("pool-undefine", "dl-file");

        // pool-create --build from a file whose folder is missing
        var build = s.WriteFile("create-build.xml", """
            <pool type='dir'>
              <name>dl-build</name>
              <target>
                <path>@ROOT@/p/built-by-create</path>
                <permissions>
                  <mode>0750</mode>
                </permissions>
              </target>
            </pool>
            """);
        await s.StepAsync("pool-create", build);
        await s.StepAsync("pool-create", build, "--build");
        await s.StepAsync("pool-dumpxml", "dl-build");
        await s.StepAsync("vol-create-as", "dl-build", "t.raw", "64K");
        await s.StepAsync("vol-list", "dl-build", "--details");
        await s.StepAsync("pool-destroy", "dl-build");
        await s.StepAsync("pool-list", "--all");

        s.AssertNoDifferences();
    }

    [Fact]
    public async Task Capabilities_and_lookups_of_missing_pools()
    {
        await using var s = await oracle.NewSandboxAsync();

        // Known difference: supported='yes' only for the types VirtPool has a backend for; libvirtd says
        // yes for every type it was built with. Everything else in the document is libvirt's.
        var caps = (await s.StepAsync("pool-capabilities")).ExpectDifference("pool-capabilities reports the registry's types");
        var expected = caps.Oracle.Stdout;
        foreach (var type in new[] { "scsi", "mpath", "rbd", "gluster" })
        {
            expected = expected.Replace($"<pool type='{type}' supported='yes'>", $"<pool type='{type}' supported='no'>", StringComparison.Ordinal);
        }

        Assert.Contains("<pool type='dir' supported='yes'>", expected, StringComparison.Ordinal);
        Assert.Equal(expected, caps.Cli.Stdout);
        await s.StepAsync("pool-list");
        await s.StepAsync("pool-list", "--all");
        await s.StepAsync("pool-list", "--all", "--details");
        await s.StepAsync("pool-list", "--name");
        await s.StepAsync("pool-list", "--uuid");
        foreach (var command in new[] { "pool-info", "pool-start", "pool-destroy", "pool-undefine", "pool-delete", "pool-build", "pool-refresh", "pool-autostart", "pool-dumpxml", "pool-uuid", "vol-list" })
        {
            await s.StepAsync(command, "dl-missing");
        }

        await s.StepAsync("pool-name", "dl-missing");
        await s.StepAsync("pool-name", "3c8e1d0b-7f2a-4e44-9b1d-5a0c2f6e9d11");
        await s.StepAsync("pool-info", "3c8e1d0b-7f2a-4e44-9b1d-5a0c2f6e9d11");
        await s.StepAsync("pool-uuid", "3c8e1d0b-7f2a-4e44-9b1d-5a0c2f6e9d11");
        await s.StepAsync("pool-info", "3c8e1d0b7f2a4e449b1d5a0c2f6e9d11");
        await s.StepAsync("pool-info");
        await s.StepAsync("pool-info", "");
        await s.StepAsync("pool-info", "a", "b");
        await s.StepAsync("pool-define", "@ROOT@/x/does-not-exist.xml");
        await s.StepAsync("pool-create", "@ROOT@/x/does-not-exist.xml");
        await s.StepAsync("pool-define");

        s.AssertNoDifferences();
    }
}
