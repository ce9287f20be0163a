using VirtPool.Cli.Tests.Support;

namespace VirtPool.Cli.Tests.Differential;

/// <summary>
/// Disk pools (dos and gpt) on one equal-sized loop device per side (losetup -P): the same virsh
/// steps through libvirtd 9.0 and through virtpool, from an unlabelled device to pool-delete. Each
/// side's device prints as @DISK@ (the two names have the same length, so virsh's padding agrees).
/// Steps where virtpool differs on purpose say which known difference (Data/known-differences/README.md).
/// </summary>
[Collection(LibvirtCollection.Name)]
public sealed class DiskPoolDifferentialTests(LibvirtOracle oracle)
{
    private const long DeviceBytes = 256L << 20;

    [Fact]
    public async Task Dos_disk_pool_is_libvirts()
    {
        await using var s = await oracle.NewSandboxAsync();
        await using var devices = await SideDevices.AttachAsync(s);
        await devices.Step(s, "pool-define-as", "diskdos", "disk", "--source-dev", "/dev/@DEV@", "--source-format", "dos", "--target", "/dev");
        (await devices.Step(s, "pool-start", "diskdos")).ExpectOracle(1);
        (await devices.Step(s, "pool-build", "diskdos", "--no-overwrite")).ExpectOracle(0);
        (await devices.Step(s, "pool-build", "diskdos", "--no-overwrite")).ExpectOracle(1);
        (await devices.Step(s, "pool-build", "diskdos")).ExpectOracle(1);
        (await devices.Step(s, "pool-start", "diskdos")).ExpectOracle(0);
        await devices.Step(s, "pool-info", "diskdos");
        await devices.Step(s, "pool-dumpxml", "diskdos");

        (await devices.Step(s, "vol-create-as", "diskdos", "@DEV@p1", "10M")).ExpectOracle(0);
        await devices.Step(s, "vol-create-as", "diskdos", "@DEV@p2", "20M");
        await devices.Step(s, "vol-create-as", "diskdos", "@DEV@p3", "30M");
        (await devices.Step(s, "vol-create-as", "diskdos", "@DEV@p3", "30M")).ExpectOracle(1);
        (await devices.Step(s, "vol-create-as", "diskdos", "@DEV@p4", "1G")).ExpectOracle(1);
        (await devices.Step(s, "vol-create-as", "diskdos", "@DEV@p4", "100M", "--format", "extended")).ExpectOracle(0);
        (await devices.Step(s, "vol-create-as", "diskdos", "@DEV@p5", "10M", "--format", "extended")).ExpectOracle(1);
        (await devices.Step(s, "vol-create-as", "diskdos", "@DEV@p5", "10M")).ExpectOracle(0);
        (await devices.Step(s, "vol-create-as", "diskdos", "@DEV@p6", "20M", "--format", "linux-swap")).ExpectOracle(0);
        (await devices.Step(s, "vol-create-as", "diskdos", "@DEV@p7", "80M")).ExpectOracle(1);

        await devices.Step(s, "vol-list", "diskdos", "--details");
        await devices.Step(s, "vol-info", "@DEV@p1", "--pool", "diskdos");
        await devices.Step(s, "vol-dumpxml", "@DEV@p1", "--pool", "diskdos");
        (await devices.Step(s, "vol-dumpxml", "@DEV@p4", "--pool", "diskdos"))
            .ExpectDifference("an extended partition's <physical> is its node's size now, libvirtd's as when it was made");
        await devices.Step(s, "vol-dumpxml", "@DEV@p5", "--pool", "diskdos");
        await devices.Step(s, "vol-dumpxml", "@DEV@p6", "--pool", "diskdos");
        await devices.Step(s, "pool-info", "diskdos");
        await devices.Step(s, "pool-dumpxml", "diskdos");
        (await devices.Step(s, "vol-resize", "@DEV@p1", "20M", "--pool", "diskdos")).ExpectOracle(1);
        (await devices.Step(s, "vol-wipe", "@DEV@p1", "--pool", "diskdos")).ExpectOracle(0);
        (await devices.Step(s, "pool-refresh", "diskdos")).ExpectOracle(0);
        await devices.Step(s, "vol-list", "diskdos", "--details");
        await devices.Step(s, "pool-info", "diskdos");
        await devices.Step(s, "pool-dumpxml", "diskdos");

        // From here on the sides' tables differ on purpose: libvirtd makes the wrongly named partition
        // (and cannot remove it), and cannot delete a loop device's partition.
        (await devices.Step(s, "vol-create-as", "diskdos", "part7", "20M")).ExpectOracle(1);
        (await devices.Step(s, "vol-delete", "@DEV@p2", "--pool", "diskdos"))
            .ExpectDifference("vol-delete of a loop device's partition: libvirtd 9.0 runs 'parted DEV rm p2' and fails");
        (await devices.Step(s, "pool-destroy", "diskdos")).ExpectOracle(0);
        (await devices.Step(s, "pool-delete", "diskdos")).ExpectOracle(0);
        (await devices.Step(s, "pool-start", "diskdos")).ExpectOracle(1);
        await devices.Step(s, "pool-undefine", "diskdos");
        s.AssertNoDifferences();
    }

