using VirtPool.Backends.Fs;
using VirtPool.Backends.Mounts;
using VirtPool.Core.Backends;
using VirtPool.Core.Errors;
using VirtPool.Core.Manager;
using VirtPool.Core.Model;
using VirtPool.Core.Process;
using VirtPool.Core.State;
using VirtPool.Core.Xml;

namespace VirtPool.Backends.Tests;

/// <summary>
/// btrfs as an fs pool's source format, VirtPool's addition (libvirt 9.0 refuses the name): built, probed,
/// mounted and holding volumes on a real loop device through the pool manager, with reflink clones that
/// really share the original's extents. libvirt has no argv to compare with, so the expected commands
/// are its shape for xfs with the type replaced: <c>/sbin/mkfs -t btrfs -f DEV</c> and libvirt's mount.
/// </summary>
public sealed class FsBtrfsPoolTests : IDisposable
{
    // mkfs.btrfs needs about 110 MiB for its default DUP metadata; libvirt's fs tests use 512 MiB.
    private const long DeviceBytes = 512L << 20;

    private readonly LoopDevices _loops = new();
    private readonly CommandLog _commands = new(ProcessRunner.Instance);

    private string Work => _loops.Folder;

    public void Dispose() => _loops.Dispose();

    private PoolManager NewManager()
        => new(new StateStore(Path.Combine(Work, "state")), new BackendRegistry([FsBackend.Type(_commands)]));

    private static string PoolXml(string name, string device, string format, string target)
        => $"<pool type='fs'><name>{name}</name><source><device path='{device}'/><format type='{format}'/></source><target><path>{target}</path></target></pool>";

    /// <summary>What the backend ran since the last call, but the blkid probe (as in <see cref="FsPoolTests"/>).</summary>
    private string[] Ran() => [.. _commands.Take().Where(c => !c.Contains("blkid -p", StringComparison.Ordinal))];

