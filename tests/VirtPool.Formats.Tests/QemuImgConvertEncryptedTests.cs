using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using VirtPool.Core.Errors;
using VirtPool.Core.Model;
using VirtPool.Core.Process;

namespace VirtPool.Formats.Tests;

/// <summary>
/// libvirt's two-step create-from when a volume is encrypted. Golden argv files in
/// Golden/convert-encrypted/NAME.{create,convert}.txt are libvirtd 9.0's own, taken from its log
/// (vol-create-from on a dir pool at /tmp/lvl/pool); then the steps run for real.
/// </summary>
public class QemuImgConvertEncryptedTests
{
    private const string Pool = "/tmp/lvl/pool";
    private const ulong MiB = 1024 * 1024;

    private static readonly EncryptionDefinition LuksByUuid = new()
    {
        Format = EncryptionFormat.Luks,
        Secrets = [new EncryptionSecret { Uuid = Guid.Parse("2ec115d7-3a88-3ceb-bc12-0ac909a6fd87") }],
    };

    private static readonly string[] CaseNames = ["raw-to-luks", "luks-to-qcow2"];

    public static TheoryData<string> Names => [.. CaseNames];

    private static (QemuImgConvertRequest Request, QemuImgEncryption? Input) Case(string name) => name switch
    {
        "raw-to-luks" => (
            new QemuImgConvertRequest(
                Output($"{Pool}/encclone.raw", StorageFileFormat.Raw) with
                {
                    Encryption = new QemuImgEncryption(LuksByUuid, "encclone.raw_encrypt0", "/run/libvirt/storage/lp.encclone.raw.secret.OQ79Y3"),
                },
                $"{Pool}/plainsrc.raw",
                StorageFileFormat.Raw),
            null),
        "luks-to-qcow2" => (
            new QemuImgConvertRequest(Output($"{Pool}/decrypted.qcow2", StorageFileFormat.Qcow2), $"{Pool}/encclone.raw", StorageFileFormat.Raw),
            new QemuImgEncryption(LuksByUuid, "encclone.raw_encrypt0", "/run/libvirt/storage/lp.encclone.raw.secret.N253Y3")),
        _ => throw new ArgumentOutOfRangeException(nameof(name)),
    };

    private static QemuImgCreateRequest Output(string path, StorageFileFormat format, ulong capacity = 4 * MiB) =>
        new(path, format, capacity, null, null, null, null, false, false, false, false);

    private static string GoldenDir([CallerFilePath] string thisFile = "") =>
        Path.Combine(Path.GetDirectoryName(thisFile)!, "Golden", "convert-encrypted");

    [Theory]
    [MemberData(nameof(Names))]
    public void Both_steps_match_libvirts_argv(string name)
    {
        var (request, input) = Case(name);
        var (create, convert) = QemuImgConvert.BuildEncryptedArgv(request, input, "qemu-img");
        Assert.Equal(File.ReadAllLines(Path.Combine(GoldenDir(), name + ".create.txt")), create);
        Assert.Equal(File.ReadAllLines(Path.Combine(GoldenDir(), name + ".convert.txt")), convert);
    }

