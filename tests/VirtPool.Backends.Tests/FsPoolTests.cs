using System.Runtime.CompilerServices;
using VirtPool.Backends.Fs;
using VirtPool.Backends.Mounts;
using VirtPool.Core.Backends;
using VirtPool.Core.Errors;
using VirtPool.Core.Manager;
using VirtPool.Core.Model;
using VirtPool.Core.Process;
using VirtPool.Core.State;

namespace VirtPool.Backends.Tests;

/// <summary>
/// fs pools on real loop devices through the pool manager: mkfs, mount, the mounted target's volumes,
/// umount and rmdir for real, every command compared with the one libvirtd 9.0 ran for the same step
/// (Golden/fs/*.argv, copied from the recorded oracle, placeholders as recorded: @WORK@ the work
/// folder, @LOOP_FS1@/@LOOP_FS2@ the device).
/// </summary>
public sealed class FsPoolTests : IDisposable
{
    private const long DeviceBytes = 512L << 20;

    private readonly LoopDevices _loops = new();
    private readonly CommandLog _commands = new(ProcessRunner.Instance);

    private string Work => _loops.Folder;

    public void Dispose() => _loops.Dispose();

    private PoolManager NewManager(TimeSpan? mountTimeout = null)
        => new(new StateStore(Path.Combine(Work, "state")), new BackendRegistry([FsBackend.Type(_commands, mountTimeout)]));

    private static string PoolXml(string name, string device, string format, string target, string extra = "")
        => $"<pool type='fs' xmlns:fs='http://libvirt.org/schemas/storagepool/fs/1.0'><name>{name}</name><source><device path='{device}'/><format type='{format}'/></source>"
           + $"<target><path>{target}</path></target>{extra}</pool>";

    /// <summary>The recorded argv of libvirtd's step, placeholders replaced by this run's values.</summary>
    private string[] Golden(string step, string device, [CallerFilePath] string thisFile = "")
    {
        var text = File.ReadAllText(Path.Combine(Path.GetDirectoryName(thisFile)!, "Golden", "fs", step + ".argv"));
        var name = Path.GetFileName(device);
        return [.. text.Replace("@WORK@", Work, StringComparison.Ordinal)
            .Replace("@LOOP_FS1@", name, StringComparison.Ordinal)
            .Replace("@LOOP_FS2@", name, StringComparison.Ordinal)
            .Split('\n', StringSplitOptions.RemoveEmptyEntries)];
    }

    /// <summary>What the backend ran since the last call, but the blkid probe (libvirt probes in-process, so its argv has none).</summary>
    private string[] Ran() => [.. _commands.Take().Where(c => !c.Contains("blkid -p", StringComparison.Ordinal))];

