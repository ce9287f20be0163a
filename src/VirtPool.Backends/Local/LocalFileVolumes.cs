using Microsoft.Extensions.Logging;
using Microsoft.Win32.SafeHandles;
using System.Buffers;
using System.Security.Cryptography;
using VirtPool.Core.Backends;
using VirtPool.Core.Errors;
using VirtPool.Core.Interop;
using VirtPool.Core.Model;
using VirtPool.Core.Process;
using VirtPool.Formats;
using VirtPool.Formats.Qcow2;

namespace VirtPool.Backends.Local;

/// <summary>
/// Volumes that are files in a local directory: shared by dir, fs and netfs pools (the latter two
/// once their target is mounted). Probing is native (one open, fstat and pread per file); only
/// non-raw creation runs qemu-img, as libvirt does.
/// </summary>
public sealed partial class LocalFileVolumes(IProcessRunner runner)
{
    /// <summary>libvirt's default volume mode (VIR_STORAGE_DEFAULT_VOL_PERM_MODE).</summary>
    public const uint DefaultVolumeMode = 0x180; // 0600

    /// <summary>
    /// What libvirt reports of st_mode (S_IRWXUGO): setuid, setgid and sticky bits are dropped, and its
    /// own parser refuses them ("malformed octal mode"), so a pool on /tmp must not record 01777.
    /// </summary>
    private const uint PermissionBits = 0x1FF;

    /// <summary>The process umask, read once (umask() can only be read by setting it).</summary>
    private static readonly uint ProcessUmask = ReadUmask();

    public static BackendCapabilities FileCapabilities { get; } = new()
    {
        CanCreateVolume = true,
        CanDeleteVolume = true,
        CanResizeVolume = true,
        CanCreateVolumeFrom = true,
        CanReflink = true,
        CanWipeVolume = true,
        CanUploadVolume = true,
        CanDownloadVolume = true,

        // qcow2 keeps its internal snapshots inside the file, so deleting the file deletes them; other
        // formats have none and get libvirt's refusal.
        DeleteWithSnapshotsFormats = new HashSet<string>(StringComparer.Ordinal) { "qcow2" },
    };

    /// <summary>
    /// virStorageBackendRefreshLocal: every entry of the directory becomes a volume, but for those that
    /// cannot be probed (dangling links, sockets, unreadable files), which are skipped with a warning
    /// on <paramref name="log"/>, as libvirt's refresh skips and warns about them.
    /// </summary>
    public PoolScan Scan(string directory, ILogger log, CancellationToken cancellationToken)
    {
        if (!FileStat.TryStat(directory, out var dst, out var errno) || !dst.IsDirectory)
        {
            throw VirtPoolException.System($"cannot open directory '{directory}'", errno == 0 ? Errno.ENOTDIR : errno);
        }

        var paths = Directory.GetFileSystemEntries(directory);
        var found = new VolumeDefinition?[paths.Length];

        // Probing is one open/fstat/pread per file and independent per file: large pools are probed
        // on every core (the page cache serves the reads), small ones inline.
        var options = new ParallelOptions
        {
            CancellationToken = cancellationToken,
            MaxDegreeOfParallelism = paths.Length >= 512 ? Environment.ProcessorCount : 1,
        };
        if (paths.Length > 0)
        {
            ProbeAll(paths, found, options);
        }

        var volumes = new List<VolumeDefinition>(paths.Length);
        for (var i = 0; i < found.Length; i++)
        {
            if (found[i] is { } vol)
            {
                volumes.Add(vol);
            }
            else if (log.IsEnabled(LogLevel.Warning))
            {
                LocalFileLog.EntrySkipped(log, LocalFileLog.WhySkipped(paths[i]), directory);
            }
        }

        if (LibC.StatVfs(directory, out var vfs) < 0)
        {
            throw VirtPoolException.System($"cannot statvfs path '{directory}'", LibC.Errno);
        }

        // libvirt's virStorageBackendFileSystemRefresh: blocks reserved for root count as available
        // (f_bfree, not f_bavail), so capacity = allocation + available on every filesystem.
        var capacity = vfs.Frsize * vfs.Blocks;
        var available = vfs.Frsize * vfs.Bfree;
        var allocation = capacity - available;
        var perms = new Permissions { Mode = dst.Mode & PermissionBits, Owner = dst.Uid, Group = dst.Gid };
        return new PoolScan(new PoolSizes(capacity, allocation, available), volumes, perms);
    }