    [Fact]
    public async Task Gpt_disk_pool_is_libvirts()
    {
        await using var s = await oracle.NewSandboxAsync();
        await using var devices = await SideDevices.AttachAsync(s);
        await devices.LabelBothAsync("msdos");
        await devices.Step(s, "pool-define-as", "diskgpt", "disk", "--source-dev", "/dev/@DEV@", "--source-format", "gpt", "--target", "/dev");
        (await devices.Step(s, "pool-start", "diskgpt")).ExpectOracle(1);
        (await devices.Step(s, "pool-build", "diskgpt", "--no-overwrite")).ExpectOracle(1);
        (await devices.Step(s, "pool-build", "diskgpt", "--overwrite")).ExpectOracle(0);
        (await devices.Step(s, "pool-start", "diskgpt")).ExpectOracle(0);
        int[] sizes = [10, 20, 30, 10, 10];
        for (var n = 1; n <= sizes.Length; n++)
        {
            (await devices.Step(s, "vol-create-as", "diskgpt", $"@DEV@p{n}", $"{sizes[n - 1]}M")).ExpectOracle(0);
        }

        (await devices.Step(s, "vol-create-as", "diskgpt", "@DEV@p6", "10M", "--format", "extended")).ExpectOracle(0);
        await devices.Step(s, "vol-list", "diskgpt", "--details");
        await devices.Step(s, "vol-info", "@DEV@p2", "--pool", "diskgpt");
        await devices.Step(s, "vol-dumpxml", "@DEV@p2", "--pool", "diskgpt");
        (await devices.Step(s, "vol-dumpxml", "@DEV@p6", "--pool", "diskgpt"))
            .ExpectDifference("a gpt partition asked for as 'extended' is a plain partition: its format reads 'none'");
        await devices.Step(s, "pool-info", "diskgpt");
        await devices.Step(s, "pool-dumpxml", "diskgpt");
        (await devices.Step(s, "pool-refresh", "diskgpt")).ExpectOracle(0);
        await devices.Step(s, "pool-dumpxml", "diskgpt");
        (await devices.Step(s, "vol-delete", "@DEV@p2", "--pool", "diskgpt"))
            .ExpectDifference("vol-delete of a loop device's partition: libvirtd 9.0 runs 'parted DEV rm p2' and fails");
        (await devices.Step(s, "pool-destroy", "diskgpt")).ExpectOracle(0);
        (await devices.Step(s, "pool-build", "diskgpt", "--no-overwrite")).ExpectOracle(1);
        (await devices.Step(s, "pool-delete", "diskgpt")).ExpectOracle(0);
        await devices.Step(s, "pool-undefine", "diskgpt");
        s.AssertNoDifferences();
    }

