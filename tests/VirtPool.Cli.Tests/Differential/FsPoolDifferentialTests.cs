using VirtPool.Cli.Tests.Support;

namespace VirtPool.Cli.Tests.Differential;

/// <summary>
/// fs pools on loop devices, the same virsh steps through libvirtd and through embedded virtpool, each
/// side on its own loop device of the same size (shown as @DEV@ in both outputs): mkfs, the probe of
/// --no-overwrite, mount, the mounted filesystem's figures and volumes, umount, rmdir, and the errors
/// (a filesystem of another type, a missing device, both overwrite flags) byte for byte; and btrfs,
/// VirtPool's addition, against libvirtd's xfs and its refusal of btrfs.
/// libvirtd mounts in its own mount namespace, virtpool in the test's; each side sees its own mount.
/// </summary>
[Collection(LibvirtCollection.Name)]
public sealed class FsPoolDifferentialTests(LibvirtOracle oracle)
{
    private const long DeviceBytes = 512L << 20;

    [Fact]
    public async Task Ext4_pool_from_blank_device_to_delete_and_its_errors_match_libvirt()
    {
        await using var s = await oracle.NewSandboxAsync();
        using var images = new TempDir("vpfsdiff");
        await using var devices = await SideDevices.AttachAsync(images, DeviceBytes);
        s.Alias("@DEV@", devices.Oracle, devices.Cli);

        (await s.StepAsync("pool-define-as", "fsd", "fs", "--source-dev", "@DEV@", "--source-format", "ext4", "--target", "@ROOT@/p/ext4")).ExpectOracle(0);
        await s.StepAsync("pool-dumpxml", "--inactive", "fsd");
        (await s.StepAsync("pool-start", "fsd")).ExpectOracle(1);
        (await s.StepAsync("pool-build", "fsd")).ExpectOracle(0);
        (await s.StepAsync("pool-start", "fsd")).ExpectOracle(1);
        (await s.StepAsync("pool-build", "fsd", "--no-overwrite")).ExpectOracle(0);
        (await s.StepAsync("pool-build", "fsd", "--no-overwrite")).ExpectOracle(1);
        (await s.StepAsync("pool-build", "fsd", "--overwrite")).ExpectOracle(0);
        (await s.StepAsync("pool-build", "fsd", "--overwrite", "--no-overwrite")).ExpectOracle(1);
        // Another pool on the same device is refused at define time.
        await s.StepAsync("pool-define-as", "fsdup", "fs", "--source-dev", "@DEV@", "--source-format", "ext4", "--target", "@ROOT@/p/dup");
        (await s.StepAsync("pool-start", "fsd")).ExpectOracle(0);
        await s.StepAsync("pool-start", "fsd");
        await s.StepAsync("pool-build", "fsd", "--overwrite");
        await s.StepAsync("pool-info", "fsd");
        await s.StepAsync("pool-dumpxml", "fsd");

        (await s.StepAsync("vol-create-as", "fsd", "raw1", "10M")).ExpectOracle(0);
        (await s.StepAsync("vol-create-as", "fsd", "raw2", "10M", "--allocation", "0")).ExpectOracle(0);
        (await s.StepAsync("vol-create-as", "fsd", "qcow1", "20M", "--format", "qcow2")).ExpectOracle(0);
        await s.StepAsync("vol-create-as", "fsd", "raw1", "10M");
        await s.StepAsync("vol-list", "fsd", "--details");
        await s.StepAsync("vol-info", "raw1", "--pool", "fsd");
        await s.StepAsync("vol-dumpxml", "raw1", "--pool", "fsd");
        await s.StepAsync("pool-refresh", "fsd");
        await s.StepAsync("pool-info", "fsd");
        await s.StepAsync("pool-info", "--bytes", "fsd");
        (await s.StepAsync("vol-delete", "raw2", "--pool", "fsd")).ExpectOracle(0);
        await s.StepAsync("pool-info", "--bytes", "fsd");
        await s.StepAsync("pool-delete", "fsd");
        (await s.StepAsync("pool-destroy", "fsd")).ExpectOracle(0);
        await s.StepAsync("vol-list", "fsd");
        await s.StepAsync("pool-info", "fsd");

        // Mounted again, the volumes are back from the device.
        (await s.StepAsync("pool-start", "fsd")).ExpectOracle(0);
        await s.StepAsync("vol-list", "fsd", "--details");
        (await s.StepAsync("pool-destroy", "fsd")).ExpectOracle(0);
        (await s.StepAsync("pool-delete", "fsd")).ExpectOracle(0);
        (await s.StepAsync("pool-undefine", "fsd")).ExpectOracle(0);

        // Mounted elsewhere (by someone else): mkfs refuses it, but the kernel mounts it a second time.
        s.MakeDir("x/elsewhere");
        await MountBothAsync(s, devices, "x/elsewhere");
        (await s.StepAsync("pool-define-as", "fsbusy", "fs", "--source-dev", "@DEV@", "--source-format", "ext4", "--target", "@ROOT@/p/busy")).ExpectOracle(0);
        (await s.StepAsync("pool-build", "fsbusy", "--overwrite")).ExpectOracle(1);
        (await s.StepAsync("pool-build", "fsbusy")).ExpectOracle(0);
        (await s.StepAsync("pool-start", "fsbusy")).ExpectOracle(0);
        await s.StepAsync("vol-list", "fsbusy");
        (await s.StepAsync("pool-destroy", "fsbusy")).ExpectOracle(0);
        (await s.StepAsync("pool-undefine", "fsbusy")).ExpectOracle(0);
        await devices.UnmountAllAsync();

        // The device now holds ext4: a pool that expects xfs refuses --no-overwrite and cannot mount it.
        (await s.StepAsync("pool-define-as", "fsw", "fs", "--source-dev", "@DEV@", "--source-format", "xfs", "--target", "@ROOT@/p/wrong")).ExpectOracle(0);
        (await s.StepAsync("pool-build", "fsw", "--no-overwrite")).ExpectOracle(1);
        (await s.StepAsync("pool-build", "fsw")).ExpectOracle(0);
        (await s.StepAsync("pool-start", "fsw")).ExpectOracle(1);
        await s.StepAsync("pool-info", "fsw");
        (await s.StepAsync("pool-undefine", "fsw")).ExpectOracle(0);

        // A device that does not exist.
        (await s.StepAsync("pool-define-as", "fsm", "fs", "--source-dev", "@ROOT@/x/no-such-device", "--source-format", "ext4", "--target", "@ROOT@/p/missing")).ExpectOracle(0);
        (await s.StepAsync("pool-build", "fsm", "--no-overwrite")).ExpectOracle(1);
        (await s.StepAsync("pool-build", "fsm", "--overwrite")).ExpectOracle(1);
        (await s.StepAsync("pool-build", "fsm")).ExpectOracle(0);
        (await s.StepAsync("pool-start", "fsm")).ExpectOracle(1);
        (await s.StepAsync("pool-undefine", "fsm")).ExpectOracle(0);

        // Two devices: defined, but a start refuses them (unsupported configuration).
        var two = s.WriteFile("fstwo.xml", "<pool type='fs'><name>fstwo</name><source><device path='@ROOT@/x/dev-a'/><device path='@ROOT@/x/dev-b'/></source><target><path>@ROOT@/p/two</path></target></pool>");
        (await s.StepAsync("pool-define", two)).ExpectOracle(0);
        (await s.StepAsync("pool-start", "fstwo")).ExpectOracle(1);
        (await s.StepAsync("pool-undefine", "fstwo")).ExpectOracle(0);

        // A definition libvirt refuses for fs pools (btrfs, which libvirt also refuses, has its own test below).
        await s.StepAsync("pool-define-as", "fsn", "fs", "--target", "@ROOT@/p/nodev");
        s.AssertNoDifferences();
    }

