using System.Buffers;
using System.Globalization;
using System.Text;
using VirtPool.Core.Errors;
using VirtPool.Core.Model;
using VirtPool.Core.Process;

namespace VirtPool.Formats;

/// <summary>
/// A plain (no input volume, unencrypted) qemu-img create of a file volume, as libvirt's volume XML
/// describes it.
/// </summary>
/// <param name="Path">The target path.</param>
/// <param name="Format">The volume format (iso is created as raw, as libvirt does).</param>
/// <param name="Capacity">Bytes; written rounded up to KiB.</param>
/// <param name="BackingPath">The backing store path as given in the XML, or null.</param>
/// <param name="BackingFormat">The backing store's format; null means the XML gave none, which libvirt's parser turns into the pool's default volume format, raw.</param>
/// <param name="Compat">The XML's &lt;compat&gt;; for qcow2 a null compat is written as 0.10, unless a feature is requested (see <see cref="QemuImgCreate.BuildArgv(QemuImgCreateRequest)"/>).</param>
/// <param name="ClusterSize">Bytes, or null/0 for qemu-img's default.</param>
/// <param name="LazyRefcounts">&lt;features&gt;&lt;lazy_refcounts/&gt;.</param>
/// <param name="ExtendedL2">&lt;features&gt;&lt;extended_l2/&gt;.</param>
/// <param name="PreallocMetadata">VIR_STORAGE_VOL_CREATE_PREALLOC_METADATA.</param>
/// <param name="NoCow">&lt;nocow/&gt;.</param>
public sealed record QemuImgCreateRequest(
    string Path,
    StorageFileFormat Format,
    ulong Capacity,
    string? BackingPath,
    StorageFileFormat? BackingFormat,
    string? Compat,
    ulong? ClusterSize,
    bool LazyRefcounts,
    bool ExtendedL2,
    bool PreallocMetadata,
    bool NoCow)
{
    /// <summary>
    /// The volume's allocation in bytes; null means the XML had none, and libvirt's parser then uses the
    /// capacity. Only matters with <see cref="PreallocMetadata"/>: libvirt asks for preallocation=metadata
    /// when the capacity (in KiB, rounded up) exceeds the allocation (likewise), and for
    /// preallocation=falloc otherwise, which is what happens when no allocation was given.
    /// </summary>
    public ulong? Allocation { get; init; }

    /// <summary>The volume's encryption and where qemu-img reads its passphrase; null for a plain image.</summary>
    public QemuImgEncryption? Encryption { get; init; }
}

/// <summary>
/// An encrypted create (libvirt's storageBackendCreateQemuImg with a secret): qemu-img reads the
/// passphrase from <paramref name="SecretPath"/> through a secret object called
/// <paramref name="SecretAlias"/> (libvirt names it VOLUME_encrypt0).
/// </summary>
/// <param name="Definition">The volume's &lt;encryption&gt;.</param>
/// <param name="SecretAlias">The secret object's id.</param>
/// <param name="SecretPath">A file holding the passphrase (no trailing newline is added).</param>
public sealed record QemuImgEncryption(EncryptionDefinition Definition, string SecretAlias, string SecretPath);

/// <summary>
/// libvirt 9.0's virStorageBackendCreateQemuImgCmdFromVol for a plain create, and running it the way
/// virCommandRun reports failures.
/// </summary>
public static class QemuImgCreate
{

    /// <summary>The program name libvirt looks up in PATH.</summary>
    public const string QemuImgName = "qemu-img";

    /// <summary>The argv with "qemu-img" as the program (libvirt puts the absolute path found in PATH there).</summary>
    public static IReadOnlyList<string> BuildArgv(QemuImgCreateRequest request) => BuildArgv(request, QemuImgName);

    /// <summary>
    /// <c>QEMUIMG create -f TYPE [-b BACKING] [-o OPTIONS] PATH [SIZEK]</c>, with options in libvirt's order:
    /// backing_fmt, preallocation, nocow, compat, cluster_size, lazy_refcounts, extended_l2.
    /// </summary>
    /// <remarks>
    /// The size is omitted only when there is a backing store and the capacity is 0 (qemu-img then takes the
    /// backing file's size). libvirt's XML parser sets compat to 1.1 when &lt;features&gt; is present without
    /// &lt;compat&gt;; since the request cannot say "&lt;features/&gt; present", a null <see cref="QemuImgCreateRequest.Compat"/>
    /// with a feature requested is taken as 1.1 here. Configuration errors throw libvirt's errors, in libvirt's order.
    /// Not checked here (the caller's job, as in libvirt's storageBackendCreateQemuImgSetBacking): that the
    /// backing file is readable ("inaccessible backing store volume %s"). libvirt creates unencrypted raw
    /// volumes itself (ftruncate/fallocate), not with qemu-img; iso volumes it creates with "-f raw".
    /// An encrypted volume adds <c>--object secret,id=ALIAS,file=PATH</c> and libvirt's key-secret and cipher
    /// options (encrypt.* for qcow2; a raw volume is created as format luks).
    /// </remarks>
    public static IReadOnlyList<string> BuildArgv(QemuImgCreateRequest request, string qemuImgPath)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(qemuImgPath);

