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