    [Fact]
    public async Task Xfs_pool_build_start_volumes_and_destroy_match_libvirt()
    {
        await using var s = await oracle.NewSandboxAsync();
        using var images = new TempDir("vpfsdiff");
        await using var devices = await SideDevices.AttachAsync(images, DeviceBytes);
        s.Alias("@DEV@", devices.Oracle, devices.Cli);
        var xml = s.WriteFile("fsxfs.xml", "<pool type='fs'>\n  <name>fsxfs</name>\n  <source>\n    <device path='@DEV@'/>\n    <format type='xfs'/>\n  </source>\n  <target>\n    <path>@ROOT@/p/xfs</path>\n  </target>\n</pool>\n");

        (await s.StepAsync("pool-define", xml)).ExpectOracle(0);
        (await s.StepAsync("pool-build", "fsxfs", "--no-overwrite")).ExpectOracle(0);
        (await s.StepAsync("pool-build", "fsxfs", "--no-overwrite")).ExpectOracle(1);
        (await s.StepAsync("pool-build", "fsxfs", "--overwrite")).ExpectOracle(0);
        (await s.StepAsync("pool-start", "fsxfs")).ExpectOracle(0);
        await s.StepAsync("pool-info", "fsxfs");
        await s.StepAsync("pool-dumpxml", "fsxfs");
        (await s.StepAsync("vol-create-as", "fsxfs", "qcow1", "20M", "--format", "qcow2")).ExpectOracle(0);
        (await s.StepAsync("vol-create-as", "fsxfs", "raw1", "8M")).ExpectOracle(0);
        await s.StepAsync("vol-list", "fsxfs", "--details");
        await s.StepAsync("vol-info", "qcow1", "--pool", "fsxfs");
        await s.StepAsync("pool-refresh", "fsxfs");
        await s.StepAsync("pool-info", "--bytes", "fsxfs");
        (await s.StepAsync("vol-delete", "qcow1", "--pool", "fsxfs")).ExpectOracle(0);
        (await s.StepAsync("pool-destroy", "fsxfs")).ExpectOracle(0);
        (await s.StepAsync("pool-delete", "fsxfs")).ExpectOracle(0);
        (await s.StepAsync("pool-undefine", "fsxfs")).ExpectOracle(0);
        s.AssertNoDifferences();
    }

