using System.Text;
using VirtPool.Cli.Tests.Support;
using VirtPool.Core.Process;

namespace VirtPool.Cli.Tests.Differential;

/// <summary>
/// Encrypted (LUKS) volumes of a dir pool against virsh + libvirtd 9.0: the passphrase comes from the
/// secret store (by UUID or by volume usage), the refusals before qemu-img runs, and what a created
/// volume shows before and after a pool refresh. The images are then opened with the passphrase.
/// </summary>
[Collection(LibvirtCollection.Name)]
public sealed class EncryptedVolumeDifferentialTests(LibvirtOracle oracle)
{
    private const string Pool = "enc-pool";
    private const string VolumeSecret = "2ec115d7-3a88-3ceb-bc12-0ac909a6fd87";
    private const string EmptySecret = "3b6a6b55-7c3e-4f4e-9d31-0b1f4c9e2a10";
    private const string CephSecret = "5f0e8c1a-2d4b-4e6f-8a9c-1b2d3e4f5a6b";
    private const string Passphrase = "pass,word";

    /// <summary>Name → &lt;target&gt; contents; none of these reaches qemu-img on either side.</summary>
    public static TheoryData<string, string> Refusals() => new()
    {
        { "unknown-uuid", Luks("raw", "uuid='9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d'") },
        { "unknown-usage", Luks("raw", "usage='@ROOT@/p/enc/nobody.img'") },
        { "no-value", Luks("raw", $"uuid='{EmptySecret}'") },
        { "ceph-secret", Luks("raw", $"uuid='{CephSecret}'") },
        { "two-secrets", $"<format type='raw'/><encryption format='luks'><secret type='passphrase' uuid='{VolumeSecret}'/><secret type='passphrase' uuid='{EmptySecret}'/></encryption>" },
        { "no-secret", "<format type='raw'/><encryption format='luks'/>" },
        { "qcow-on-qcow2", $"<format type='qcow2'/><encryption format='qcow'><secret type='passphrase' uuid='{VolumeSecret}'/></encryption>" },
        { "luks-on-vmdk", Luks("vmdk", $"uuid='{VolumeSecret}'") },
        { "luks-on-qed", Luks("qed", $"uuid='{VolumeSecret}'") },
        { "compat-on-raw", Luks("raw", $"uuid='{VolumeSecret}'") + "<compat>1.1</compat>" },
    };

    [Theory]
    [MemberData(nameof(Refusals))]
    public async Task Refused_before_qemu_img_as_libvirt_refuses(string name, string target)
    {
        await using var scope = await StartAsync();
        var s = scope.Sandbox;
        var file = s.WriteFile(name + ".xml", Volume(name + ".img", target));
        (await s.StepAsync("vol-create", Pool, file)).ExpectOracle(1);
        await s.StepAsync("vol-list", Pool, "--details");
        s.AssertNoDifferences();
    }

