using System.Runtime.CompilerServices;
using VirtPool.Backends.Logical;
using VirtPool.Core.Backends;
using VirtPool.Core.Errors;
using VirtPool.Core.Manager;
using VirtPool.Core.Model;
using VirtPool.Core.Process;
using VirtPool.Core.State;

namespace VirtPool.Backends.Tests;

/// <summary>
/// Logical pools on real loop-device PVs, checked against libvirtd 9.0's recording
/// (tests/testdata/libvirt-local/logical: argv, messages, sizes). The first test runs LVM as libvirtd
/// does here (host configuration, no device-mapper); the second gives every command an
/// <c>LVM_SYSTEM_DIR</c> with activation off and a filter on this test's devices, so LVs are made,
/// listed, resized and removed for real at the metadata level.
/// </summary>
public sealed class LogicalPoolTests : IDisposable
{
    private const long DeviceBytes = 64L << 20;
    private readonly LoopDevices _loops = new();
    private readonly string _group = "c11lv" + Guid.NewGuid().ToString("N")[..8];
    private readonly string _lvmDir;
    private readonly List<string> _devices = [];

    public LogicalPoolTests()
    {
        _lvmDir = Path.Combine(_loops.Folder, "lvm");
    }

    public void Dispose()
    {
        // Whatever a failed test left: the group, the PV labels (through the private configuration, which
        // sees exactly our devices), LVM's copies of its metadata; then the loop devices.
        try
        {
            if (_devices.Count > 0)
            {
                WriteLvmConf(activation: false);
                var env = new EnvRunner(_lvmDir);
                _ = env.RunAsync(["/sbin/vgremove", "-f", "-q", _group]).GetAwaiter().GetResult();
                foreach (var device in _devices)
                {
                    _ = env.RunAsync(["/sbin/pvremove", "-ff", "-y", "-q", device]).GetAwaiter().GetResult();
                }
            }

            foreach (var copy in Directory.Exists("/etc/lvm/archive") ? Directory.GetFiles("/etc/lvm/archive", _group + "_*.vg") : [])
            {
                File.Delete(copy);
            }

            File.Delete("/etc/lvm/backup/" + _group);
        }
        finally
        {
            _loops.Dispose();
        }
    }