    [Fact]
    public void Every_golden_file_has_a_case()
    {
        var files = Directory.GetFiles(GoldenDir(), "*.txt").Select(f => Path.GetFileName(f)).Order(StringComparer.Ordinal);
        Assert.Equal(files, CaseNames.SelectMany(n => new[] { n + ".convert.txt", n + ".create.txt" }).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Both_sides_encrypted_name_both_secrets_output_first_and_commas_in_paths_are_doubled()
    {
        var request = new QemuImgConvertRequest(
            Output("/p/a,b.qcow2", StorageFileFormat.Qcow2) with { Encryption = new QemuImgEncryption(LuksByUuid, "out_encrypt0", "/s/out") },
            "/p/in.raw",
            StorageFileFormat.Raw);
        var (create, convert) = QemuImgConvert.BuildEncryptedArgv(request, new QemuImgEncryption(LuksByUuid, "in_encrypt0", "/s/i,n"), "qemu-img");
        Assert.Equal(
            ["qemu-img", "create", "-f", "qcow2", "--object", "secret,id=out_encrypt0,file=/s/out", "-o", "encrypt.format=luks,encrypt.key-secret=out_encrypt0,compat=0.10", "/p/a,b.qcow2", "4096K"],
            create);
        Assert.Equal(
            [
                "qemu-img", "convert", "--image-opts", "-n", "--target-image-opts",
                "--object", "secret,id=out_encrypt0,file=/s/out",
                "--object", "secret,id=in_encrypt0,file=/s/i,,n",
                "driver=luks,file.filename=/p/in.raw,key-secret=in_encrypt0",
                "driver=qcow2,file.filename=/p/a,,b.qcow2,encrypt.key-secret=out_encrypt0",
            ],
            convert);
    }

    [Fact]
    public void Libvirts_encryption_refusals_come_first()
    {
        var qcowEncrypted = new QemuImgConvertRequest(
            Output("/p/o.qcow2", StorageFileFormat.Qcow2) with
            {
                Encryption = new QemuImgEncryption(LuksByUuid with { Format = EncryptionFormat.Qcow }, "o_encrypt0", "/s"),
                BackingPath = "/b",
            },
            "/p/in.raw",
            StorageFileFormat.Raw);
        var ex = Assert.Throws<VirtPoolException>(() => QemuImgConvert.BuildEncryptedArgv(qcowEncrypted, null, "qemu-img"));
        Assert.Equal("unsupported configuration: creation of qcow2 encrypted image is not supported", ex.Message);

        var plain = new QemuImgConvertRequest(Output("/p/o.raw", StorageFileFormat.Raw) with { BackingPath = "/b" }, "/p/in.qcow2", StorageFileFormat.Qcow2);
        ex = Assert.Throws<VirtPoolException>(() => QemuImgConvert.BuildEncryptedArgv(plain, new QemuImgEncryption(LuksByUuid with { Format = EncryptionFormat.Qcow }, "i", "/s"), "qemu-img"));
        Assert.Equal("unsupported configuration: encryption format of inputvol must be LUKS", ex.Message);

        // then the plain convert's own checks
        ex = Assert.Throws<VirtPoolException>(() => QemuImgConvert.BuildEncryptedArgv(plain, new QemuImgEncryption(LuksByUuid, "i", "/s"), "qemu-img"));
        Assert.Equal("unsupported configuration: cannot set backing store for raw volume", ex.Message);
    }

    [Fact]
    public async Task Real_qemu_img_encrypts_and_decrypts_the_same_bytes()
    {
        using var dir = new TempDir();
        var plain = Path.Combine(dir.Path, "plain.raw");
        var data = new byte[3 * MiB];
        RandomNumberGenerator.Fill(data.AsSpan(0, 1024 * 1024));
        await File.WriteAllBytesAsync(plain, data);
        var secret = Path.Combine(dir.Path, "pass");
        await File.WriteAllTextAsync(secret, "pass,word");
        var luks = new QemuImgEncryption(LuksByUuid, "enc_encrypt0", secret);

        var encrypted = Path.Combine(dir.Path, "enc.raw");
        await QemuImgConvert.RunEncryptedAsync(
            ProcessRunner.Instance,
            new QemuImgConvertRequest(Output(encrypted, StorageFileFormat.Raw, 3 * MiB) with { Encryption = luks }, plain, StorageFileFormat.Raw),
            null,
            CancellationToken.None);
        var probed = ImageProbe.ProbeFile(encrypted);
        Assert.Equal(("luks", 3 * MiB), (probed.EncryptionFormat, probed.Capacity));
        var stored = await File.ReadAllBytesAsync(encrypted);
        Assert.True(stored.AsSpan().IndexOf(data.AsSpan(0, 4096)) < 0, "the plain data is readable in the encrypted file");

        var back = Path.Combine(dir.Path, "back.qcow2");
        await QemuImgConvert.RunEncryptedAsync(
            ProcessRunner.Instance,
            new QemuImgConvertRequest(Output(back, StorageFileFormat.Qcow2, 3 * MiB), encrypted, StorageFileFormat.Raw),
            luks,
            CancellationToken.None);
        var roundTrip = Path.Combine(dir.Path, "round.raw");
        var result = await ProcessRunner.Instance.RunAsync(["qemu-img", "convert", "-f", "qcow2", "-O", "raw", back, roundTrip], CancellationToken.None);
        Assert.True(result.Succeeded, result.StandardError);
        Assert.Equal(SHA256.HashData(data), SHA256.HashData(await File.ReadAllBytesAsync(roundTrip)));

        // the wrong passphrase: the convert step fails with qemu-img's words, in libvirt's shape
        await File.WriteAllTextAsync(secret, "wrong");
        var ex = await Assert.ThrowsAsync<VirtPoolException>(() => QemuImgConvert.RunEncryptedAsync(
            ProcessRunner.Instance,
            new QemuImgConvertRequest(Output(Path.Combine(dir.Path, "never.qcow2"), StorageFileFormat.Qcow2, 3 * MiB), encrypted, StorageFileFormat.Raw),
            luks,
            CancellationToken.None));
        Assert.StartsWith("internal error: Child process (/usr/bin/qemu-img convert --image-opts -n --target-image-opts", ex.Message, StringComparison.Ordinal);
        Assert.Contains("Invalid password, cannot unlock any keyslot", ex.Message, StringComparison.Ordinal);
    }
}
