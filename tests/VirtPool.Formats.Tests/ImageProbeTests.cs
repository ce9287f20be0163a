using System.Buffers.Binary;
using System.Text;
using VirtPool.Core.Errors;
using VirtPool.Core.Model;

namespace VirtPool.Formats.Tests;

/// <summary>
/// Hand-built headers. Where a comment says "libvirt 9.0 showed", the same bytes were put in a libvirtd
/// 9.0.0 dir pool and the value is what vol-dumpxml printed.
/// </summary>
public class ImageProbeTests
{
    private const ulong FileSize = 10_000_000;

    private static ImageInfo Probe(byte[] header, ulong fileSize = FileSize) => ImageProbe.Probe(header, fileSize);

    [Fact]
    public void Empty_and_unknown_headers_are_raw_with_the_file_size()
    {
        Assert.Equal(new ImageInfo { Format = StorageFileFormat.Raw, Capacity = 123 }, ImageProbe.Probe([], 123));
        Assert.Equal(new ImageInfo { Format = StorageFileFormat.Raw, Capacity = FileSize }, Probe(new byte[4096]));
    }

    [Fact]
    public void Qcow2_v3_header()
    {
        var info = Probe(Headers.Qcow2(size: 5_000_000_000, clusterBits: 21, compatible: 1, incompatible: 1 << 4));
        Assert.Equal(
            new ImageInfo { Format = StorageFileFormat.Qcow2, Capacity = 5_000_000_000, Compat = "1.1", LazyRefcounts = true, ExtendedL2 = true, ClusterSize = 2 * 1024 * 1024, HeaderVersion = 3 },
            info);
    }

    [Fact]
    public void Qcow2_v2_header_has_no_compat_and_no_features()
    {
        // Feature words do not exist in v2; whatever sits there is not read.
        var h = Headers.Qcow2(version: 2);
        BinaryPrimitives.WriteUInt64BigEndian(h.AsSpan(80), ulong.MaxValue);
        var info = Probe(h);
        Assert.Equal((StorageFileFormat.Qcow2, (string?)null, false, 2U), (info.Format, info.Compat, info.LazyRefcounts, info.HeaderVersion));
    }

    [Theory]
    [InlineData("qcow2", StorageFileFormat.Qcow2)]
    [InlineData("raw", StorageFileFormat.Raw)]
    [InlineData("vdi", StorageFileFormat.Vdi)]
    [InlineData("vmdk", StorageFileFormat.Vmdk)]
    public void Qcow2_backing_format_extension(string name, StorageFileFormat format)
    {
        var info = Probe(Headers.Qcow2(backing: "/images/base", backingFormat: name));
        Assert.Equal(("/images/base", (StorageFileFormat?)format, "1.1"), (info.BackingStore, info.BackingFormat, info.Compat));
    }

    [Fact]
    public void Qcow2_backing_without_extension_is_left_to_probing()
    {
        var info = Probe(Headers.Qcow2(version: 2, backing: "base.img"));
        Assert.Equal(("base.img", (StorageFileFormat?)null), (info.BackingStore, info.BackingFormat));
    }

    [Fact]
    public void Qcow2_unknown_backing_format_keeps_the_name_but_stops_before_features()
    {
        // libvirt 9.0 showed: capacity, clusterSize, backing path, no <compat>, no <features>.
        var info = Probe(Headers.Qcow2(backing: "base.img", backingFormat: "luks", compatible: 1));
        Assert.Equal(
            new ImageInfo { Format = StorageFileFormat.Qcow2, Capacity = 64 * 1024 * 1024, BackingStore = "base.img", ClusterSize = 65536, HeaderVersion = 3 },
            info);
    }

    [Fact]
    public void Qcow2_backing_format_none_is_recorded_as_none()
    {
        // libvirt 9.0 showed <backingStore>...<format type='none'/> and no <compat>.
        var info = Probe(Headers.Qcow2(backing: "base.img", backingFormat: "none"));
        Assert.Equal(("base.img", (StorageFileFormat?)StorageFileFormat.None, (string?)null), (info.BackingStore, info.BackingFormat, info.Compat));
    }