    [Fact]
    public async Task Lifecycle_runs_libvirts_argv_and_fails_as_libvirtd_does_without_device_mapper()
    {
        var (a, b) = await TwoDevicesAsync();
        var runner = new RecordingRunner(null);
        var pool = Context(a, b);
        var backend = LogicalBackend.Type(runner).Load(pool);
        var builder = (IPoolBuilder)backend;

        var unbuilt = await Assert.ThrowsAsync<VirtPoolException>(() => backend.StartPoolAsync(pool, PoolStartFlags.None, default));
        Assert.Equal($"unsupported configuration: cannot find logical volume group name '{_group}'", unbuilt.Message);
        Assert.Equal(Recorded("07-start-unbuilt-bad"), runner.TakeLvm());
        Assert.False(await backend.CheckPoolAsync(pool, default));
        runner.TakeLvm();

        var flags = await Assert.ThrowsAsync<VirtPoolException>(() => builder.BuildPoolAsync(pool, PoolBuildFlags.Repair, default));
        Assert.Equal("unsupported flags (0x1) in function virStorageBackendLogicalBuildPool", flags.Message);

        await builder.BuildPoolAsync(pool, PoolBuildFlags.NoOverwrite, default);
        Assert.Equal([$"/sbin/pvcreate {a}", $"/sbin/pvcreate {b}", $"/sbin/vgcreate {_group} {a} {b}"], runner.TakeLvm());
        foreach (var buildFlags in new[] { PoolBuildFlags.None, PoolBuildFlags.NoOverwrite })
        {
            var again = await Assert.ThrowsAsync<VirtPoolException>(() => builder.BuildPoolAsync(pool, buildFlags, default));
            Assert.Equal($"Storage pool already built: Device '{a}' already formatted using 'LVM2_member'", again.Message);
            Assert.Empty(runner.TakeLvm());
        }

        await backend.StartPoolAsync(pool, PoolStartFlags.None, default);
        var scan = await backend.RefreshPoolAsync(pool, default);
        // One LVM scan where libvirt runs two: lvs with the group's sizes; vgs only as the group has no LV.
        var oneScan = ChildProcessErrors.CommandText(LvmCommands.LvsWithGroupSizesArgv(_group));
        Assert.Equal(Recorded("13-start-empty-vg").Select(l => l == LvsLine() ? oneScan : l), runner.TakeLvm());
        Assert.Equal(new PoolSizes(125829120, 0, 125829120), scan.Sizes);
        Assert.Empty(scan.Volumes);
        Assert.Null(scan.Source);
        Assert.True(await backend.CheckPoolAsync(pool, default));
        runner.TakeLvm();

        var creator = (IVolumeCreator)backend;
        var volume = creator.PrepareVolume(pool, new VolumeDefinition { Name = "lv1", Capacity = 10 << 20 });
        Assert.Equal($"/dev/{_group}/lv1", volume.Target.Path);
        var dm = await Assert.ThrowsAsync<VirtPoolException>(() => creator.CreateVolumeAsync(pool, volume, VolumeCreateFlags.None, null, default));
        Assert.Equal(Recorded("17-vol-create-no-device-mapper-bad"), runner.TakeLvm());
        Assert.StartsWith($"internal error: Child process (/sbin/lvcreate --name lv1 -L 10240K {_group} --yes) unexpected exit status 3: ", dm.Message, StringComparison.Ordinal);
        Assert.Contains("striped: Required device-mapper target(s) not detected in your kernel.", dm.Message, StringComparison.Ordinal);

        await backend.StopPoolAsync(pool, default);
        Assert.Equal(Recorded("24-destroy"), runner.TakeLvm());

        var deleteFlags = await Assert.ThrowsAsync<VirtPoolException>(() => ((IPoolDeleter)backend).DeletePoolAsync(pool, PoolDeleteFlags.Zeroed, default));
        Assert.Equal("unsupported flags (0x1) in function virStorageBackendLogicalDeletePool", deleteFlags.Message);
        var volFlags = Assert.Throws<VirtPoolException>(() => ((IVolumeDeleter)backend).CheckDeleteFlags(volume, VolumeDeleteFlags.ZeroedOut));
        Assert.Equal("unsupported flags (0x1) in function virStorageBackendLogicalDeleteVol", volFlags.Message);

        // A pool naming the group with a device that is not in it.
        var wrong = Context("/dev/c11lv-not-a-pv");
        var mismatch = await Assert.ThrowsAsync<VirtPoolException>(() => backend.StartPoolAsync(wrong, PoolStartFlags.None, default));
        Assert.Equal($"unsupported configuration: cannot find any matching source devices for logical volume group '{_group}'", mismatch.Message);
        runner.TakeLvm();

        await ((IPoolDeleter)backend).DeletePoolAsync(pool, PoolDeleteFlags.None, default);
        Assert.Equal([$"/sbin/vgremove -f {_group}", $"/sbin/pvremove {a}", $"/sbin/pvremove {b}"], runner.TakeLvm());
        var gone = await Assert.ThrowsAsync<VirtPoolException>(() => backend.StartPoolAsync(pool, PoolStartFlags.None, default));
        Assert.Equal($"unsupported configuration: cannot find logical volume group name '{_group}'", gone.Message);

        // --overwrite on blank PVs (scenario 30): no probe, libvirt's argv.
        await builder.BuildPoolAsync(pool, PoolBuildFlags.Overwrite, default);
        runner.Take();
        await ((IPoolDeleter)backend).DeletePoolAsync(pool, PoolDeleteFlags.None, default);
        Assert.Equal([$"/sbin/vgremove -f {_group}", $"/sbin/pvremove {a}", $"/sbin/pvremove {b}"], runner.TakeLvm());
    }

