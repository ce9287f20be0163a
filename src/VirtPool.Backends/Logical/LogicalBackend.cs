using System.Text.RegularExpressions;
using VirtPool.Backends.Disk;
using VirtPool.Backends.Fs;
using VirtPool.Backends.Local;
using VirtPool.Core.Backends;
using VirtPool.Core.Errors;
using VirtPool.Core.Model;
using VirtPool.Core.Process;

namespace VirtPool.Backends.Logical;

/// <summary>
/// libvirt's logical pool: an LVM volume group, volumes are its logical volumes. Every lvm2 command is
/// libvirt 9.0's argv (<see cref="LvmCommands"/>) and its errors pass through as libvirt's ("Child
/// process (...) unexpected exit status N: STDERR"); lvs and vgs are read by pure parsers
/// (<see cref="LvsOutput"/>, <see cref="VgsOutput"/>). Data operations on an LV's node are the shared
/// block-volume code (<see cref="BlockVolumes"/>), as in the disk pool.
/// </summary>
/// <remarks>
/// <para>
/// With LVM's own activation off (<c>global { activation = 0 }</c> in the lvm.conf that
/// <c>LVM_SYSTEM_DIR</c> names: hosts without device-mapper, tests, benchmarks) no LV ever gets a node,
/// and libvirt's rules list none of them and fail every create after lvcreate. In that mode
/// (<see cref="MetadataOnly"/>) inactive LVs are volumes too, sized from lvs, and a create does not
/// look for a node; libvirt's argv stay unchanged (lvcreate then skips zeroing the LV itself, with a warning).
/// </para>
/// </remarks>
public sealed partial class LogicalBackend : IStorageBackend, IPoolBuilder, IPoolDeleter, IVolumeCreator, IVolumeDeleter, IVolumeCloner, IVolumeWiper, IVolumeTransfer, IVolumeResizer
{
    /// <summary>LVM scans devices and may wait on locks: a device that hangs must not hold the pool's lock forever.</summary>
    public static readonly TimeSpan ToolTimeout = TimeSpan.FromMinutes(2);

    private readonly IProcessRunner _runner;
    private readonly BlockVolumes _volumes;

    /// <summary>LVs resized since the last pool refresh: their notes are stale (matters only without nodes).</summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, byte> _resized = new(StringComparer.Ordinal);

    public LogicalBackend(IProcessRunner runner, bool metadataOnly)
    {
        _runner = runner ?? throw new ArgumentNullException(nameof(runner));
        _volumes = new BlockVolumes(runner);
        MetadataOnly = metadataOnly;
    }

    /// <summary>LVM cannot activate (its configuration says so): inactive LVs are listed, no node is expected.</summary>
    public bool MetadataOnly { get; }

    /// <summary>The registry's line: one backend per pool, activation mode read from the environment once per load.</summary>
    public static BackendType Type(IProcessRunner runner)
        => BackendType.Of(PoolType.Logical, _ => new LogicalBackend(runner, ActivationDisabled(Environment.GetEnvironmentVariable("LVM_SYSTEM_DIR"))), new LogicalSourceFinder(runner));

    /// <summary>
    /// Whether the lvm.conf in <paramref name="lvmSystemDir"/> (LVM_SYSTEM_DIR) turns activation off
    /// (<c>activation = 0</c>, as a setting, not the <c>activation { }</c> section). The host's /etc/lvm
    /// is not read: there activation is on (it is LVM's default), as libvirtd assumes.
    /// </summary>
    public static bool ActivationDisabled(string? lvmSystemDir)
    {
        if (string.IsNullOrEmpty(lvmSystemDir))
        {
            return false;
        }

        var conf = Path.Combine(lvmSystemDir, "lvm.conf");
        if (!File.Exists(conf))
        {
            return false;
        }

        var text = string.Join('\n', File.ReadLines(conf).Select(l => l.Split('#')[0]));
        return ActivationOff().IsMatch(text);
    }

