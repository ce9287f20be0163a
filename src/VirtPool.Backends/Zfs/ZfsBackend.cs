using VirtPool.Backends.Local;
using VirtPool.Core.Backends;
using VirtPool.Core.Errors;
using VirtPool.Core.Interop;
using VirtPool.Core.Model;
using VirtPool.Core.Process;

namespace VirtPool.Backends.Zfs;

/// <summary>
/// libvirt's zfs pool (storage_backend_zfs.c): a zpool, or a dataset in one (a source name with a '/'),
/// whose volumes are its zvols, block devices at /dev/zvol/DATASET. Build and delete run zpool (zfs for
/// a dataset) with libvirt's argv; start, stop and refresh as libvirt has them (nothing to start or
/// stop, a refresh asks zpool for the space and zfs for the zvols); volumes are made and destroyed with
/// zfs. The data operations (upload, download, checksum, and wipe, which libvirt lacks for zvols) go to
/// the zvol's device node through <see cref="BlockVolumes"/>, as for partitions. vol-resize, which
/// libvirt 9.0 lacks for zfs, sets the zvol's volsize (<see cref="ResizeVolumeAsync"/>); vol-clone stays
/// refused as in libvirt.
/// </summary>
/// <remarks>
/// Where libvirt 9.0 ignores a failed command, the refresh fails instead: a zpool that does not exist
/// cannot be started (libvirt starts it, empty, capacity 0). Where the CLI is older than libvirt's
/// (zfs-fuse 0.7: no <c>zpool get -Hp</c>, no <c>zfs list -p</c>), the refused command is asked again in
/// the old CLI's words (<see cref="ZfsCommands.ZpoolListOld"/>, <see cref="ZfsCommands.VolumeListOld"/>),
/// so the pool's space is reported where libvirt reports 0.
/// </remarks>
public sealed class ZfsBackend : IStorageBackend, IPoolBuilder, IPoolDeleter, IVolumeCreator, IVolumeDeleter, IVolumeWiper, IVolumeTransfer, IVolumeResizer
{
    private readonly IProcessRunner _runner;
    private readonly BlockVolumes _volumes;

    /// <summary>libvirt's volmode probe, asked once per pool's backend: the answer is the installed ZFS's.</summary>
    private bool? _volmodeNeeded;

    /// <summary>
    /// The zvols this backend resized since the last pool refresh, by dataset, as zfs listed them after
    /// the resize: the index keeps the note the last refresh wrote, and a vol-info after a resize must
    /// show the new size. A pool refresh writes fresh notes and empties this.
    /// </summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, ZvolListing> _resized = new(StringComparer.Ordinal);

    private ZfsBackend(IProcessRunner runner)
    {
        _runner = runner;
        _volumes = new BlockVolumes(runner);
    }

    /// <summary>The zfs pool type: a <see cref="ZfsBackend"/> per pool.</summary>
    public static BackendType Type(IProcessRunner runner) => BackendType.Of(PoolType.Zfs, _ => new ZfsBackend(runner));

    /// <summary>
    /// Active when the source exists as a filesystem dataset (a zpool's root is one), as libvirt's later
    /// releases check; 9.0 looked for the /dev/zvol/SOURCE directory, which appears only with a zvol.
    /// </summary>
    public async Task<bool> CheckPoolAsync(PoolContext pool, CancellationToken cancellationToken)
    {
        var result = await RunAsync(ZfsCommands.FilesystemExists(Source(pool)), cancellationToken).ConfigureAwait(false);
        return result.Succeeded;
    }