    /// <summary>
    /// btrfs is an fs pool format in VirtPool, an addition: libvirtd 9.0 refuses the name at define time.
    /// The lifecycle runs side by side with libvirtd on xfs, the nearest format it has (also reflink
    /// capable), so every step's output but the format's own name is compared byte for byte; then the
    /// same btrfs definition on both sides shows libvirt's refusal next to VirtPool's acceptance.
    /// </summary>
    [Fact]
    public async Task Btrfs_pool_runs_as_libvirts_xfs_pool_does_while_libvirt_refuses_btrfs()
    {
        await using var s = await oracle.NewSandboxAsync();
        using var images = new TempDir("vpfsdiff");
        await using var devices = await SideDevices.AttachAsync(images, DeviceBytes);
        s.Alias("@DEV@", devices.Oracle, devices.Cli);
        string[] DefineAs(string format) => ["pool-define-as", "fsb", "fs", "--source-dev", "@DEV@", "--source-format", format, "--target", "@ROOT@/p/fsb"];

        (await s.StepAsync(DefineAs("xfs"), DefineAs("btrfs"))).ExpectOracle(0);
        (await s.StepAsync("pool-build", "fsb", "--no-overwrite")).ExpectOracle(0);
        var again = (await s.StepAsync("pool-build", "fsb", "--no-overwrite")).ExpectOracle(1).ExpectDifference("btrfs is an fs pool format here, an addition (libvirtd's side is xfs)");
        Assert.Equal(again.O.Stderr.Replace("'xfs'", "'btrfs'", StringComparison.Ordinal), again.V.Stderr);
        (await s.StepAsync("pool-build", "fsb", "--overwrite")).ExpectOracle(0);
        (await s.StepAsync("pool-start", "fsb")).ExpectOracle(0);
        (await s.StepAsync("vol-create-as", "fsb", "base", "8M")).ExpectOracle(0);
        (await s.StepAsync("vol-create-as", "fsb", "qcow1", "20M", "--format", "qcow2")).ExpectOracle(0);
        (await s.StepAsync("vol-clone", "base", "clone", "--pool", "fsb", "--reflink")).ExpectOracle(0);
        await s.StepAsync("vol-list", "fsb");
        await s.StepAsync("vol-info", "clone", "--pool", "fsb");
        (await s.StepAsync("pool-refresh", "fsb")).ExpectOracle(0);
        (await s.StepAsync("vol-delete", "clone", "--pool", "fsb")).ExpectOracle(0);
        (await s.StepAsync("pool-destroy", "fsb")).ExpectOracle(0);
        (await s.StepAsync("pool-delete", "fsb")).ExpectOracle(0);
        (await s.StepAsync("pool-undefine", "fsb")).ExpectOracle(0);

        // The same btrfs definition on both sides: libvirt's refusal (tests/testdata/libvirt-local/fs/03-define-as-btrfs-bad), VirtPool's pool.
        var refused = (await s.StepAsync(DefineAs("btrfs"))).ExpectOracle(1).ExpectDifference("btrfs is an fs pool format here, an addition");
        Assert.Equal("error: Failed to define pool fsb\nerror: unsupported configuration: unknown pool format type btrfs\n", refused.O.Stderr);
        Assert.Equal((0, "Pool fsb defined\n\n", ""), (refused.V.ExitCode, refused.V.Stdout, refused.V.Stderr));
        s.AssertNoDifferences();
    }

