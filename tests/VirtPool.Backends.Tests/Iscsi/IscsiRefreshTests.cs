using System.Security.Cryptography;
using VirtPool.Backends.Iscsi;
using VirtPool.Core.Backends;
using VirtPool.Core.Errors;
using VirtPool.Core.Manager;
using VirtPool.Core.Model;
using VirtPool.Core.Process;
using VirtPool.Core.State;
using VirtPool.TestSupport;

namespace VirtPool.Backends.Tests.Iscsi;

/// <summary>
/// The refresh's walk over sysfs and the target folder, on a **fake** tree (a boundary test: no kernel
/// initiator here makes the real one): a temp folder shaped as a logged-in session makes /sys and /dev
/// (session → SCSI host, the host's devices with their type and block entries, /dev/sdX and
/// /dev/disk/by-path links), whose LUN nodes lead to real loop devices, so sizes are read from real block
/// devices and volume data really moves. iscsiadm, udevadm and scsi_id are played back.
/// </summary>
public sealed class IscsiRefreshTests : IDisposable
{
    private const string P = IscsiReplay.Program;
    private const string Serial = "360000000000000000e00000000010001";

    private readonly LoopDevices _loops = new();
    private readonly string _root;

    public IscsiRefreshTests() => _root = Path.Combine(_loops.Folder, "tree");

    public void Dispose() => _loops.Dispose();

    private string Sys => Path.Combine(_root, "sys");

    private string Dev => Path.Combine(_root, "dev");

    private string ByPath => Path.Combine(Dev, "disk", "by-path");

    private IscsiEnvironment Environment => new()
    {
        Iscsiadm = P,
        Udevadm = "/bin/udevadm",
        ScsiId = "/lib/udev/scsi_id",
        SysRoot = Sys,
        DevRoot = Dev,
        StablePathWait = TimeSpan.Zero,
    };

    private static string Link(int lun) => $"ip-127.0.0.1:3260-iscsi-{IscsiReplay.Target}-lun-{lun}";

    /// <summary>
    /// Session 4 on SCSI host 5. LUN 0: a controller (type 12, as tgt shows LUN 0); LUN 1: a disk, new-style
    /// block folder (sdb); LUN 2: a disk, old-style "block:sdc" entry; LUN 3: a CD-ROM without a block
    /// device; LUN 4: a disk without a by-path link; plus a device of host 6 and the host's own entries.
    /// </summary>
    private async Task BuildTreeAsync()
    {
        Directory.CreateDirectory(Path.Combine(Sys, "class/iscsi_session/session4/device/connection4:0"));
        Directory.CreateDirectory(Path.Combine(Sys, "class/iscsi_session/session4/device/target5:0:0"));
        Directory.CreateDirectory(ByPath);
        var devices = Path.Combine(Sys, "bus/scsi/devices");
        void Lun(string address, string type, string? newStyle = null, string? oldStyle = null)
        {
            var dir = Path.Combine(devices, address);
            Directory.CreateDirectory(dir);
            File.WriteAllText(Path.Combine(dir, "type"), type);
            if (newStyle is not null)
            {
                Directory.CreateDirectory(Path.Combine(dir, "block", newStyle));
            }

            if (oldStyle is not null)
            {
                Directory.CreateDirectory(Path.Combine(dir, "block:" + oldStyle));
            }
        }

        Lun("5:0:0:0", "12\n");
        Lun("5:0:0:1", "0\n", newStyle: "sdb");
        Lun("5:0:0:2", "0\n", oldStyle: "sdc");
        Lun("5:0:0:3", "5\n");
        Lun("5:0:0:4", "0\n", newStyle: "sdd");
        Lun("6:0:0:1", "0\n", newStyle: "sde");
        Directory.CreateDirectory(Path.Combine(devices, "host5"));
        Directory.CreateDirectory(Path.Combine(devices, "target5:0:0"));

        File.CreateSymbolicLink(Path.Combine(Dev, "sdb"), await _loops.AttachAsync(8 << 20, fill: 0x11));
        File.CreateSymbolicLink(Path.Combine(Dev, "sdc"), await _loops.AttachAsync(4 << 20));
        File.CreateSymbolicLink(Path.Combine(Dev, "sdd"), await _loops.AttachAsync(1 << 20));
        File.CreateSymbolicLink(Path.Combine(ByPath, Link(1)), "../../sdb");
        File.CreateSymbolicLink(Path.Combine(ByPath, Link(2)), "../../sdc");
    }