    /// <summary>libvirt has no startPool for zfs: the refresh that follows finds the zpool, or fails.</summary>
    public Task StartPoolAsync(PoolContext pool, PoolStartFlags flags, CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Nothing to stop, as in libvirt.</summary>
    public Task StopPoolAsync(PoolContext pool, CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>
    /// libvirt's refreshPool: the zpool's size, allocated and free space (capacity, allocation,
    /// available), then its zvols under the source (name = the dataset's last component, capacity =
    /// volsize, allocation = refreservation). A failure is the refresh's failure.
    /// </summary>
    public async Task<PoolScan> RefreshPoolAsync(PoolContext pool, CancellationToken cancellationToken)
    {
        var source = Source(pool);
        var space = await ReadSpaceAsync(ZfsCommands.ZpoolOf(source), cancellationToken).ConfigureAwait(false);
        var zvols = await ListVolumesAsync(source, cancellationToken).ConfigureAwait(false);
        var volumes = new List<VolumeDefinition>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        // The pool's own zvol (SOURCE/v) comes first, so a nested one of the same name (SOURCE/a/v) never
        // takes its place: a delete or wipe of "v" must reach SOURCE/v, as libvirt's does.
        foreach (var zvol in zvols.OrderBy(z => z.Dataset == $"{source}/{z.VolumeName}" ? 0 : 1))
        {
            // Nested zvols with one name (tank/a/v, tank/b/v) would be one volume: the first is kept.
            if (names.Add(zvol.VolumeName))
            {
                volumes.Add(Describe(zvol, key: zvol.Dataset));
            }
        }

        _resized.Clear();
        return new PoolScan(new PoolSizes(space.Size, space.Allocated, space.Free), volumes);
    }

    /// <summary>
    /// From the backend note (what the last listing said), as libvirt shows a zvol without asking zfs;
    /// for a zvol this backend resized since, what zfs said after the resize. A note can also be older
    /// than a resize another process made (the embedded CLI's vol-resize; the index keeps the note of
    /// the last refresh): when the zvol's device node reports another size than the note, zfs is asked.
    /// </summary>
    public async Task<VolumeDefinition> RefreshVolumeAsync(PoolContext pool, VolumeDefinition volume, CancellationToken cancellationToken)
    {
        if (ZvolData.TryParse(volume.BackendData, out var zvol))
        {
            if (_resized.TryGetValue(zvol.Dataset, out var resized))
            {
                zvol = resized;
            }
            else if (NodeSize(zvol.Dataset) is { } size && size != zvol.VolSize)
            {
                zvol = await ReadZvolAsync(zvol.Dataset, cancellationToken).ConfigureAwait(false);
                _resized[zvol.Dataset] = zvol;
            }
        }
        else
        {
            var dataset = $"{Source(pool)}/{volume.Name}";
            var listed = await ListVolumesAsync(Source(pool), cancellationToken).ConfigureAwait(false);
            zvol = listed.FirstOrDefault(z => z.Dataset == dataset);
            if (zvol.Dataset is null)
            {
                throw new VirtPoolException(VirErrorCode.NoStorageVol, $"no storage vol with matching name '{volume.Name}'");
            }
        }

        var described = Describe(zvol, volume.Key ?? zvol.Dataset);
        described.Target.Permissions = volume.Target.Permissions;
        return described;
    }

    /// <summary>libvirt's buildPool: <c>zpool create ZPOOL DEVICE…</c>, or <c>zfs create -o mountpoint=none DATASET</c>.</summary>
    public async Task BuildPoolAsync(PoolContext pool, PoolBuildFlags flags, CancellationToken cancellationToken)
    {
        BackendFlags.Check((uint)flags, 0, "virStorageBackendZFSBuildPool");
        var source = Source(pool);
        var devices = pool.Definition.Source.Devices.Select(d => d.Path).ToList();
        if (!ZfsCommands.IsDataset(source) && devices.Count == 0)
        {
            throw VirtPoolException.Unsupported("missing source devices");
        }

        // zpool reads options after the pool's name too: a device '-f' would force the create over
        // devices in use, '-n' make it a dry run.
        if (devices.Concat([source]).FirstOrDefault(d => d.StartsWith('-')) is { } option)
        {
            throw VirtPoolException.InvalidArg($"'{option}' would be read by zpool as an option");
        }

        await RunCheckedAsync(ZfsCommands.Build(source, devices), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>libvirt's deletePool: <c>zpool destroy ZPOOL</c>, or <c>zfs destroy -r DATASET</c>.</summary>
    public async Task DeletePoolAsync(PoolContext pool, PoolDeleteFlags flags, CancellationToken cancellationToken)
    {
        BackendFlags.Check((uint)flags, 0, "virStorageBackendZFSDeletePool");
        await RunCheckedAsync(ZfsCommands.DeletePool(Source(pool)), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>A block volume at TARGET/NAME (/dev/zvol/SOURCE/NAME), keyed by that path, as libvirt's createVol sets it.</summary>
    public VolumeDefinition PrepareVolume(PoolContext pool, VolumeDefinition volume)
    {
        var prepared = volume.DeepClone();
        var path = $"{pool.TargetPath}/{volume.Name}";
        prepared.Type = VolumeType.Block;
        prepared.Key = path;
        prepared.Target.Path = path;
        return prepared;
    }

    /// <summary>
    /// libvirt's createVol: encrypted volumes refused, the volmode probe, <c>zfs create … -V SIZEK
    /// SOURCE/NAME</c>, then the zvol's sizes from the volume listing. If that listing fails or lacks
    /// the zvol, the zvol is destroyed again.
    /// </summary>
    public async Task<VolumeDefinition> CreateVolumeAsync(PoolContext pool, VolumeDefinition volume, VolumeCreateFlags flags, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        if (volume.Target.Encryption is not null)
        {
            throw VirtPoolException.Unsupported("storage pool does not support encrypted volumes");
        }

        var volmode = await VolModeNeededAsync(cancellationToken).ConfigureAwait(false);
        var dataset = $"{Source(pool)}/{volume.Name}";
        await RunCheckedAsync(ZfsCommands.CreateVolume(dataset, volume.Capacity, volume.EffectiveAllocation, volmode), cancellationToken).ConfigureAwait(false);
        try
        {
            var listed = await ListVolumesAsync(Source(pool), cancellationToken).ConfigureAwait(false);
            var zvol = listed.FirstOrDefault(z => z.Dataset == dataset);
            if (zvol.Dataset is null)
            {
                throw VirtPoolException.Internal($"zfs lists no zvol '{dataset}' after creating it");
            }

            var created = Describe(zvol, volume.Key);
            created.Target.Permissions = volume.Target.Permissions;
            return created;
        }
        catch
        {
            await RunAsync(ZfsCommands.DeleteVolume(dataset), CancellationToken.None).ConfigureAwait(false);
            throw;
        }
    }

    public void CheckDeleteFlags(VolumeDefinition volume, VolumeDeleteFlags flags)
        => BackendFlags.Check((uint)flags, 0, "virStorageBackendZFSDeleteVol");

    /// <summary>libvirt's deleteVol: <c>zfs destroy DATASET</c>.</summary>
    public async Task DeleteVolumeAsync(PoolContext pool, VolumeDefinition volume, VolumeDeleteFlags flags, CancellationToken cancellationToken)
    {
        CheckDeleteFlags(volume, flags);
        var dataset = Dataset(pool, volume);
        await RunCheckedAsync(ZfsCommands.DeleteVolume(dataset), cancellationToken).ConfigureAwait(false);
        _resized.TryRemove(dataset, out _);
    }

    /// <summary>
    /// An addition (libvirt 9.0 has no resizeVol for zfs): <c>zfs set volsize=BYTES DATASET</c>, between
    /// two reads of the zvol's sizes (<see cref="ZfsCommands.VolumeSizes"/>).
    /// <list type="bullet">
    /// <item>The size is rounded up to a multiple of the zvol's volblocksize, which zfs requires of a
    /// volsize (<c>zfs set</c> refuses any other; a newer <c>zfs create -V</c> rounds up the same way, and
    /// libvirt rounds sizes up to KiB).</item>
    /// <item>A thick zvol stays thick: libzfs moves its refreservation with the volsize by itself. A sparse
    /// one stays sparse, unless <paramref name="allocate"/> asks for the space: then
    /// <c>refreservation=auto</c> reserves the whole new size.</item>
    /// <item>The manager decided grow or shrink from the volume it had; if zfs has the zvol larger than
    /// that (resized behind the index's back), a shrink the caller never asked for is refused with the
    /// manager's own message.</item>
    /// <item>A dataset that is not a zvol is not rounded: zfs's own refusal of the set is the error.</item>
    /// </list>
    /// </summary>
    public async Task ResizeVolumeAsync(PoolContext pool, VolumeDefinition volume, ulong capacity, bool allocate, CancellationToken cancellationToken)
    {
        var dataset = Dataset(pool, volume);
        var sizesArgv = ZfsCommands.VolumeSizes(dataset);
        var before = await RunCheckedAsync(sizesArgv, cancellationToken).ConfigureAwait(false);
        var volsize = capacity;
        var reserve = false;
        if (ZfsOutput.TryParseVolumeSizes(before.StandardOutput, out var live))
        {
            volsize = RoundUp(capacity, live.VolBlockSize);
            if (volsize < live.VolSize && capacity >= volume.Capacity)
            {
                throw VirtPoolException.InvalidArg("Can't shrink capacity below current capacity unless shrink flag explicitly specified");
            }

            reserve = allocate && !live.Thick;
            if (volsize == live.VolSize && !reserve)
            {
                _resized[dataset] = new ZvolListing(dataset, live.VolSize, live.RefReservation);
                return;
            }
        }

        await RunCheckedAsync(ZfsCommands.SetVolumeSize(dataset, volsize, reserve), cancellationToken).ConfigureAwait(false);

        // The note follows what zfs made of it (the refreservation libzfs chose), not what was asked.
        _resized[dataset] = await ReadZvolAsync(dataset, CancellationToken.None).ConfigureAwait(false);
    }

    /// <summary>The zvol's sizes as zfs has them now (<see cref="ZfsCommands.VolumeSizes"/>).</summary>
    private async Task<ZvolListing> ReadZvolAsync(string dataset, CancellationToken cancellationToken)
    {
        var argv = ZfsCommands.VolumeSizes(dataset);
        var result = await RunCheckedAsync(argv, cancellationToken).ConfigureAwait(false);
        return ZfsOutput.TryParseVolumeSizes(result.StandardOutput, out var sizes)
            ? new ZvolListing(dataset, sizes.VolSize, sizes.RefReservation)
            : throw Unreadable(argv, result);
    }

    /// <summary>
    /// The size of the zvol's device node /dev/zvol/DATASET (BLKGETSIZE64, which follows volsize), or
    /// null where there is none to ask: no node (volmode=none, udev not done yet, zfs-fuse), or not a
    /// block device.
    /// </summary>
    private static ulong? NodeSize(string dataset)
    {
        var fd = LibC.Open("/dev/zvol/" + dataset, LibC.O_RDONLY | LibC.O_NOCTTY | LibC.O_CLOEXEC | LibC.O_NONBLOCK, 0);
        if (fd < 0)
        {
            return null;
        }

        try
        {
            return BlockDevice.IsBlockDevice(fd) && BlockDevice.SizeOrZero(fd) is > 0 and var size ? (ulong)size : null;
        }
        finally
        {
            LibC.Close(fd);
        }
    }

    /// <summary>An addition (libvirt has no wipeVol for zfs): the zvol's device is wiped as a partition is.</summary>
    public async Task<VolumeDefinition> WipeVolumeAsync(PoolContext pool, VolumeDefinition volume, VolumeWipeAlgorithm algorithm, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        await _volumes.WipeAsync(volume, algorithm, progress, cancellationToken).ConfigureAwait(false);
        return await RefreshVolumeAsync(pool, volume, cancellationToken).ConfigureAwait(false);
    }

    public Task<long> UploadAsync(PoolContext pool, VolumeDefinition volume, VolumeDataEndpoint source, ulong offset, ulong length, bool sparse, IProgress<long>? progress, CancellationToken cancellationToken)
        => _volumes.UploadAsync(volume, source, offset, length, sparse, progress, cancellationToken);

    public Task<long> DownloadAsync(PoolContext pool, VolumeDefinition volume, VolumeDataEndpoint target, ulong offset, ulong length, bool sparse, IProgress<long>? progress, CancellationToken cancellationToken)
        => _volumes.DownloadAsync(volume, target, offset, length, sparse, progress, cancellationToken);

    public Task<byte[]> Sha256Async(PoolContext pool, VolumeDefinition volume, IProgress<long>? progress, CancellationToken cancellationToken)
        => _volumes.Sha256Async(volume, progress, cancellationToken);

    /// <summary>
    /// The zpool's space: libvirt's <c>zpool get -Hp</c>; where the CLI refuses that as a usage error
    /// (zfs-fuse), <c>zpool list -H</c>, whose sizes are rounded to three digits. Any other failure
    /// (no such pool, no daemon) is the error.
    /// </summary>
    private async Task<ZpoolSpace> ReadSpaceAsync(string zpool, CancellationToken cancellationToken)
    {
        var argv = ZfsCommands.ZpoolGet(zpool);
        var result = await RunAsync(argv, cancellationToken).ConfigureAwait(false);
        if (result.Succeeded)
        {
            return ZfsOutput.TryParseZpoolGet(result.StandardOutput, out var space)
                ? space
                : throw Unreadable(argv, result);
        }

        if (!ZfsCommands.IsUsageRefusal(result))
        {
            throw ZfsCommands.Failure(argv, result);
        }

        var old = ZfsCommands.ZpoolListOld(zpool);
        var listed = await RunCheckedAsync(old, cancellationToken).ConfigureAwait(false);
        return ZfsOutput.TryParseZpoolList(listed.StandardOutput, zpool, out var rounded)
            ? rounded
            : throw Unreadable(old, listed);
    }

    /// <summary>The zvols under the source: libvirt's <c>zfs list -Hp</c>, or <c>zfs get -Hp</c> where <c>list -p</c> is refused.</summary>
    private async Task<IReadOnlyList<ZvolListing>> ListVolumesAsync(string source, CancellationToken cancellationToken)
    {
        var argv = ZfsCommands.VolumeList(source);
        var result = await RunAsync(argv, cancellationToken).ConfigureAwait(false);
        if (result.Succeeded)
        {
            return ZfsOutput.ParseVolumeList(result.StandardOutput);
        }

        if (!ZfsCommands.IsUsageRefusal(result))
        {
            throw ZfsCommands.Failure(argv, result);
        }

        var old = await RunCheckedAsync(ZfsCommands.VolumeListOld(source), cancellationToken).ConfigureAwait(false);
        return ZfsOutput.ParseVolumeProperties(old.StandardOutput);
    }

    /// <summary>
    /// libvirt's virStorageBackendZFSVolModeNeeded: <c>zfs get</c> exits 2 with its usage, which lists
    /// volmode where zvols have one (FreeBSD). Any other exit: not needed (libvirt warns and goes on).
    /// </summary>
    private async Task<bool> VolModeNeededAsync(CancellationToken cancellationToken)
    {
        if (_volmodeNeeded is { } known)
        {
            return known;
        }

        var result = await RunAsync(ZfsCommands.VolModeProbe(), cancellationToken).ConfigureAwait(false);
        var needed = result.ExitCode == 2 && result.StandardError.Contains(" volmode ", StringComparison.Ordinal);
        _volmodeNeeded = needed;
        return needed;
    }

    /// <summary><paramref name="bytes"/> rounded up to a multiple of <paramref name="blockSize"/>; beyond 2^64 is libvirt's size error.</summary>
    private static ulong RoundUp(ulong bytes, ulong blockSize)
    {
        var rest = bytes % blockSize;
        if (rest == 0)
        {
            return bytes;
        }

        return bytes <= ulong.MaxValue - (blockSize - rest)
            ? bytes + (blockSize - rest)
            : throw VirtPoolException.InvalidArg($"volume capacity {bytes} rounded up to the zvol's block size {blockSize} is too large");
    }

    /// <summary>The zvol's dataset: from the note (a zvol in a child filesystem keeps its own name), else SOURCE/NAME as libvirt names it.</summary>
    private static string Dataset(PoolContext pool, VolumeDefinition volume)
        => ZvolData.TryParse(volume.BackendData, out var zvol) ? zvol.Dataset : $"{Source(pool)}/{volume.Name}";

    private static VolumeDefinition Describe(ZvolListing zvol, string? key)
    {
        var path = "/dev/zvol/" + zvol.Dataset;
        return new VolumeDefinition
        {
            Name = zvol.VolumeName,
            Key = key ?? path,
            Type = VolumeType.Block,
            Capacity = zvol.VolSize,
            HasCapacity = true,
            Allocation = zvol.RefReservation,
            Target = new VolumeTarget { Path = path },
            BackendData = ZvolData.Format(zvol),
        };
    }

    private static VirtPoolException Unreadable(IReadOnlyList<string> argv, ProcessResult result)
        => VirtPoolException.Internal($"cannot read the output of '{ChildProcessErrors.CommandText(argv)}': '{result.StandardOutput.TrimEnd()}'");

    private static string Source(PoolContext pool)
        => pool.Definition.Source.Name is { Length: > 0 } name ? name : throw VirtPoolException.Internal("missing source name");

    private Task<ProcessResult> RunAsync(IReadOnlyList<string> argv, CancellationToken cancellationToken)
        => _runner.RunAsync(new ProcessRequest(argv) { Timeout = ZfsCommands.Timeout }, cancellationToken);

    private async Task<ProcessResult> RunCheckedAsync(IReadOnlyList<string> argv, CancellationToken cancellationToken)
    {
        var result = await RunAsync(argv, cancellationToken).ConfigureAwait(false);
        return result.Succeeded ? result : throw ZfsCommands.Failure(argv, result);
    }
}