    /// <summary>
    /// A LUKS partition (libvirt formats it with qemu-img after parted made it) and partitions filled by
    /// vol-upload and vol-clone: the same XML and sizes as libvirtd's, and bytes that read back the same
    /// on both sides (the LUKS one only with the stored passphrase).
    /// </summary>
    [Fact]
    public async Task Luks_uploaded_and_cloned_partitions_are_libvirts()
    {
        const string secret = "6d1c3b9e-4a2f-4c8d-9e7b-2f1a0c3d5e7f";
        const string passphrase = "disk pass";
        await using var scope = await SecretScope.StartAsync(oracle);
        var s = scope.Sandbox;
        await using var devices = await SideDevices.AttachAsync(s);
        var secretXml = s.WriteFile("secret.xml", $"<secret><uuid>{secret}</uuid><usage type='volume'><volume>/dev/diskluks-p1</volume></usage></secret>");
        (await s.StepAsync("secret-define", secretXml)).ExpectOracle(0);
        (await s.StepAsync("secret-set-value", secret, "--base64", Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(passphrase)))).ExpectOracle(0);

        await devices.Step(s, "pool-define-as", "diskluks", "disk", "--source-dev", "/dev/@DEV@", "--source-format", "gpt", "--target", "/dev");
        (await devices.Step(s, "pool-build", "diskluks", "--overwrite")).ExpectOracle(0);
        (await devices.Step(s, "pool-start", "diskluks")).ExpectOracle(0);

        var luks = s.WriteFile("luks.xml", $"<volume><name>@DISK@p1</name><capacity unit='M'>8</capacity><target><encryption format='luks'><secret type='passphrase' uuid='{secret}'/></encryption></target></volume>");
        (await s.StepRetryingOracleAsync(r => r.Stderr.Contains("Unable to get accurate CPU usage", StringComparison.Ordinal), 40, "vol-create", "diskluks", luks)).ExpectOracle(0);
        await devices.Step(s, "vol-dumpxml", "@DEV@p1", "--pool", "diskluks");
        await devices.Step(s, "vol-info", "@DEV@p1", "--pool", "diskluks");

        var data = new byte[3 << 20];
        new Random(11).NextBytes(data.AsSpan(0, 1 << 20));
        new Random(12).NextBytes(data.AsSpan(2 << 20));
        var input = s.WriteBytes("x/data.raw", data);
        (await devices.Step(s, "vol-create-as", "diskluks", "@DEV@p2", "4M")).ExpectOracle(0);
        (await devices.Step(s, "vol-upload", "@DEV@p2", input, "--pool", "diskluks")).ExpectOracle(0);

        // libvirtd refreshes the pool in a thread of its own when an upload's stream closes; a refresh
        // asked for now waits for that one (the pool's lock), so the clone below never races it.
        (await devices.Step(s, "pool-refresh", "diskluks")).ExpectOracle(0);
        (await devices.Step(s, "vol-clone", "@DEV@p2", "@DEV@p3", "--pool", "diskluks")).ExpectOracle(0);
        await devices.Step(s, "vol-dumpxml", "@DEV@p3", "--pool", "diskluks");
        await devices.Step(s, "vol-list", "diskluks", "--details");
        await devices.Step(s, "pool-info", "diskluks");

        // Later creates keep what the LUKS partition was made with; a pool refresh forgets it, as libvirt's.
        await devices.Step(s, "vol-info", "@DEV@p1", "--pool", "diskluks");
        (await devices.Step(s, "pool-refresh", "diskluks")).ExpectOracle(0);
        await devices.Step(s, "vol-dumpxml", "@DEV@p1", "--pool", "diskluks");
        (await devices.Step(s, "vol-download", "@DEV@p3", "@ROOT@/x/back.raw", "--pool", "diskluks")).ExpectOracle(0);

        foreach (var (root, device) in new[] { (s.OracleRoot, devices.Oracle), (s.CliRoot, devices.Cli) })
        {
            var back = await File.ReadAllBytesAsync(Path.Combine(root, "x/back.raw"));
            Assert.Equal(4 << 20, back.Length);
            Assert.True(back.AsSpan(0, data.Length).SequenceEqual(data), $"{device}p3 does not hold what was uploaded to p2");
            Assert.True(back.AsSpan(data.Length).IndexOfAnyExcept((byte)0) < 0, $"{device}p3 is not zero past the data");
            await AssertLuksOpensAsync($"{device}p1", passphrase, expectOk: true);
            await AssertLuksOpensAsync($"{device}p1", "wrong", expectOk: false);
        }

