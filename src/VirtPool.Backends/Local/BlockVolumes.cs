using VirtPool.Core.Backends;
using VirtPool.Core.Errors;
using VirtPool.Core.Interop;
using VirtPool.Core.Model;
using VirtPool.Core.Process;
using VirtPool.Formats;

namespace VirtPool.Backends.Local;

/// <summary>
/// What every pool type whose volumes are block devices (disk partitions, LVs, zvols) does the same way
/// once its own tool (parted, lvcreate, zfs) has made or found the device, as libvirt's storage_util.c
/// serves its disk and logical backends: sizes, owner and mode on the node, LUKS formatting, clones into
/// the device, and the data operations (<see cref="LocalVolumeData"/>, shared with file volumes).
/// </summary>
public sealed class BlockVolumes(IProcessRunner runner)
{
    /// <summary>The room libvirt gives an encrypted partition or LV beyond its capacity, for the LUKS header.</summary>
    public const ulong LuksHeaderRoom = 2UL << 20;

    /// <summary>An encrypted volume's device size: its capacity and the header's room; a size no device can have is refused.</summary>
    public static ulong WithLuksHeaderRoom(ulong capacity)
        => capacity <= ulong.MaxValue - LuksHeaderRoom
            ? capacity + LuksHeaderRoom
            : throw VirtPoolException.InvalidArg($"volume capacity {capacity} leaves no room for the LUKS header");

    /// <summary>The volume re-read from its device (<see cref="LocalVolumeProbe.DescribeDevice"/>).</summary>
    public VolumeDefinition Refresh(VolumeDefinition volume) => LocalVolumeProbe.DescribeDevice(volume);

    /// <summary>The volume's owner and mode on its device node, as libvirt's block-volume creates set them.</summary>
    public void ApplyPermissions(VolumeDefinition volume) => VolumeOwnership.ApplyToDevice(RequirePath(volume), volume.Target.Permissions);