    [Fact]
    public async Task Ext4_pool_builds_mounts_holds_files_and_unmounts_as_libvirt()
    {
        var device = await _loops.AttachAsync(DeviceBytes);
        var target = Path.Combine(Work, "fs", "ext4");
        using var mgr = NewManager();
        await mgr.DefinePoolAsync(PoolXml("fsext4", device, "ext4", target));

        // Without the target folder the mount itself says so (libvirt does not check first).
        var noTarget = await Assert.ThrowsAsync<VirtPoolException>(() => mgr.StartPoolAsync("fsext4", PoolBuildFlags.None, false));
        Assert.Equal(Golden("05-start-no-target-bad", device), Ran());
        Assert.StartsWith($"internal error: Child process ({Golden("05-start-no-target-bad", device)[0]}) unexpected exit status 32: mount: {target}: mount point does not exist.", noTarget.Message);

        await mgr.BuildPoolAsync("fsext4", PoolBuildFlags.None);
        Assert.Empty(Ran());
        Assert.True(Directory.Exists(target));

        await mgr.BuildPoolAsync("fsext4", PoolBuildFlags.NoOverwrite);
        Assert.Equal(Golden("08-build-no-overwrite-blank", device), Ran());
        Assert.Equal("ext4", await BlkidTypeAsync(device));

        var again = await Assert.ThrowsAsync<VirtPoolException>(() => mgr.BuildPoolAsync("fsext4", PoolBuildFlags.NoOverwrite));
        Assert.Equal($"Storage pool already built: Device '{device}' already formatted using 'ext4'", again.Message);
        Assert.Equal(VirErrorCode.StoragePoolBuilt, again.Code);
        Assert.Empty(Ran());

        await mgr.BuildPoolAsync("fsext4", PoolBuildFlags.Overwrite);
        Assert.Equal(Golden("10-build-overwrite", device), Ran());

        await mgr.StartPoolAsync("fsext4", PoolBuildFlags.None, false);
        Assert.Equal(Golden("12-start", device), Ran());
        Assert.True(MountTable.IsMounted(MountTable.Read(), device, target));

        // The figures libvirtd reported for the same device size (16-dumpxml.out): statvfs of the mount.
        var info = await mgr.GetPoolInfoAsync("fsext4");
        Assert.Equal((510873600UL, 24576UL, 510849024UL), (info.Capacity, info.Allocation, info.Available));

        await mgr.CreateVolumeAsync("fsext4", "<volume><name>raw1</name><capacity unit='M'>10</capacity></volume>");
        await mgr.CreateVolumeAsync("fsext4", "<volume><name>qcow1</name><capacity unit='M'>20</capacity><target><format type='qcow2'/></target></volume>");
        Assert.True(File.Exists(Path.Combine(target, "raw1")));
        await mgr.RefreshPoolAsync("fsext4");
        var volumes = await mgr.ListVolumesAsync("fsext4");
        Assert.Equal(["lost+found", "qcow1", "raw1"], volumes.Select(v => v.Name).Order(StringComparer.Ordinal));
        Assert.Equal(10UL << 20, (await mgr.GetVolumeAsync(await mgr.LookupVolumeByNameAsync("fsext4", "raw1"))).Allocation);
        _ = _commands.Take();

        var active = await Assert.ThrowsAsync<VirtPoolException>(() => mgr.DeletePoolAsync("fsext4"));
        Assert.Equal("Requested operation is not valid: storage pool 'fsext4' is still active", active.Message);

        await mgr.DestroyPoolAsync("fsext4");
        Assert.Equal(Golden("30-destroy", device), Ran());
        Assert.False(MountTable.IsMounted(MountTable.Read(), device, target));

        // The volumes stay on the device: mounted again, they are back.
        await mgr.StartPoolAsync("fsext4", PoolBuildFlags.None, false);
        Assert.Contains("raw1", (await mgr.ListVolumesAsync("fsext4")).Select(v => v.Name));
        await mgr.DestroyPoolAsync("fsext4");

        await mgr.DeletePoolAsync("fsext4");
        Assert.False(Directory.Exists(target));
        await mgr.UndefinePoolAsync("fsext4");
    }

    [Fact]
    public async Task Xfs_pool_uses_mkfs_force_flag_and_mount_type_of_libvirt()
    {
        var device = await _loops.AttachAsync(DeviceBytes);
        var target = Path.Combine(Work, "fs", "xfs");
        using var mgr = NewManager();
        await mgr.DefinePoolAsync(PoolXml("fsxfs", device, "xfs", target));
        await mgr.BuildPoolAsync("fsxfs", PoolBuildFlags.NoOverwrite);
        Assert.Equal(Golden("35-xfs-build-no-overwrite", device), Ran());
        Assert.Equal("xfs", await BlkidTypeAsync(device));

        await mgr.StartPoolAsync("fsxfs", PoolBuildFlags.None, false);
        Assert.Equal(Golden("37-xfs-start", device), Ran());
        var info = await mgr.GetPoolInfoAsync("fsxfs");
        Assert.Equal(469762048UL, info.Capacity); // 39-xfs-dumpxml.out

        await mgr.DestroyPoolAsync("fsxfs");
        Assert.Equal(Golden("42-xfs-destroy", device), Ran());
        await mgr.UndefinePoolAsync("fsxfs");
    }

