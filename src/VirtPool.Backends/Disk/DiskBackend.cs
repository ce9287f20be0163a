using System.Globalization;
using VirtPool.Backends.Fs;
using VirtPool.Backends.Local;
using VirtPool.Core.Backends;
using VirtPool.Core.Errors;
using VirtPool.Core.Interop;
using VirtPool.Core.Model;
using VirtPool.Core.Process;

namespace VirtPool.Backends.Disk;

/// <summary>
/// libvirt's disk pool: a partition table on a whole device, volumes are its partitions.
/// <para>
/// Labels and dos partitions go through <c>parted</c> with libvirt's argv (mklabel, mkpart at
/// libvirt's byte boundaries, rm): libparted writes every label libvirt offers (dos, gpt, dvh, mac,
/// bsd, pc98, sun), keeps the CHS fields and the EBR chain as libvirt's pools have them, and tells the
/// kernel of each change itself (BLKPG), so the /dev/loopNpM nodes exist (devtmpfs) when it returns.
/// A gpt partition is one table entry: <see cref="GptWriter"/> writes it (both tables, checksums) and
/// tells the kernel with BLKPG itself, where parted costs ~110 ms a partition. Reading is native
/// (<see cref="PartitionTableReader"/>, <see cref="DiskLayout"/>): a refresh runs no tool, where libvirt
/// runs libvirt_parthelper twice (and udevadm settle).
/// </para>
/// </summary>
public sealed class DiskBackend : IStorageBackend, IRescanOnVolumeChange, IPoolBuilder, IPoolDeleter, IVolumeCreator, IVolumeDeleter, IVolumeCloner, IVolumeWiper, IVolumeTransfer
{
    /// <summary>parted rewrites a table in milliseconds; a device that hangs must not hold the pool's lock forever.</summary>
    private static readonly TimeSpan PartedTimeout = TimeSpan.FromMinutes(2);

    private readonly IProcessRunner _runner;
    private readonly BlockVolumes _volumes;
    private readonly string? _blkid;

    private DiskBackend(IProcessRunner runner)
    {
        _runner = runner;
        _volumes = new BlockVolumes(runner);
        _blkid = ExternalTools.Find("blkid");
    }

    public static BackendType Type(IProcessRunner runner) => BackendType.Of(PoolType.Disk, _ => new DiskBackend(runner));

    public Task<bool> CheckPoolAsync(PoolContext pool, CancellationToken cancellationToken)
    {
        var path = DevicePath(pool);
        if (!DiskDevice.Exists(path))
        {
            return Task.FromResult(false);
        }

        RequireLabel(path, ExpectedLabel(pool));
        return Task.FromResult(true);
    }

    public Task StartPoolAsync(PoolContext pool, PoolStartFlags flags, CancellationToken cancellationToken)
    {
        var path = DevicePath(pool);
        if (!DiskDevice.Exists(path))
        {
            throw VirtPoolException.InvalidArg($"device path '{path}' doesn't exist");
        }

        RequireLabel(path, ExpectedLabel(pool));
        return Task.CompletedTask;
    }

    public Task StopPoolAsync(PoolContext pool, CancellationToken cancellationToken) => Task.CompletedTask;