        var enc = request.Encryption;

        RefuseQcowEncryption(request);
        var (format, compat, features) = SetInfo(request, isBlockDevice: false);
        var type = format.ToName();
        if (format == StorageFileFormat.Raw && enc is not null)
        {
            type = enc.Definition.Format == EncryptionFormat.Luks
                ? "luks"
                : throw VirtPoolException.Internal("Only luks encryption is supported for raw files");
        }

        var backingFormat = SetBacking(request, format, inputBackingPath: null);

        if (enc is not null)
        {
            CheckEncryption(format, type, enc.Definition);
        }

        var sizeKiB = DivUp(request.Capacity, 1024);

        // storageBackendCreateQemuImgOpts
        var opts = new List<string>();
        if (backingFormat is { } bf)
        {
            opts.Add("backing_fmt=" + bf.ToName());
        }

        if (enc is not null)
        {
            AddEncryptionOptions(opts, format, enc);
        }

        if (request.PreallocMetadata)
        {
            var allocationKiB = DivUp(request.Allocation ?? request.Capacity, 1024);
            opts.Add(sizeKiB > allocationKiB ? "preallocation=metadata" : "preallocation=falloc");
        }

        if (request.NoCow)
        {
            opts.Add("nocow=on");
        }

        if (compat is not null)
        {
            opts.Add("compat=" + compat);
        }
        else if (format == StorageFileFormat.Qcow2)
        {
            opts.Add("compat=0.10");
        }

        if (request.ClusterSize is > 0 and var clusterSize)
        {
            opts.Add("cluster_size=" + clusterSize.ToString(CultureInfo.InvariantCulture));
        }

        if (features && format == StorageFileFormat.Qcow2)
        {
            if (request.LazyRefcounts)
            {
                if (compat == "0.10")
                {
                    throw VirtPoolException.Unsupported("lazy_refcounts not supported with compat level 0.10");
                }

                opts.Add("lazy_refcounts");
            }

            if (request.ExtendedL2)
            {
                if (compat == "0.10")
                {
                    throw VirtPoolException.Unsupported("'extended_l2' not supported with compat level 0.10");
                }

                opts.Add("extended_l2=on");
            }
        }

        var argv = new List<string> { qemuImgPath, "create", "-f", type };
        if (request.BackingPath is not null)
        {
            argv.Add("-b");
            argv.Add(request.BackingPath);
        }

        if (enc is not null)
        {
            argv.Add("--object");
            argv.Add(SecretObject(enc));
        }

        if (opts.Count > 0)
        {
            argv.Add("-o");
            argv.Add(string.Join(',', opts));
        }

        argv.Add(request.Path);
        if (sizeKiB != 0 || request.BackingPath is null)
        {
            argv.Add(sizeKiB.ToString(CultureInfo.InvariantCulture) + "K");
        }