    /// <summary>
    /// libvirt's virStorageBackendCreateVolUsingQemuImg for a new block volume with
    /// &lt;encryption format='luks'&gt; (the logical and disk pools): <c>qemu-img create -f luks --object
    /// secret,id=NAME_encrypt0,file=SECRET -o key-secret=NAME_encrypt0[,cipher…] DEVICE CAPACITYK</c> onto the
    /// device the pool type made (2 MiB larger than the capacity, for the header, as libvirt's lvcreate),
    /// then owner and mode where they differ. The passphrase goes in a memfd, never on a disk.
    /// </summary>
    public async Task FormatLuksAsync(VolumeDefinition volume, Func<EncryptionSecret, byte[]>? passphrases, CancellationToken cancellationToken)
    {
        var path = RequirePath(volume);
        if (volume.Target.Encryption is not { } encryption)
        {
            throw VirtPoolException.Internal("missing encryption description");
        }

        var passphrase = VolumePassphrases.Resolve(volume, passphrases)!;
        var secretFd = -1;
        try
        {
            secretFd = VolumePassphrases.MemoryFile(passphrase, out var secretPath);

            // libvirt's shim: a volume without a format is created as raw, which with encryption is luks.
            var request = QemuImgRequests.Build(volume, StorageFileFormat.Raw, preallocMetadata: false) with
            {
                Encryption = new QemuImgEncryption(encryption, QemuImgCreate.SecretAliasFor(volume.Name), secretPath),
            };
            await QemuImgCreate.RunAsync(runner, request, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            if (secretFd >= 0)
            {
                LibC.Close(secretFd);
            }

            VolumePassphrases.ZeroAll(passphrase);
        }

        VolumeOwnership.ApplyToDevice(path, volume.Target.Permissions);
    }

    /// <summary>
    /// libvirt's buildVolFrom into a block volume whose device exists (storageBackendCreateBlockFrom):
    /// a raw file or any device (read as raw) is copied natively over the whole device, the source's
    /// holes and everything past its end made zeroes (libvirt leaves the device's old data past the
    /// source's end; here the new volume reads exactly as its source). A non-raw or encrypted file
    /// source, or an encrypted new volume, goes through qemu-img (the encrypted way creates the LUKS
    /// header on the device, then <c>qemu-img convert -n</c>; libvirt would copy raw bytes over it);
    /// a plain device is then zeroed past the input's virtual size. Then owner and mode on the node.
    /// </summary>
    public async Task<VolumeDefinition> CreateFromAsync(VolumeDefinition volume, VolumeDefinition source, VolumeCreateFlags flags, Func<EncryptionSecret, byte[]>? passphrases, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        var path = RequirePath(volume);
        var sourcePath = RequirePath(source);
        if (flags.HasFlag(VolumeCreateFlags.PreallocMetadata))
        {
            throw VirtPoolException.Unsupported("metadata preallocation is not supported for block volumes");
        }

        var sourceIsFile = source.Type != VolumeType.Block;
        var sourceNeedsQemuImg = sourceIsFile && (source.Target.Format is not ("raw" or null) || source.Target.Encryption is not null);
        if (volume.Target.Encryption is not null || sourceNeedsQemuImg)
        {
            if (flags.HasFlag(VolumeCreateFlags.Reflink))
            {
                throw VirtPoolException.Verbatim(VirErrorCode.InvalidArg, $"unsupported flags (0x{(int)VolumeCreateFlags.Reflink:x}) in function storageBackendCreateQemuImg");
            }

            await ConvertIntoDeviceAsync(volume, source, passphrases, cancellationToken).ConfigureAwait(false);
            if (volume.Target.Encryption is null)
            {
                // qemu-img writes the input's virtual size; past it the device still holds its old data.
                ZeroPast(path, source.Capacity, cancellationToken);
            }
        }
        else
        {
            if (flags.HasFlag(VolumeCreateFlags.Reflink))
            {
                // libvirt tries FICLONE, which no device takes (the kernel answers EINVAL).
                throw VirtPoolException.System($"failed to clone files from '{sourcePath}'", Errno.EINVAL);
            }

            await CopyIntoDeviceAsync(path, sourcePath, progress, cancellationToken).ConfigureAwait(false);
        }

        VolumeOwnership.ApplyToDevice(path, volume.Target.Permissions);
        return Refresh(volume);
    }

    /// <inheritdoc cref="LocalVolumeData.WipeAsync"/>
    public Task<VolumeDefinition> WipeAsync(VolumeDefinition volume, VolumeWipeAlgorithm algorithm, IProgress<long>? progress, CancellationToken cancellationToken)
        => LocalVolumeData.WipeAsync(volume with { Type = VolumeType.Block }, algorithm, progress, cancellationToken);

    /// <inheritdoc cref="LocalVolumeData.UploadAsync"/>
    public Task<long> UploadAsync(VolumeDefinition volume, VolumeDataEndpoint source, ulong offset, ulong length, bool sparse, IProgress<long>? progress, CancellationToken cancellationToken)
        => LocalVolumeData.UploadAsync(volume, source, offset, length, sparse, progress, cancellationToken);

    /// <inheritdoc cref="LocalVolumeData.DownloadAsync"/>
    public Task<long> DownloadAsync(VolumeDefinition volume, VolumeDataEndpoint target, ulong offset, ulong length, bool sparse, IProgress<long>? progress, CancellationToken cancellationToken)
        => LocalVolumeData.DownloadAsync(volume, target, offset, length, sparse, progress, cancellationToken);

    /// <inheritdoc cref="LocalVolumeData.Sha256Async"/>
    public Task<byte[]> Sha256Async(VolumeDefinition volume, IProgress<long>? progress, CancellationToken cancellationToken)
        => LocalVolumeData.Sha256Async(volume, progress, cancellationToken);

    private static async Task CopyIntoDeviceAsync(string path, string sourcePath, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        // libvirt opens the device O_RDWR, never O_CREAT: it must exist, made by the pool type.
        var fd = LibC.Open(path, LibC.O_RDWR | LibC.O_CLOEXEC | LibC.O_NOCTTY, 0);
        if (fd < 0)
        {
            throw VirtPoolException.System($"cannot create path '{path}'", LibC.Errno);
        }

        using var device = new Microsoft.Win32.SafeHandles.SafeFileHandle(fd, ownsHandle: true);
        var deviceSize = BlockDevice.Size(fd, path);
        var sourceFd = LibC.Open(sourcePath, LibC.O_RDONLY | LibC.O_CLOEXEC | LibC.O_NOCTTY, 0);
        if (sourceFd < 0)
        {
            throw VirtPoolException.System($"could not open input path '{sourcePath}'", LibC.Errno);
        }

        using var source = new Microsoft.Win32.SafeHandles.SafeFileHandle(sourceFd, ownsHandle: true);
        if (Formats.Copy.DataExtents.GetSize(source) > deviceSize)
        {
            // Copying a part would make a volume that silently lacks its end.
            throw VirtPoolException.System($"failed writing to file '{path}'", Errno.ENOSPC);
        }

        // The whole device: what lies past the source's end is a hole of the range, so zeroes.
        await BlockDeviceCopy.CopyAsync(source, 0, device, path, 0, deviceSize, deallocateHoles: false, sync: true, progress, cancellationToken).ConfigureAwait(false);
    }

    private static void ZeroPast(string path, ulong end, CancellationToken cancellationToken)
    {
        var fd = LibC.Open(path, LibC.O_WRONLY | LibC.O_CLOEXEC | LibC.O_NOCTTY, 0);
        if (fd < 0)
        {
            throw VirtPoolException.System($"cannot open volume '{path}'", LibC.Errno);
        }

        try
        {
            var size = BlockDevice.Size(fd, path);
            if ((long)end < size)
            {
                new BlockDeviceZeroing(fd, path).Zero((long)end, size - (long)end, deallocate: false, cancellationToken);
            }

            if (LibC.FDataSync(fd) < 0)
            {
                throw VirtPoolException.System($"cannot sync data to file '{path}'", LibC.Errno);
            }
        }
        finally
        {
            LibC.Close(fd);
        }
    }

    /// <summary>qemu-img convert into the device, in libvirt's one or two steps (storageBackendCreateQemuImg).</summary>
    private async Task ConvertIntoDeviceAsync(VolumeDefinition volume, VolumeDefinition source, Func<EncryptionSecret, byte[]>? passphrases, CancellationToken cancellationToken)
    {
        // libvirt reads the new volume's passphrase, then the input's, before anything else.
        var passphrase = VolumePassphrases.Resolve(volume, passphrases);
        byte[]? inputPassphrase = null;
        var secretFds = new List<int>();
        try
        {
            inputPassphrase = VolumePassphrases.Resolve(source, passphrases);
            var inputFormat = source.Type == VolumeType.Block ? StorageFileFormat.Raw : QemuImgRequests.FormatOf(source.Target.Format);
            if (inputFormat != StorageFileFormat.Raw && source.Type != VolumeType.Block)
            {
                QemuImgRequests.RefuseLoopingChain(source.Target.Path!, inputFormat);
            }

            var output = QemuImgRequests.Build(volume, StorageFileFormat.Raw, preallocMetadata: false);
            var request = new QemuImgConvertRequest(output, source.Target.Path!, inputFormat)
            {
                InputIsBlockDevice = source.Type == VolumeType.Block,
                OutputIsBlockDevice = true,
                InputBackingPath = source.BackingStore?.Path,
            };
            if (passphrase is null && inputPassphrase is null)
            {
                await QemuImgConvert.RunAsync(runner, request, cancellationToken).ConfigureAwait(false);
                return;
            }

            if (passphrase is not null)
            {
                secretFds.Add(VolumePassphrases.MemoryFile(passphrase, out var secretPath));
                request = request with { Output = output with { Encryption = new QemuImgEncryption(volume.Target.Encryption!, QemuImgCreate.SecretAliasFor(volume.Name), secretPath) } };
            }

            QemuImgEncryption? input = null;
            if (inputPassphrase is not null)
            {
                secretFds.Add(VolumePassphrases.MemoryFile(inputPassphrase, out var secretPath));
                var alias = QemuImgCreate.SecretAliasFor(source.Name);
                input = new QemuImgEncryption(source.Target.Encryption!, alias == request.Output.Encryption?.SecretAlias ? "input_" + alias : alias, secretPath);
            }

            await QemuImgConvert.RunEncryptedAsync(runner, request, input, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            foreach (var fd in secretFds)
            {
                LibC.Close(fd);
            }

            VolumePassphrases.ZeroAll(passphrase, inputPassphrase);
        }
    }

    private static string RequirePath(VolumeDefinition volume)
        => volume.Target.Path ?? throw VirtPoolException.Internal($"volume '{volume.Name}' has no path");
}
