using VirtPool.Core.Errors;
using VirtPool.Core.Model;
using VirtPool.Core.Process;

namespace VirtPool.Formats;

/// <summary>
/// A vol-create-from / vol-clone done with qemu-img convert: the new volume as for a create, plus the
/// input volume. Encrypted volumes take two steps (<see cref="QemuImgConvert.BuildEncryptedArgv"/>).
/// </summary>
/// <param name="Output">The new volume (its <see cref="QemuImgCreateRequest.Path"/> is the convert target; capacity only matters for preallocation).</param>
/// <param name="InputPath">The input volume's target path.</param>
/// <param name="InputFormat">The input volume's format.</param>
public sealed record QemuImgConvertRequest(QemuImgCreateRequest Output, string InputPath, StorageFileFormat InputFormat)
{
    /// <summary>The input volume is a block device (libvirt reads it as raw whatever its format).</summary>
    public bool InputIsBlockDevice { get; init; }

    /// <summary>The new volume is a block device (libvirt writes it as raw).</summary>
    public bool OutputIsBlockDevice { get; init; }

    /// <summary>The input volume's backing store path, if any; the new volume may only name the same one.</summary>
    public string? InputBackingPath { get; init; }
}

/// <summary>libvirt 9.0's virStorageBackendCreateQemuImgCmdFromVol with an input volume, and running it.</summary>
public static class QemuImgConvert
{
    /// <summary>The argv with "qemu-img" as the program.</summary>
    public static IReadOnlyList<string> BuildArgv(QemuImgConvertRequest request) => BuildArgv(request, QemuImgCreate.QemuImgName);

    /// <summary>
    /// <c>QEMUIMG convert -f INFMT -O OUTFMT [-o OPTIONS] INPATH OUTPATH</c>. The options are the create
    /// options in libvirt's order (preallocation, nocow, compat — 0.10 by default for qcow2 —, cluster_size,
    /// lazy_refcounts, extended_l2) but never backing_fmt: libvirt checks the new volume's backing store and
    /// then drops it (no -b either), and gives no size (qemu-img takes the input's).
    /// </summary>
    /// <remarks>
    /// Errors are libvirt's, in its order (virStorageBackendCreateQemuImgSetInfo, then
    /// storageBackendCreateQemuImgSetBacking, then the options). Not checked here: that the backing store is
    /// readable ("inaccessible backing store volume %s"), the caller's job as for a create.
    /// </remarks>
    public static IReadOnlyList<string> BuildArgv(QemuImgConvertRequest request, string qemuImgPath)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(request.Output);
        ArgumentNullException.ThrowIfNull(request.InputPath);
        ArgumentNullException.ThrowIfNull(qemuImgPath);

        var output = request.Output;
        var (format, _, _) = QemuImgCreate.SetInfo(output, request.OutputIsBlockDevice);
        var inputFormat = InputFormat(request);

        // Checked, then ignored for a convert: no backing_fmt, no -b.
        _ = QemuImgCreate.SetBacking(output, format, request.InputBackingPath);

        // storageBackendCreateQemuImgOpts, with no backing path: the create argv's -o is exactly that.
        var createArgv = QemuImgCreate.BuildArgv(output with { Format = format, BackingPath = null, BackingFormat = null }, qemuImgPath);
        var options = OptionsOf(createArgv);

        var argv = new List<string> { qemuImgPath, "convert", "-f", inputFormat.ToName(), "-O", format.ToName() };
        if (options is not null)
        {
            argv.Add("-o");
            argv.Add(options);
        }