    [Fact]
    public async Task No_overwrite_refuses_another_filesystem_and_leaves_it_intact()
    {
        var device = await _loops.AttachAsync(DeviceBytes);
        await ProcessRunner.Instance.RunCheckedAsync(["mkfs.ext4", "-q", "-F", device]);
        var target = Path.Combine(Work, "fs", "wrong");
        using var mgr = NewManager();
        await mgr.DefinePoolAsync(PoolXml("fswrong", device, "xfs", target));

        var refused = await Assert.ThrowsAsync<VirtPoolException>(() => mgr.BuildPoolAsync("fswrong", PoolBuildFlags.NoOverwrite));
        Assert.Equal($"Storage pool already built: Format of device '{device}' does not match the expected format 'xfs', forced overwrite is necessary", refused.Message);
        Assert.Empty(Ran());
        Assert.Equal("ext4", await BlkidTypeAsync(device));

        // A partition table counts as something there too.
        var labelled = await _loops.AttachAsync(64L << 20);
        await ProcessRunner.Instance.RunCheckedAsync(["parted", "-s", labelled, "mklabel", "gpt"]);
        await mgr.DefinePoolAsync(PoolXml("fslabel", labelled, "ext4", Path.Combine(Work, "fs", "label")));
        var label = await Assert.ThrowsAsync<VirtPoolException>(() => mgr.BuildPoolAsync("fslabel", PoolBuildFlags.NoOverwrite));
        Assert.Equal($"Storage pool already built: Format of device '{labelled}' does not match the expected format 'ext4', forced overwrite is necessary", label.Message);

        // The plain build only makes the folder; the start then fails in mount, and the pool stays inactive.
        await mgr.BuildPoolAsync("fswrong", PoolBuildFlags.None);
        var start = await Assert.ThrowsAsync<VirtPoolException>(() => mgr.StartPoolAsync("fswrong", PoolBuildFlags.None, false));
        Assert.StartsWith($"internal error: Child process (/bin/mount -o nodev,nosuid,noexec -t xfs {device} {target}) unexpected exit status 32: mount: {target}: wrong fs type, bad option, bad superblock on {device}", start.Message);
        Assert.Equal(PoolState.Inactive, (await mgr.GetPoolInfoAsync("fswrong")).State);
    }

    [Fact]
    public async Task Missing_device_both_flags_and_missing_mkfs_helper_fail_with_libvirts_errors()
    {
        var device = await _loops.AttachAsync(64L << 20);
        using var mgr = NewManager();
        var missing = Path.Combine(Work, "no-such-device");
        var target = Path.Combine(Work, "fs", "missing");
        await mgr.DefinePoolAsync(PoolXml("fsmissing", missing, "ext4", target));
        var build = await Assert.ThrowsAsync<VirtPoolException>(() => mgr.BuildPoolAsync("fsmissing", PoolBuildFlags.NoOverwrite));
        Assert.Equal("Requested operation is not valid: Source device does not exist when formatting pool 'fsmissing'", build.Message);
        await mgr.BuildPoolAsync("fsmissing", PoolBuildFlags.None);
        var start = await Assert.ThrowsAsync<VirtPoolException>(() => mgr.StartPoolAsync("fsmissing", PoolBuildFlags.None, false));
        Assert.Equal(Golden("64-missing-start-bad", device), Ran());
        Assert.Contains($"special device {missing} does not exist.", start.Message, StringComparison.Ordinal);

        await mgr.DefinePoolAsync(PoolXml("fsboth", device, "ext4", Path.Combine(Work, "fs", "both")));
        var both = await Assert.ThrowsAsync<VirtPoolException>(() => mgr.BuildPoolAsync("fsboth", PoolBuildFlags.Overwrite | PoolBuildFlags.NoOverwrite));
        Assert.Equal("Flags 'VIR_STORAGE_POOL_BUILD_OVERWRITE' and 'VIR_STORAGE_POOL_BUILD_NO_OVERWRITE' are mutually exclusive", both.Message);
        var repair = await Assert.ThrowsAsync<VirtPoolException>(() => mgr.BuildPoolAsync("fsboth", PoolBuildFlags.Repair));
        Assert.Equal("unsupported flags (0x1) in function virStorageBackendFileSystemBuild", repair.Message);
        var zeroed = await Assert.ThrowsAsync<VirtPoolException>(() => mgr.DeletePoolAsync("fsboth", PoolDeleteFlags.Zeroed));
        Assert.Equal("unsupported flags (0x1) in function virStorageBackendDeleteLocal", zeroed.Message);
        Assert.Empty(Ran());
        await mgr.UndefinePoolAsync("fsboth");

        // No mkfs.ocfs2 on this machine (ocfs2-tools): the build says which tool, and runs no mkfs.
        Assert.Null(ExternalTools.Find("mkfs.ocfs2"));
        await mgr.DefinePoolAsync(PoolXml("fsocfs2", device, "ocfs2", Path.Combine(Work, "fs", "ocfs2")));
        var tool = await Assert.ThrowsAsync<VirtPoolException>(() => mgr.BuildPoolAsync("fsocfs2", PoolBuildFlags.Overwrite));
        Assert.Equal("internal error: 'mkfs.ocfs2' not found in PATH, /usr/sbin or /sbin", tool.Message);
        Assert.Empty(Ran());
    }