    [Fact]
    public async Task A_luks_volume_is_made_with_the_stored_passphrase_and_shown_as_libvirt_shows_it()
    {
        await using var scope = await StartAsync();
        var s = scope.Sandbox;
        var raw = s.WriteFile("raw.xml", Volume(
            "enc.raw",
            $"<format type='raw'/><encryption format='luks'><secret type='passphrase' uuid='{VolumeSecret}'/><cipher name='aes' size='256' mode='cbc' hash='sha256'/><ivgen name='plain64' hash='sha256'/></encryption>"));
        var qcow2 = s.WriteFile("qcow2.xml", Volume("enc.qcow2", Luks("qcow2", "usage='@ROOT@/p/enc/enc.qcow2'")));

        foreach (var (file, name) in new[] { (raw, "enc.raw"), (qcow2, "enc.qcow2") })
        {
            // qemu-img 7.2's PBKDF calibration fails at random on this machine (it measures no CPU time);
            // libvirtd reports that, VirtPool tries again: the oracle's command is repeated until it got past it.
            (await s.StepRetryingOracleAsync(CalibrationFailed, 40, "vol-create", Pool, file)).ExpectOracle(0);
            await s.StepAsync("vol-dumpxml", name, "--pool", Pool);
            await s.StepAsync("vol-info", name, "--pool", Pool);
        }

        await s.StepAsync("vol-list", Pool, "--details");

        // qemu-img resize through --image-opts with the key secret; --allocate is refused.
        (await s.StepAsync("vol-resize", "enc.raw", "16M", "--pool", Pool)).ExpectOracle(0);
        await s.StepAsync("vol-info", "enc.raw", "--pool", Pool);
        (await s.StepAsync("vol-resize", "enc.raw", "12M", "--pool", Pool, "--shrink")).ExpectOracle(0);
        await s.StepAsync("vol-resize", "enc.qcow2", "10M", "--pool", Pool, "--allocate");
        await s.StepAsync("vol-info", "enc.raw", "--pool", Pool);

        (await s.StepAsync("pool-refresh", Pool)).ExpectOracle(0);
        foreach (var name in new[] { "enc.raw", "enc.qcow2" })
        {
            await s.StepAsync("vol-dumpxml", name, "--pool", Pool);
            await s.StepAsync("vol-info", name, "--pool", Pool);
        }

        // After the refresh enc.raw has no secret (none is named by its path): libvirt refuses a resize.
        await s.StepAsync("vol-resize", "enc.raw", "14M", "--pool", Pool);
        (await s.StepAsync("vol-resize", "enc.qcow2", "12M", "--pool", Pool)).ExpectOracle(0);
        await s.StepAsync("vol-info", "enc.qcow2", "--pool", Pool);

        // Both sides' images open with the stored passphrase, and only with it.
        foreach (var root in new[] { s.OracleRoot, s.CliRoot })
        {
            await AssertOpensAsync(Path.Combine(root, "p/enc/enc.raw"), "luks", Passphrase, expectOk: true);
            await AssertOpensAsync(Path.Combine(root, "p/enc/enc.qcow2"), "qcow2", Passphrase, expectOk: true);
            await AssertOpensAsync(Path.Combine(root, "p/enc/enc.raw"), "luks", "pass", expectOk: false);
        }

        await s.StepAsync("vol-delete", "enc.raw", "--pool", Pool);
        await s.StepAsync("vol-delete", "enc.qcow2", "--pool", Pool);
        await s.StepAsync("vol-list", Pool);
        s.AssertNoDifferences();
    }

    /// <summary>libvirt's two-step create-from: plain data into a LUKS volume, and out of it into a plain qcow2.</summary>
    [Fact]
    public async Task Create_from_into_and_out_of_a_luks_volume()
    {
        await using var scope = await StartAsync();
        var s = scope.Sandbox;
        var data = new byte[2 * 1024 * 1024];
        new Random(7).NextBytes(data.AsSpan(0, 512 * 1024));
        s.WriteBytes("p/enc/plain.raw", data);
        (await s.StepAsync("pool-refresh", Pool)).ExpectOracle(0);

        // Smaller than its input: the new volume takes the input's capacity (a LUKS volume's unwritten
        // tail would read back as the decryption of zeros).
        var into = s.WriteFile("into.xml", "<volume><name>enc.qcow2</name><capacity unit='M'>1</capacity><target><format type='raw'/><encryption format='luks'><secret type='passphrase' usage='@ROOT@/p/enc/enc.qcow2'/></encryption></target></volume>");
        var outOf = s.WriteFile("outof.xml", "<volume><name>plain.qcow2</name><capacity>0</capacity><target><format type='qcow2'/></target></volume>");
        (await s.StepRetryingOracleAsync(CalibrationFailed, 40, "vol-create-from", Pool, into, "plain.raw", "--inputpool", Pool)).ExpectOracle(0);
        await s.StepAsync("vol-dumpxml", "enc.qcow2", "--pool", Pool);
        (await s.StepAsync("vol-create-from", Pool, outOf, "enc.qcow2", "--inputpool", Pool)).ExpectOracle(0);
        await s.StepAsync("vol-info", "plain.qcow2", "--pool", Pool);
        await s.StepAsync("vol-list", Pool, "--details");

        // A secret of another usage type: refused before anything is made.
        var wrong = s.WriteFile("wrong.xml", Volume("wrong.raw", Luks("raw", $"uuid='{CephSecret}'")));
        await s.StepAsync("vol-create-from", Pool, wrong, "plain.raw", "--inputpool", Pool);
        await s.StepAsync("vol-list", Pool);

        foreach (var root in new[] { s.OracleRoot, s.CliRoot })
        {
            await AssertOpensAsync(Path.Combine(root, "p/enc/enc.qcow2"), "luks", Passphrase, expectOk: true);
            var back = await ProcessRunner.Instance.RunAsync(["qemu-img", "convert", "-O", "raw", Path.Combine(root, "p/enc/plain.qcow2"), Path.Combine(root, "x/back.raw")], CancellationToken.None);
            Assert.True(back.Succeeded, back.StandardError);
            Assert.Equal(data, await File.ReadAllBytesAsync(Path.Combine(root, "x/back.raw")));
        }

        s.AssertNoDifferences();
    }