    [Fact]
    public async Task Overwrite_replaces_a_filesystem_a_plain_build_refuses_it_and_a_pool_without_devices_removes_no_pv()
    {
        var (a, b) = await TwoDevicesAsync();
        var mkfs = await ProcessRunner.Instance.RunAsync(["mkfs.ext4", "-q", b]);
        Assert.True(mkfs.Succeeded, mkfs.StandardError);
        var runner = new RecordingRunner(null);
        var pool = Context(a, b);
        var backend = LogicalBackend.Type(runner).Load(pool);

        var refused = await Assert.ThrowsAsync<VirtPoolException>(() => ((IPoolBuilder)backend).BuildPoolAsync(pool, PoolBuildFlags.None, default));
        Assert.Equal($"Storage pool already built: Format of device '{b}' does not match the expected format 'LVM2_member', forced overwrite is necessary", refused.Message);

        // Every device is probed before any is written: nothing ran on the first (libvirt pvcreates it, then pvremoves it).
        Assert.Empty(runner.TakeLvm());

        await ((IPoolBuilder)backend).BuildPoolAsync(pool, PoolBuildFlags.Overwrite, default);
        Assert.Equal([$"/sbin/pvcreate {a}", $"/sbin/pvcreate {b}", $"/sbin/vgcreate {_group} {a} {b}"], runner.TakeLvm());

        var byName = Context();
        var nameOnly = LogicalBackend.Type(runner).Load(byName);
        await nameOnly.StartPoolAsync(byName, PoolStartFlags.None, default);
        Assert.Equal(Recorded("34-byname-start").Take(3), runner.TakeLvm());
        await ((IPoolDeleter)nameOnly).DeletePoolAsync(byName, PoolDeleteFlags.None, default);
        Assert.Equal(Recorded("37-byname-delete"), runner.TakeLvm());

        // The PV labels stay, as libvirt leaves them; the teardown removes them.
        var pvs = await ProcessRunner.Instance.RunAsync(["/sbin/pvs", "--noheadings", "-o", "pv_name", a, b]);
        Assert.True(pvs.Succeeded, pvs.StandardError);
    }

    /// <summary>
    /// A resize through one process (one manager) is what another reads from the shared volume index:
    /// the LV's note follows the resize, so no process shows the old size until a refresh.
    /// </summary>
    [Fact]
    public async Task A_resized_lv_reads_its_new_size_in_another_process()
    {
        var (a, _) = await TwoDevicesAsync();
        WriteLvmConf(activation: false);
        var runner = new RecordingRunner(_lvmDir);
        var state = Path.Combine(_loops.Folder, "state");
        BackendRegistry Registry() => new([BackendType.Of(PoolType.Logical, _ => new LogicalBackend(runner, metadataOnly: true))]);
        using var first = new PoolManager(new StateStore(state), Registry());
        await first.DefinePoolAsync($"<pool type='logical'><name>lvx</name><source><device path='{a}'/><name>{_group}</name><format type='lvm2'/></source><target><path>/dev/{_group}</path></target></pool>");
        await first.BuildPoolAsync("lvx", PoolBuildFlags.None);
        await first.StartPoolAsync("lvx", PoolBuildFlags.None, false);
        var lv = await first.CreateVolumeAsync("lvx", "<volume><name>lv1</name><capacity unit='M'>8</capacity></volume>");
        await first.ResizeVolumeAsync(lv, 20 << 20, VolumeResizeFlags.None);

        using var second = new PoolManager(new StateStore(state), Registry());
        Assert.Equal(20971520UL, (await second.GetVolumeInfoAsync(lv)).Capacity);
        Assert.Contains("<capacity unit='bytes'>20971520</capacity>", await second.GetVolumeXmlAsync(lv), StringComparison.Ordinal);
        await first.DestroyPoolAsync("lvx");
    }

