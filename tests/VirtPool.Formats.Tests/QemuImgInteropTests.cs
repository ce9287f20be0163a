using VirtPool.Core.Model;

namespace VirtPool.Formats.Tests;

/// <summary>Images made by the real qemu-img, probed natively, compared with libvirt 9.0 and with qemu-img info.</summary>
[Collection(QemuImagesCollection.Name)]
public class QemuImgInteropTests(QemuImages images)
{
    [Theory]
    [MemberData(nameof(QemuImages.Files), MemberType = typeof(QemuImages))]
    public void Probe_matches_libvirt_9_0(string file)
    {
        var sample = QemuImages.Get(file);
        var path = images.PathOf(file);
        var expected = sample.Libvirt;
        var info = ImageProbe.ProbeFile(path);

        Assert.Equal(expected.Format, info.Format);
        Assert.Equal(expected.Capacity ?? (ulong)new FileInfo(path).Length, info.Capacity);
        Assert.Equal(expected.Backing, info.BackingStore);
        Assert.Equal(expected.BackingFormat, info.BackingFormat);
        Assert.Equal(expected.AutoSafe, info.BackingFormatAutoSafe);
        Assert.Equal(expected.Compat, info.Compat);
        Assert.Equal(expected.Cluster, info.ClusterSize);
        Assert.Equal(expected.Encryption, info.EncryptionFormat);
        Assert.Equal(expected.Encryption is not null, info.Encrypted);
        Assert.Equal(expected.Lazy, info.LazyRefcounts);
        Assert.Equal(expected.ExtL2, info.ExtendedL2);
        Assert.False(info.ProbeFailed);
    }

    [Theory]
    [MemberData(nameof(QemuImages.Files), MemberType = typeof(QemuImages))]
    public void Probe_agrees_with_qemu_img_info_except_where_libvirt_differs(string file)
    {
        var sample = QemuImages.Get(file);
        var differs = sample.QemuDiffers.Split(':')[0].Split(' ', StringSplitOptions.RemoveEmptyEntries).ToHashSet(StringComparer.Ordinal);
        var path = images.PathOf(file);
        var q = images.Info(file);
        if (q is null)
        {
            Assert.Contains("unreadable", differs);
            return;
        }

        var info = ImageProbe.ProbeFile(path);

        Assert.Equal(!differs.Contains("format"), QemuFormat(q.Format) == info.Format);
        Assert.Equal(!differs.Contains("capacity"), q.VirtualSize == info.Capacity);
        Assert.Equal(!differs.Contains("backing"), q.BackingFilename == info.BackingStore);
        var qemuBackingFormat = q.BackingFilenameFormat is null ? (StorageFileFormat?)null : Parse(q.BackingFilenameFormat);
        Assert.Equal(!differs.Contains("backing-format"), qemuBackingFormat == info.BackingFormat);

        Assert.Equal(q.Encrypted, info.Encrypted);
        Assert.Equal(q.Encrypted ? EncryptionName(q) : null, info.EncryptionFormat);

        if (info.Format == StorageFileFormat.Qcow2)
        {
            Assert.Equal(q.ClusterSize, info.ClusterSize);
            Assert.Equal(q.LazyRefcounts ?? false, info.LazyRefcounts);
            Assert.Equal(q.ExtendedL2 ?? false, info.ExtendedL2);

            // libvirt leaves a v2 image without compat; the header version still tells.
            Assert.Equal(q.Compat == "0.10" ? null : q.Compat, info.Compat);
            Assert.Equal(q.Compat == "0.10" ? 2U : 3U, info.HeaderVersion);
        }
        else
        {
            Assert.Null(info.ClusterSize);
            Assert.Null(info.Compat);
        }
    }

    [Theory]
    [InlineData("flat.vmdk")]
    [InlineData("tw.vmdk")]
    [InlineData("twb.vmdk")]
    public void Vmdk_descriptor_parser_agrees_with_qemu_img(string file)
    {
        var q = images.Info(file)!;
        Assert.True(VmdkDescriptor.TryParse(File.ReadAllBytes(images.PathOf(file)), out var d));
        Assert.NotNull(d);
        Assert.Equal(q.VirtualSize, d.Capacity);
        Assert.Equal(q.BackingFilename, d.ParentFileNameHint);
        Assert.NotEmpty(d.Extents);
        Assert.All(d.Extents, e => Assert.True(File.Exists(images.PathOf(e)), e));
    }

    [Theory]
    [InlineData("s.vmdk")]
    [InlineData("r.raw")]
    [InlineData("v3.qcow2")]
    public void Vmdk_descriptor_parser_rejects_other_files(string file)
    {
        Assert.False(VmdkDescriptor.TryParse(images.Header(file), out var d));
        Assert.Null(d);
    }

    [Fact]
    public void Probe_of_a_prefix_equals_probe_of_the_file()
    {
        foreach (var sample in QemuImages.All)
        {
            var path = images.PathOf(sample.File);
            Assert.Equal(ImageProbe.ProbeFile(path), ImageProbe.Probe(images.Header(sample.File), (ulong)new FileInfo(path).Length));
        }
    }

    [Fact]
    public void Reading_more_than_libvirt_changes_nothing_for_qemu_made_images()
    {
        foreach (var sample in QemuImages.All)
        {
            var path = images.PathOf(sample.File);
            Assert.Equal(ImageProbe.ProbeFile(path), ImageProbe.ProbeFile(path, ImageProbe.MaxHeaderBytes));
        }
    }

    /// <summary>qemu's format name as a libvirt format; null for those libvirt has no name for (luks, vhdx, parallels).</summary>
    private static StorageFileFormat? QemuFormat(string name) => StorageFileFormatNames.TryParse(name, out var f) ? f : null;

    private static StorageFileFormat Parse(string name)
    {
        Assert.True(StorageFileFormatNames.TryParse(name, out var format), name);
        return format;
    }

    private static string EncryptionName(QemuInfo q) => q.Format == "luks" ? "luks" : q.EncryptFormat switch
    {
        "aes" => "qcow",
        "luks" => "luks",
        _ => q.Format is "qcow" ? "qcow" : throw new InvalidOperationException(q.EncryptFormat),
    };
}