    private static bool CalibrationFailed(RunResult r) => r.Stderr.Contains("Unable to get accurate CPU usage", StringComparison.Ordinal);

    private async Task<SecretScope> StartAsync()
    {
        var scope = await SecretScope.StartAsync(oracle);
        try
        {
            var s = scope.Sandbox;
            var secrets = new[]
            {
                $"<secret><uuid>{VolumeSecret}</uuid><usage type='volume'><volume>@ROOT@/p/enc/enc.qcow2</volume></usage></secret>",
                $"<secret><uuid>{EmptySecret}</uuid><usage type='volume'><volume>@ROOT@/p/enc/empty.img</volume></usage></secret>",
                $"<secret><uuid>{CephSecret}</uuid><usage type='ceph'><name>client.enc</name></usage></secret>",
            };
            for (var i = 0; i < secrets.Length; i++)
            {
                (await s.StepAsync("secret-define", s.WriteFile($"secret{i}.xml", secrets[i]))).ExpectOracle(0);
            }

            var value = Convert.ToBase64String(Encoding.UTF8.GetBytes(Passphrase));
            (await s.StepAsync("secret-set-value", VolumeSecret, "--base64", value)).ExpectOracle(0);
            (await s.StepAsync("secret-set-value", CephSecret, "--base64", value)).ExpectOracle(0);
            s.MakeDir("p/enc");
            (await s.StepAsync("pool-create-as", Pool, "dir", "--target", "@ROOT@/p/enc")).ExpectOracle(0);
            return scope;
        }
        catch
        {
            await scope.DisposeAsync();
            throw;
        }
    }

    private static string Luks(string format, string secretAttributes) =>
        $"<format type='{format}'/><encryption format='luks'><secret type='passphrase' {secretAttributes}/></encryption>";

    private static string Volume(string name, string target) =>
        $"<volume><name>{name}</name><capacity unit='M'>8</capacity><target>{target}</target></volume>";

    /// <summary>qemu-img convert must unlock the image to read it (info would not).</summary>
    private static async Task AssertOpensAsync(string path, string driver, string passphrase, bool expectOk)
    {
        var dir = Path.Combine(Path.GetTempPath(), "virtpool-luks-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            var secret = Path.Combine(dir, "pass");
            await File.WriteAllTextAsync(secret, passphrase);
            var key = driver == "qcow2" ? "encrypt.key-secret" : "key-secret";
            var run = await ProcessRunner.Instance.RunAsync(
                ["qemu-img", "convert", "--object", $"secret,id=s0,file={secret}", "--image-opts", $"driver={driver},{key}=s0,file.filename={path}", "-O", "raw", Path.Combine(dir, "plain.raw")],
                CancellationToken.None);
            Assert.True(run.Succeeded == expectOk, $"{path} with '{passphrase}': exit {run.ExitCode}: {run.StandardError}");
            if (!expectOk)
            {
                Assert.Contains("Invalid password, cannot unlock any keyslot", run.StandardError, StringComparison.Ordinal);
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