    [Fact]
    public async Task Btrfs_pool_builds_mounts_holds_volumes_reflinks_clones_and_is_deleted()
    {
        var device = await _loops.AttachAsync(DeviceBytes);
        var target = Path.Combine(Work, "fs", "btrfs");
        using var mgr = NewManager();
        await mgr.DefinePoolAsync(PoolXml("fsbtrfs-c11", device, "btrfs", target));

        // The definition keeps the name (libvirt's numbers for the other formats are unchanged).
        var xml = await mgr.GetPoolXmlAsync("fsbtrfs-c11", inactive: true);
        Assert.Contains("<format type='btrfs'/>", xml, StringComparison.Ordinal);
        Assert.Equal(PoolFsFormat.Btrfs, Core.Xml.PoolXml.Parse(xml).Source.FsFormat);

        // A plain build makes only the target folder.
        await mgr.BuildPoolAsync("fsbtrfs-c11", PoolBuildFlags.None);
        Assert.Empty(Ran());
        Assert.True(Directory.Exists(target));
        Assert.Equal(string.Empty, await BlkidTypeAsync(device));

        await mgr.BuildPoolAsync("fsbtrfs-c11", PoolBuildFlags.NoOverwrite);
        Assert.Equal([$"/sbin/mkfs -t btrfs -f {device}"], Ran());
        Assert.Equal("btrfs", await BlkidTypeAsync(device));
        var uuid = await BlkidValueAsync(device, "UUID");

        var again = await Assert.ThrowsAsync<VirtPoolException>(() => mgr.BuildPoolAsync("fsbtrfs-c11", PoolBuildFlags.NoOverwrite));
        Assert.Equal($"Storage pool already built: Device '{device}' already formatted using 'btrfs'", again.Message);
        Assert.Equal(VirErrorCode.StoragePoolBuilt, again.Code);
        Assert.Empty(Ran());
        Assert.Equal(uuid, await BlkidValueAsync(device, "UUID"));

        // --overwrite makes a new filesystem over the old one (mkfs.btrfs -f), a new UUID.
        await mgr.BuildPoolAsync("fsbtrfs-c11", PoolBuildFlags.Overwrite);
        Assert.Equal([$"/sbin/mkfs -t btrfs -f {device}"], Ran());
        Assert.NotEqual(uuid, await BlkidValueAsync(device, "UUID"));

        await mgr.StartPoolAsync("fsbtrfs-c11", PoolBuildFlags.None, false);
        Assert.Equal([$"/bin/mount -o nodev,nosuid,noexec -t btrfs {device} {target}"], Ran());
        var mount = Assert.Single(MountTable.Read(), m => m.Target == target);
        Assert.Equal(("btrfs", device), (mount.FsType, mount.Source));
        Assert.Equal(PoolState.Running, (await mgr.GetPoolInfoAsync("fsbtrfs-c11")).State);

        // Capacity is statvfs of the mounted btrfs, as for every fs pool.
        var info = await mgr.GetPoolInfoAsync("fsbtrfs-c11");
        var (blockSize, blocks) = await StatfsAsync(target);
        Assert.Equal(blockSize * blocks, info.Capacity);
        Assert.InRange(info.Available, 1UL, info.Capacity);

        await mgr.CreateVolumeAsync("fsbtrfs-c11", "<volume><name>raw1</name><capacity unit='M'>10</capacity></volume>");
        await mgr.CreateVolumeAsync("fsbtrfs-c11", "<volume><name>qcow1</name><capacity unit='M'>20</capacity><target><format type='qcow2'/></target></volume>");
        var based = await mgr.CreateVolumeAsync("fsbtrfs-c11", "<volume><name>base</name><capacity unit='M'>8</capacity><allocation>0</allocation></volume>");
        Assert.Equal(10UL << 20, (await mgr.GetVolumeInfoAsync(await mgr.LookupVolumeByNameAsync("fsbtrfs-c11", "raw1"))).Allocation);
        _ = _commands.Take();

        // Written data, then a --reflink clone: the clone's extents are the original's (FICLONE),
        // which ext4 refuses (VolumeDataTests) and libvirt cannot reach on btrfs at all.
        var data = new byte[8 << 20];
        new Random(11).NextBytes(data);
        await File.WriteAllBytesAsync(Path.Combine(target, "base"), data);
        var clone = await mgr.CreateVolumeFromAsync("fsbtrfs-c11", "<volume><name>clone</name><capacity unit='M'>8</capacity><allocation>0</allocation></volume>", based, VolumeCreateFlags.Reflink);
        Assert.Equal(data, await File.ReadAllBytesAsync(Path.Combine(target, "clone")));
        var original = await PhysicalExtentsAsync(Path.Combine(target, "base"));
        var cloned = await PhysicalExtentsAsync(Path.Combine(target, "clone"));
        Assert.NotEmpty(original);
        Assert.Equal(original, cloned);
        Assert.All(cloned, e => Assert.Contains("shared", e.Flags, StringComparison.Ordinal));
        Assert.Equal(8UL << 20, (await mgr.GetVolumeInfoAsync(clone)).Capacity);

        // A file made behind the pool's back appears after a refresh; btrfs has no lost+found.
        await File.WriteAllBytesAsync(Path.Combine(target, "outside"), new byte[4096]);
        await mgr.RefreshPoolAsync("fsbtrfs-c11");
        var volumes = await mgr.ListVolumesAsync("fsbtrfs-c11");
        Assert.Equal(["base", "clone", "outside", "qcow1", "raw1"], volumes.Select(v => v.Name).Order(StringComparer.Ordinal));
        Assert.Equal("qcow2", (await mgr.GetVolumeAsync(await mgr.LookupVolumeByNameAsync("fsbtrfs-c11", "qcow1"))).Target.Format);
        await mgr.DeleteVolumeAsync(await mgr.LookupVolumeByNameAsync("fsbtrfs-c11", "outside"));
        Assert.False(File.Exists(Path.Combine(target, "outside")));
        _ = _commands.Take();

        var active = await Assert.ThrowsAsync<VirtPoolException>(() => mgr.DeletePoolAsync("fsbtrfs-c11"));
        Assert.Equal("Requested operation is not valid: storage pool 'fsbtrfs-c11' is still active", active.Message);

        await mgr.DestroyPoolAsync("fsbtrfs-c11");
        Assert.Equal([$"/bin/umount {target}"], Ran());
        Assert.DoesNotContain(MountTable.Read(), m => m.Target == target);
        Assert.Equal(PoolState.Inactive, (await mgr.GetPoolInfoAsync("fsbtrfs-c11")).State);

        // The volumes live on the device: mounted again, they and the clone's data are back.
        await mgr.StartPoolAsync("fsbtrfs-c11", PoolBuildFlags.None, false);
        Assert.Equal(["base", "clone", "qcow1", "raw1"], (await mgr.ListVolumesAsync("fsbtrfs-c11")).Select(v => v.Name).Order(StringComparer.Ordinal));
        Assert.Equal(data, await File.ReadAllBytesAsync(Path.Combine(target, "clone")));
        await mgr.DestroyPoolAsync("fsbtrfs-c11");

        await mgr.DeletePoolAsync("fsbtrfs-c11");
        Assert.False(Directory.Exists(target));
        await mgr.UndefinePoolAsync("fsbtrfs-c11");
        Assert.Equal("btrfs", await BlkidTypeAsync(device));
    }