    private static void ProbeAll(string[] paths, VolumeDefinition?[] found, ParallelOptions options)
    {
        var chunk = Math.Max(64, (paths.Length / (4 * Environment.ProcessorCount)) + 1);
        Parallel.ForEach(
            System.Collections.Concurrent.Partitioner.Create(0, paths.Length, chunk),
            options,
            range =>
            {
                var buffer = ArrayPool<byte>.Shared.Rent(ImageProbe.HeaderBytes);
                try
                {
                    for (var i = range.Item1; i < range.Item2; i++)
                    {
                        found[i] = Probe(paths[i], Path.GetFileName(paths[i]), buffer);
                    }
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                }
            });
    }

    /// <summary>
    /// What <see cref="Refresh"/> reports as the allocation, for a plain file or device in one stat;
    /// anything else (a ploop folder) through the full probe.
    /// </summary>
    public ulong AllocationOf(VolumeDefinition volume)
    {
        var path = volume.Target.Path ?? throw VirtPoolException.Internal($"volume '{volume.Name}' has no path");
        if (FileStat.TryStat(path, out var st, out _) && (st.IsRegular || st.IsBlockDevice))
        {
            return (ulong)st.AllocatedBytes;
        }

        return Refresh(volume).Allocation ?? 0;
    }

    public VolumeDefinition Refresh(VolumeDefinition volume)
    {
        var path = volume.Target.Path ?? throw VirtPoolException.Internal($"volume '{volume.Name}' has no path");
        var buffer = ArrayPool<byte>.Shared.Rent(ImageProbe.HeaderBytes);
        VolumeDefinition found;
        try
        {
            found = Probe(path, volume.Name, buffer) ?? throw Unprobeable(path);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        // As libvirt's refreshVol: sizes, owner and times come from storage; the format, backing
        // store and other header details stay as the volume was created or last pool-refreshed. The
        // header is read for the capacity only when it is still of the format the volume has.
        var sameFormat = found.Target.Format == volume.Target.Format;
        var backing = volume.BackingStore;
        if (backing?.Path is { } backingPath && FileStat.TryStat(backingPath, out var bst, out _))
        {
            // libvirt also refreshes the backing file's owner and times (not its header).
            backing = backing with
            {
                Permissions = new Permissions { Mode = bst.Mode & PermissionBits, Owner = bst.Uid, Group = bst.Gid, Label = backing.Permissions.Label },
                Timestamps = Timestamps(bst),
            };
        }

        return volume with
        {
            Capacity = sameFormat ? found.Capacity : found.Physical,
            Allocation = found.Allocation,
            Physical = found.Physical,
            Target = volume.Target with
            {
                Permissions = found.Target.Permissions with { Label = volume.Target.Permissions.Label },
                Timestamps = found.Target.Timestamps,
            },
            BackingStore = backing,
        };
    }

    /// <summary>Decides path, key, type and format; rejects formats this pool cannot create.</summary>
    public VolumeDefinition Prepare(string directory, VolumeDefinition volume)
    {
        // The XML parser already refused names outside the pool type's format table; everything
        // but raw and dir goes to qemu-img, which refuses what it cannot make, as with libvirt.
        var format = volume.Target.Format is null or "none" ? "raw" : volume.Target.Format;
        var path = Path.Combine(directory, volume.Name);
        return volume with
        {
            Key = path,
            Type = format == "dir" ? VolumeType.Dir : VolumeType.File,
            Allocation = volume.Allocation ?? volume.Capacity,
            Target = volume.Target with { Path = path, Format = format },
        };
    }

    /// <param name="passphrases">Where an encrypted volume's passphrase comes from (the pool context's); null: none can be found.</param>
    public async Task<VolumeDefinition> CreateAsync(VolumeDefinition volume, VolumeCreateFlags flags, Func<EncryptionSecret, byte[]>? passphrases, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        var path = volume.Target.Path!;
        var mode = volume.Target.Permissions.Mode ?? DefaultVolumeMode;
        switch (volume.Target.Format)
        {
            case "dir":
                if (LibC.Mkdir(path, mode) < 0)
                {
                    var errno = LibC.Errno;
                    throw errno == Errno.EEXIST
                        ? VirtPoolException.InvalidOperation($"volume target path '{path}' already exists")
                        : VirtPoolException.System($"cannot create path '{path}'", errno);
                }

                break;
            case "ploop":
                // storageBackendCreatePloop's checks; the volume itself would be made by `ploop init`.
                if (volume.Target.Encryption is not null)
                {
                    throw VirtPoolException.Unsupported("encrypted ploop volumes are not supported with ploop init");
                }

                if (volume.BackingStore is not null)
                {
                    throw VirtPoolException.Unsupported("copy-on-write ploop volumes are not yet supported");
                }

                RefusePloop(volume, PloopToolMissing);
                break;
            case "raw" when volume.Target.Encryption is null:
                if (flags.HasFlag(VolumeCreateFlags.PreallocMetadata))
                {
                    throw new VirtPoolException(VirErrorCode.OperationUnsupported, "metadata preallocation is not supported for raw volumes");
                }

                if (volume.BackingStore is not null)
                {
                    throw VirtPoolException.NoSupport("backing storage not supported for raw volumes");
                }

                // Described from the descriptor it was made with: no second open and header read.
                return CreateRaw(volume, path, mode, progress);
            default:
                await CreateWithQemuImgAsync(volume, path, mode, flags.HasFlag(VolumeCreateFlags.PreallocMetadata), passphrases, cancellationToken).ConfigureAwait(false);
                break;
        }

        return Refresh(volume);
    }

    /// <summary>
    /// libvirt's file-system resizeVol: raw files natively (fallocate the growth when asked, then
    /// ftruncate; never shrinks data away behind the manager's checks), other formats with
    /// <c>qemu-img resize</c>, which refuses the formats it cannot resize.
    /// </summary>
    /// <param name="passphrases">Where an encrypted volume's passphrase comes from (the pool context's).</param>
    public async Task ResizeAsync(VolumeDefinition volume, ulong capacity, bool allocate, Func<EncryptionSecret, byte[]>? passphrases, CancellationToken cancellationToken)
    {
        RefusePloop(volume, PloopToolMissing);
        var path = volume.Target.Path!;
        if (volume.Target.Format is "raw" or null && volume.Target.Encryption is null)
        {
            ResizeRaw(path, capacity, allocate);
            return;
        }

        if (allocate)
        {
            throw new VirtPoolException(VirErrorCode.OperationUnsupported, "preallocate is only supported for raw type volume");
        }

        if (!StorageFileFormatNames.TryParse(volume.Target.Format ?? "raw", out var format))
        {
            throw VirtPoolException.Unsupported($"unknown storage vol format type {volume.Target.Format}");
        }

        var qemuImg = QemuImgCreate.FindInPath("qemu-img") ?? "qemu-img";
        var shrink = capacity < volume.Capacity;
        if (volume.Target.Encryption is not { } encryption)
        {
            await QemuImgResize.RunAsync(runner, QemuImgResize.BuildArgv(path, format, capacity, shrink, null, null, qemuImg), cancellationToken).ConfigureAwait(false);
            return;
        }

        // libvirt checks the encryption, then reads the passphrase, then runs qemu-img.
        _ = QemuImgResize.BuildArgv(path, format, capacity, shrink, encryption, null, qemuImg);
        var passphrase = ResolvePassphrase(volume, passphrases)!;
        var fd = -1;
        try
        {
            fd = PassphraseFile(passphrase, out var secretPath);
            var secret = new QemuImgEncryption(encryption, QemuImgCreate.SecretAliasFor(volume.Name), secretPath);
            await QemuImgResize.RunAsync(runner, QemuImgResize.BuildArgv(path, format, capacity, shrink, encryption, secret, qemuImg), cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            if (fd >= 0)
            {
                LibC.Close(fd);
            }

            CryptographicOperations.ZeroMemory(passphrase);
        }
    }

    private static void ResizeRaw(string path, ulong capacity, bool allocate)
    {
        var fd = LibC.Open(path, LibC.O_RDWR | LibC.O_CLOEXEC, 0);
        if (fd < 0)
        {
            throw VirtPoolException.System($"Unable to open '{path}'", LibC.Errno);
        }

        try
        {
            // As libvirt's virStorageFileResize: --allocate fills the whole new capacity, holes too.
            if (allocate && (long)capacity > 0)
            {
                if (LibC.FAllocate(fd, 0, 0, (long)capacity) < 0 && LibC.PosixFAllocate(fd, 0, (long)capacity) != 0)
                {
                    throw VirtPoolException.System($"Failed to pre-allocate space for file '{path}'", LibC.Errno);
                }
            }

            if (LibC.FTruncate(fd, (long)capacity) < 0)
            {
                throw VirtPoolException.System($"Failed to truncate file '{path}'", LibC.Errno);
            }

            if (LibC.FSync(fd) < 0)
            {
                throw VirtPoolException.System($"Unable to save '{path}'", LibC.Errno);
            }
        }
        finally
        {
            LibC.Close(fd);
        }
    }

    public static void Delete(VolumeDefinition volume)
    {
        var path = volume.Target.Path!;
        if (volume.Type == VolumeType.Dir)
        {
            if (LibC.Rmdir(path) < 0 && LibC.Errno != Errno.ENOENT)
            {
                throw VirtPoolException.System($"cannot remove directory '{path}'", LibC.Errno);
            }

            return;
        }

        // virFileRemove: a folder (a ploop volume) is removed with rmdir, so only an empty one goes.
        // As libvirt, a file that has already gone away is not an error.
        if (LibC.Unlink(path) < 0)
        {
            var errno = LibC.Errno;
            if (errno == Errno.ENOENT || (errno == Errno.EISDIR && LibC.Rmdir(path) == 0))
            {
                return;
            }

            throw VirtPoolException.System($"cannot unlink file '{path}'", errno == Errno.EISDIR ? LibC.Errno : errno);
        }
    }

    /// <summary>
    /// libvirt's createRawFile: O_EXCL create, ftruncate to capacity, fallocate the allocation,
    /// fsync. Any failure removes the half-made file.
    /// </summary>
    private static VolumeDefinition CreateRaw(VolumeDefinition volume, string path, uint mode, IProgress<long>? progress)
    {
        var fd = ReserveExclusive(path, LibC.O_WRONLY | LibC.O_NOCTTY, mode);

        try
        {
            ApplyOwnerAndMode(fd, volume.Target.Permissions, mode, path);
            var capacity = (long)volume.Capacity;
            if (LibC.FTruncate(fd, capacity) < 0)
            {
                throw VirtPoolException.System($"cannot extend file '{path}'", LibC.Errno);
            }

            // An allocation above the capacity grows the file, as libvirt's fallocate does.
            var allocation = (long)(volume.Allocation ?? volume.Capacity);
            if (allocation > 0)
            {
                var rc = LibC.FAllocate(fd, 0, 0, allocation);
                if (rc < 0)
                {
                    var fallocateErrno = LibC.Errno;
                    // Filesystems without fallocate get posix_fallocate's emulation, as libvirt's safezero.
                    if (fallocateErrno != Errno.EOPNOTSUPP || LibC.PosixFAllocate(fd, 0, allocation) != 0)
                    {
                        throw VirtPoolException.System($"cannot allocate {allocation} bytes in file '{path}'", fallocateErrno);
                    }
                }

                progress?.Report(allocation);
            }

            if (LibC.FSync(fd) < 0)
            {
                throw VirtPoolException.System($"cannot sync file '{path}'", LibC.Errno);
            }

            if (!FileStat.TryFStat(fd, out var st, out var errno))
            {
                throw VirtPoolException.System($"cannot stat file '{path}'", errno);
            }

            return Describe(path, volume.Name, st, VolumeType.File, new ImageInfo { Format = StorageFileFormat.Raw, Capacity = (ulong)st.Size });
        }
        catch
        {
            LibC.Unlink(path);
            throw;
        }
        finally
        {
            LibC.Close(fd);
        }
    }

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
            await QemuImgCreate.RunAsync(runner, request, cancellationToken).ConfigureAwait(false);
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
            await QemuImgConvert.RunAsync(runner, request, cancellationToken).ConfigureAwait(false);
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
            await QemuImgConvert.RunEncryptedAsync(runner, request, input, cancellationToken).ConfigureAwait(false);
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

    private static uint ReadUmask()
    {
        var old = LibC.Umask(0x12);
        _ = LibC.Umask(old);
        return old;
    }

    /// <summary>
    /// open(O_CREAT|O_EXCL): the name is ours or the create fails. An existing entry (also "." and
    /// "..", which name the pool directory and its parent) gets libvirt's message.
    /// </summary>
    private static int ReserveExclusive(string path, int flags, uint mode)
    {
        var fd = LibC.Open(path, flags | LibC.O_CREAT | LibC.O_EXCL | LibC.O_CLOEXEC, mode);
        if (fd >= 0)
        {
            return fd;
        }

        var errno = LibC.Errno;
        throw errno == Errno.EEXIST
            ? VirtPoolException.InvalidOperation($"volume target path '{path}' already exists")
            : VirtPoolException.System($"cannot create path '{path}'", errno);
    }

    private static void ApplyOwnerAndMode(int fd, Permissions perms, uint mode, string path)
    {
        if (perms.Owner is not null || perms.Group is not null)
        {
            var owner = perms.Owner is { } o ? (int)o : -1;
            var group = perms.Group is { } g ? (int)g : -1;
            if (LibC.FChown(fd, owner, group) < 0)
            {
                throw VirtPoolException.System($"cannot chown '{path}' to ({owner}, {group})", LibC.Errno);
            }
        }

        // open() applies the umask; the volume gets exactly the mode its XML asks for (one syscall
        // saved on the hot create path when the umask took nothing away).
        if ((mode & ProcessUmask) != 0 && LibC.FChmod(fd, mode) < 0)
        {
            throw VirtPoolException.System($"cannot set mode of '{path}' to {Convert.ToString(mode, 8)}", LibC.Errno);
        }
    }

    /// <summary>
    /// Why a volume's file could not be probed, in libvirt's words (virStorageBackendVolOpen): a file
    /// that is gone means the volume is gone (VIR_ERR_NO_STORAGE_VOL), anything else is a system error.
    /// </summary>
    internal static VirtPoolException Unprobeable(string path)
    {
        if (!FileStat.TryLStat(path, out var st, out var errno))
        {
            return errno == Errno.ENOENT
                ? new VirtPoolException(VirErrorCode.NoStorageVol, $"no storage vol with matching path '{path}'")
                : VirtPoolException.System($"cannot stat file '{path}'", errno);
        }

        if ((st.Mode & 0xF000) is 0x1000 or 0xC000)
        {
            return VirtPoolException.Internal($"Volume path '{path}' is a {((st.Mode & 0xF000) == 0x1000 ? "FIFO" : "socket")}");
        }

        // It exists but is no file, folder or block device, or cannot be opened (permissions, a
        // dangling link), or has vanished just now.
        var fd = LibC.Open(path, LibC.O_RDONLY | LibC.O_NOCTTY | LibC.O_CLOEXEC | LibC.O_NONBLOCK, 0);
        if (fd >= 0)
        {
            LibC.Close(fd);
            return VirtPoolException.Internal($"unexpected storage mode for '{path}'");
        }

        var openErrno = LibC.Errno;
        return openErrno == Errno.ENOENT
            ? new VirtPoolException(VirErrorCode.NoStorageVol, $"no storage vol with matching path '{path}'")
            : VirtPoolException.System($"cannot open volume '{path}'", openErrno);
    }

    /// <summary>One open + fstat + pread: what the volume is, without qemu-img.</summary>
    private static VolumeDefinition? Probe(string path, string name, byte[] buffer)
    {
        var fd = LibC.Open(path, LibC.O_RDONLY | LibC.O_NOCTTY | LibC.O_CLOEXEC | LibC.O_NONBLOCK, 0);
        if (fd < 0)
        {
            // Dangling symlinks and unreadable entries are skipped, as libvirt does.
            return null;
        }

        try
        {
            if (!FileStat.TryFStat(fd, out var st, out _))
            {
                return null;
            }

            if (st.IsDirectory)
            {
                // libvirt reports directories with capacity 0, ploop directories by their image.
                return IsPloopDirectory(path)
                    ? ProbePloop(path, name, buffer)
                    : Describe(path, name, st, VolumeType.Dir, new ImageInfo { Format = StorageFileFormat.Dir, Capacity = 0 });
            }

            if (!st.IsRegular && !st.IsBlockDevice)
            {
                return null;
            }

            var read = ReadHeader(fd, buffer);

            var info = read > 0
                ? ImageProbe.Probe(buffer.AsSpan(0, (int)read), (ulong)st.Size)
                : new ImageInfo { Format = StorageFileFormat.Raw, Capacity = (ulong)st.Size };
            return Describe(path, name, st, VolumeType.File, info);
        }
        finally
        {
            LibC.Close(fd);
        }
    }

    /// <summary>virStorageBackendIsPloopDir: a folder holding a ploop image and its descriptor.</summary>
    private static bool IsPloopDirectory(string path)
        => File.Exists(Path.Combine(path, PloopImage)) && File.Exists(Path.Combine(path, PloopDescriptor));

    /// <summary>
    /// virStorageBackendRedoPloopUpdate: a ploop volume is its folder, described by its image (size,
    /// allocation, owner, times), format ploop; libvirt 9.0 still calls it a file volume.
    /// </summary>
    private static VolumeDefinition? ProbePloop(string path, string name, byte[] buffer)
    {
        var fd = LibC.Open(Path.Combine(path, PloopImage), LibC.O_RDONLY | LibC.O_NOCTTY | LibC.O_CLOEXEC | LibC.O_NONBLOCK, 0);
        if (fd < 0)
        {
            return null;
        }

        try
        {
            if (!FileStat.TryFStat(fd, out var st, out _) || !st.IsRegular)
            {
                return null;
            }

            var read = ReadHeader(fd, buffer);
            var info = read > 0 ? ImageProbe.Probe(buffer.AsSpan(0, read), (ulong)st.Size) : new ImageInfo { Capacity = (ulong)st.Size };
            return Describe(path, name, st, VolumeType.File, info with { Format = StorageFileFormat.Ploop, Capacity = (ulong)st.Size });
        }
        finally
        {
            LibC.Close(fd);
        }
    }

    /// <summary>
    /// libvirt drives ploop volumes with the ploop tools, which Debian does not ship; without them it
    /// refuses every data operation on one with this message. VirtPool does not drive them at all.
    /// </summary>
    internal static void RefusePloop(VolumeDefinition volume, string messageWithoutTools)
    {
        if (volume.Target.Format != "ploop")
        {
            return;
        }

        throw QemuImgCreate.FindInPath("ploop") is null
            ? VirtPoolException.Internal(messageWithoutTools)
            : VirtPoolException.NoSupport("VirtPool does not drive the ploop tools: ploop volumes are read-only here");
    }

    internal const string PloopToolMissing = "unable to find ploop, please install ploop tools";

    internal const string PloopImage = "root.hds";

    private const string PloopDescriptor = "DiskDescriptor.xml";

    /// <summary>The header, as much of it as the file has; a read error counts as an empty header (raw).</summary>
    private static int ReadHeader(int fd, byte[] buffer) => Math.Max(0, LibC.PReadFully(fd, buffer.AsSpan(0, ImageProbe.HeaderBytes), 0));

    private static VolumeTimestamps Timestamps(FileStat st)
        => new(new TimeSpec(st.ATimeSec, st.ATimeNsec), new TimeSpec(st.MTimeSec, st.MTimeNsec), new TimeSpec(st.CTimeSec, st.CTimeNsec));

    private static VolumeDefinition Describe(string path, string name, FileStat st, VolumeType type, ImageInfo info)
    {
        return new VolumeDefinition
        {
            Name = name,
            Key = path,
            Type = type,
            Capacity = info.Capacity,
            // libvirt sizes a folder as nothing at all (virStorageSourceUpdateBackingSizes): no allocation, no <physical>.
            Allocation = st.IsDirectory ? 0 : (ulong)st.AllocatedBytes,
            Physical = st.IsDirectory ? 0 : (ulong)st.Size,
            Target = new VolumeTarget
            {
                Path = path,
                Format = info.Format.ToName(),
                Compat = info.Compat,
                ClusterSize = info.ClusterSize,
                Permissions = new Permissions { Mode = st.Mode & PermissionBits, Owner = st.Uid, Group = st.Gid },
                Timestamps = Timestamps(st),
                Features = new VolumeFeatures { LazyRefcounts = info.LazyRefcounts, ExtendedL2 = info.ExtendedL2 },
                // As libvirt's probe: the header names the encryption format only, no secret.
                Encryption = EncryptionNames.TryParse(info.EncryptionFormat, out EncryptionFormat encryption)
                    ? new EncryptionDefinition { Format = encryption }
                    : null,
            },
            BackingStore = info.BackingStore is null
                ? null
                : new VolumeBackingStore { Path = info.BackingStore, Format = info.BackingFormat?.ToName() },
        };
    }
}