    [Fact]
    public void Qcow2_extension_walk_skips_unknown_extensions_and_stops_at_the_end_marker()
    {
        var h = Headers.Qcow2(backing: "b", backingFormat: "qcow2", extraExtensions: [(0x6803f857, new byte[24]), (0x12345678, Encoding.ASCII.GetBytes("qcow2..."))]);
        Assert.Equal(StorageFileFormat.Qcow2, Probe(h).BackingFormat);

        // libvirt steps over an extension by its length without qcow2's padding to 8 bytes, so after an
        // extension of odd length it reads from the wrong place and misses what follows (libvirt 9.0 then
        // probed the backing file; with the unknown extension 8 bytes long it showed qcow2).
        var odd = Headers.Qcow2(backing: "b", backingFormat: "qcow2", extraExtensions: [(0x12345678, Encoding.ASCII.GetBytes("qcow2"))]);
        Assert.Null(Probe(odd).BackingFormat);

        // A backing-format extension after the end marker is never seen.
        var early = Headers.Qcow2(backing: "b", extraExtensions: [(0, []), (Headers.BackingFormatExtension, Encoding.ASCII.GetBytes("vdi"))]);
        Assert.Null(Probe(early).BackingFormat);

        // The last backing-format extension wins (the first one here is NUL-padded to 8 bytes in its length).
        var twice = Headers.Qcow2(backing: "b", backingFormat: "vdi", extraExtensions: [(Headers.BackingFormatExtension, "raw\0\0\0\0\0"u8.ToArray())]);
        Assert.Equal(StorageFileFormat.Vdi, Probe(twice).BackingFormat);
    }