    [Fact]
    public async Task No_overwrite_leaves_another_filesystem_and_a_btrfs_pool_does_not_mount_it()
    {
        var device = await _loops.AttachAsync(DeviceBytes);
        await ProcessRunner.Instance.RunCheckedAsync(["mkfs.ext4", "-q", "-F", device]);
        var target = Path.Combine(Work, "fs", "wrong");
        using var mgr = NewManager();
        await mgr.DefinePoolAsync(PoolXml("fsbtrfs-c11-wrong", device, "btrfs", target));

        var refused = await Assert.ThrowsAsync<VirtPoolException>(() => mgr.BuildPoolAsync("fsbtrfs-c11-wrong", PoolBuildFlags.NoOverwrite));
        Assert.Equal($"Storage pool already built: Format of device '{device}' does not match the expected format 'btrfs', forced overwrite is necessary", refused.Message);
        Assert.Empty(Ran());
        Assert.Equal("ext4", await BlkidTypeAsync(device));

        await mgr.BuildPoolAsync("fsbtrfs-c11-wrong", PoolBuildFlags.None);
        var start = await Assert.ThrowsAsync<VirtPoolException>(() => mgr.StartPoolAsync("fsbtrfs-c11-wrong", PoolBuildFlags.None, false));
        Assert.StartsWith($"internal error: Child process (/bin/mount -o nodev,nosuid,noexec -t btrfs {device} {target}) unexpected exit status 32: mount: {target}: wrong fs type, bad option, bad superblock on {device}", start.Message, StringComparison.Ordinal);
        Assert.Equal(PoolState.Inactive, (await mgr.GetPoolInfoAsync("fsbtrfs-c11-wrong")).State);
        Assert.DoesNotContain(MountTable.Read(), m => m.Target == target);

        // And the other way round: the btrfs that --overwrite makes is not what an xfs pool expects.
        await mgr.BuildPoolAsync("fsbtrfs-c11-wrong", PoolBuildFlags.Overwrite);
        Assert.Equal("btrfs", await BlkidTypeAsync(device));
        await mgr.UndefinePoolAsync("fsbtrfs-c11-wrong");
        await mgr.DefinePoolAsync(PoolXml("fsbtrfs-c11-xfs", device, "xfs", Path.Combine(Work, "fs", "xfs")));
        var xfs = await Assert.ThrowsAsync<VirtPoolException>(() => mgr.BuildPoolAsync("fsbtrfs-c11-xfs", PoolBuildFlags.NoOverwrite));
        Assert.Equal($"Storage pool already built: Format of device '{device}' does not match the expected format 'xfs', forced overwrite is necessary", xfs.Message);
        await mgr.UndefinePoolAsync("fsbtrfs-c11-xfs");
    }