    [Fact]
    public async Task Metadata_only_LVM_creates_lists_resizes_and_removes_real_volumes()
    {
        var (a, b) = await TwoDevicesAsync();
        WriteLvmConf(activation: false);
        var runner = new RecordingRunner(_lvmDir);
        var pool = Context(a, b);
        Assert.True(LogicalBackend.ActivationDisabled(_lvmDir));
        var backend = new LogicalBackend(runner, metadataOnly: true);

        await backend.BuildPoolAsync(pool, PoolBuildFlags.None, default);
        await backend.StartPoolAsync(pool, PoolStartFlags.None, default);
        runner.Take();

        var volume = backend.PrepareVolume(pool, new VolumeDefinition { Name = "lv1", Capacity = 10 << 20 });
        var created = await backend.CreateVolumeAsync(pool, volume, VolumeCreateFlags.None, null, default);
        Assert.Equal([$"/sbin/lvcreate --name lv1 -L 10240K {_group} --yes", LvsLine()], runner.TakeLvm());
        Assert.Matches("^[0-9A-Za-z]{6}(-[0-9A-Za-z]{4}){5}-[0-9A-Za-z]{6}$", created.Key);
        Assert.Equal(VolumeType.Block, created.Type);
        Assert.Equal($"/dev/{_group}/lv1", created.Target.Path);
        Assert.Equal(12582912UL, created.Capacity);
        Assert.Equal(12582912UL, created.Allocation);
        Assert.Equal([new VolumeExtent(a, 0, 12582912)], created.Source.Extents);
        Assert.True(LogicalVolumeData.TryParse(created.BackendData, out var note));
        Assert.Equal(created.Key, note.Uuid);

        var second = await backend.CreateVolumeAsync(pool, backend.PrepareVolume(pool, new VolumeDefinition { Name = "lv2", Capacity = 100 << 20 }), VolumeCreateFlags.None, null, default);
        Assert.Equal(104857600UL, second.Capacity);
        Assert.Equal(2, second.Source.Extents.Count);

        // Sparse (allocation below capacity) is a snapshot LV: LVM needs device-mapper for it, the error passes through.
        var sparse = backend.PrepareVolume(pool, new VolumeDefinition { Name = "thin", Capacity = 10 << 20, Allocation = 0 });
        runner.Take();
        var noSnapshot = await Assert.ThrowsAsync<VirtPoolException>(() => backend.CreateVolumeAsync(pool, sparse, VolumeCreateFlags.None, null, default));
        Assert.Equal([$"/sbin/lvcreate --name thin -L 1K --type snapshot --virtualsize 10240K {_group} --yes"], runner.TakeLvm());
        Assert.Contains("Can't create snapshot without using device-mapper kernel driver.", noSnapshot.Message, StringComparison.Ordinal);

        var scan = await backend.RefreshPoolAsync(pool, default);
        Assert.Equal(["lv1", "lv2"], scan.Volumes.Select(v => v.Name));
        Assert.Equal(new PoolSizes(125829120, 12582912 + 104857600, 125829120 - 12582912 - 104857600), scan.Sizes);
        Assert.Equal(created.Key, scan.Volumes[0].Key);

        runner.Take();
        await backend.ResizeVolumeAsync(pool, created, 20 << 20, allocate: false, default);
        Assert.Equal([$"/sbin/lvresize -L 20480K /dev/{_group}/lv1"], runner.TakeLvm());
        var resized = await backend.RefreshVolumeAsync(pool, created, default);
        Assert.Equal(20971520UL, resized.Capacity);
        Assert.Equal(2, resized.Source.Extents.Count);
        await backend.ResizeVolumeAsync(pool, resized, 4 << 20, allocate: false, default);
        Assert.Equal([LvsLine(), $"/sbin/lvresize -f -L 4096K /dev/{_group}/lv1"], runner.TakeLvm());
        Assert.Equal(4194304UL, (await backend.RefreshVolumeAsync(pool, created, default)).Capacity);

        // No node: wipe and transfers fail cleanly on the missing device.
        var wipe = await Assert.ThrowsAsync<VirtPoolException>(() => backend.WipeVolumeAsync(pool, created, VolumeWipeAlgorithm.Zero, null, default));
        Assert.Contains($"/dev/{_group}/lv1", wipe.Message, StringComparison.Ordinal);

        runner.Take();
        await backend.DeleteVolumeAsync(pool, created, VolumeDeleteFlags.None, default);
        Assert.Equal([$"/sbin/lvremove -f /dev/{_group}/lv1"], runner.TakeLvm());
        Assert.Equal(["lv2"], (await backend.RefreshPoolAsync(pool, default)).Volumes.Select(v => v.Name));

        // A volume LVM does not know: lvremove fails, lvchange -aln fails, that error passes through.
        var ghost = backend.PrepareVolume(pool, new VolumeDefinition { Name = "ghost", Capacity = 1 << 20 });
        runner.Take();
        var missing = await Assert.ThrowsAsync<VirtPoolException>(() => backend.DeleteVolumeAsync(pool, ghost, VolumeDeleteFlags.None, default));
        Assert.Equal([$"/sbin/lvremove -f /dev/{_group}/ghost", $"/sbin/lvchange -aln /dev/{_group}/ghost"], runner.TakeLvm());
        Assert.StartsWith($"internal error: Child process (/sbin/lvchange -aln /dev/{_group}/ghost) unexpected exit status 5: ", missing.Message, StringComparison.Ordinal);

        await backend.StopPoolAsync(pool, default);
        await backend.DeletePoolAsync(pool, PoolDeleteFlags.None, default);
        Assert.Equal([$"/sbin/vgchange -aln {_group}", $"/sbin/vgremove -f {_group}", $"/sbin/pvremove {a}", $"/sbin/pvremove {b}"], runner.TakeLvm());
    }

