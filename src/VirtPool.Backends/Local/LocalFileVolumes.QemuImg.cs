using Microsoft.Win32.SafeHandles;
using System.Security.Cryptography;
using VirtPool.Core.Backends;
using VirtPool.Core.Errors;
using VirtPool.Core.Interop;
using VirtPool.Core.Model;
using VirtPool.Core.Process;
using VirtPool.Formats;
using VirtPool.Formats.Qcow2;

namespace VirtPool.Backends.Local;

/// <summary>File volumes made or converted by qemu-img into a name reserved here: non-raw creates, clones and encrypted copies.</summary>
public sealed partial class LocalFileVolumes
{
    private async Task CreateWithQemuImgAsync(VolumeDefinition volume, string path, uint mode, bool preallocMetadata, Func<EncryptionSecret, byte[]>? passphrases, CancellationToken cancellationToken)
    {
        // libvirt reads the passphrase before it checks anything else about the create.
        var passphrase = VolumePassphrases.Resolve(volume, passphrases);
        if (volume.BackingStore?.Path is { } backing && LibC.Access(backing, 4 /* R_OK */) < 0)
        {
            throw VirtPoolException.System($"inaccessible backing store volume {backing}", LibC.Errno);
        }

        if (!StorageFileFormatNames.TryParse(volume.Target.Format, out var format))
        {
            throw VirtPoolException.Unsupported($"unknown storage vol format type {volume.Target.Format}");
        }

        // qemu-img 7.2 opens the whole backing chain and never returns on one that loops (libvirt
        // then hangs with it): walk the chain first, with a loop guard, and refuse such a chain.
        if (volume.BackingStore?.Path is { } backingTop && volume.BackingStore.Format is { } chainFormat
            && StorageFileFormatNames.TryParse(chainFormat, out var topFormat) && topFormat != StorageFileFormat.Raw)
        {
            QemuImgRequests.RefuseLoopingChain(backingTop, topFormat);
        }

        // Reserve the name exclusively first: qemu-img would silently overwrite an existing file.
        var reserved = ReserveExclusive(path, LibC.O_WRONLY, mode);
        var reservedHandle = new SafeFileHandle(reserved, ownsHandle: true);
        var secretFd = -1;
        try
        {
            var request = QemuImgRequests.Build(volume, format, preallocMetadata);
            if (passphrase is not null)
            {
                secretFd = VolumePassphrases.MemoryFile(passphrase, out var secretPath);
                request = request with { Encryption = new QemuImgEncryption(volume.Target.Encryption!, QemuImgCreate.SecretAliasFor(volume.Name), secretPath) };
            }

            var perms = volume.Target.Permissions;
            if (TryCreateQcow2Natively(request, reservedHandle, path))
            {
                // The file written is still open: no second open to set its owner and mode.
                VolumeOwnership.Apply((int)reservedHandle.DangerousGetHandle(), perms, mode, path);
                return;
            }

            reservedHandle.Dispose();
            await QemuImgCreate.RunAsync(_runner, request, cancellationToken).ConfigureAwait(false);
            VolumeOwnership.ApplyAfterTool(path, perms, mode);
        }
        catch
        {
            LibC.Unlink(path);
            throw;
        }
        finally
        {
            reservedHandle.Dispose();
            if (secretFd >= 0)
            {
                LibC.Close(secretFd);
            }

            if (passphrase is not null)
            {
                CryptographicOperations.ZeroMemory(passphrase);
            }
        }
    }

