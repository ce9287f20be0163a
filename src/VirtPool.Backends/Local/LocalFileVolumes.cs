using Microsoft.Extensions.Logging;
using System.Buffers;
using System.Security.Cryptography;
using VirtPool.Core.Backends;
using VirtPool.Core.Errors;
using VirtPool.Core.Interop;
using VirtPool.Core.Model;
using VirtPool.Core.Process;
using VirtPool.Formats;

namespace VirtPool.Backends.Local;

/// <summary>
/// Volumes that are files in a local directory: shared by dir, fs and netfs pools (the latter two
/// once their target is mounted). What only files have lives here: scanning the directory, creating
/// (O_EXCL names, fallocate, native qcow2, folders), resizing, deleting and cloning into a new file.
/// What files share with block volumes is elsewhere: probing (<see cref="LocalVolumeProbe"/>), data
/// operations (<see cref="LocalVolumeData"/>), owner and mode (<see cref="VolumeOwnership"/>),
/// passphrases (<see cref="VolumePassphrases"/>), qemu-img requests (<see cref="QemuImgRequests"/>).
/// </summary>
public sealed partial class LocalFileVolumes(IProcessRunner runner)
{
    /// <summary>The one process runner every qemu-img run goes through (the partial files cannot see the constructor's parameter).</summary>
    private readonly IProcessRunner _runner = runner;

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
        var perms = new Permissions { Mode = dst.Mode & VolumeOwnership.PermissionBits, Owner = dst.Uid, Group = dst.Gid };
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
                        found[i] = LocalVolumeProbe.Probe(paths[i], Path.GetFileName(paths[i]), buffer);
                    }
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                }
            });
    }

    /// <summary>
    /// What <see cref="Refresh"/> reports as the allocation, for a plain file in one stat; anything else
    /// (a device node, sized by the device; a ploop folder) through the full probe.
    /// </summary>
    public ulong AllocationOf(VolumeDefinition volume)
    {
        var path = volume.Target.Path ?? throw VirtPoolException.Internal($"volume '{volume.Name}' has no path");
        if (FileStat.TryStat(path, out var st, out _) && st.IsRegular)
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
            found = LocalVolumeProbe.Probe(path, volume.Name, buffer) ?? throw LocalVolumeProbe.Unprobeable(path);
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
                Permissions = new Permissions { Mode = bst.Mode & VolumeOwnership.PermissionBits, Owner = bst.Uid, Group = bst.Gid, Label = backing.Permissions.Label },
                Timestamps = LocalVolumeProbe.Timestamps(bst),
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
        var mode = VolumeOwnership.ModeOf(volume.Target.Permissions);
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

                LocalVolumeProbe.RefusePloop(volume, LocalVolumeProbe.PloopToolMissing);
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
        LocalVolumeProbe.RefusePloop(volume, LocalVolumeProbe.PloopToolMissing);
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

        var qemuImg = ExternalTools.Find("qemu-img") ?? "qemu-img";
        var shrink = capacity < volume.Capacity;
        if (volume.Target.Encryption is not { } encryption)
        {
            await QemuImgResize.RunAsync(_runner, QemuImgResize.BuildArgv(path, format, capacity, shrink, null, null, qemuImg), cancellationToken).ConfigureAwait(false);
            return;
        }

        // libvirt checks the encryption, then reads the passphrase, then runs qemu-img.
        _ = QemuImgResize.BuildArgv(path, format, capacity, shrink, encryption, null, qemuImg);
        var passphrase = VolumePassphrases.Resolve(volume, passphrases)!;
        var fd = -1;
        try
        {
            fd = VolumePassphrases.MemoryFile(passphrase, out var secretPath);
            var secret = new QemuImgEncryption(encryption, QemuImgCreate.SecretAliasFor(volume.Name), secretPath);
            await QemuImgResize.RunAsync(_runner, QemuImgResize.BuildArgv(path, format, capacity, shrink, encryption, secret, qemuImg), cancellationToken).ConfigureAwait(false);
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
            VolumeOwnership.Apply(fd, volume.Target.Permissions, mode, path);
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

            return LocalVolumeProbe.Describe(path, volume.Name, st, VolumeType.File, new ImageInfo { Format = StorageFileFormat.Raw, Capacity = (ulong)st.Size });
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
}