        argv.Add(request.InputPath);
        argv.Add(output.Path);
        return argv;
    }

    /// <summary>
    /// libvirt's two-step convert when either volume is encrypted (VIR_STORAGE_VOL_ENCRYPT_CREATE, then
    /// _CONVERT): the new volume is created empty at its capacity (<see cref="QemuImgCreateRequest.Encryption"/>
    /// of <see cref="QemuImgConvertRequest.Output"/> for an encrypted one), then <c>qemu-img convert -n</c>
    /// writes the input into it, both sides opened with --image-opts and their key secrets.
    /// </summary>
    /// <remarks>
    /// The checks are the plain convert's, with libvirt's encryption checks before them. Unlike libvirt, a
    /// comma in a path inside an --image-opts value is doubled (libvirt passes it as is and qemu-img then
    /// misreads the option).
    /// </remarks>
    public static (IReadOnlyList<string> Create, IReadOnlyList<string> Convert) BuildEncryptedArgv(QemuImgConvertRequest request, QemuImgEncryption? inputEncryption, string qemuImgPath)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(request.Output);
        ArgumentNullException.ThrowIfNull(qemuImgPath);
        var output = request.Output;

        // virStorageBackendCreateQemuImgCmdFromVol's first two checks.
        QemuImgCreate.RefuseQcowEncryption(output);
        if (inputEncryption is not null && inputEncryption.Definition.Format != EncryptionFormat.Luks)
        {
            throw VirtPoolException.Unsupported("encryption format of inputvol must be LUKS");
        }

        _ = BuildArgv(request with { Output = output with { Encryption = null } }, qemuImgPath);
        var (format, _, _) = QemuImgCreate.SetInfo(output, request.OutputIsBlockDevice);
        var create = QemuImgCreate.BuildArgv(output with { Format = format, BackingPath = null, BackingFormat = null }, qemuImgPath);

        var inputFormat = InputFormat(request);
        var convert = new List<string> { qemuImgPath, "convert", "--image-opts", "-n", "--target-image-opts" };
        if (output.Encryption is { } outputEncryption)
        {
            convert.Add("--object");
            convert.Add(QemuImgCreate.SecretObject(outputEncryption));
        }

        if (inputEncryption is not null)
        {
            convert.Add("--object");
            convert.Add(QemuImgCreate.SecretObject(inputEncryption));
        }

        convert.Add(ImageOpts(inputFormat, request.InputPath, inputEncryption));
        convert.Add(ImageOpts(format, output.Path, output.Encryption));
        return (create, convert);
    }

    /// <summary>Runs both steps of <see cref="BuildEncryptedArgv"/>; the caller removes the new volume if either fails.</summary>
    public static async Task RunEncryptedAsync(IProcessRunner runner, QemuImgConvertRequest request, QemuImgEncryption? inputEncryption, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(runner);
        ArgumentNullException.ThrowIfNull(request);
        var (create, convert) = BuildEncryptedArgv(request, inputEncryption, QemuImgCreate.Locate());
        await QemuImgCreate.RunCreateArgvAsync(runner, create, request.Output.Encryption is not null, ct).ConfigureAwait(false);
        await QemuImgCreate.RunArgvAsync(runner, convert, ct).ConfigureAwait(false);
    }

    /// <summary>driver=TYPE,file.filename=PATH[,(encrypt.)key-secret=ALIAS]: a raw LUKS volume is driver luks.</summary>
    private static string ImageOpts(StorageFileFormat format, string path, QemuImgEncryption? encryption)
    {
        var spec = $"driver={QemuImgCreate.DriverFor(format, encryption is not null)},file.filename={QemuImgCreate.EscapeComma(path)}";
        return encryption is null ? spec : $"{spec},{QemuImgCreate.EncryptionPrefix(format)}key-secret={encryption.SecretAlias}";
    }

    /// <summary>Finds qemu-img in PATH and runs the convert, failing as <see cref="QemuImgCreate.RunAsync(IProcessRunner, QemuImgCreateRequest, CancellationToken)"/> does.</summary>
    public static Task RunAsync(IProcessRunner runner, QemuImgConvertRequest request, CancellationToken ct)
        => RunAsync(runner, request, QemuImgCreate.Locate(), ct);

    /// <summary>As <see cref="RunAsync(IProcessRunner, QemuImgConvertRequest, CancellationToken)"/> with a given program path.</summary>
    public static async Task RunAsync(IProcessRunner runner, QemuImgConvertRequest request, string qemuImgPath, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(runner);
        await QemuImgCreate.RunArgvAsync(runner, BuildArgv(request, qemuImgPath), ct).ConfigureAwait(false);
    }

    /// <summary>storageBackendCreateQemuImgSetInput: libvirt reads a block device or an iso volume as raw, whatever its format.</summary>
    private static StorageFileFormat InputFormat(QemuImgConvertRequest request)
        => request.InputIsBlockDevice || request.InputFormat == StorageFileFormat.Iso ? StorageFileFormat.Raw : request.InputFormat;

    /// <summary>The -o value of a create argv without backing store: [prog, create, -f, FMT, (-o, OPTS), PATH, SIZE]: 8 elements with options, 6 without.</summary>
    private static string? OptionsOf(IReadOnlyList<string> createArgv) => createArgv.Count == 8 ? createArgv[5] : null;
}