    /// <summary>
    /// libvirt's storageBackendCreateQemuImg with an input volume: <c>qemu-img convert</c> into a name
    /// reserved exclusively first, removed again on failure or cancellation.
    /// </summary>
    private async Task ConvertWithQemuImgAsync(VolumeDefinition volume, VolumeDefinition source, VolumeCreateFlags flags, CancellationToken cancellationToken)
    {
        var unsupported = flags & ~VolumeCreateFlags.PreallocMetadata;
        if (unsupported != VolumeCreateFlags.None)
        {
            throw VirtPoolException.Verbatim(VirErrorCode.InvalidArg, $"unsupported flags (0x{(int)unsupported:x}) in function storageBackendCreateQemuImg");
        }

        if (!StorageFileFormatNames.TryParse(volume.Target.Format ?? "raw", out var format))
        {
            throw VirtPoolException.Unsupported($"unknown storage vol format type {volume.Target.Format}");
        }

        if (!StorageFileFormatNames.TryParse(source.Target.Format ?? "raw", out var inputFormat))
        {
            throw VirtPoolException.Unsupported($"unknown storage vol format type {source.Target.Format}");
        }

        // qemu-img convert reads the input's backing chain; one that loops would hang it.
        if (inputFormat != StorageFileFormat.Raw && source.Type == VolumeType.File)
        {
            QemuImgRequests.RefuseLoopingChain(source.Target.Path!, inputFormat);
        }

        var path = volume.Target.Path!;
        var mode = VolumeOwnership.ModeOf(volume.Target.Permissions);
        var fd = ReserveExclusive(path, LibC.O_WRONLY, mode);
        try
        {
            VolumeOwnership.Apply(fd, volume.Target.Permissions, mode, path);
            LibC.Close(fd);
            fd = -1;
            var request = new QemuImgConvertRequest(QemuImgRequests.Build(volume, format, flags.HasFlag(VolumeCreateFlags.PreallocMetadata)), source.Target.Path!, inputFormat)
            {
                InputIsBlockDevice = source.Type == VolumeType.Block,
                InputBackingPath = source.BackingStore?.Path,
            };
            await QemuImgConvert.RunAsync(_runner, request, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            if (fd >= 0)
            {
                LibC.Close(fd);
            }

            LibC.Unlink(path);
            throw;
        }
    }

    /// <summary>
    /// libvirt's create-from when either volume is encrypted: both passphrases are read first (the new
    /// volume's, then the input's), then the new volume is created empty and the input converted into
    /// it. The name is reserved exclusively first and removed again if a step fails.
    /// </summary>
    private async Task ConvertEncryptedAsync(VolumeDefinition volume, VolumeDefinition source, VolumeCreateFlags flags, Func<EncryptionSecret, byte[]>? passphrases, CancellationToken cancellationToken)
    {
        var unsupported = flags & ~VolumeCreateFlags.PreallocMetadata;
        if (unsupported != VolumeCreateFlags.None)
        {
            throw VirtPoolException.Verbatim(VirErrorCode.InvalidArg, $"unsupported flags (0x{(int)unsupported:x}) in function storageBackendCreateQemuImg");
        }

        var passphrase = VolumePassphrases.Resolve(volume, passphrases);
        byte[]? inputPassphrase = null;
        var secretFds = new List<int>();
        var path = volume.Target.Path!;
        var reserved = false;
        try
        {
            inputPassphrase = VolumePassphrases.Resolve(source, passphrases);
            if (!StorageFileFormatNames.TryParse(volume.Target.Format ?? "raw", out var format))
            {
                throw VirtPoolException.Unsupported($"unknown storage vol format type {volume.Target.Format}");
            }

            if (!StorageFileFormatNames.TryParse(source.Target.Format ?? "raw", out var inputFormat))
            {
                throw VirtPoolException.Unsupported($"unknown storage vol format type {source.Target.Format}");
            }

            var mode = VolumeOwnership.ModeOf(volume.Target.Permissions);
            var fd = ReserveExclusive(path, LibC.O_WRONLY, mode);
            reserved = true;
            LibC.Close(fd);

            var output = QemuImgRequests.Build(volume, format, flags.HasFlag(VolumeCreateFlags.PreallocMetadata));
            if (passphrase is not null)
            {
                secretFds.Add(VolumePassphrases.MemoryFile(passphrase, out var secretPath));
                output = output with { Encryption = new QemuImgEncryption(volume.Target.Encryption!, QemuImgCreate.SecretAliasFor(volume.Name), secretPath) };
            }

            QemuImgEncryption? input = null;
            if (inputPassphrase is not null)
            {
                secretFds.Add(VolumePassphrases.MemoryFile(inputPassphrase, out var secretPath));
                var alias = QemuImgCreate.SecretAliasFor(source.Name);
                // Two secret objects cannot share an id (a clone keeping its name in another pool).
                input = new QemuImgEncryption(source.Target.Encryption!, alias == output.Encryption?.SecretAlias ? "input_" + alias : alias, secretPath);
            }

            var request = new QemuImgConvertRequest(output, source.Target.Path!, inputFormat)
            {
                InputIsBlockDevice = source.Type == VolumeType.Block,
                InputBackingPath = source.BackingStore?.Path,
            };
            await QemuImgConvert.RunEncryptedAsync(_runner, request, input, cancellationToken).ConfigureAwait(false);
            VolumeOwnership.ApplyAfterTool(path, volume.Target.Permissions, mode);
        }
        catch
        {
            // Only a name this call reserved is removed: an existing file of that name is not ours.
            if (reserved)
            {
                LibC.Unlink(path);
            }

            throw;
        }
        finally
        {
            foreach (var secretFd in secretFds)
            {
                LibC.Close(secretFd);
            }

            VolumePassphrases.ZeroAll(passphrase, inputPassphrase);
        }
    }

    /// <summary>
    /// qcow2 images are written natively, byte for byte what qemu-img would write for libvirt's argv,
    /// without a fork+exec; shapes the writer cannot promise that for go to qemu-img.
    /// </summary>
    private static bool TryCreateQcow2Natively(QemuImgCreateRequest request, SafeFileHandle file, string path)
    {
        if (request.Format != StorageFileFormat.Qcow2 || request.Encryption is not null)
        {
            return false;
        }

        var directory = Path.GetDirectoryName(path) ?? "/";
        var options = Qcow2CreateOptions.FromRequest(request, backing =>
        {
            // The size qemu-img sees opening the backing file with -F: raw is the file's length; another
            // format only when the header really is that format (else qemu-img decides, and errs).
            var full = Path.IsPathRooted(backing) ? backing : Path.Combine(directory, backing);
            if ((request.BackingFormat ?? StorageFileFormat.Raw) == StorageFileFormat.Raw)
            {
                return FileStat.TryStat(full, out var st, out _) && st.IsRegular && st.Size % 512 == 0 ? (ulong)st.Size : null;
            }

            var info = ImageProbe.ProbeFile(full);
            if (info.ProbeFailed || info.Format != request.BackingFormat)
            {
                return null;
            }

            // qemu-img opens the whole chain below; one that loops or breaks is left to it to report.
            try
            {
                _ = BackingChain.Resolve(full, format: request.BackingFormat);
            }
            catch (VirtPoolException)
            {
                return null;
            }

            return info.Capacity;
        });
        if (options is null)
        {
            return false;
        }

        // The name was reserved empty by this create (O_EXCL): anything in it was written by someone else.
        if (RandomAccess.GetLength(file) != 0)
        {
            throw VirtPoolException.Internal($"volume target path '{path}' was written to by another process while it was being created");
        }

        // Write ends with a flush to disk, as qemu-img's close does.
        return Qcow2Writer.TryWrite(file, options);
    }
}