    [Fact]
    public async Task A_sparse_volume_is_never_wiped()
    {
        var backend = new LogicalBackend(ProcessRunner.Instance, metadataOnly: false);
        var volume = new VolumeDefinition
        {
            Name = "s",
            Type = VolumeType.Block,
            Target = new VolumeTarget { Path = "/dev/vg/s" },
            BackendData = new LogicalVolumeData("u", 4096, Sparse: true, []).Format(),
        };
        var ex = await Assert.ThrowsAsync<VirtPoolException>(() => backend.WipeVolumeAsync(Context(), volume, VolumeWipeAlgorithm.Zero, null, default));
        Assert.Equal(VirErrorCode.NoSupport, ex.Code);
        Assert.Equal("this function is not supported by the connection driver: logical volume '/dev/vg/s' is sparse, volume wipe not supported", ex.Message);
    }

    private string LvsLine() => ChildProcessErrors.CommandText(LvmCommands.LvsArgv(_group));

    private async Task<(string A, string B)> TwoDevicesAsync()
    {
        var a = await _loops.AttachAsync(DeviceBytes);
        var b = await _loops.AttachAsync(DeviceBytes);
        _devices.AddRange([a, b]);
        return (a, b);
    }

    private void WriteLvmConf(bool activation)
    {
        Directory.CreateDirectory(_lvmDir);
        var accept = string.Concat(_devices.Select(d => $"\"a|^{d}$|\", "));
        File.WriteAllText(
            Path.Combine(_lvmDir, "lvm.conf"),
            $"global {{ activation = {(activation ? 1 : 0)} }}\ndevices {{ use_devicesfile = 0 hints = \"none\" filter = [ {accept}\"r|.*|\" ] }}\n");
    }

    private PoolContext Context(params string[] devices) => new(new PoolDefinition
    {
        Type = PoolType.Logical,
        Name = "lvpool",
        Source = new PoolSource { Name = _group, Devices = [.. devices.Select(d => new PoolSourceDevice(d))], Format = (int)PoolLogicalFormat.Lvm2 },
        Target = new PoolTarget { Path = "/dev/" + _group },
    });

    /// <summary>libvirtd's argv for a recorded scenario, with this test's group (and libvirt's quoting of '#').</summary>
    private IEnumerable<string> Recorded(string scenario, [CallerFilePath] string thisFile = "")
    {
        var file = Path.Combine(Path.GetDirectoryName(thisFile)!, "..", "testdata", "libvirt-local", "logical", scenario + ".argv");
        return File.ReadAllLines(file).Where(l => l.Length > 0).Select(l => l.Replace("@VG@", _group, StringComparison.Ordinal));
    }

    /// <summary>
    /// The real runner, keeping each argv as libvirt's log shows it; with <c>lvmDir</c>, every command runs
    /// under <c>env LVM_SYSTEM_DIR=DIR</c> (this process's environment is shared with other tests).
    /// </summary>
    private sealed class RecordingRunner(string? lvmDir) : IProcessRunner
    {
        private readonly List<string> _argv = [];

        public Task<ProcessResult> RunAsync(IReadOnlyList<string> argv, CancellationToken cancellationToken = default)
            => RunAsync(new ProcessRequest(argv), cancellationToken);

        public Task<ProcessResult> RunAsync(ProcessRequest request, CancellationToken cancellationToken = default)
        {
            lock (_argv)
            {
                _argv.Add(ChildProcessErrors.CommandText(request.Argv));
            }

            return lvmDir is null
                ? ProcessRunner.Instance.RunAsync(request, cancellationToken)
                : new EnvRunner(lvmDir).RunAsync(request, cancellationToken);
        }

        public List<string> Take()
        {
            lock (_argv)
            {
                var taken = _argv.ToList();
                _argv.Clear();
                return taken;
            }
        }

        /// <summary>The lvm2 commands only (libvirt probes with libblkid in-process, so its log has no blkid).</summary>
        public List<string> TakeLvm() => [.. Take().Where(l => l.StartsWith("/sbin/", StringComparison.Ordinal))];
    }

    private sealed class EnvRunner(string lvmDir) : IProcessRunner
    {
        public Task<ProcessResult> RunAsync(IReadOnlyList<string> argv, CancellationToken cancellationToken = default)
            => RunAsync(new ProcessRequest(argv), cancellationToken);

        public Task<ProcessResult> RunAsync(ProcessRequest request, CancellationToken cancellationToken = default)
            => ProcessRunner.Instance.RunAsync(request with { Argv = ["/usr/bin/env", "LVM_SYSTEM_DIR=" + lvmDir, "LVM_SUPPRESS_FD_WARNINGS=1", .. request.Argv] }, cancellationToken);
    }
}