    public async Task<PoolScan> RefreshPoolAsync(PoolContext pool, CancellationToken cancellationToken)
    {
        var path = DevicePath(pool);
        if (!DiskDevice.Exists(path))
        {
            throw VirtPoolException.InvalidArg($"device path '{path}' doesn't exist");
        }

        // Under the table's lock: a create or delete (which run outside the pool's lock) is never seen
        // half done, a table entry whose node the kernel has not made yet.
        using var tableLock = await DiskDevice.LockTableAsync(path, cancellationToken).ConfigureAwait(false);
        var table = ReadReadableTable(pool, path);
        var free = DiskLayout.FreeRegions(table).Select(ToExtent).ToList();
        var volumes = new List<VolumeDefinition>();
        ulong allocation = 0;
        ulong capacity = free.Count > 0 ? free.Max(f => f.End) : 0;
        var logicalAllocation = 0UL;
        foreach (var partition in table.Partitions.OrderBy(p => p.Number))
        {
            // libvirt forgets a format on refresh ("none"); the table's type byte keeps it (extended, swap…).
            var volume = Describe(pool, partition, partition.Format, extendedAllocation: 0);
            if (partition.Kind == PartitionKind.Logical)
            {
                logicalAllocation += volume.EffectiveAllocation;
            }

            volumes.Add(volume);
        }

        foreach (var volume in volumes)
        {
            var partition = PartitionData.Parse(volume.BackendData!);
            if (partition.Kind == PartitionKind.Extended)
            {
                // libvirt adds each logical's allocation to the extended partition's (and not to the pool's twice).
                volume.Allocation = logicalAllocation;
                volume.BackendData = (partition with { Allocation = logicalAllocation }).Format();
            }
            else
            {
                allocation += volume.EffectiveAllocation;
            }

            capacity = Math.Max(capacity, volume.Source.Extents[0].End);
        }

        var available = (ulong)free.Sum(f => (decimal)(f.End - f.Start));
        var device = pool.Definition.Source.Devices[0] with { FreeExtents = free };
        var source = pool.Definition.Source with { Devices = [device, .. pool.Definition.Source.Devices.Skip(1)] };
        return new PoolScan(new PoolSizes(capacity, allocation, available), volumes, Source: source);
    }

    public Task<VolumeDefinition> RefreshVolumeAsync(PoolContext pool, VolumeDefinition volume, CancellationToken cancellationToken)
    {
        var refreshed = _volumes.Refresh(volume);
        var noted = volume.BackendData is { } note && PartitionData.TryParse(note, out var partition) ? partition : null;
        if (noted is not null)
        {
            ApplyPartition(pool, refreshed, noted);
        }

        // libvirt knows a partition holds LUKS only from the create that made it (until a pool refresh),
        // and reports the partition less its header reserve, not the payload the LUKS header describes.
        if (volume.Target.Encryption is { } encryption && noted is not null)
        {
            refreshed.Target.Encryption = encryption;
            refreshed.Capacity = noted.End - noted.Start;
            refreshed.Allocation = refreshed.Capacity;
            ReserveLuksHeader(refreshed);
        }

        return Task.FromResult(refreshed);
    }

    public Task BuildPoolAsync(PoolContext pool, PoolBuildFlags flags, CancellationToken cancellationToken)
        => BuildAsync(pool, flags, cancellationToken);

    public Task DeletePoolAsync(PoolContext pool, PoolDeleteFlags flags, CancellationToken cancellationToken)
    {
        BackendFlags.Check((uint)flags, 0, "virStorageBackendDiskDeletePool");
        DiskDevice.ZeroLabel(DevicePath(pool), cancellationToken);
        return Task.CompletedTask;
    }

    /// <summary>The volume as the pool's device names it: its key and path are the partition's node.</summary>
    public VolumeDefinition PrepareVolume(PoolContext pool, VolumeDefinition volume)
    {
        var prepared = volume.DeepClone();
        var device = NodePath(pool);
        var path = Path.Combine(Path.GetDirectoryName(device) ?? "/dev", volume.Name);
        prepared.Type = VolumeType.Block;
        prepared.Key = path;
        prepared.Target.Path = path;
        prepared.Target.Format ??= "none";
        return prepared;
    }

