using VirtPool.Core.Model;

namespace VirtPool.Formats.Tests;

/// <summary>
/// What libvirt 9.0 showed in vol-dumpxml for a sample (recorded from a libvirtd 9.0.0 dir pool holding
/// the same files). A null <see cref="Capacity"/> means the file's own size. <see cref="BackingFormat"/>
/// is what libvirt reads from the header: null where libvirt probes the backing file instead.
/// </summary>
public sealed record Libvirt(
    StorageFileFormat Format,
    ulong? Capacity,
    string? Backing = null,
    StorageFileFormat? BackingFormat = null,
    string? Compat = null,
    ulong? Cluster = null,
    string? Encryption = null,
    bool Lazy = false,
    bool ExtL2 = false,
    bool AutoSafe = false);

/// <summary>
/// A sample image made by qemu-img. <paramref name="Args"/> are qemu-img create's arguments after the
/// format (null for files qemu-img makes as a side effect). <paramref name="QemuDiffers"/> names the fields
/// where libvirt's answer (and so the probe's) differs from qemu-img info's, with the reason.
/// </summary>
public sealed record Sample(string File, string[]? Args, Libvirt Libvirt, string QemuDiffers = "");

/// <summary>Creates every sample once per test run in a temporary directory.</summary>
public sealed class QemuImages : IAsyncLifetime
{
    private const ulong M = 1024 * 1024;
    private const string Secret = "secret,id=sec0,data=abc123";

    public static readonly Sample[] All =
    [
        new("v2.qcow2", ["-f", "qcow2", "-o", "compat=0.10", "{}", "64M"], new(StorageFileFormat.Qcow2, 64 * M, Cluster: 65536)),
        new("v3.qcow2", ["-f", "qcow2", "{}", "64M"], new(StorageFileFormat.Qcow2, 64 * M, Compat: "1.1", Cluster: 65536)),
        new("v3feat.qcow2", ["-f", "qcow2", "-o", "lazy_refcounts=on,extended_l2=on,cluster_size=128K", "{}", "64M"], new(StorageFileFormat.Qcow2, 64 * M, Compat: "1.1", Cluster: 131072, Lazy: true, ExtL2: true)),
        new("lazy.qcow2", ["-f", "qcow2", "-o", "compat=1.1,lazy_refcounts=on", "{}", "64M"], new(StorageFileFormat.Qcow2, 64 * M, Compat: "1.1", Cluster: 65536, Lazy: true)),
        new("extl2.qcow2", ["-f", "qcow2", "-o", "extended_l2=on,cluster_size=2M", "{}", "1G"], new(StorageFileFormat.Qcow2, 1024 * M, Compat: "1.1", Cluster: 2 * M, ExtL2: true)),
        new("cl4k.qcow2", ["-f", "qcow2", "-o", "cluster_size=4096", "{}", "64M"], new(StorageFileFormat.Qcow2, 64 * M, Compat: "1.1", Cluster: 4096)),
        new("v2-512.qcow2", ["-f", "qcow2", "-o", "compat=0.10,cluster_size=512", "{}", "3M"], new(StorageFileFormat.Qcow2, 3 * M, Cluster: 512)),
        new("ov-fmt.qcow2", ["-f", "qcow2", "-b", "v3.qcow2", "-F", "qcow2", "{}"], new(StorageFileFormat.Qcow2, 64 * M, "v3.qcow2", StorageFileFormat.Qcow2, "1.1", 65536)),
        new("ov2-fmt.qcow2", ["-f", "qcow2", "-o", "compat=0.10", "-b", "v2.qcow2", "-F", "qcow2", "{}", "128M"], new(StorageFileFormat.Qcow2, 128 * M, "v2.qcow2", StorageFileFormat.Qcow2, Cluster: 65536)),
        new("r.raw", ["-f", "raw", "{}", "5M"], new(StorageFileFormat.Raw, 5 * M)),
        new("ov-raw.qcow2", ["-f", "qcow2", "-b", "r.raw", "-F", "raw", "{}"], new(StorageFileFormat.Qcow2, 5 * M, "r.raw", StorageFileFormat.Raw, "1.1", 65536)),
        new("d.vdi", ["-f", "vdi", "{}", "64M"], new(StorageFileFormat.Vdi, 64 * M)),
        new("ov-vdi.qcow2", ["-f", "qcow2", "-b", "d.vdi", "-F", "vdi", "{}", "10M"], new(StorageFileFormat.Qcow2, 10 * M, "d.vdi", StorageFileFormat.Vdi, "1.1", 65536)),
        new("enc.qcow2", ["--object", Secret, "-f", "qcow2", "-o", "encrypt.format=luks,encrypt.key-secret=sec0,encrypt.iter-time=10", "{}", "16M"], new(StorageFileFormat.Qcow2, 16 * M, Compat: "1.1", Cluster: 65536, Encryption: "luks")),
        new("aes.qcow2", ["--object", Secret, "-f", "qcow2", "-o", "encrypt.format=aes,encrypt.key-secret=sec0", "{}", "16M"], new(StorageFileFormat.Qcow2, 16 * M, Compat: "1.1", Cluster: 65536, Encryption: "qcow")),
        new("aes.qcow", ["--object", Secret, "-f", "qcow", "-o", "encrypt.format=aes,encrypt.key-secret=sec0", "{}", "16M"], new(StorageFileFormat.Qcow, 16 * M, Encryption: "qcow")),
        new("q1.qcow", ["-f", "qcow", "{}", "32M"], new(StorageFileFormat.Qcow, 32 * M)),
        new("q1b.qcow", ["-f", "qcow", "-b", "r.raw", "-F", "raw", "{}", "32M"], new(StorageFileFormat.Qcow, 32 * M, "r.raw")),
        new("e.qed", ["-f", "qed", "{}", "48M"], new(StorageFileFormat.Qed, 48 * M)),
        new("eb-raw.qed", ["-f", "qed", "-b", "r.raw", "-F", "raw", "{}"], new(StorageFileFormat.Qed, 5 * M, "r.raw", StorageFileFormat.Raw)),
        // libvirt 9.0 records AUTO_SAFE here and then fails vol-dumpxml on it.
        new("eb-q2.qed", ["-f", "qed", "-b", "v3.qcow2", "-F", "qcow2", "{}"], new(StorageFileFormat.Qed, 64 * M, "v3.qcow2", AutoSafe: true)),
        new("s.vmdk", ["-f", "vmdk", "{}", "100M"], new(StorageFileFormat.Vmdk, 100 * M)),
        new("sb.vmdk", ["-f", "vmdk", "-b", "s.vmdk", "-F", "vmdk", "{}", "100M"], new(StorageFileFormat.Vmdk, 100 * M, "s.vmdk"), "backing-format: libvirt never reads a vmdk backing format"),
        new("so.vmdk", ["-f", "vmdk", "-o", "subformat=streamOptimized", "{}", "10M"], new(StorageFileFormat.Vmdk, 10 * M)),
        new("flat.vmdk", ["-f", "vmdk", "-o", "subformat=monolithicFlat", "{}", "10M"], new(StorageFileFormat.Raw, null), "format capacity: libvirt has no vmdk descriptor probe"),
        new("flat-flat.vmdk", null, new(StorageFileFormat.Raw, 10 * M)),
        new("tw.vmdk", ["-f", "vmdk", "-o", "subformat=twoGbMaxExtentSparse", "{}", "3G"], new(StorageFileFormat.Raw, null), "format capacity: libvirt has no vmdk descriptor probe"),
        new("tw-s001.vmdk", null, new(StorageFileFormat.Vmdk, 2048 * M), "unreadable: qemu-img cannot open an extent on its own"),
        new("tw-s002.vmdk", null, new(StorageFileFormat.Vmdk, 1024 * M), "unreadable: qemu-img cannot open an extent on its own"),
        new("twb.vmdk", ["-f", "vmdk", "-o", "subformat=twoGbMaxExtentSparse", "-b", "s.vmdk", "-F", "vmdk", "{}", "100M"], new(StorageFileFormat.Raw, null), "format capacity backing backing-format: libvirt has no vmdk descriptor probe"),
        new("ds.vdi", ["-f", "vdi", "-o", "static=on", "{}", "8M"], new(StorageFileFormat.Vdi, 8 * M)),
        new("vd.vhd", ["-f", "vpc", "{}", "64M"], new(StorageFileFormat.Vpc, 67125248)),
        // A fixed VHD has its footer only at the end; libvirt and qemu-img both probe offset 0 and see raw.
        new("vf.vhd", ["-f", "vpc", "-o", "subformat=fixed", "{}", "8M"], new(StorageFileFormat.Raw, null)),
        new("x.vhdx", ["-f", "vhdx", "{}", "64M"], new(StorageFileFormat.Raw, null), "format capacity: libvirt has no vhdx probe"),
        // qemu's parallels images carry the "WithouFreSpacExt" magic libvirt calls ploop; vol-info then shows st_size.
        new("p.hds", ["-f", "parallels", "{}", "64M"], new(StorageFileFormat.Ploop, null), "format capacity: libvirt calls parallels ploop and shows a ploop file's size"),
        new("l.luks", ["--object", Secret, "-f", "luks", "-o", "key-secret=sec0,iter-time=10", "{}", "16M"], new(StorageFileFormat.Raw, 16 * M, Encryption: "luks"), "format: libvirt sees raw with luks encryption"),
    ];

