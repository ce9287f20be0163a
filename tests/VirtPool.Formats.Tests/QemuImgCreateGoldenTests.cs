using VirtPool.Core.Model;

namespace VirtPool.Formats.Tests;

/// <summary>
/// Golden argv files (Golden/NAME.txt, one argv element per line). Every shape here was checked against
/// the command lines libvirt 9.0's storage driver logged for the same volume XML (vol-create / vol-create-as
/// on a dir pool); libvirt's program path (/usr/bin/qemu-img) is written as "qemu-img".
/// </summary>
public class QemuImgCreateGoldenTests
{
    private const string Dir = "/var/lib/libvirt/images";
    private const ulong GiB = 1024 * 1024 * 1024;
    private const ulong MiB = 1024 * 1024;

    private static QemuImgCreateRequest Qcow2(ulong capacity = GiB) =>
        new($"{Dir}/vol.qcow2", StorageFileFormat.Qcow2, capacity, null, null, null, null, false, false, false, false);

    private static QemuImgCreateRequest Plain(StorageFileFormat format, string ext) =>
        new($"{Dir}/vol.{ext}", format, MiB, null, null, null, null, false, false, false, false);

    // Declared before Cases: static fields are initialised in order.
    private static readonly Guid SecretUuid = Guid.Parse("2ec115d7-3a88-3ceb-bc12-0ac909a6fd87");

    private static readonly EncryptionDefinition AesCbc = new()
    {
        Format = EncryptionFormat.Luks,
        Secrets = [new EncryptionSecret { Uuid = SecretUuid }],
        Cipher = new EncryptionCipher { Name = "aes", Size = 256, Mode = "cbc", Hash = "sha256" },
        Ivgen = new EncryptionIvgen { Name = "plain64", Hash = "sha256" },
    };

    public static TheoryData<string> Names => [.. Cases.Keys];