    public async Task<VolumeDefinition> CreateVolumeAsync(PoolContext pool, VolumeDefinition volume, VolumeCreateFlags flags, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        var created = await CreatePartitionAsync(pool, volume, cancellationToken).ConfigureAwait(false);
        if (volume.Target.Encryption is not null)
        {
            try
            {
                await _volumes.FormatLuksAsync(created, pool.Passphrases, cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                await RemovePartitionAsync(pool, created, CancellationToken.None).ConfigureAwait(false);
                throw;
            }

            return await RefreshVolumeAsync(pool, created, cancellationToken).ConfigureAwait(false);
        }

        return created;
    }

    public async Task<VolumeDefinition> CreateVolumeFromAsync(PoolContext pool, VolumeDefinition volume, VolumeDefinition source, VolumeCreateFlags flags, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        var created = await CreatePartitionAsync(pool, volume, cancellationToken).ConfigureAwait(false);
        try
        {
            var copied = await _volumes.CreateFromAsync(created, source, flags, pool.Passphrases, progress, cancellationToken).ConfigureAwait(false);
            ApplyPartition(pool, copied, PartitionData.Parse(created.BackendData!));
            if (created.Target.Encryption is not null)
            {
                copied.Target.Encryption = created.Target.Encryption;
                (copied.Capacity, copied.Allocation) = (created.Capacity, created.Allocation);
            }

            return copied;
        }
        catch
        {
            await RemovePartitionAsync(pool, created, CancellationToken.None).ConfigureAwait(false);
            throw;
        }
    }

    public void CheckDeleteFlags(VolumeDefinition volume, VolumeDeleteFlags flags)
        => BackendFlags.Check((uint)flags, 0, "virStorageBackendDiskDeleteVol");

    /// <summary>
    /// Removes the partition by its number (<c>parted DEVICE rm --script N</c> on dos, the gpt entry
    /// natively). libvirt 9.0 gives parted what follows the device's name in the node's name ("p2" for
    /// loop0p2), which parted refuses: a deliberate difference.
    /// </summary>
    public Task DeleteVolumeAsync(PoolContext pool, VolumeDefinition volume, VolumeDeleteFlags flags, CancellationToken cancellationToken)
    {
        CheckDeleteFlags(volume, flags);
        return RemovePartitionAsync(pool, volume, cancellationToken);
    }

    /// <summary>libvirt's virStorageBackendDiskVolWipe: an extended partition's node is the first EBR, which holds its logicals.</summary>
    public Task<VolumeDefinition> WipeVolumeAsync(PoolContext pool, VolumeDefinition volume, VolumeWipeAlgorithm algorithm, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        var extended = volume.Source.PartitionType == VolumePartitionType.Extended
            || (volume.BackendData is { } note && PartitionData.TryParse(note, out var partition) && partition.Kind == PartitionKind.Extended);
        return extended
            ? throw VirtPoolException.NoSupport($"cannot wipe extended partition '{volume.Target.Path}'")
            : WipeAndKeepAsync(pool, volume, algorithm, progress, cancellationToken);
    }

    public Task<long> UploadAsync(PoolContext pool, VolumeDefinition volume, VolumeDataEndpoint source, ulong offset, ulong length, bool sparse, IProgress<long>? progress, CancellationToken cancellationToken)
        => _volumes.UploadAsync(volume, source, offset, length, sparse, progress, cancellationToken);

    public Task<long> DownloadAsync(PoolContext pool, VolumeDefinition volume, VolumeDataEndpoint target, ulong offset, ulong length, bool sparse, IProgress<long>? progress, CancellationToken cancellationToken)
        => _volumes.DownloadAsync(volume, target, offset, length, sparse, progress, cancellationToken);

    public Task<byte[]> Sha256Async(PoolContext pool, VolumeDefinition volume, IProgress<long>? progress, CancellationToken cancellationToken)
        => _volumes.Sha256Async(volume, progress, cancellationToken);

    /// <summary>
    /// libvirt's parted fs-type names for the volume formats (virStoragePartedFs): what mkpart is told.
    /// </summary>
    internal static string PartedFsType(string? format) => format switch
    {
        null or "none" or "linux" or "linux-lvm" or "linux-raid" => "ext2",
        "fat16" => "fat16",
        "fat32" => "fat32",
        "linux-swap" => "linux-swap",
        "extended" => "extended",
        _ => throw VirtPoolException.Internal("Invalid partition type"),
    };

    /// <summary>
    /// libvirt's virStorageBackendDiskPartBoundaries: the smallest free extent of the right kind that
    /// fits, a dos partition ending on a cylinder boundary, a logical one starting a sector in (its EBR).
    /// Returns byte offsets, the end inclusive, as mkpart is given them.
    /// </summary>
    internal static (ulong Start, ulong End) PartBoundaries(PartitionTable table, PartitionKind kind, ulong allocation)
    {
        const ulong sector = PartitionTableReader.SectorSize;
        var dos = table.Label == DiskLabel.Dos;
        var cylinder = (ulong)DiskLayout.CylinderSectors * sector;
        var extraBytes = cylinder - (allocation % cylinder);
        PoolFreeExtent? best = null;
        ulong smallest = 0;
        ulong aligned = allocation;
        foreach (var region in DiskLayout.FreeRegions(table))
        {
            var extent = ToExtent(region);
            var size = extent.End - extent.Start;
            var needed = allocation;
            if (dos)
            {
                needed += extraBytes;
                if (extent.Start % cylinder > extraBytes)
                {
                    needed += cylinder;
                }

                if (kind == PartitionKind.Logical)
                {
                    size = size >= sector ? size - sector : 0;
                }
            }

            if (size > needed && (smallest == 0 || size < smallest))
            {
                if ((kind == PartitionKind.Logical) != region.Logical)
                {
                    continue;
                }

                smallest = size;
                best = extent;
                aligned = needed;
            }
        }

        if (best is not { } chosen)
        {
            throw VirtPoolException.Internal("no large enough free extent");
        }

        var start = chosen.Start + (kind == PartitionKind.Logical ? sector : 0);
        var end = start + aligned;
        if (dos)
        {
            end -= start % cylinder;
        }

        return (start, end - 1);
    }

    private async Task BuildAsync(PoolContext pool, PoolBuildFlags flags, CancellationToken cancellationToken)
    {
        BackendFlags.CheckBuild(flags, PoolBuildFlags.Overwrite | PoolBuildFlags.NoOverwrite, "virStorageBackendDiskBuildPool");
        var path = DevicePath(pool);
        var format = pool.Definition.Source.DiskFormat;
        if (!flags.HasFlag(PoolBuildFlags.Overwrite))
        {
            if (!DiskDevice.Exists(path))
            {
                throw new VirtPoolException(VirErrorCode.StorageProbeFailed, $"Failed to create filesystem probe for device {path}");
            }

            // libvirt's blkid probe looks for filesystems and every label, not only the tables read here:
            // a device holding ext4, swap or a PV is not blank, whatever its sector size.
            var expected = format == PoolDiskFormat.Unknown ? PoolDiskFormat.Dos : format;
            await FilesystemProbe.EnsureEmptyAsync(_runner, _blkid ?? throw ChildProcessErrors.NotFound("blkid"), path, expected.ToName(), cancellationToken).ConfigureAwait(false);
        }

        DiskDevice.ZeroLabel(path, cancellationToken);
        var label = format is PoolDiskFormat.Unknown or PoolDiskFormat.Dos ? "msdos" : format.ToName();
        await RunPartedAsync([path, "mklabel", "--script", label], cancellationToken).ConfigureAwait(false);
    }

    private async Task<VolumeDefinition> CreatePartitionAsync(PoolContext pool, VolumeDefinition volume, CancellationToken cancellationToken)
    {
        if (volume.Target.Encryption is { } encryption && encryption.Format != EncryptionFormat.Luks)
        {
            throw VirtPoolException.Unsupported("storage pool only supports LUKS encrypted volumes");
        }

        var device = DevicePath(pool);
        using var tableLock = await DiskDevice.LockTableAsync(device, cancellationToken).ConfigureAwait(false);
        var table = ReadReadableTable(pool, device);

        // virStorageBackendDiskPartFormat, then the boundaries, in libvirt's order (so its errors come first).
        var fsType = table.Label == DiskLabel.Dos ? PartedFsType(volume.Target.Format) : null;
        PartitionKind kind;
        string partFormat;
        if (table.Label != DiskLabel.Dos)
        {
            kind = PartitionKind.Primary;
            partFormat = "primary";
        }
        else if (volume.Target.Format == "extended")
        {
            if (table.Extended is not null)
            {
                throw VirtPoolException.Internal("extended partition already exists");
            }

            kind = PartitionKind.Extended;
            partFormat = "extended";
        }
        else if (table.Partitions.Count(p => p.Kind != PartitionKind.Logical) < 4)
        {
            kind = PartitionKind.Primary;
            partFormat = $"primary {fsType}";
        }
        else if (table.Extended is not null)
        {
            kind = PartitionKind.Logical;
            partFormat = $"logical {fsType}";
        }
        else
        {
            throw VirtPoolException.Internal("no extended partition found and no primary partition available");
        }

        var boundaryKind = kind == PartitionKind.Extended ? PartitionKind.Primary : kind;
        // libvirt's room for the LUKS header: the partition is 2 MiB larger than the capacity asked for.
        var partitionBytes = volume.Target.Encryption is null ? volume.Capacity : BlockVolumes.WithLuksHeaderRoom(volume.Capacity);
        var (start, end) = PartBoundaries(table, boundaryKind, partitionBytes);

        // libvirt finds a wrong name only after mkpart (and then fails to remove the partition on a loop
        // device); the number parted will give is known beforehand, so nothing is made for a wrong name.
        var number = DiskLayout.NextNumber(table, kind, (long)(start / PartitionTableReader.SectorSize));
        var expected = Path.GetFileName(DiskDevice.PartitionPath(NodePath(pool), number, pool.Definition.Source.Devices[0].PartSeparator));
        if (volume.Name != expected)
        {
            throw VirtPoolException.InvalidArg($"invalid partition name '{volume.Name}', expected '{expected}'");
        }

        // On gpt, what parted would write for libvirt's "mkpart primary STARTB ENDB" (its last sector is
        // the one holding byte ENDB), without parted's cost, when the table is sound; parted otherwise.
        const ulong sector = PartitionTableReader.SectorSize;
        if (table.Label != DiskLabel.Gpt || !GptWriter.TryAdd(device, number, (long)(start / sector), (long)(end / sector)))
        {
            await RunPartedAsync(
                [device, "mkpart", "--script", partFormat, $"{start.ToString(CultureInfo.InvariantCulture)}B", $"{end.ToString(CultureInfo.InvariantCulture)}B"],
                cancellationToken).ConfigureAwait(false);
        }

        var after = DiskDevice.ReadTable(device);
        var made = after.Partitions.FirstOrDefault(p => p.Number == number && p.Kind == kind)
            ?? throw VirtPoolException.Internal($"parted made no partition {number} on '{device}'");
        try
        {
            var created = Describe(pool, made, volume.Target.Format, extendedAllocation: 0);
            created.Target.Permissions = created.Target.Permissions with { Label = volume.Target.Permissions.Label };
            if (volume.Target.Encryption is { } luks)
            {
                created.Target.Encryption = luks;
                ReserveLuksHeader(created);
            }

            return created;
        }
        catch
        {
            var node = DiskDevice.PartitionPath(NodePath(pool), number, pool.Definition.Source.Devices[0].PartSeparator);
            await RemoveNumberAsync(device, node, after.Label, number, CancellationToken.None).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Removes partition <paramref name="number"/>: the kernel lets go of it first, or refuses while it
    /// is open (mounted, a guest's disk), and then nothing changes (parted, which libvirt runs, clears
    /// the entry all the same and fails after, leaving the table and the kernel's view apart: a
    /// deliberate difference). Then the entry: a sound gpt natively (<see cref="GptWriter"/>), anything
    /// else with <c>parted DEVICE rm --script N</c>.
    /// </summary>
    private async Task RemoveNumberAsync(string device, string node, DiskLabel label, int number, CancellationToken cancellationToken)
    {
        if (!GptWriter.TryDrop(device, number))
        {
            throw VirtPoolException.System($"cannot delete partition '{node}', it is in use", Errno.EBUSY);
        }

        if (label == DiskLabel.Gpt && GptWriter.TryRemove(device, number))
        {
            return;
        }

        await RunPartedAsync([device, "rm", "--script", number.ToString(CultureInfo.InvariantCulture)], cancellationToken).ConfigureAwait(false);
    }

    private async Task RemovePartitionAsync(PoolContext pool, VolumeDefinition volume, CancellationToken cancellationToken)
    {
        var device = DevicePath(pool);
        if (volume.Target.Path is null)
        {
            throw VirtPoolException.InvalidArg($"volume target path empty for source path '{device}'");
        }

        var number = volume.BackendData is { } note && PartitionData.TryParse(note, out var partition)
            ? partition.Number
            : NumberFromName(NodePath(pool), volume);
        using var tableLock = await DiskDevice.LockTableAsync(device, cancellationToken).ConfigureAwait(false);
        await RemoveNumberAsync(device, volume.Target.Path, DiskDevice.ProbeLabel(device), number, cancellationToken).ConfigureAwait(false);
    }

    private async Task<VolumeDefinition> WipeAndKeepAsync(PoolContext pool, VolumeDefinition volume, VolumeWipeAlgorithm algorithm, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        var wiped = await _volumes.WipeAsync(volume, algorithm, progress, cancellationToken).ConfigureAwait(false);
        wiped.Target.Format = volume.Target.Format;
        if (volume.BackendData is { } note && PartitionData.TryParse(note, out var partition))
        {
            ApplyPartition(pool, wiped, partition);
        }

        return wiped;
    }

    private static int NumberFromName(string device, VolumeDefinition volume)
    {
        var name = Path.GetFileName(volume.Target.Path!);
        var source = Path.GetFileName(device);
        var rest = name.StartsWith(source, StringComparison.Ordinal) ? name[source.Length..].TrimStart('p') : string.Empty;
        return int.TryParse(rest, NumberStyles.None, CultureInfo.InvariantCulture, out var number) && number > 0
            ? number
            : throw VirtPoolException.Internal($"cannot parse partition number from target '{name}'");
    }

    private VolumeDefinition Describe(PoolContext pool, DiskPartition partition, string? format, ulong extendedAllocation)
    {
        var device = NodePath(pool);
        var path = DiskDevice.PartitionPath(device, partition.Number, pool.Definition.Source.Devices[0].PartSeparator);
        var volume = new VolumeDefinition
        {
            Name = Path.GetFileName(path),
            Key = path,
            Type = VolumeType.Block,
            Target = new VolumeTarget { Path = path, Format = format ?? "none" },
        };
        var described = _volumes.Refresh(volume);
        described.Target.Format = format ?? "none";
        var data = new PartitionData(partition.Number, partition.Kind, ToBytes(partition.Start), ToBytes(partition.End + 1), extendedAllocation);
        ApplyPartition(pool, described, data);
        return described;
    }

    /// <summary>What the table says over what the node says: the extent, and for an extended partition its size and its logicals' allocation (libvirt's MakeDataVol).</summary>
    private static void ApplyPartition(PoolContext pool, VolumeDefinition volume, PartitionData partition)
    {
        volume.BackendData = partition.Format();
        volume.Source = new VolumeSource
        {
            Extents = [new VolumeExtent(DevicePath(pool), partition.Start, partition.End)],
            PartitionType = partition.Kind switch
            {
                PartitionKind.Extended => VolumePartitionType.Extended,
                PartitionKind.Logical => VolumePartitionType.Logical,
                _ => VolumePartitionType.Primary,
            },
        };
        if (partition.Kind == PartitionKind.Extended)
        {
            volume.Capacity = partition.End - partition.Start;
            volume.Allocation = partition.Allocation;
        }
    }

    /// <summary>
    /// What libvirt's disk createVol takes off an encrypted partition's size for the LUKS header it
    /// reserved: capacity and allocation are the payload's, physical stays the partition's.
    /// </summary>
    private static void ReserveLuksHeader(VolumeDefinition volume)
    {
        volume.Capacity = volume.Capacity > BlockVolumes.LuksHeaderRoom ? volume.Capacity - BlockVolumes.LuksHeaderRoom : 0;
        if (volume.Allocation is { } allocation)
        {
            volume.Allocation = allocation > BlockVolumes.LuksHeaderRoom ? allocation - BlockVolumes.LuksHeaderRoom : 0;
        }
    }

    private static PoolFreeExtent ToExtent(FreeRegion region)
    {
        // libvirt: "first block reported as free, even if it is not".
        var start = region.Start == 0 ? 1 : region.Start;
        return new PoolFreeExtent(ToBytes(start), ToBytes(region.End + 1));
    }

    private static ulong ToBytes(long sector) => (ulong)sector * PartitionTableReader.SectorSize;

    private static string DevicePath(PoolContext pool)
        => pool.Definition.Source.Devices.Count > 0
            ? pool.Definition.Source.Devices[0].Path
            : throw VirtPoolException.Internal("missing source device");

    /// <summary>
    /// The device node the source path leads to (a /dev/disk/by-id/… link is the stable name to give a
    /// pool): partitions are named after it, as libvirt_parthelper resolves the link first.
    /// </summary>
    private static string NodePath(PoolContext pool)
    {
        var path = DevicePath(pool);
        try
        {
            return new FileInfo(path).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? path;
        }
        catch (IOException)
        {
            return path;
        }
    }

    private static PoolDiskFormat ExpectedLabel(PoolContext pool)
        => pool.Definition.Source.DiskFormat == PoolDiskFormat.Unknown ? PoolDiskFormat.Dos : pool.Definition.Source.DiskFormat;

    /// <summary>
    /// libvirt's virStorageBackendDiskValidLabel for a start: the label found against the one the pool
    /// names, with its messages for an unlabelled device and for a different label. (A build asks blkid,
    /// which knows filesystems too: <see cref="FilesystemProbe"/>.)
    /// </summary>
    private static void RequireLabel(string path, PoolDiskFormat expected)
    {
        if (expected is not (PoolDiskFormat.Dos or PoolDiskFormat.Gpt))
        {
            // parted builds them; their tables are not read here, so such a pool cannot run.
            throw VirtPoolException.Unsupported($"VirtPool reads dos and gpt partition tables only, not '{expected.ToName()}'");
        }

        var found = DiskDevice.ProbeLabel(path);
        if (found == DiskLabel.None)
        {
            throw new VirtPoolException(VirErrorCode.StorageProbeFailed, $"Device '{path}' is unrecognized, requires build");
        }

        var expectedName = expected.ToName();
        if ((found == DiskLabel.Gpt ? "gpt" : "dos") != expectedName)
        {
            throw VirtPoolException.InvalidOperation($"Format of device '{path}' does not match the expected format '{expectedName}'");
        }
    }

    private static PartitionTable ReadReadableTable(PoolContext pool, string path)
    {
        var table = DiskDevice.ReadTable(path);
        if (table.Label == DiskLabel.None)
        {
            var expected = ExpectedLabel(pool);
            throw expected is PoolDiskFormat.Dos or PoolDiskFormat.Gpt
                ? new VirtPoolException(VirErrorCode.StorageProbeFailed, $"Device '{path}' is unrecognized, requires build")
                : VirtPoolException.Unsupported($"VirtPool reads dos and gpt partition tables only, not '{expected.ToName()}'");
        }

        return table;
    }

    private async Task RunPartedAsync(string[] arguments, CancellationToken cancellationToken)
        => await _runner.RunCheckedAsync(new ProcessRequest(["parted", .. arguments]) { Timeout = PartedTimeout }, cancellationToken).ConfigureAwait(false);
}