        (await devices.Step(s, "pool-destroy", "diskluks")).ExpectOracle(0);
        await devices.Step(s, "pool-undefine", "diskluks");
        s.AssertNoDifferences();
    }

    /// <summary>qemu-img convert must unlock the LUKS header to read the partition.</summary>
    private static async Task AssertLuksOpensAsync(string device, string passphrase, bool expectOk)
    {
        using var dir = new TempDir("vpluks");
        var secretFile = dir.Sub("pass");
        await File.WriteAllTextAsync(secretFile, passphrase);
        var run = await ChildProcess.RunAsync(
            "qemu-img",
            ["convert", "--object", $"secret,id=s0,file={secretFile}", "--image-opts", $"driver=luks,key-secret=s0,file.filename={device}", "-O", "raw", dir.Sub("plain.raw")],
            timeout: TimeSpan.FromSeconds(120));
        Assert.True(run.ExitCode == 0 == expectOk, $"{device} with '{passphrase}': exit {run.ExitCode}: {run.Stderr}");
        if (!expectOk)
        {
            Assert.Contains("Invalid password, cannot unlock any keyslot", run.Stderr, StringComparison.Ordinal);
        }
    }

    /// <summary>One loop device per side with names of the same length; detached (and their files removed) on dispose.</summary>
    private sealed class SideDevices : IAsyncDisposable
    {
        private readonly TempDir _files = new("vpdisk");
        private readonly List<string> _attached = [];

        public string Oracle { get; private set; } = "";

        public string Cli { get; private set; } = "";

        public static async Task<SideDevices> AttachAsync(DiffSandbox sandbox)
        {
            var devices = new SideDevices();
            try
            {
                devices.Oracle = await devices.AttachOneAsync();
                devices.Cli = await devices.AttachOneAsync();
                while (devices.Cli.Length != devices.Oracle.Length)
                {
                    // loop9 and loop10: take another until the two names line up (the extra stays attached until dispose).
                    devices.Cli = await devices.AttachOneAsync();
                }

                sandbox.NormaliseDevice(Path.GetFileName(devices.Oracle), Path.GetFileName(devices.Cli), "@DISK@");
                return devices;
            }
            catch
            {
                await devices.DisposeAsync();
                throw;
            }
        }

        public Task<DiffSandbox.Step> Step(DiffSandbox sandbox, params string[] args)
            => sandbox.StepAsync(Expand(args, Oracle), Expand(args, Cli));

        public async Task LabelBothAsync(string label)
        {
            foreach (var device in new[] { Oracle, Cli })
            {
                var result = await ChildProcess.RunAsync("parted", [device, "mklabel", "--script", label], timeout: TimeSpan.FromSeconds(60));
                Assert.True(result.ExitCode == 0, $"parted {device} mklabel {label}: {result.Stderr}");
            }
        }

        public async ValueTask DisposeAsync()
        {
            foreach (var device in _attached)
            {
                await ChildProcess.RunAsync("losetup", ["-d", device], timeout: TimeSpan.FromSeconds(60));
            }

            _files.Dispose();
        }

        private static string[] Expand(string[] args, string device)
            => [.. args.Select(a => a.Replace("@DEV@", Path.GetFileName(device), StringComparison.Ordinal))];

        private async Task<string> AttachOneAsync()
        {
            var image = _files.Sub($"{_attached.Count}.img");
            await using (var file = new FileStream(image, FileMode.CreateNew))
            {
                file.SetLength(DeviceBytes);
            }

            var result = await ChildProcess.RunAsync("losetup", ["-P", "-f", "--show", image], timeout: TimeSpan.FromSeconds(60));
            Assert.True(result.ExitCode == 0, $"losetup -P -f --show {image}: {result.Stderr}");
            var device = result.Stdout.Trim();
            _attached.Add(device);
            return device;
        }
    }
}