    private IscsiReplay Replay()
    {
        var replay = new IscsiReplay { Sessions = IscsiadmOutputTests.Golden("represented/session.out") };
        replay.Answers["--mode session -r 4 -R"] = IscsiReplay.Ok();
        replay.Answers["--replace-whitespace --whitelisted --device " + Path.Combine(ByPath, Link(1))] = IscsiReplay.Ok(Serial + "\n");
        replay.Answers["--replace-whitespace --whitelisted --device " + Path.Combine(ByPath, Link(2))] = new ProcessResult(1, string.Empty, string.Empty);
        return replay;
    }

    private string PoolXml(string name = "lun") => $"<pool type='iscsi'><name>{name}</name><source><host name='127.0.0.1' port='3260'/><device path='{IscsiReplay.Target}'/></source><target><path>{ByPath}</path></target></pool>";

    [Fact]
    public async Task Refresh_rescans_the_session_and_lists_its_disk_luns_at_their_stable_links()
    {
        await BuildTreeAsync();
        var runner = new RecordingProcessRunner(Replay().Respond);
        var pool = new PoolContext(Core.Xml.PoolXml.Parse(PoolXml()));
        var scan = await IscsiBackend.Type(runner, Environment).Load(pool).RefreshPoolAsync(pool, default);

        // libvirt's commands (storage_backend_iscsi.c, storage_util.c): session lookup, LUN rescan, a
        // udevadm settle before reading the session's host and another before the host's devices, scsi_id per LUN.
        Assert.Equal(
            IscsiCommandTests.FromSource("refresh").Select(l => l.Replace("@BYPATH@", ByPath, StringComparison.Ordinal)),
            runner.Calls.Select(ChildProcessErrors.CommandText));
        Assert.Equal(
            [
                ("unit:0:0:1", Path.Combine(ByPath, Link(1)), Serial, 8UL << 20),
                ("unit:0:0:2", Path.Combine(ByPath, Link(2)), Path.Combine(ByPath, Link(2)), 4UL << 20),
            ],
            scan.Volumes.Select(v => (v.Name, v.Target.Path!, v.Key!, v.Capacity)));
        Assert.All(scan.Volumes, v => Assert.Equal((VolumeType.Block, v.Capacity), (v.Type, v.EffectiveAllocation)));
        Assert.Equal(new PoolSizes(12UL << 20, 12UL << 20, 0), scan.Sizes);
    }

    [Fact]
    public async Task A_lun_whose_type_cannot_be_read_fails_the_refresh_with_libvirts_words()
    {
        await BuildTreeAsync();
        File.Delete(Path.Combine(Sys, "bus/scsi/devices/5:0:0:2/type"));
        var pool = new PoolContext(Core.Xml.PoolXml.Parse(PoolXml()));
        var error = await Assert.ThrowsAsync<VirtPoolException>(() => IscsiBackend.Type(new RecordingProcessRunner(Replay().Respond), Environment).Load(pool).RefreshPoolAsync(pool, default));
        Assert.Equal("internal error: Failed to determine if 5:0:0:2 is a Direct-Access LUN", error.Message);
    }

    [Fact]
    public async Task A_session_without_its_sysfs_folder_or_target_entry_is_libvirts_error()
    {
        await BuildTreeAsync();
        var device = Path.Combine(Sys, "class/iscsi_session/session4/device");
        Directory.Delete(Path.Combine(device, "target5:0:0"));
        var pool = new PoolContext(Core.Xml.PoolXml.Parse(PoolXml()));
        var backend = IscsiBackend.Type(new RecordingProcessRunner(Replay().Respond), Environment).Load(pool);
        var error = await Assert.ThrowsAsync<VirtPoolException>(() => backend.RefreshPoolAsync(pool, default));
        Assert.Equal($"internal error: Failed to get host number for iSCSI session with path '{device}'", error.Message);

        Directory.CreateDirectory(Path.Combine(device, "targetX"));
        error = await Assert.ThrowsAsync<VirtPoolException>(() => backend.RefreshPoolAsync(pool, default));
        Assert.Equal("internal error: Failed to parse target 'targetX'", error.Message);

        Directory.Delete(device, recursive: true);
        error = await Assert.ThrowsAsync<VirtPoolException>(() => backend.RefreshPoolAsync(pool, default));
        Assert.Equal($"cannot open directory '{device}': No such file or directory", error.Message);
    }