    [Fact]
    public async Task Mount_options_of_the_fs_namespace_follow_libvirts_defaults_and_a_mounted_pool_is_not_mounted_twice()
    {
        var device = await _loops.AttachAsync(64L << 20);
        var target = Path.Combine(Work, "fs", "opts");
        using var mgr = NewManager();
        await mgr.DefinePoolAsync(PoolXml("fsopts", device, "ext4", target, "<fs:mount_opts><fs:option name='sync'/><fs:option name='noatime'/></fs:mount_opts>"));
        await mgr.BuildPoolAsync("fsopts", PoolBuildFlags.Overwrite);
        _ = _commands.Take();
        await mgr.StartPoolAsync("fsopts", PoolBuildFlags.None, false);
        Assert.Equal([$"/bin/mount -o nodev,nosuid,noexec,sync,noatime -t ext4 {device} {target}"], Ran());
        var options = File.ReadLines(MountTable.ProcPath).Single(l => l.Split(' ')[1] == target).Split(' ')[3].Split(',');
        Assert.Superset(new HashSet<string> { "nodev", "nosuid", "noexec", "sync", "noatime" }, options.ToHashSet());
        await mgr.DestroyPoolAsync("fsopts");
        _ = _commands.Take();

        // Mounted by someone else on the pool's target, and the pool names the device through a
        // symlink: the start finds it there (libvirt's virFileComparePaths) and mounts nothing.
        await mgr.UndefinePoolAsync("fsopts");
        var link = Path.Combine(Work, "dev-link");
        File.CreateSymbolicLink(link, device);
        await mgr.DefinePoolAsync(PoolXml("fslink", link, "ext4", target));
        await ProcessRunner.Instance.RunCheckedAsync(["mount", device, target]);
        await mgr.StartPoolAsync("fslink", PoolBuildFlags.None, false);
        Assert.Empty(Ran());
        Assert.Equal(PoolState.Running, (await mgr.GetPoolInfoAsync("fslink")).State);
        await mgr.DestroyPoolAsync("fslink");
        Assert.Equal([$"/bin/umount {target}"], Ran());
        Assert.DoesNotContain(MountTable.Read(), m => m.Target == target);
    }

    /// <summary>
    /// A mount that hangs: the pool's source is an image file on a FUSE filesystem whose server never
    /// answers (the test holds /dev/fuse open and reads nothing: the kernel's state when the daemon is
    /// stopped with SIGSTOP). mount(8) blocks in the kernel looking the file up; the runner kills it at
    /// the time limit, the start fails with the runner's error, nothing is mounted, the pool is inactive
    /// and its lock is free for the next call.
    /// </summary>
    [Fact]
    public async Task A_hung_mount_fails_the_start_at_its_time_limit_and_leaves_the_pool_inactive_and_unlocked()
    {
        var stalled = Path.Combine(Work, "stalled");
        var target = Path.Combine(Work, "fs", "hung");
        Directory.CreateDirectory(target);
        using var fuse = StalledFuse.Mount(stalled);
        var limit = TimeSpan.FromSeconds(2);
        using var mgr = NewManager(limit);
        var image = Path.Combine(stalled, "disk.img");
        await mgr.DefinePoolAsync(PoolXml("fshung", image, "ext4", target));

        // Only a regression (no time limit) would get here: cancellation turns its hang into a failure.
        using var guard = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        var error = await Assert.ThrowsAsync<VirtPoolException>(() => mgr.StartPoolAsync("fshung", PoolBuildFlags.None, false, guard.Token));
        Assert.Equal($"internal error: Child process (/bin/mount -o nodev,nosuid,noexec -t ext4 {image} {target}) did not finish within 2 s and was killed", error.Message);

        Assert.Equal(PoolState.Inactive, (await mgr.GetPoolInfoAsync("fshung")).State);
        Assert.DoesNotContain(MountTable.Read(), m => m.Target == target);

        // The pool's lock is free: an operation that takes it completes.
        await mgr.UndefinePoolAsync("fshung", guard.Token);
    }

    private static async Task<string> BlkidTypeAsync(string device)
        => (await ProcessRunner.Instance.RunCheckedAsync(["blkid", "-p", "-s", "TYPE", "-o", "value", device])).StandardOutput.Trim();
}