    /// <summary>
    /// Mounts each side's device on ROOT/<paramref name="relative"/> in this namespace: below the shared
    /// side filesystems, so libvirtd's namespace sees its side's mount too.
    /// </summary>
    private static async Task MountBothAsync(DiffSandbox s, SideDevices devices, string relative)
    {
        foreach (var (device, root) in new[] { (devices.Oracle, s.OracleRoot), (devices.Cli, s.CliRoot) })
        {
            await Mounts.RunOrThrowAsync("mount", device, Path.Combine(root, relative));
        }
    }

    /// <summary>
    /// One loop device per side, over sparse files of the same size. Disposed (also after a failure):
    /// whatever this namespace has mounted from either device is unmounted (virtpool's side; libvirtd's
    /// mount lives in its own namespace and goes with the oracle's pool-destroy), then both are detached.
    /// </summary>
    private sealed class SideDevices : IAsyncDisposable
    {
        private SideDevices(string oracle, string cli)
        {
            Oracle = oracle;
            Cli = cli;
        }

        public string Oracle { get; }

        public string Cli { get; }

        public static async Task<SideDevices> AttachAsync(TempDir images, long bytes)
        {
            var oracle = await AttachOneAsync(images.Sub("o.img"), bytes);
            try
            {
                return new SideDevices(oracle, await AttachOneAsync(images.Sub("v.img"), bytes));
            }
            catch
            {
                await ChildProcess.RunAsync("losetup", ["-d", oracle], timeout: TimeSpan.FromSeconds(60));
                throw;
            }
        }

        public async ValueTask DisposeAsync()
        {
            await UnmountAllAsync();
            await ChildProcess.RunAsync("losetup", ["-d", Oracle], timeout: TimeSpan.FromSeconds(60));
            await ChildProcess.RunAsync("losetup", ["-d", Cli], timeout: TimeSpan.FromSeconds(60));
        }

        /// <summary>Unmounts whatever this namespace has mounted from either device (lazily when busy).</summary>
        public async Task UnmountAllAsync()
        {
            foreach (var line in await File.ReadAllLinesAsync("/proc/self/mounts"))
            {
                var fields = line.Split(' ');
                if (fields.Length > 1 && (fields[0] == Oracle || fields[0] == Cli))
                {
                    var umount = await ChildProcess.RunAsync("umount", [fields[1]], timeout: TimeSpan.FromSeconds(60));
                    if (umount.ExitCode != 0)
                    {
                        await ChildProcess.RunAsync("umount", ["-l", fields[1]], timeout: TimeSpan.FromSeconds(60));
                    }
                }
            }
        }

        private static async Task<string> AttachOneAsync(string image, long bytes)
        {
            await using (var file = new FileStream(image, FileMode.CreateNew, FileAccess.Write))
            {
                file.SetLength(bytes);
            }

            var attach = await ChildProcess.RunAsync("losetup", ["-f", "--show", image], timeout: TimeSpan.FromSeconds(60));
            if (attach.ExitCode != 0)
            {
                throw new InvalidOperationException($"losetup -f --show {image}: {attach.Stderr}");
            }

            return attach.Stdout.Trim();
        }
    }
}