    public async Task<bool> CheckPoolAsync(PoolContext pool, CancellationToken cancellationToken)
    {
        try
        {
            await MatchPoolSourceAsync(pool, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (VirtPoolException)
        {
            return false;
        }
    }

    /// <summary>virStorageBackendLogicalStartPool: the group and its devices as pvs lists them, then <c>vgchange -aly</c>.</summary>
    public async Task StartPoolAsync(PoolContext pool, PoolStartFlags flags, CancellationToken cancellationToken)
    {
        await MatchPoolSourceAsync(pool, cancellationToken).ConfigureAwait(false);
        await RunAsync(LvmCommands.VgChangeArgv(GroupName(pool), activate: true), cancellationToken).ConfigureAwait(false);
    }

    public Task StopPoolAsync(PoolContext pool, CancellationToken cancellationToken)
        => RunAsync(LvmCommands.VgChangeArgv(GroupName(pool), activate: false), cancellationToken);

    /// <summary>
    /// virStorageBackendLogicalRefreshPool, in one LVM scan where libvirt runs two (lvs for the volumes,
    /// then vgs for size and free): lvs with the group's size and free space as two more columns
    /// (<see cref="LvmCommands.LvsWithGroupSizesArgv"/>); only a group without LVs, which prints no row,
    /// is asked with libvirt's vgs. The live &lt;source&gt; stays the defined one, as libvirt 9.0 leaves
    /// it (pvs is not read on refresh).
    /// </summary>
    public async Task<PoolScan> RefreshPoolAsync(PoolContext pool, CancellationToken cancellationToken)
    {
        var group = GroupName(pool);
        var lvs = await RunAsync(LvmCommands.LvsWithGroupSizesArgv(group), cancellationToken).ConfigureAwait(false);
        var listing = LvsOutput.SplitGroupSizes(lvs.StandardOutput, out var found);
        var volumes = LvsOutput.ParseVolumes(listing, MetadataOnly).Select(lv => Describe(pool, lv)).ToList();
        var sizes = found ?? new PoolSizes(0, 0, 0);
        if (found is null)
        {
            var vgs = await RunAsync(LvmCommands.VgsArgv(group), cancellationToken).ConfigureAwait(false);
            _ = VgsOutput.TryParse(vgs.StandardOutput, out sizes);
        }

        _resized.Clear();
        return new PoolScan(sizes, volumes);
    }

    /// <summary>
    /// libvirt's refreshVol for a block volume: the node's sizes and owner, the LV's note for key and
    /// extents (a linear LV's allocation is its node's size, so a resize needs no new note). Without a
    /// node (metadata-only LVM) the note is all there is, except for an LV this backend resized since
    /// the last pool refresh, which is read from lvs again.
    /// </summary>
    public async Task<VolumeDefinition> RefreshVolumeAsync(PoolContext pool, VolumeDefinition volume, CancellationToken cancellationToken)
    {
        var hasNote = LogicalVolumeData.TryParse(volume.BackendData, out var note);
        if (MetadataOnly && !File.Exists(volume.Target.Path))
        {
            if (!hasNote || _resized.ContainsKey(volume.Name))
            {
                return await FindVolumeAsync(pool, volume, cancellationToken).ConfigureAwait(false);
            }

            var copy = volume.DeepClone();
            Apply(copy, note, nodeSizes: false);
            return copy;
        }

        var refreshed = _volumes.Refresh(volume);
        if (hasNote)
        {
            Apply(refreshed, note, nodeSizes: true);
        }

        return refreshed;
    }

    /// <summary>
    /// virStorageBackendLogicalBuildPool: per device, unless <c>--overwrite</c>, refuse one that holds
    /// anything (blkid; "already formatted using 'LVM2_member'" for a PV); zero its first and last MiB;
    /// <c>pvcreate</c>. Then <c>vgcreate VG DEV...</c>. A failure pvremoves the devices made before it.
    /// </summary>
    public async Task BuildPoolAsync(PoolContext pool, PoolBuildFlags flags, CancellationToken cancellationToken)
    {
        BackendFlags.CheckBuild(flags, PoolBuildFlags.Overwrite | PoolBuildFlags.NoOverwrite, "virStorageBackendLogicalBuildPool");
        var group = GroupName(pool);
        var devices = pool.Definition.Source.Devices.Select(d => d.Path).ToList();
        foreach (var device in devices)
        {
            RequireNotAnOption(device, "device path");
        }

        // Every device is probed before any is written: a refusal for the last one must not have
        // zeroed and pvcreated the first (libvirt probes and writes device by device).
        if (!flags.HasFlag(PoolBuildFlags.Overwrite))
        {
            var blkid = ExternalTools.Find("blkid") ?? throw ChildProcessErrors.NotFound("blkid");
            foreach (var device in devices)
            {
                await FilesystemProbe.EnsureEmptyAsync(_runner, blkid, device, "LVM2_member", cancellationToken).ConfigureAwait(false);
            }
        }

        var done = 0;
        try
        {
            foreach (var device in devices)
            {
                DiskDevice.ZeroLabel(device, cancellationToken);
                await RunAsync(LvmCommands.PvCreateArgv(device), cancellationToken).ConfigureAwait(false);
                done++;
            }

            await RunAsync(LvmCommands.VgCreateArgv(group, devices), cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            foreach (var device in devices.Take(done))
            {
                await RemovePhysicalVolumeAsync(device).ConfigureAwait(false);
            }

            throw;
        }
    }

    /// <summary>virStorageBackendLogicalDeletePool: <c>vgremove -f VG</c>, then <c>pvremove</c> per device (its failure is no error).</summary>
    public async Task DeletePoolAsync(PoolContext pool, PoolDeleteFlags flags, CancellationToken cancellationToken)
    {
        BackendFlags.Check((uint)flags, 0, "virStorageBackendLogicalDeletePool");
        foreach (var device in pool.Definition.Source.Devices)
        {
            RequireNotAnOption(device.Path, "device path");
        }

        await RunAsync(LvmCommands.VgRemoveArgv(GroupName(pool)), cancellationToken).ConfigureAwait(false);
        foreach (var device in pool.Definition.Source.Devices)
        {
            await RemovePhysicalVolumeAsync(device.Path).ConfigureAwait(false);
        }
    }

    /// <summary>A block volume at TARGET/NAME; its key (the LV UUID) comes with the LV.</summary>
    public VolumeDefinition PrepareVolume(PoolContext pool, VolumeDefinition volume)
    {
        var prepared = volume.DeepClone();
        prepared.Type = VolumeType.Block;
        prepared.Target.Path = VolumePath(pool, volume.Name);
        prepared.Key ??= prepared.Target.Path;
        return prepared;
    }

    /// <summary>
    /// virStorageBackendLogicalCreateVol: <c>lvcreate</c> (its failure passes through, nothing to undo),
    /// LUKS when asked, owner and mode on the node, then the LV as lvs lists it. Anything failing after
    /// lvcreate removes the LV again.
    /// </summary>
    public async Task<VolumeDefinition> CreateVolumeAsync(PoolContext pool, VolumeDefinition volume, VolumeCreateFlags flags, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        var created = await CreateLvAsync(pool, volume, cancellationToken).ConfigureAwait(false);
        try
        {
            if (volume.Target.Encryption is not null)
            {
                await _volumes.FormatLuksAsync(created, pool.Passphrases, cancellationToken).ConfigureAwait(false);
            }
            else if (!MetadataOnly || File.Exists(created.Target.Path))
            {
                _volumes.ApplyPermissions(created);
            }

            return await FindVolumeAsync(pool, created, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await RemoveLvAsync(created, CancellationToken.None).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>virStorageBackendLogicalBuildVolFrom: a new LV, then the source's data copied into its node.</summary>
    public async Task<VolumeDefinition> CreateVolumeFromAsync(PoolContext pool, VolumeDefinition volume, VolumeDefinition source, VolumeCreateFlags flags, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        var created = await CreateLvAsync(pool, volume, cancellationToken).ConfigureAwait(false);
        try
        {
            var copied = await _volumes.CreateFromAsync(created, source, flags, pool.Passphrases, progress, cancellationToken).ConfigureAwait(false);
            var found = await FindVolumeAsync(pool, copied, cancellationToken).ConfigureAwait(false);
            return found;
        }
        catch
        {
            await RemoveLvAsync(created, CancellationToken.None).ConfigureAwait(false);
            throw;
        }
    }

    public void CheckDeleteFlags(VolumeDefinition volume, VolumeDeleteFlags flags)
        => BackendFlags.Check((uint)flags, 0, "virStorageBackendLogicalDeleteVol");

    /// <summary>virStorageBackendLogicalDeleteVol: <c>lvremove -f PATH</c>; when that fails, <c>lvchange -aln PATH</c> and lvremove once more.</summary>
    public Task DeleteVolumeAsync(PoolContext pool, VolumeDefinition volume, VolumeDeleteFlags flags, CancellationToken cancellationToken)
    {
        CheckDeleteFlags(volume, flags);
        return RemoveLvAsync(volume, cancellationToken);
    }

    /// <summary>
    /// An addition (libvirt 9.0's logical pools cannot resize): <c>lvresize -L SIZEK PATH</c> (LVM rounds
    /// up to whole extents), then the LV as lvs lists it. Shrinking needs the manager's shrink flag.
    /// </summary>
    public async Task ResizeVolumeAsync(PoolContext pool, VolumeDefinition volume, ulong capacity, bool allocate, CancellationToken cancellationToken)
    {
        var path = volume.Target.Path ?? VolumePath(pool, volume.Name);

        // A sparse LV is a snapshot over a hidden virtual origin: lvresize would change its copy-on-write
        // store, never the size a guest sees.
        if (LogicalVolumeData.TryParse(volume.BackendData, out var note) && note.Sparse)
        {
            throw VirtPoolException.NoSupport($"logical volume '{path}' is sparse, volume resize not supported");
        }

        // An encrypted LV keeps the room for its LUKS header (the payload is the LV less the header).
        var size = volume.Target.Encryption is null ? capacity : BlockVolumes.WithLuksHeaderRoom(capacity);
        _resized[volume.Name] = 0;
        await RunAsync(LvmCommands.LvResizeArgv(path, size, shrink: capacity < volume.Capacity), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>virStorageBackendLogicalVolWipe: the shared wipe, but never on a sparse (snapshot) LV.</summary>
    public async Task<VolumeDefinition> WipeVolumeAsync(PoolContext pool, VolumeDefinition volume, VolumeWipeAlgorithm algorithm, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        var hasNote = LogicalVolumeData.TryParse(volume.BackendData, out var note);
        if (hasNote && note.Sparse)
        {
            throw VirtPoolException.NoSupport($"logical volume '{volume.Target.Path}' is sparse, volume wipe not supported");
        }

        var wiped = await _volumes.WipeAsync(volume, algorithm, progress, cancellationToken).ConfigureAwait(false);
        wiped.Target.Format = volume.Target.Format;
        if (hasNote)
        {
            Apply(wiped, note, nodeSizes: true);
        }

        return wiped;
    }

    public Task<long> UploadAsync(PoolContext pool, VolumeDefinition volume, VolumeDataEndpoint source, ulong offset, ulong length, bool sparse, IProgress<long>? progress, CancellationToken cancellationToken)
        => _volumes.UploadAsync(volume, source, offset, length, sparse, progress, cancellationToken);

    public Task<long> DownloadAsync(PoolContext pool, VolumeDefinition volume, VolumeDataEndpoint target, ulong offset, ulong length, bool sparse, IProgress<long>? progress, CancellationToken cancellationToken)
        => _volumes.DownloadAsync(volume, target, offset, length, sparse, progress, cancellationToken);

    public Task<byte[]> Sha256Async(PoolContext pool, VolumeDefinition volume, IProgress<long>? progress, CancellationToken cancellationToken)
        => _volumes.Sha256Async(volume, progress, cancellationToken);

    /// <summary>
    /// virStorageBackendLogicalMatchPoolSource: vgscan (its failure only logged) and pvs; the group must be
    /// listed, and when the pool names devices, at least one of them must be among the group's.
    /// </summary>
    private async Task MatchPoolSourceAsync(PoolContext pool, CancellationToken cancellationToken)
    {
        var group = GroupName(pool);
        var sources = await new LogicalSourceFinder(_runner).FindPoolSourcesAsync(null, 0, cancellationToken).ConfigureAwait(false);
        var found = sources.FirstOrDefault(s => s.Name == group)
            ?? throw VirtPoolException.Unsupported($"cannot find logical volume group name '{group}'");
        var defined = pool.Definition.Source.Devices;
        if (defined.Count == 0)
        {
            return;
        }

        var matches = defined.Sum(d => found.Devices.Count(f => f.Path == d.Path));
        if (matches == 0)
        {
            throw VirtPoolException.Unsupported($"cannot find any matching source devices for logical volume group '{group}'");
        }
    }

    private async Task<VolumeDefinition> CreateLvAsync(PoolContext pool, VolumeDefinition volume, CancellationToken cancellationToken)
    {
        if (volume.Target.Encryption is { } encryption && encryption.Format != EncryptionFormat.Luks)
        {
            throw VirtPoolException.Unsupported("storage pool only supports LUKS encrypted volumes");
        }

        var created = PrepareVolume(pool, volume);
        var argv = LvmCommands.LvCreateArgv(volume.Name, GroupName(pool), volume.Capacity, volume.EffectiveAllocation, volume.BackingStore?.Path, volume.Target.Encryption is not null);
        await RunAsync(argv, cancellationToken).ConfigureAwait(false);
        return created;
    }

    /// <summary>libvirt's FindLVs for one volume: lvs of the group, this LV's rows.</summary>
    private async Task<VolumeDefinition> FindVolumeAsync(PoolContext pool, VolumeDefinition volume, CancellationToken cancellationToken)
    {
        var lvs = await RunAsync(LvmCommands.LvsArgv(GroupName(pool)), cancellationToken).ConfigureAwait(false);
        var listed = LvsOutput.ParseVolumes(lvs.StandardOutput, MetadataOnly, only: volume.Name);
        var lv = listed.Count > 0 ? listed[0] : throw VirtPoolException.Internal($"cannot find logical volume '{volume.Target.Path}'");
        var found = Describe(pool, lv);
        found.Target.Permissions = MetadataOnly && !File.Exists(found.Target.Path) ? volume.Target.Permissions : found.Target.Permissions with { Label = volume.Target.Permissions.Label };
        found.Target.Encryption = volume.Target.Encryption;
        return found;
    }

    private async Task RemoveLvAsync(VolumeDefinition volume, CancellationToken cancellationToken)
    {
        var path = volume.Target.Path ?? throw VirtPoolException.Internal($"volume '{volume.Name}' has no path");
        var remove = LvmCommands.LvRemoveArgv(path);
        if ((await _runner.RunAsync(new ProcessRequest(Resolve(remove)) { Timeout = ToolTimeout }, cancellationToken).ConfigureAwait(false)).Succeeded)
        {
            return;
        }

        await RunAsync(LvmCommands.LvChangeDeactivateArgv(path), cancellationToken).ConfigureAwait(false);
        await RunAsync(remove, cancellationToken).ConfigureAwait(false);
    }

    private async Task RemovePhysicalVolumeAsync(string device)
    {
        // libvirt only logs a failed pvremove; the runner logs it at Warning.
        _ = await _runner.RunAsync(new ProcessRequest(Resolve(LvmCommands.PvRemoveArgv(device))) { Timeout = ToolTimeout }, CancellationToken.None).ConfigureAwait(false);
    }

    /// <summary>A volume as libvirt's MakeVol makes it: the node's sizes and owner (none in metadata-only mode), the LV's size as allocation.</summary>
    private VolumeDefinition Describe(PoolContext pool, LogicalVolumeInfo lv)
    {
        var path = VolumePath(pool, lv.Name);
        var volume = new VolumeDefinition
        {
            Name = lv.Name,
            Key = lv.Uuid,
            Type = VolumeType.Block,
            Target = new VolumeTarget { Path = path },
        };
        if (lv.Origin is { } origin)
        {
            volume.BackingStore = new VolumeBackingStore { Path = VolumePath(pool, origin) };
        }

        var note = LogicalVolumeData.Of(lv);
        var nodeSizes = lv.Active && !(MetadataOnly && !File.Exists(path));
        var described = nodeSizes ? _volumes.Refresh(volume) : volume;
        described.BackingStore = volume.BackingStore;
        Apply(described, note, nodeSizes);
        return described;
    }

    private static void Apply(VolumeDefinition volume, LogicalVolumeData note, bool nodeSizes)
    {
        volume.Key = note.Uuid;
        volume.Type = VolumeType.Block;
        if (!nodeSizes)
        {
            volume.Capacity = note.Size;
        }

        // libvirt takes lvs' size; for all but a snapshot that is the node's size.
        volume.Allocation = nodeSizes && !note.Sparse ? volume.Capacity : note.Size;
        volume.Source = new VolumeSource { Extents = note.Extents };
        volume.BackendData = note.Format();
    }

    private async Task<ProcessResult> RunAsync(IReadOnlyList<string> argv, CancellationToken cancellationToken)
    {
        var resolved = Resolve(argv);
        var result = await _runner.RunAsync(new ProcessRequest(resolved) { Timeout = ToolTimeout }, cancellationToken).ConfigureAwait(false);
        return result.Succeeded ? result : throw ChildProcessErrors.UnexpectedExit(resolved, result);
    }

    /// <summary>libvirt's build-time path where it exists, else the tool found on PATH; "install lvm2" when neither.</summary>
    private static IReadOnlyList<string> Resolve(IReadOnlyList<string> argv)
        => [ExternalTools.Locate(argv[0]) ?? throw ChildProcessErrors.NotFound(Path.GetFileName(argv[0])), .. argv.Skip(1)];

    /// <summary>
    /// The pool's volume group. A name LVM would read as an option (<c>--select=…</c> makes vgremove -f
    /// remove every group it matches) is refused: LVM never names a group with a leading '-'.
    /// </summary>
    private static string GroupName(PoolContext pool)
    {
        var name = pool.Definition.Source.Name is { Length: > 0 } given ? given : throw VirtPoolException.Internal("missing source name");
        RequireNotAnOption(name, "volume group name");
        return name;
    }

    private static void RequireNotAnOption(string value, string what)
    {
        if (value.StartsWith('-'))
        {
            throw VirtPoolException.InvalidArg($"{what} '{value}' would be read by LVM as an option");
        }
    }

    private static string VolumePath(PoolContext pool, string name) => $"{pool.Definition.Target.Path}/{name}";

    [GeneratedRegex(@"(^|[\s{;])activation\s*=\s*0\b")]
    private static partial Regex ActivationOff();
}
