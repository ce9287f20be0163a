using System.Globalization;
using VirtPool.Core.Errors;
using VirtPool.Core.Model;
using VirtPool.Core.Process;

namespace VirtPool.Formats;

/// <summary>libvirt 9.0's storageBackendResizeQemuImg: <c>qemu-img resize</c>, encrypted volumes opened with their key secret.</summary>
public static class QemuImgResize
{
    /// <summary>
    /// <c>QEMUIMG resize [--shrink] PATH BYTES</c>, or for an encrypted volume
    /// <c>QEMUIMG resize [--shrink] --object secret,… --image-opts driver=TYPE,(encrypt.)key-secret=ALIAS,file.filename=PATH BYTES</c>
    /// after libvirt's encryption checks (LUKS with one secret, on raw or qcow2).
    /// </summary>
    public static IReadOnlyList<string> BuildArgv(string path, StorageFileFormat format, ulong capacity, bool shrink, EncryptionDefinition? encryption, QemuImgEncryption? secret, string qemuImgPath)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(qemuImgPath);
        var type = QemuImgCreate.DriverFor(format, encryption is not null);
        if (encryption is not null)
        {
            QemuImgCreate.CheckEncryption(format, type, encryption);
        }

        List<string> argv = [qemuImgPath, "resize"];
        if (shrink)
        {
            argv.Add("--shrink");
        }

        if (secret is null)
        {
            argv.Add(path);
        }
        else
        {
            // storageBackendResizeQemuImgImageOpts
            argv.Add("--object");
            argv.Add(QemuImgCreate.SecretObject(secret));
            argv.Add("--image-opts");
            argv.Add($"driver={type},{QemuImgCreate.EncryptionPrefix(format)}key-secret={secret.SecretAlias},file.filename={QemuImgCreate.EscapeComma(path)}");
        }

        argv.Add(capacity.ToString(CultureInfo.InvariantCulture));
        return argv;
    }

    /// <summary>Runs the resize, failing as virCommandRun reports it.</summary>
    public static Task RunAsync(IProcessRunner runner, IReadOnlyList<string> argv, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(runner);
        ArgumentNullException.ThrowIfNull(argv);
        return QemuImgCreate.RunArgvAsync(runner, argv, ct);
    }
}