    [Fact]
    public void Qcow2_extension_with_a_length_past_the_buffer_ends_the_walk()
    {
        var h = Headers.Qcow2(backing: "b", backingFormat: "qcow2");
        BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(104 + 4), uint.MaxValue);
        var info = Probe(h);
        Assert.Equal(("b", (StorageFileFormat?)null, "1.1"), (info.BackingStore, info.BackingFormat, info.Compat));
    }

    [Fact]
    public void Qcow2_header_length_past_the_buffer_means_no_extensions()
    {
        var h = Headers.Qcow2(backing: "b", backingFormat: "qcow2");
        BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(100), uint.MaxValue);
        Assert.Null(Probe(h).BackingFormat);
    }

    [Fact]
    public void Qcow2_backing_offset_below_8_wraps_the_extension_bound_like_libvirt()
    {
        // extension_end - 8 wraps in size_t: the walk is bounded by the buffer alone and finds the extension.
        var h = Headers.Qcow2(backing: "b", backingFormat: "vmdk");
        Headers.SetBacking(h, 4, 4);
        var info = Probe(h);
        // The "name" is the version field 00 00 00 03: empty up to its first NUL.
        Assert.Equal((string.Empty, (StorageFileFormat?)StorageFileFormat.Vmdk), (info.BackingStore, info.BackingFormat));
    }

    [Theory]
    [InlineData(ulong.MaxValue, 8u)]
    [InlineData(0x9000UL, 8u)] // beyond the 0x8200 bytes libvirt reads
    [InlineData(200UL, 1024u)] // names of 1024+ bytes are refused
    [InlineData(200UL, uint.MaxValue)]
    [InlineData(4090UL, 100u)] // runs past the buffer
    public void Qcow2_backing_outside_the_header_is_dropped_and_features_not_read(ulong offset, uint size)
    {
        // libvirt 9.0 showed, for offsets past 0x8200 and for 1024-byte names: no backing store, no <compat>.
        var h = Headers.Qcow2(compatible: 1);
        Headers.SetBacking(h, offset, size);
        var info = Probe(h);
        Assert.Equal(
            new ImageInfo { Format = StorageFileFormat.Qcow2, Capacity = 64 * 1024 * 1024, ClusterSize = 65536, HeaderVersion = 3 },
            info);
    }

    [Fact]
    public void Qcow2_backing_offset_zero_or_size_zero_means_no_backing()
    {
        var h = Headers.Qcow2();
        Headers.SetBacking(h, 0, 20);
        Assert.Equal("1.1", Probe(h).Compat);
        Headers.SetBacking(h, 200, 0);
        Assert.Equal((null, "1.1"), (Probe(h).BackingStore, Probe(h).Compat));
    }

    [Fact]
    public void Qcow2_backing_name_stops_at_nul_and_may_be_empty()
    {
        var h = Headers.Qcow2(backing: "abc\0def");
        Assert.Equal("abc", Probe(h).BackingStore);
        var e = Headers.Qcow2(backing: "\0\0\0");
        Assert.Equal(string.Empty, Probe(e).BackingStore);
    }

    [Fact]
    public void Qcow2_backing_found_past_libvirts_header_only_when_more_is_read()
    {
        var h = new byte[0x9100];
        Headers.Qcow2().CopyTo(h, 0);
        Headers.SetBacking(h, 0x9000, 8);
        "far.img\0"u8.CopyTo(h.AsSpan(0x9000));
        Assert.Null(Probe(h[..ImageProbe.HeaderBytes]).BackingStore);
        Assert.Equal("far.img", Probe(h).BackingStore);
    }

    [Theory]
    [InlineData(1u, "qcow")]
    [InlineData(2u, "luks")]
    public void Qcow2_encryption(uint method, string name)
    {
        var info = Probe(Headers.Qcow2(cryptMethod: method));
        Assert.Equal((true, name, 64UL * 1024 * 1024), (info.Encrypted, info.EncryptionFormat, info.Capacity));
        Assert.False(Probe(Headers.Qcow2(cryptMethod: 3)).Encrypted);
    }

    [Theory]
    [InlineData(0, null)]
    [InlineData(-1, null)]
    [InlineData(9, 512UL)]
    [InlineData(63, 1UL << 63)]
    [InlineData(70, 64UL)] // libvirt 9.0 showed 64: 1ULL << 70 masks the count on x86-64
    public void Qcow2_cluster_size(int bits, ulong? size)
    {
        Assert.Equal(size, Probe(Headers.Qcow2(clusterBits: bits)).ClusterSize);
    }

    [Fact]
    public void Qcow2_zero_size_reports_the_file_size()
    {
        // libvirt 9.0 showed the file size.
        Assert.Equal(FileSize, Probe(Headers.Qcow2(size: 0)).Capacity);
    }

    [Fact]
    public void Qcow2_v3_shorter_than_100_bytes_fails_like_libvirt()
    {
        // libvirt 9.0: the pool refresh fails, "An error occurred, but the cause is unknown".
        var info = Probe(Headers.Qcow2()[..64]);
        Assert.True(info.ProbeFailed);
        Assert.Equal((StorageFileFormat.Qcow2, 64UL * 1024 * 1024), (info.Format, info.Capacity));

        // 100 bytes are enough (libvirt 9.0 showed compat 1.1).
        var ok = Probe(Headers.Qcow2()[..100]);
        Assert.Equal((false, "1.1"), (ok.ProbeFailed, ok.Compat));

        // Shorter than the size field: libvirt stops before getting that far, so no failure.
        Assert.False(Probe(Headers.Qcow2()[..31]).ProbeFailed);
        Assert.Equal(FileSize, Probe(Headers.Qcow2()[..31]).Capacity);
    }

    [Theory]
    [InlineData(0u)]
    [InlineData(4u)]
    [InlineData(0x01000000u)]
    public void QFI_magic_with_an_unknown_version_is_raw(uint version)
    {
        // libvirt 9.0 showed raw with the file size for version 4.
        var h = Headers.Qcow2();
        BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(4), version);
        Assert.Equal(new ImageInfo { Format = StorageFileFormat.Raw, Capacity = FileSize }, Probe(h));
    }

    [Fact]
    public void Qcow1_header()
    {
        var info = Probe(Headers.Qcow1(32 * 1024 * 1024, "base.raw", crypt: 1));
        Assert.Equal(
            new ImageInfo { Format = StorageFileFormat.Qcow, Capacity = 32 * 1024 * 1024, BackingStore = "base.raw", Encrypted = true, EncryptionFormat = "qcow", HeaderVersion = 1 },
            info);
    }

    [Fact]
    public void Qed_backing_formats()
    {
        Assert.Equal(new ImageInfo { Format = StorageFileFormat.Qed, Capacity = 48 }, Probe(Headers.Qed(48)));
        var raw = Probe(Headers.Qed(48, "base.raw", features: 1 | 4));
        Assert.Equal(("base.raw", (StorageFileFormat?)StorageFileFormat.Raw, false), (raw.BackingStore, raw.BackingFormat, raw.BackingFormatAutoSafe));
        var probe = Probe(Headers.Qed(48, "base.qcow2", features: 1));
        Assert.Equal(("base.qcow2", (StorageFileFormat?)null, true), (probe.BackingStore, probe.BackingFormat, probe.BackingFormatAutoSafe));

        // The backing name is ignored without the feature bit.
        Assert.Null(Probe(Headers.Qed(48, "base.qcow2", features: 0)).BackingStore);
    }

    [Fact]
    public void Qed_backing_outside_the_header_is_dropped()
    {
        var h = Headers.Qed(48, "x", features: 1);
        BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(56), uint.MaxValue);
        Assert.Equal(new ImageInfo { Format = StorageFileFormat.Qed, Capacity = 48 }, Probe(h));
        BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(56), 4000);
        BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(60), 200);
        Assert.Null(Probe(h).BackingStore);
    }

    [Fact]
    public void Vmdk_sparse_header_and_parent_hint()
    {
        const string desc = "# Disk DescriptorFile\nversion=1\nparentFileNameHint=\"base.vmdk\"\ncreateType=\"monolithicSparse\"\n";
        var info = Probe(Headers.Vmdk(2048, desc));
        Assert.Equal(new ImageInfo { Format = StorageFileFormat.Vmdk, Capacity = 2048 * 512, BackingStore = "base.vmdk", HeaderVersion = 1 }, info);

        Assert.Null(Probe(Headers.Vmdk(2048, "parentFileNameHint=\"\"\n")).BackingStore);
        Assert.Null(Probe(Headers.Vmdk(2048, "parentFileNameHint=\"unterminated")).BackingStore);
        Assert.Null(Probe(Headers.Vmdk(2048, "x\0parentFileNameHint=\"after-nul\"")).BackingStore);
        Assert.Equal(new ImageInfo { Format = StorageFileFormat.Vmdk, Capacity = 2048 * 512, HeaderVersion = 1 }, Probe(Headers.Vmdk(2048, length: 0x200)));
        Assert.Equal(StorageFileFormat.Raw, Probe(Headers.Vmdk(2048, version: 4)).Format);
    }

    [Fact]
    public void Vmdk_capacity_that_would_overflow_keeps_the_sector_count()
    {
        // libvirt 9.0 showed 72057594037927936 for a capacity field of 2^56 sectors.
        Assert.Equal(1UL << 56, Probe(Headers.Vmdk(1UL << 56)).Capacity);
        Assert.Equal(((1UL << 55) - 1) * 512, Probe(Headers.Vmdk((1UL << 55) - 1)).Capacity);
    }

    [Fact]
    public void Vmdk_descriptor_file_is_raw_in_libvirt()
    {
        var text = "# Disk DescriptorFile\nversion=1\nCID=1\nparentCID=ffffffff\ncreateType=\"monolithicFlat\"\nparentFileNameHint=\"p.vmdk\"\n\n# Extent description\nRW 204800 FLAT \"a-flat.vmdk\" 0\nRDONLY 100 SPARSE \"b.vmdk\"\n"u8.ToArray();
        Assert.Equal(new ImageInfo { Format = StorageFileFormat.Raw, Capacity = (ulong)text.Length }, ImageProbe.Probe(text, (ulong)text.Length));
        Assert.True(VmdkDescriptor.TryParse(text, out var d));
        Assert.Equal(new VmdkDescriptor("monolithicFlat", "p.vmdk", (204800 + 100) * 512UL, ["a-flat.vmdk", "b.vmdk"]) with { Extents = d!.Extents }, d);
        Assert.Equal(["a-flat.vmdk", "b.vmdk"], d.Extents);
    }

    [Fact]
    public void Iso_is_found_at_32769_and_beats_other_magics()
    {
        // libvirt 9.0 showed iso with the file size for both.
        Assert.Equal(new ImageInfo { Format = StorageFileFormat.Iso, Capacity = FileSize }, Probe(Headers.Iso()));
        var both = Headers.Iso();
        Headers.Qcow2(length: 512).CopyTo(both, 0);
        Assert.Equal(StorageFileFormat.Iso, Probe(both).Format);
        Assert.Equal(StorageFileFormat.Raw, Probe(Headers.Iso()[..32773]).Format);
    }

    [Fact]
    public void Cow_header()
    {
        // libvirt 9.0 showed cow, 12345678 and backing base.img.
        Assert.Equal(
            new ImageInfo { Format = StorageFileFormat.Cow, Capacity = 12345678, BackingStore = "base.img", HeaderVersion = 2 },
            Probe(Headers.Cow(12345678, "base.img")));
        Assert.Null(Probe(Headers.Cow(1, null)).BackingStore);
        var full = Headers.Cow(1, new string('x', 1100));
        BinaryPrimitives.WriteUInt64BigEndian(full.AsSpan(1036), 1);
        Assert.Equal(new string('x', 1024), Probe(full).BackingStore);
    }

    [Fact]
    public void Vdi_and_vpc_headers()
    {
        Assert.Equal(new ImageInfo { Format = StorageFileFormat.Vdi, Capacity = 1 << 30, HeaderVersion = 0x00010001 }, Probe(Headers.Vdi(1 << 30)));

        // libvirt reads the original size (offset 40), not the current size (48).
        Assert.Equal(new ImageInfo { Format = StorageFileFormat.Vpc, Capacity = 111, HeaderVersion = 0x10000 }, Probe(Headers.Vpc(111, 222)));

        // libvirt 9.0 showed raw for a version it does not know.
        Assert.Equal(StorageFileFormat.Raw, Probe(Headers.Vpc(111, 222, version: 0x20000)).Format);
    }

    [Fact]
    public void Ploop_shows_the_file_size()
    {
        Assert.Equal(new ImageInfo { Format = StorageFileFormat.Ploop, Capacity = FileSize }, Probe(Headers.Ploop(131072)));
    }

    [Fact]
    public void Luks_on_raw_subtracts_the_payload()
    {
        Assert.Equal(
            new ImageInfo { Format = StorageFileFormat.Raw, Capacity = FileSize - (4040 * 512), Encrypted = true, EncryptionFormat = "luks" },
            Probe(Headers.Luks(4040)));

        // LUKS2 is not known to libvirt 9.0 (it showed raw, unencrypted).
        Assert.False(Probe(Headers.Luks(4040, version: 2)).Encrypted);

        // Too short to hold the payload offset: libvirt reads past its buffer here; no offset is applied.
        Assert.Equal((true, 8UL), (Probe(Headers.Luks(0, length: 8), 8).Encrypted, Probe(Headers.Luks(0, length: 8), 8).Capacity));

        // Absurd offsets wrap as libvirt's int arithmetic does.
        Assert.Equal(unchecked(FileSize - (ulong)(long)(0x7fffffff * 512)), Probe(Headers.Luks(0x7fffffff)).Capacity);
        Assert.Equal(FileSize, Probe(Headers.Luks(uint.MaxValue)).Capacity);
    }

    [Fact]
    public void ProbeFile_reports_io_errors_as_system_errors()
    {
        using var dir = new TempDir();
        var missing = Path.Combine(dir.Path, "missing");
        var ex = Assert.Throws<VirtPoolException>(() => ImageProbe.ProbeFile(missing));
        Assert.Equal(VirErrorCode.SystemError, ex.Code);
        Assert.Equal($"Failed to open file '{missing}': No such file or directory", ex.Message);
    }

    [Fact]
    public void ProbeFile_of_a_directory_is_dir()
    {
        // libvirt 9.0 showed capacity 0 for a directory, and ploop with capacity 0 for a ploop directory.
        using var dir = new TempDir();
        File.WriteAllBytes(Path.Combine(dir.Path, "junk"), new byte[5000]);
        Assert.Equal(new ImageInfo { Format = StorageFileFormat.Dir, Capacity = 0 }, ImageProbe.ProbeFile(dir.Path));

        File.WriteAllBytes(Path.Combine(dir.Path, "root.hds"), Headers.Ploop(131072));
        Assert.Equal(StorageFileFormat.Dir, ImageProbe.ProbeFile(dir.Path).Format);
        File.WriteAllText(Path.Combine(dir.Path, "DiskDescriptor.xml"), "<Parallels_disk_image/>");
        Assert.Equal(new ImageInfo { Format = StorageFileFormat.Ploop, Capacity = 0 }, ImageProbe.ProbeFile(dir.Path));
    }

    [Fact]
    public void ProbeFile_of_short_and_empty_files()
    {
        using var dir = new TempDir();
        var empty = Path.Combine(dir.Path, "empty");
        File.WriteAllBytes(empty, []);
        Assert.Equal(new ImageInfo { Format = StorageFileFormat.Raw, Capacity = 0 }, ImageProbe.ProbeFile(empty));

        var iso = Path.Combine(dir.Path, "min.iso");
        File.WriteAllBytes(iso, Headers.Iso());
        Assert.Equal(new ImageInfo { Format = StorageFileFormat.Iso, Capacity = 64 * 1024 }, ImageProbe.ProbeFile(iso));
    }

    [Fact]
    public void ProbeFile_limits_are_checked()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => ImageProbe.ProbeFile("/dev/null", ImageProbe.MaxHeaderBytes + 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => ImageProbe.ProbeFile("/dev/null", -1));
        Assert.Equal(StorageFileFormat.Raw, ImageProbe.ProbeFile("/dev/null").Format);
    }
}
