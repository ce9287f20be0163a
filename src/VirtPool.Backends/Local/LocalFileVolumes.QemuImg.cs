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

/// <summary>Local file volumes made or converted by qemu-img: non-raw creates, clones and encrypted copies, and their passphrases.</summary>
public sealed partial class LocalFileVolumes
{
    private async Task CreateWithQemuImgAsync(VolumeDefinition volume, string path, uint mode, bool preallocMetadata, Func<EncryptionSecret, byte[]>? passphrases, CancellationToken cancellationToken)
    {
        // libvirt reads the passphrase before it checks anything else about the create.
        var passphrase = ResolvePassphrase(volume, passphrases);
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
            RefuseLoopingChain(backingTop, topFormat);
        }

        // Reserve the name exclusively first: qemu-img would silently overwrite an existing file.
        var reserved = ReserveExclusive(path, LibC.O_WRONLY, mode);
        var reservedHandle = new SafeFileHandle(reserved, ownsHandle: true);
        var secretFd = -1;
        try
        {
            var request = BuildRequest(volume, format, preallocMetadata);
            if (passphrase is not null)
            {
                secretFd = PassphraseFile(passphrase, out var secretPath);
                request = request with { Encryption = new QemuImgEncryption(volume.Target.Encryption!, QemuImgCreate.SecretAliasFor(volume.Name), secretPath) };
            }

            var perms = volume.Target.Permissions;
            if (TryCreateQcow2Natively(request, reservedHandle, path))
            {
                // The file written is still open: no second open to set its owner and mode.
                ApplyOwnerAndMode((int)reservedHandle.DangerousGetHandle(), perms, mode, path);
                return;
            }

            reservedHandle.Dispose();
            await QemuImgCreate.RunAsync(_runner, request, cancellationToken).ConfigureAwait(false);
            SetOwnerAndModeAfterTool(path, perms, mode);
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
    /// The passphrase in an anonymous memory file (memfd) that qemu-img opens through /proc. libvirt
    /// writes a temporary file instead; this one never reaches a disk and cannot be left behind.
    /// </summary>
    private static int PassphraseFile(byte[] passphrase, out string path)
    {
        var fd = LibC.MemfdCreate("virtpool-passphrase", LibC.MFD_CLOEXEC);
        if (fd < 0)
        {
            throw VirtPoolException.System("failed to open secret file for write", LibC.Errno);
        }

        try
        {
            unsafe
            {
                fixed (byte* p = passphrase)
                {
                    for (var done = 0; done < passphrase.Length;)
                    {
                        var n = LibC.Write(fd, p + done, passphrase.Length - done);
                        if (n < 0)
                        {
                            var errno = LibC.Errno;
                            if (errno == Errno.EINTR)
                            {
                                continue;
                            }

                            throw VirtPoolException.System("failed to write secret file", errno);
                        }

                        done += (int)n;
                    }
                }
            }
        }
        catch
        {
            LibC.Close(fd);
            throw;
        }

        path = $"/proc/{Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture)}/fd/{fd.ToString(System.Globalization.CultureInfo.InvariantCulture)}";
        return fd;
    }

    /// <summary>The qemu-img create request a volume definition stands for.</summary>
    private static QemuImgCreateRequest BuildRequest(VolumeDefinition volume, StorageFileFormat format, bool preallocMetadata)
    {
        StorageFileFormat? backingFormat = null;
        if (volume.BackingStore?.Format is { } bf && StorageFileFormatNames.TryParse(bf, out var parsed))
        {
            backingFormat = parsed;
        }

        var request = new QemuImgCreateRequest(
            volume.Target.Path!,
            format,
            volume.Capacity,
            volume.BackingStore?.Path,
            backingFormat,
            volume.Target.Compat,
            volume.Target.ClusterSize,
            volume.Target.Features.LazyRefcounts,
            volume.Target.Features.ExtendedL2,
            preallocMetadata,
            volume.Target.NoCow) { Allocation = volume.Allocation };
        return request;
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
            RefuseLoopingChain(source.Target.Path!, inputFormat);
        }

        var path = volume.Target.Path!;
        var mode = volume.Target.Permissions.Mode ?? DefaultVolumeMode;
        var fd = ReserveExclusive(path, LibC.O_WRONLY, mode);
        try
        {
            ApplyOwnerAndMode(fd, volume.Target.Permissions, mode, path);
            LibC.Close(fd);
            fd = -1;
            var request = new QemuImgConvertRequest(BuildRequest(volume, format, flags.HasFlag(VolumeCreateFlags.PreallocMetadata)), source.Target.Path!, inputFormat)
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

        var passphrase = ResolvePassphrase(volume, passphrases);
        byte[]? inputPassphrase = null;
        var secretFds = new List<int>();
        var path = volume.Target.Path!;
        var reserved = false;
        try
        {
            inputPassphrase = ResolvePassphrase(source, passphrases);
            if (!StorageFileFormatNames.TryParse(volume.Target.Format ?? "raw", out var format))
            {
                throw VirtPoolException.Unsupported($"unknown storage vol format type {volume.Target.Format}");
            }

            if (!StorageFileFormatNames.TryParse(source.Target.Format ?? "raw", out var inputFormat))
            {
                throw VirtPoolException.Unsupported($"unknown storage vol format type {source.Target.Format}");
            }

            var mode = volume.Target.Permissions.Mode ?? DefaultVolumeMode;
            var fd = ReserveExclusive(path, LibC.O_WRONLY, mode);
            reserved = true;
            LibC.Close(fd);

            var output = BuildRequest(volume, format, flags.HasFlag(VolumeCreateFlags.PreallocMetadata));
            if (passphrase is not null)
            {
                secretFds.Add(PassphraseFile(passphrase, out var secretPath));
                output = output with { Encryption = new QemuImgEncryption(volume.Target.Encryption!, QemuImgCreate.SecretAliasFor(volume.Name), secretPath) };
            }

            QemuImgEncryption? input = null;
            if (inputPassphrase is not null)
            {
                secretFds.Add(PassphraseFile(inputPassphrase, out var secretPath));
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
            SetOwnerAndModeAfterTool(path, volume.Target.Permissions, mode);
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

            ZeroAll(passphrase, inputPassphrase);
        }
    }

    /// <summary>
    /// The owner and mode the volume asks for, on a file qemu-img wrote. qemu-img may have made the file
    /// anew with a mode of its own (it does for LUKS): as libvirt, compare with what is there.
    /// </summary>
    private static void SetOwnerAndModeAfterTool(string path, Permissions perms, uint mode)
    {
        var fd = LibC.Open(path, LibC.O_RDONLY | LibC.O_CLOEXEC, 0);
        if (fd < 0)
        {
            return;
        }

        try
        {
            if (FileStat.TryFStat(fd, out var st, out _) && (st.Mode & PermissionBits) != mode && LibC.FChmod(fd, mode) < 0)
            {
                throw VirtPoolException.System($"cannot set mode of '{path}' to {Convert.ToString(mode, 8)}", LibC.Errno);
            }

            ApplyOwnerAndMode(fd, perms, mode, path);
        }
        finally
        {
            LibC.Close(fd);
        }
    }

    private static void ZeroAll(params byte[]?[] secrets)
    {
        foreach (var secret in secrets)
        {
            if (secret is not null)
            {
                CryptographicOperations.ZeroMemory(secret);
            }
        }
    }

    /// <summary>
    /// Refuses a backing chain that loops or nests beyond libvirt's limit, with libvirt's message. Other
    /// chain problems (a missing layer, an unprobed format) are left to qemu-img to report, as libvirt does.
    /// </summary>
    private static void RefuseLoopingChain(string top, StorageFileFormat format)
    {
        try
        {
            _ = BackingChain.Resolve(top, format: format);
        }
        catch (VirtPoolException ex) when (!ex.Message.Contains("self-referential", StringComparison.Ordinal))
        {
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

    /// <summary>
    /// libvirt's storageBackendCreateQemuImgSecretPath up to the value: exactly one &lt;secret&gt;, which
    /// must exist (by UUID or volume usage) and have a value. Null for an unencrypted volume.
    /// </summary>
    private static byte[]? ResolvePassphrase(VolumeDefinition volume, Func<EncryptionSecret, byte[]>? passphrases)
    {
        if (volume.Target.Encryption is not { } enc)
        {
            return null;
        }

        if (enc.Secrets.Count != 1)
        {
            throw VirtPoolException.InvalidArg("A single <secret type='passphrase'...> element is expected in encryption description");
        }

        var secret = enc.Secrets[0];
        if (passphrases is null)
        {
            // No secret store behind this operation: no secret can match.
            throw secret.Uuid is { } uuid
                ? new VirtPoolException(VirErrorCode.NoSecret, $"no secret with matching uuid '{uuid:D}'", VirErrorDomain.Secret)
                : new VirtPoolException(VirErrorCode.NoSecret, $"no secret with matching usage '{secret.Usage}'", VirErrorDomain.Secret);
        }

        return passphrases(secret);
    }
}