        return argv;
    }

    /// <summary>virStorageBackendCreateQemuImgCmdFromVol's first check: qemu-img no longer writes qcow's own encryption.</summary>
    internal static void RefuseQcowEncryption(QemuImgCreateRequest request)
    {
        if (request.Encryption?.Definition.Format is EncryptionFormat.Qcow or EncryptionFormat.Default
            && request.Format is StorageFileFormat.Qcow or StorageFileFormat.Qcow2)
        {
            throw VirtPoolException.Unsupported("creation of qcow2 encrypted image is not supported");
        }
    }

    /// <summary>
    /// virStorageBackendCreateQemuImgSetInfo for a create and a convert alike: the format qemu-img writes
    /// (raw for an iso volume and for any volume on a block device), the compat level (1.1 when a feature
    /// is asked for without one, see <see cref="BuildArgv(QemuImgCreateRequest, string)"/>) and whether a
    /// feature is asked for; refuses what only qcow2 can do on another format, in libvirt's order.
    /// </summary>
    internal static (StorageFileFormat Format, string? Compat, bool Features) SetInfo(QemuImgCreateRequest request, bool isBlockDevice)
    {
        var format = isBlockDevice || request.Format == StorageFileFormat.Iso ? StorageFileFormat.Raw : request.Format;
        var features = request.LazyRefcounts || request.ExtendedL2;
        var compat = request.Compat ?? (features ? "1.1" : null);
        if (request.PreallocMetadata && format != StorageFileFormat.Qcow2)
        {
            throw VirtPoolException.Unsupported("metadata preallocation only available with qcow2");
        }

        if (compat is not null && format != StorageFileFormat.Qcow2)
        {
            throw VirtPoolException.Unsupported("compatibility option only available with qcow2");
        }

        if (features && format != StorageFileFormat.Qcow2)
        {
            throw VirtPoolException.Unsupported("format features only available with qcow2");
        }

        return (format, compat, features);
    }

    /// <summary>
    /// storageBackendCreateQemuImgSetBacking: the backing store's format (raw when the XML named none),
    /// or null without a backing store. A convert passes its input's backing path: the new volume may
    /// only name that one.
    /// </summary>
    internal static StorageFileFormat? SetBacking(QemuImgCreateRequest request, StorageFileFormat format, string? inputBackingPath)
    {
        if (request.BackingPath is null)
        {
            return null;
        }

        if (format == StorageFileFormat.Raw)
        {
            throw VirtPoolException.Unsupported("cannot set backing store for raw volume");
        }

        if (request.PreallocMetadata)
        {
            throw VirtPoolException.Unsupported("metadata preallocation conflicts with backing store");
        }

        if (inputBackingPath is not null && inputBackingPath != request.BackingPath)
        {
            throw VirtPoolException.Internal("a different backing store cannot be specified.");
        }

        return request.BackingFormat ?? StorageFileFormat.Raw;
    }

    /// <summary>qemu-img's absolute path from PATH, or libvirt's error when it is missing.</summary>
    internal static string Locate()
        => ExternalTools.Find(QemuImgName)
           ?? throw VirtPoolException.Internal("creation of non-raw file images is not supported without qemu-img.");

    /// <summary>
    /// The secret object's id for a volume: libvirt's VOLUME_encrypt0. qemu only takes ids made of
    /// letters, digits, '-', '.' and '_' that start with a letter; libvirt passes other names as they
    /// are and qemu-img then refuses the create, so those volumes get a neutral id instead.
    /// </summary>
    public static string SecretAliasFor(string volumeName)
    {
        ArgumentNullException.ThrowIfNull(volumeName);
        var wellFormed = volumeName.Length > 0 && char.IsAsciiLetter(volumeName[0])
                         && volumeName.AsSpan().IndexOfAnyExcept(QemuIdCharacters) < 0;
        return (wellFormed ? volumeName : "volume") + "_encrypt0";
    }

    private static readonly SearchValues<char> QemuIdCharacters =
        SearchValues.Create("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._");

    /// <summary>storageBackendCreateQemuImgCheckEncryption: LUKS with exactly one secret, on raw or qcow2 only.</summary>
    internal static void CheckEncryption(StorageFileFormat format, string type, EncryptionDefinition enc)
    {
        if (format is not (StorageFileFormat.Raw or StorageFileFormat.Qcow2))
        {
            throw VirtPoolException.Unsupported($"volume encryption unsupported with format {type}");
        }

        if (enc.Format != EncryptionFormat.Luks)
        {
            throw VirtPoolException.Unsupported($"unsupported volume encryption format {((int)enc.Format).ToString(CultureInfo.InvariantCulture)}");
        }

        if (enc.Secrets.Count != 1)
        {
            throw VirtPoolException.Xml(enc.Secrets.Count > 1 ? "too many secrets for luks encryption" : "no secret provided for luks encryption");
        }
    }

    /// <summary>storageBackendBuildQemuImgEncriptionOpts: the key secret, then the cipher and its IV generator if given.</summary>
    private static void AddEncryptionOptions(List<string> opts, StorageFileFormat format, QemuImgEncryption enc)
    {
        var prefix = EncryptionPrefix(format);
        if (format == StorageFileFormat.Qcow2)
        {
            opts.Add("encrypt.format=luks");
        }

        opts.Add($"{prefix}key-secret={enc.SecretAlias}");
        if (enc.Definition.Cipher is not { } cipher)
        {
            return;
        }

        opts.Add($"{prefix}cipher-alg={EscapeComma(cipher.Name)}-{cipher.Size.ToString(CultureInfo.InvariantCulture)}");
        if (cipher.Mode is { } mode)
        {
            opts.Add($"{prefix}cipher-mode={EscapeComma(mode)}");
        }

        if (cipher.Hash is { } hash)
        {
            opts.Add($"{prefix}hash-alg={EscapeComma(hash)}");
        }

        if (enc.Definition.Ivgen is not { } ivgen)
        {
            return;
        }

        opts.Add($"{prefix}ivgen-alg={EscapeComma(ivgen.Name)}");
        if (ivgen.Hash is { } ivgenHash)
        {
            opts.Add($"{prefix}ivgen-hash-alg={EscapeComma(ivgenHash)}");
        }
    }

    /// <summary>qemu's driver for a volume: a raw volume that is encrypted is a LUKS image.</summary>
    internal static string DriverFor(StorageFileFormat format, bool encrypted)
        => format == StorageFileFormat.Raw && encrypted ? "luks" : format.ToName();

    /// <summary>Where qemu takes the key secret: under encrypt. inside a qcow2 image, at the top of a LUKS one.</summary>
    internal static string EncryptionPrefix(StorageFileFormat format) => format == StorageFileFormat.Qcow2 ? "encrypt." : string.Empty;

    /// <summary>storageBackendCreateQemuImgSecretObject: the --object value that names the passphrase file.</summary>
    internal static string SecretObject(QemuImgEncryption encryption) =>
        $"secret,id={encryption.SecretAlias},file={EscapeComma(encryption.SecretPath)}";

    /// <summary>virQEMUBuildBufferEscapeComma: qemu's option syntax doubles a comma inside a value.</summary>
    internal static string EscapeComma(string value) => value.Replace(",", ",,", StringComparison.Ordinal);

    /// <summary>
    /// Finds qemu-img in PATH and runs the create. Throws libvirt's errors: "creation of non-raw file images
    /// is not supported without qemu-img." when it is missing, virCommandRun's "Child process (...) unexpected
    /// exit status N: STDERR" when it fails. Fixing the new file's owner and mode is the caller's job.
    /// </summary>
    public static Task RunAsync(IProcessRunner runner, QemuImgCreateRequest request, CancellationToken ct)
    {
        return RunAsync(runner, request, Locate(), ct);
    }

    /// <summary>As <see cref="RunAsync(IProcessRunner, QemuImgCreateRequest, CancellationToken)"/> with a given program path.</summary>
    public static async Task RunAsync(IProcessRunner runner, QemuImgCreateRequest request, string qemuImgPath, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(runner);
        var argv = BuildArgv(request, qemuImgPath);
        await RunCreateArgvAsync(runner, argv, request.Encryption is not null, ct).ConfigureAwait(false);
    }

    /// <summary>Runs a qemu-img argv, failing as virCommandRun reports it.</summary>
    internal static Task RunArgvAsync(IProcessRunner runner, IReadOnlyList<string> argv, CancellationToken ct)
        => RunCreateArgvAsync(runner, argv, encrypted: false, ct);

    /// <summary>Runs a create argv; an encrypted one again while only qemu-img's PBKDF calibration failed.</summary>
    internal static async Task RunCreateArgvAsync(IProcessRunner runner, IReadOnlyList<string> argv, bool encrypted, CancellationToken ct)
    {
        for (var attempt = 1; ; attempt++)
        {
            var result = await runner.RunAsync(argv, ct).ConfigureAwait(false);
            if (result.Succeeded)
            {
                return;
            }

            if (!encrypted || attempt >= PbkdfCalibrationAttempts
                || !result.StandardError.Contains(PbkdfCalibrationFailure, StringComparison.Ordinal))
            {
                throw ChildProcessErrors.UnexpectedExit(argv, result);
            }
        }
    }

    /// <summary>
    /// qemu-img's error when its PBKDF calibration measured no CPU time: its first round of key
    /// derivation can take less than one accounting tick on a fast CPU, and then the create fails at
    /// random (more often than not on the machine this was written on; libvirt just reports it).
    /// </summary>
    public const string PbkdfCalibrationFailure = "Unable to get accurate CPU usage";

    /// <summary>
    /// How often an encrypted create is tried when only the calibration failed. Such a failure costs a
    /// few milliseconds and leaves the (reserved, truncated) target as it was.
    /// </summary>
    public const int PbkdfCalibrationAttempts = 40;

    private static ulong DivUp(ulong value, ulong divisor) => (value / divisor) + (value % divisor == 0 ? 0UL : 1UL);
}