    private static readonly Dictionary<string, QemuImgCreateRequest> Cases = new()
    {
        ["qcow2-default"] = Qcow2(),
        ["qcow2-compat11-lazy-refcounts"] = Qcow2() with { Compat = "1.1", LazyRefcounts = true },
        // <features> without <compat>: libvirt's parser supplies compat 1.1.
        ["qcow2-features-default-compat"] = Qcow2() with { LazyRefcounts = true },
        ["qcow2-extended-l2"] = Qcow2() with { Compat = "1.1", ExtendedL2 = true },
        ["qcow2-cluster-size"] = Qcow2() with { ClusterSize = 128 * 1024 },
        ["qcow2-backing-with-format"] = Qcow2() with { BackingPath = $"{Dir}/base.qcow2", BackingFormat = StorageFileFormat.Qcow2 },
        // No <format> in <backingStore>: the pool's default volume format, raw.
        ["qcow2-backing-without-format"] = Qcow2() with { BackingPath = $"{Dir}/base.img" },
        // Capacity 0 with a backing store: no size argument, qemu-img takes the backing file's.
        ["qcow2-backing-no-capacity"] = Qcow2(0) with { BackingPath = $"{Dir}/base.qcow2", BackingFormat = StorageFileFormat.Qcow2 },
        ["qcow2-backing-relative"] = Qcow2(2 * MiB) with { BackingPath = "base.qcow2", BackingFormat = StorageFileFormat.Qcow2, Compat = "1.1" },
        ["qcow2-prealloc-metadata"] = Qcow2() with { PreallocMetadata = true, Allocation = 0 },
        // No <allocation>: libvirt's parser makes it the capacity, and capacity > allocation fails: falloc.
        ["qcow2-prealloc-no-allocation"] = Qcow2() with { PreallocMetadata = true },
        ["qcow2-nocow"] = Qcow2() with { NoCow = true },
        ["qcow2-everything"] = Qcow2() with
        {
            PreallocMetadata = true,
            Allocation = 0,
            NoCow = true,
            Compat = "1.1",
            ClusterSize = 128 * 1024,
            LazyRefcounts = true,
            ExtendedL2 = true,
        },
        ["qcow2-capacity-rounded-up"] = Qcow2(1000),
        ["qcow2-zero-capacity"] = Qcow2(0),
        ["vmdk"] = Plain(StorageFileFormat.Vmdk, "vmdk"),
        ["vmdk-backing"] = Plain(StorageFileFormat.Vmdk, "vmdk") with { BackingPath = $"{Dir}/base.vmdk", BackingFormat = StorageFileFormat.Vmdk },
        ["vdi"] = Plain(StorageFileFormat.Vdi, "vdi"),
        ["vpc"] = Plain(StorageFileFormat.Vpc, "vpc"),
        ["qed"] = Plain(StorageFileFormat.Qed, "qed"),
        ["qed-backing"] = Plain(StorageFileFormat.Qed, "qed") with { BackingPath = $"{Dir}/base.img", BackingFormat = StorageFileFormat.Raw },
        ["qcow"] = Plain(StorageFileFormat.Qcow, "qcow"),
        ["qcow-backing"] = Plain(StorageFileFormat.Qcow, "qcow") with { BackingPath = $"{Dir}/base.img" },
        ["qcow-nocow"] = Plain(StorageFileFormat.Qcow, "qcow") with { NoCow = true },
        ["iso-as-raw"] = Plain(StorageFileFormat.Iso, "iso"),
        ["space-in-path"] = Qcow2() with { Path = $"{Dir}/my vol.qcow2" },

        // Encrypted creates: libvirt's own argv, logged by libvirtd 9.0 for a dir pool at /tmp/lvl/pool.
        ["luks-raw"] = Encrypted(
            StorageFileFormat.Raw,
            "/tmp/lvl/pool/plain.img",
            new EncryptionDefinition { Format = EncryptionFormat.Luks, Secrets = [new EncryptionSecret { Usage = "/tmp/lvl/pool/x.img" }] },
            "plain.img_encrypt0",
            "/run/libvirt/storage/lp.plain.img.secret.EH2NZ3"),
        ["luks-raw-cipher"] = Encrypted(StorageFileFormat.Raw, "/tmp/lvl/pool/enc.raw", AesCbc, "enc.raw_encrypt0", "/run/libvirt/storage/lp.enc.raw.secret.GYCNZ3"),
        ["luks-qcow2-cipher"] = Encrypted(StorageFileFormat.Qcow2, "/tmp/lvl/pool/enc.qcow2", AesCbc, "enc.qcow2_encrypt0", "/run/libvirt/storage/lp.enc.qcow2.secret.I1HNZ3"),
        // A comma in the secret file's path is doubled (qemu's option syntax); the target path is an argument of its own.
        ["luks-qcow2-options-comma-path"] = Encrypted(
            StorageFileFormat.Qcow2,
            "/tmp/lvl/pool/b,c.qcow2",
            new EncryptionDefinition
            {
                Format = EncryptionFormat.Luks,
                Secrets = [new EncryptionSecret { Uuid = SecretUuid }],
                Cipher = new EncryptionCipher { Name = "twofish", Size = 128 },
            },
            "bc.qcow2_encrypt0",
            "/run/libvirt/storage/lp.b,c.qcow2.secret.3KEHZ3") with { Compat = "1.1", ClusterSize = 128 * 1024, LazyRefcounts = true },
    };

    private static QemuImgCreateRequest Encrypted(StorageFileFormat format, string path, EncryptionDefinition encryption, string alias, string secretPath) =>
        new(path, format, 8 * MiB, null, null, null, null, false, false, false, false)
        {
            Encryption = new QemuImgEncryption(encryption, alias, secretPath),
        };

    [Theory]
    [MemberData(nameof(Names))]
    public void Argv_matches_golden_file(string name)
    {
        var expected = File.ReadAllLines(Path.Combine(AppContext.BaseDirectory, "Golden", name + ".txt"));
        var actual = QemuImgCreate.BuildArgv(Cases[name]);
        Assert.Equal(expected, actual);
    }

    [Fact]
    public void Every_golden_file_has_a_case()
    {
        var files = Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "Golden"), "*.txt")
            .Select(f => Path.GetFileNameWithoutExtension(f))
            .Order(StringComparer.Ordinal);
        Assert.Equal(files, Cases.Keys.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Program_path_is_argv0()
    {
        var argv = QemuImgCreate.BuildArgv(Qcow2(), "/usr/bin/qemu-img");
        Assert.Equal("/usr/bin/qemu-img", argv[0]);
        Assert.Equal(QemuImgCreate.BuildArgv(Qcow2()).Skip(1), argv.Skip(1));
    }
}
