using System.Runtime.CompilerServices;
using VirtPool.Core.Errors;
using VirtPool.Core.Model;

namespace VirtPool.Formats.Tests;

/// <summary>
/// qemu-img resize argv. Golden/resize/NAME.txt are libvirtd 9.0's own command lines, taken from its log
/// (vol-resize of a LUKS volume on a dir pool at /tmp/lvl/pool).
/// </summary>
public class QemuImgResizeTests
{
    private static readonly EncryptionDefinition Luks = new()
    {
        Format = EncryptionFormat.Luks,
        Secrets = [new EncryptionSecret { Uuid = Guid.Parse("2ec115d7-3a88-3ceb-bc12-0ac909a6fd87") }],
    };

    private static string Golden(string name, [CallerFilePath] string thisFile = "") =>
        Path.Combine(Path.GetDirectoryName(thisFile)!, "Golden", "resize", name + ".txt");

    [Fact]
    public void Encrypted_resizes_match_libvirts_argv()
    {
        Assert.Equal(
            File.ReadAllLines(Golden("luks-raw-grow")),
            QemuImgResize.BuildArgv("/tmp/lvl/pool/enc.raw", StorageFileFormat.Raw, 16 * 1024 * 1024, false, Luks, new QemuImgEncryption(Luks, "enc.raw_encrypt0", "/run/libvirt/storage/lp.enc.raw.secret.XA75Y3"), "qemu-img"));
        Assert.Equal(
            File.ReadAllLines(Golden("luks-raw-shrink")),
            QemuImgResize.BuildArgv("/tmp/lvl/pool/enc.raw", StorageFileFormat.Raw, 12 * 1024 * 1024, true, Luks, new QemuImgEncryption(Luks, "enc.raw_encrypt0", "/run/libvirt/storage/lp.enc.raw.secret.ZDMIZ3"), "qemu-img"));
    }

    [Fact]
    public void Plain_and_qcow2_shapes()
    {
        Assert.Equal(["qemu-img", "resize", "--shrink", "/p/v.qcow2", "1024"], QemuImgResize.BuildArgv("/p/v.qcow2", StorageFileFormat.Qcow2, 1024, true, null, null, "qemu-img"));
        Assert.Equal(
            ["qemu-img", "resize", "--object", "secret,id=v_encrypt0,file=/s,,1", "--image-opts", "driver=qcow2,encrypt.key-secret=v_encrypt0,file.filename=/p/a,,b.qcow2", "2048"],
            QemuImgResize.BuildArgv("/p/a,b.qcow2", StorageFileFormat.Qcow2, 2048, false, Luks, new QemuImgEncryption(Luks, "v_encrypt0", "/s,1"), "qemu-img"));
    }

    [Fact]
    public void A_luks_volume_without_its_secret_is_refused_as_libvirt_refuses_it()
    {
        // What libvirt 9.0 said for a LUKS volume known only from a refresh (no secret found by its path).
        var ex = Assert.Throws<VirtPoolException>(() => QemuImgResize.BuildArgv("/p/v.img", StorageFileFormat.Raw, 1024, false, Luks with { Secrets = [] }, null, "qemu-img"));
        Assert.Equal((VirErrorCode.XmlError, "XML error: no secret provided for luks encryption"), (ex.Code, ex.Message));
    }
}