    [Fact]
    public async Task Mkfs_of_a_device_too_small_for_btrfs_fails_with_its_message_and_the_pool_stays_inactive()
    {
        var device = await _loops.AttachAsync(16L << 20);
        using var mgr = NewManager();
        await mgr.DefinePoolAsync(PoolXml("fsbtrfs-c11-small", device, "btrfs", Path.Combine(Work, "fs", "small")));
        var error = await Assert.ThrowsAsync<VirtPoolException>(() => mgr.BuildPoolAsync("fsbtrfs-c11-small", PoolBuildFlags.Overwrite));
        Assert.StartsWith($"internal error: Child process (/sbin/mkfs -t btrfs -f {device}) unexpected exit status 1: ", error.Message, StringComparison.Ordinal);
        Assert.Contains("too small", error.Message, StringComparison.Ordinal);
        Assert.Equal(string.Empty, await BlkidTypeAsync(device));
        Assert.Equal(PoolState.Inactive, (await mgr.GetPoolInfoAsync("fsbtrfs-c11-small")).State);
        await mgr.UndefinePoolAsync("fsbtrfs-c11-small");
    }

    [Fact]
    public void Btrfs_appends_to_libvirts_format_table_and_stays_out_of_pool_capabilities()
    {
        // libvirt's numbers are unchanged: only the new name is appended.
        Assert.Equal(13, (int)PoolFsFormat.Vmfs);
        Assert.Equal(14, (int)PoolFsFormat.Btrfs);
        Assert.Equal("btrfs", PoolFsFormat.Btrfs.ToName());
        Assert.Equal((int)PoolFsFormat.Btrfs, PoolTypeInfo.For(PoolType.Fs).ParseSourceFormat("btrfs"));
        Assert.Equal(PoolFormatNames.Fs.Take(14), PoolFormatNames.FsInLibvirt);

        var caps = PoolCapabilitiesXml.Format([PoolType.Fs]);
        Assert.Contains("<value>vmfs</value>", caps, StringComparison.Ordinal);
        Assert.DoesNotContain("btrfs", caps, StringComparison.Ordinal);

        Assert.Equal([FsBackend.LibvirtMkfsPath, "-t", "btrfs", "-f", "/dev/sdz"], FsBackend.MkfsArgv(FsBackend.LibvirtMkfsPath, "btrfs", "/dev/sdz"));
        Assert.Equal("internal error: 'mkfs.btrfs' not found: install btrfs-progs", ChildProcessErrors.NotFound("mkfs.btrfs").Message);
    }

    private static async Task<string> BlkidTypeAsync(string device) => await BlkidValueAsync(device, "TYPE");

    /// <summary>One value of blkid's low-level probe; empty when the device holds nothing (blkid exits 2).</summary>
    private static async Task<string> BlkidValueAsync(string device, string tag)
        => (await ProcessRunner.Instance.RunAsync(["blkid", "-p", "-s", tag, "-o", "value", device])).StandardOutput.Trim();

    /// <summary>statvfs of a mounted folder as stat(1) prints it: fundamental block size and total blocks.</summary>
    private static async Task<(ulong BlockSize, ulong Blocks)> StatfsAsync(string path)
    {
        var fields = (await ProcessRunner.Instance.RunCheckedAsync(["stat", "-f", "-c", "%S %b", path])).StandardOutput.Split(' ', StringSplitOptions.TrimEntries);
        return (ulong.Parse(fields[0], System.Globalization.CultureInfo.InvariantCulture), ulong.Parse(fields[1], System.Globalization.CultureInfo.InvariantCulture));
    }

    /// <summary>filefrag -v's extent rows: (logical range, physical range, flags).</summary>
    private static async Task<List<(string Logical, string Physical, string Flags)>> PhysicalExtentsAsync(string file)
    {
        var output = (await ProcessRunner.Instance.RunCheckedAsync(["filefrag", "-v", file])).StandardOutput;
        var extents = new List<(string, string, string)>();
        foreach (var line in output.Split('\n'))
        {
            // "   0:        0..    2047:       3328..      5375:   2048:             last,shared,eof"
            var columns = line.Split(':', StringSplitOptions.TrimEntries);
            if (columns.Length >= 4 && int.TryParse(columns[0], out _))
            {
                extents.Add((columns[1], columns[2], columns[^1]));
            }
        }

        return extents;
    }
}