    [Fact]
    public async Task A_target_folder_outside_dev_is_refused_as_libvirt_does()
    {
        await BuildTreeAsync();
        var xml = PoolXml().Replace(ByPath, _loops.Folder, StringComparison.Ordinal);
        var pool = new PoolContext(Core.Xml.PoolXml.Parse(xml));
        var error = await Assert.ThrowsAsync<VirtPoolException>(() => IscsiBackend.Type(new RecordingProcessRunner(Replay().Respond), Environment).Load(pool).RefreshPoolAsync(pool, default));
        Assert.Equal($"invalid argument: unable to use target path '{_loops.Folder}' for dev 'sdb'", error.Message);
    }

    [Fact]
    public async Task A_target_of_dev_itself_lists_the_luns_at_their_device_nodes()
    {
        await BuildTreeAsync();
        var pool = new PoolContext(Core.Xml.PoolXml.Parse(PoolXml().Replace(ByPath, Dev, StringComparison.Ordinal)));
        var scan = await IscsiBackend.Type(new RecordingProcessRunner(Replay().Respond), Environment with { ScsiId = null }).Load(pool).RefreshPoolAsync(pool, default);
        Assert.Equal(
            [("unit:0:0:1", Path.Combine(Dev, "sdb")), ("unit:0:0:2", Path.Combine(Dev, "sdc")), ("unit:0:0:4", Path.Combine(Dev, "sdd"))],
            scan.Volumes.Select(v => (v.Name, v.Key!)));
    }

    [Fact]
    public async Task Through_the_manager_the_luns_are_volumes_whose_data_moves()
    {
        await BuildTreeAsync();
        var runner = new RecordingProcessRunner(Replay().Respond);
        using var mgr = new PoolManager(new StateStore(Path.Combine(_loops.Folder, "state")), new BackendRegistry([IscsiBackend.Type(runner, Environment)]));
        await mgr.DefinePoolAsync(PoolXml());
        await mgr.StartPoolAsync("lun", PoolBuildFlags.None, doBuild: false);
        var volumes = await mgr.ListVolumesAsync("lun");
        Assert.Equal(["unit:0:0:1", "unit:0:0:2"], volumes.Select(v => v.Name).Order(StringComparer.Ordinal));
        var info = await mgr.GetPoolInfoAsync("lun");
        Assert.Equal((12UL << 20, 0UL), (info.Capacity, info.Available));

        var lun1 = await mgr.LookupVolumeByNameAsync("lun", "unit:0:0:1");
        var data = RandomNumberGenerator.GetBytes(1 << 20);
        await mgr.UploadVolumeAsync(lun1, new StreamEndpoint(new MemoryStream(data)), 4096, 0, sparse: false);
        using var back = new MemoryStream();
        await mgr.DownloadVolumeAsync(lun1, new StreamEndpoint(back), 4096, (ulong)data.Length, sparse: false);
        Assert.Equal(data, back.ToArray());

        // The bytes reached the loop device behind the "LUN" (its backing file), around them the old fill.
        var backing = await File.ReadAllBytesAsync(LoopDevices.BackingFileOf(Path.GetFullPath(File.ResolveLinkTarget(Path.Combine(Dev, "sdb"), true)!.FullName)));
        Assert.Equal(data, backing.AsSpan(4096, data.Length).ToArray());
        Assert.All(backing.AsSpan(0, 4096).ToArray(), b => Assert.Equal(0x11, b));

        await mgr.WipeVolumeAsync(lun1, VolumeWipeAlgorithm.Zero);
        Assert.Equal(SHA256.HashData(new byte[8 << 20]), await mgr.ChecksumVolumeAsync(lun1));
    }
}