    private readonly TempDir _dir = new();
    private readonly Dictionary<string, QemuInfo?> _info = [];

    public string Dir => _dir.Path;

    public string PathOf(string file) => Path.Combine(_dir.Path, file);

    /// <summary>qemu-img info's answer, null for the samples marked "unreadable".</summary>
    public QemuInfo? Info(string file) => _info[file];

    public static TheoryData<string> Files => [.. All.Select(s => s.File)];

    public static Sample Get(string file) => All.Single(s => s.File == file);

    /// <summary>Up to <see cref="ImageProbe.HeaderBytes"/> of each sample's start, for the mutation tests.</summary>
    public byte[] Header(string file)
    {
        using var f = File.OpenRead(PathOf(file));
        var buf = new byte[Math.Min(ImageProbe.HeaderBytes, f.Length)];
        f.ReadExactly(buf);
        return buf;
    }

    public async Task InitializeAsync()
    {
        foreach (var sample in All)
        {
            if (sample.Args is { } args)
            {
                await QemuImg.CreateAsync(Dir, [.. args.Select(a => a == "{}" ? PathOf(sample.File) : a)]);
            }
        }

        foreach (var sample in All)
        {
            _info[sample.File] = sample.QemuDiffers.StartsWith("unreadable", StringComparison.Ordinal) ? null : await QemuImg.InfoAsync(PathOf(sample.File));
        }
    }

    public Task DisposeAsync()
    {
        _dir.Dispose();
        return Task.CompletedTask;
    }
}

[CollectionDefinition(Name)]
public sealed class QemuImagesCollection : ICollectionFixture<QemuImages>
{
    public const string Name = "qemu-img samples";
}
