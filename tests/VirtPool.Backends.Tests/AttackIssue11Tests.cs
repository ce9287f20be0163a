using VirtPool.Backends.Disk;
using VirtPool.Core.Backends;
using VirtPool.Core.Errors;
using VirtPool.Core.Manager;
using VirtPool.Core.Model;
using VirtPool.Core.Process;
using VirtPool.Core.State;

namespace VirtPool.Backends.Tests;

/// <summary>
/// Defects found by the adversarial review of issue 11's pool types (fs, disk, netfs), each on real
/// loop devices and checked against what libvirtd 9.0 does on the same steps. Each test fails until
/// its defect is fixed.
/// </summary>
public sealed class AttackIssue11Tests : IDisposable
{
    private const long DeviceBytes = 200L << 20;
    private readonly LoopDevices _loops = new();

    public void Dispose() => _loops.Dispose();

    /// <summary>
    /// A gpt disk whose backup header is gone (the last sector zeroed: a truncated image copy, md
    /// metadata or a tool that cleared the tail). libvirtd 9.0 runs parted, which says "The backup GPT
    /// table is corrupt, but the primary appears OK", writes a fresh backup and makes the partition.
    /// GptWriter.Update takes the backup entries' LBA from offset 72 of whatever sector the primary's
    /// AlternateLBA names, unchecked: a zero sector sends the 16 KiB of entries to LBA 0, so the
    /// protective MBR is overwritten, the label is gone ("unrecognized, requires build"), the create
    /// fails with "parted made no partition 2" (parted never ran) and the kernel keeps the BLKPG'd node.
    /// </summary>
    [Fact]
    public async Task Gpt_create_with_a_missing_backup_header_keeps_the_label_as_parted_does()
    {
        var device = await _loops.AttachAsync(DeviceBytes, partitions: true);
        var name = Path.GetFileName(device);
        var pool = DiskContext(device, PoolDiskFormat.Gpt);
        var backend = DiskBackend.Type(ProcessRunner.Instance).Load(pool);
        await ((IPoolBuilder)backend).BuildPoolAsync(pool, PoolBuildFlags.Overwrite, default);
        await backend.StartPoolAsync(pool, PoolStartFlags.None, default);
        await CreatePartition(backend, pool, $"{name}p1", 50L << 20);

        // The backup GPT header lives in the device's last sector.
        await using (var stream = new FileStream(device, FileMode.Open, FileAccess.Write))
        {
            stream.Seek(DeviceBytes - 512, SeekOrigin.Begin);
            await stream.WriteAsync(new byte[512]);
        }

        Assert.Equal(DiskLabel.Gpt, DiskDevice.ProbeLabel(device));
        await backend.RefreshPoolAsync(pool, default);

        Exception? failure = null;
        try
        {
            await CreatePartition(backend, pool, $"{name}p2", 10L << 20);
        }
        catch (VirtPoolException ex)
        {
            failure = ex;
        }

        Assert.Equal(DiskLabel.Gpt, DiskDevice.ProbeLabel(device));
        var scan = await backend.RefreshPoolAsync(pool, default);
        Assert.Contains(scan.Volumes, v => v.Name == $"{name}p1");
        Assert.Null(failure);
        Assert.Contains(scan.Volumes, v => v.Name == $"{name}p2");
    }

    /// <summary>
    /// libvirtd 9.0 refuses a volume of capacity 0 in a pool type without buildVol (disk, logical, zfs)
    /// before anything is made: <c>this function is not supported by the connection driver: volume
    /// capacity required for this storage pool</c> (storageVolCreateXML). VirtPool makes a one-cylinder
    /// partition (254 KiB) instead: <c>virtpool vol-create-as POOL loop2p1 0</c> answers "created".
    /// </summary>
    [Fact]
    public async Task Disk_volume_of_capacity_zero_is_refused_as_libvirt_does()
    {
        var device = await _loops.AttachAsync(DeviceBytes, partitions: true);
        var name = Path.GetFileName(device);
        using var mgr = new PoolManager(new StateStore(Path.Combine(_loops.Folder, "state")), new BackendRegistry([DiskBackend.Type(ProcessRunner.Instance)]));
        await mgr.DefinePoolAsync($"<pool type='disk'><name>c11atkzero</name><source><device path='{device}'/><format type='dos'/></source><target><path>/dev</path></target></pool>");
        await mgr.BuildPoolAsync("c11atkzero", PoolBuildFlags.Overwrite);
        await mgr.StartPoolAsync("c11atkzero", PoolBuildFlags.None, false);

        var refused = await Assert.ThrowsAsync<VirtPoolException>(() => mgr.CreateVolumeAsync("c11atkzero", $"<volume><name>{name}p1</name><capacity>0</capacity></volume>"));
        Assert.Equal("this function is not supported by the connection driver: volume capacity required for this storage pool", refused.Message);
        Assert.Empty(DiskDevice.ReadTable(device).Partitions);
        await mgr.DestroyPoolAsync("c11atkzero");
    }

    /// <summary>
    /// A disk pool named by a symlink to its device, as /dev/disk/by-id/… and by-path/… names are (the
    /// stable names to give a pool). libvirt_parthelper resolves the link first, so libvirtd 9.0 names
    /// the partitions after the real node (<c>loop3p1</c>, path <c>/dev/loop3p1</c>) and creates, lists
    /// and refreshes them. VirtPool names them after the link (<c>LINK1</c> beside the link), which no
    /// node has: vol-create-as of <c>loop2p1</c> answers "invalid partition name 'loop2p1', expected
    /// 'LINK1'", <c>LINK1</c> answers "no storage vol with matching path", and once the device holds a
    /// partition the pool can no longer start or refresh.
    /// </summary>
    [Fact]
    public async Task Disk_pool_on_a_symlinked_device_names_partitions_after_the_real_node()
    {
        var device = await _loops.AttachAsync(DeviceBytes, partitions: true);
        var link = Path.Combine(_loops.Folder, "c11atk-by-id-disk");
        File.CreateSymbolicLink(link, device);
        var pool = DiskContext(link, PoolDiskFormat.Dos);
        var backend = DiskBackend.Type(ProcessRunner.Instance).Load(pool);
        await ((IPoolBuilder)backend).BuildPoolAsync(pool, PoolBuildFlags.Overwrite, default);
        await backend.StartPoolAsync(pool, PoolStartFlags.None, default);

        var created = await CreatePartition(backend, pool, $"{Path.GetFileName(device)}p1", 10L << 20);
        Assert.Equal($"{device}p1", created.Target.Path);
        var scan = await backend.RefreshPoolAsync(pool, default);
        Assert.Equal([$"{Path.GetFileName(device)}p1"], scan.Volumes.Select(v => v.Name));
    }

    /// <summary>
    /// libvirtd 9.0 refuses to wipe an extended partition (virStorageBackendDiskVolWipe: "this function
    /// is not supported by the connection driver: cannot wipe extended partition '/dev/loop3p1'").
    /// VirtPool wipes its node, which is the first EBR: every logical partition drops out of the table
    /// (loop2p5 and its data are gone from the pool) and parted refuses the disk from then on ("Invalid
    /// partition table … wrong signature 0"), so no dos create or delete works any more. Repro:
    /// vol-create-as P loop2p1 50M --format extended; p2..p4 5M; p5 10M; vol-wipe --pool P loop2p1.
    /// </summary>
    [Fact]
    public async Task Wiping_an_extended_partition_is_refused_and_keeps_the_logicals()
    {
        var device = await _loops.AttachAsync(DeviceBytes, partitions: true);
        var name = Path.GetFileName(device);
        var pool = DiskContext(device, PoolDiskFormat.Dos);
        var backend = DiskBackend.Type(ProcessRunner.Instance).Load(pool);
        await ((IPoolBuilder)backend).BuildPoolAsync(pool, PoolBuildFlags.Overwrite, default);
        await backend.StartPoolAsync(pool, PoolStartFlags.None, default);
        var extended = await CreatePartition(backend, pool, $"{name}p1", 50L << 20, "extended");
        for (var n = 2; n <= 4; n++)
        {
            await CreatePartition(backend, pool, $"{name}p{n}", 5L << 20);
        }

        await CreatePartition(backend, pool, $"{name}p5", 10L << 20);

        var refused = await Assert.ThrowsAsync<VirtPoolException>(() => ((IVolumeWiper)backend).WipeVolumeAsync(pool, extended, VolumeWipeAlgorithm.Zero, null, default));
        Assert.Equal($"this function is not supported by the connection driver: cannot wipe extended partition '{device}p1'", refused.Message);
        var scan = await backend.RefreshPoolAsync(pool, default);
        Assert.Contains(scan.Volumes, v => v.Name == $"{name}p5");
    }

    /// <summary>
    /// vol-delete of a gpt partition that is in use (mounted, or open by a guest). parted, which
    /// libvirtd 9.0 runs, refuses ("Partition /dev/loop3p1 is being used", exit 1) and leaves the table
    /// as it was. GptWriter.Remove clears the entry first and only then asks the kernel to drop the
    /// partition, which answers EBUSY: the delete fails ("cannot drop partition 1 … Device or resource
    /// busy") but the entry is gone, so after the next refresh the volume has left the pool while its
    /// filesystem is still mounted, and its sectors are offered as free to the next vol-create-as.
    /// </summary>
    [Fact]
    public async Task Deleting_a_busy_gpt_partition_fails_without_removing_its_entry()
    {
        var device = await _loops.AttachAsync(DeviceBytes, partitions: true);
        var name = Path.GetFileName(device);
        var pool = DiskContext(device, PoolDiskFormat.Gpt);
        var backend = DiskBackend.Type(ProcessRunner.Instance).Load(pool);
        await ((IPoolBuilder)backend).BuildPoolAsync(pool, PoolBuildFlags.Overwrite, default);
        await backend.StartPoolAsync(pool, PoolStartFlags.None, default);
        var p1 = await CreatePartition(backend, pool, $"{name}p1", 20L << 20);

        // An opener of the partition (a mount, a guest) makes the kernel refuse to drop it.
        await using (new FileStream(p1.Target.Path!, FileMode.Open, FileAccess.Read))
        {
            await Assert.ThrowsAsync<VirtPoolException>(() => ((IVolumeDeleter)backend).DeleteVolumeAsync(pool, p1, VolumeDeleteFlags.None, default));
        }

        Assert.Contains(DiskDevice.ReadTable(device).Partitions, p => p.Number == 1);
        var scan = await backend.RefreshPoolAsync(pool, default);
        Assert.Contains(scan.Volumes, v => v.Name == $"{name}p1");
    }

    /// <summary>
    /// virConnectFindStoragePoolSources("netfs", "&lt;source&gt;&lt;bad", 1) (python3-libvirt): libvirtd 9.0's
    /// netfs finder checks its flags before it parses srcSpec ("unsupported flags (0x1) in function
    /// virStorageBackendFileSystemNetFindPoolSources"); the manager parses srcSpec before the finder
    /// sees the flags, so VirtPool answers with the XML parser's error instead.
    /// </summary>
    [Fact]
    public async Task Netfs_discovery_checks_flags_before_parsing_the_source_spec()
    {
        using var mgr = new PoolManager(new StateStore(Path.Combine(_loops.Folder, "state")), new BackendRegistry([Netfs.NetfsBackend.Type(ProcessRunner.Instance)]));
        var refused = await Assert.ThrowsAsync<VirtPoolException>(() => mgr.FindPoolSourcesAsync("netfs", "<source><bad", 1));
        Assert.Equal("unsupported flags (0x1) in function virStorageBackendFileSystemNetFindPoolSources", refused.Message);
    }

    /// <summary>
    /// pool-refresh while vol-create-as runs on a gpt disk pool. The manager runs a backend's create
    /// outside the pool's lock, and DiskBackend.RefreshPoolAsync reads the table without the table's
    /// flock that creates hold: a refresh that lands between GptWriter's table write and its BLKPG (or
    /// parted's, on dos) finds an entry whose node is not there yet and fails ("Storage volume not
    /// found: no storage vol with matching path '/dev/loop0p8'"), and a failed refresh stops the pool
    /// under the client; reading between the entries' write and the header's gives "GPT partition
    /// entries fail their checksum" the same way. libvirtd 9.0 holds the pool's lock across createVol
    /// and refreshPool, so its refresh never sees a partition half-made.
    /// </summary>
    [Fact]
    public async Task Refresh_racing_gpt_creates_never_reads_a_half_written_table()
    {
        var device = await _loops.AttachAsync(DeviceBytes, partitions: true);
        var name = Path.GetFileName(device);
        using var mgr = new PoolManager(new StateStore(Path.Combine(_loops.Folder, "state")), new BackendRegistry([DiskBackend.Type(ProcessRunner.Instance)]));
        await mgr.DefinePoolAsync($"<pool type='disk'><name>c11atkrace</name><source><device path='{device}'/><format type='gpt'/></source><target><path>/dev</path></target></pool>");
        await mgr.BuildPoolAsync("c11atkrace", PoolBuildFlags.Overwrite);
        await mgr.StartPoolAsync("c11atkrace", PoolBuildFlags.None, false);

        using var creating = new CancellationTokenSource();
        var refreshes = 0;
        var refresher = Task.Run(async () =>
        {
            while (!creating.IsCancellationRequested)
            {
                await mgr.RefreshPoolAsync("c11atkrace");
                refreshes++;
            }
        });
        try
        {
            for (var round = 0; round < 10 && !refresher.IsCompleted; round++)
            {
                for (var n = 1; n <= 8; n++)
                {
                    await mgr.CreateVolumeAsync("c11atkrace", $"<volume><name>{name}p{n}</name><capacity>1048576</capacity></volume>");
                }

                foreach (var volume in await mgr.ListVolumesAsync("c11atkrace"))
                {
                    await mgr.DeleteVolumeAsync(volume);
                }
            }
        }
        finally
        {
            await creating.CancelAsync();
        }

        await refresher;
        Assert.True(refreshes > 0);
        await mgr.DestroyPoolAsync("c11atkrace");
    }

    /// <summary>
    /// A gpt volume whose capacity is not a whole number of sectors. libvirtd 9.0 gives parted
    /// "mkpart primary 17408B 18407B", and parted's end sector is the one holding the last byte (35),
    /// so 1000 bytes make a 2-sector partition (capacity 1024, extent 17408-18432). GptWriter's end is
    /// (end + 1) / 512 - 1, a sector short: the volume is 512 bytes, less than asked, and every later
    /// partition starts a sector earlier than libvirt's (1048577 bytes make 1048576).
    /// </summary>
    [Fact]
    public async Task Gpt_partition_is_never_smaller_than_the_capacity_asked()
    {
        var device = await _loops.AttachAsync(DeviceBytes, partitions: true);
        var name = Path.GetFileName(device);
        var pool = DiskContext(device, PoolDiskFormat.Gpt);
        var backend = DiskBackend.Type(ProcessRunner.Instance).Load(pool);
        await ((IPoolBuilder)backend).BuildPoolAsync(pool, PoolBuildFlags.Overwrite, default);
        await backend.StartPoolAsync(pool, PoolStartFlags.None, default);

        var p1 = await CreatePartition(backend, pool, $"{name}p1", 1000);
        Assert.Equal((17408UL, 18432UL, 1024UL), (p1.Source.Extents[0].Start, p1.Source.Extents[0].End, p1.Capacity));
        var p2 = await CreatePartition(backend, pool, $"{name}p2", (1L << 20) + 1);
        Assert.Equal((18432UL, 1067520UL), (p2.Source.Extents[0].Start, p2.Source.Extents[0].End));
    }

    private static async Task<VolumeDefinition> CreatePartition(IStorageBackend backend, PoolContext pool, string volume, long bytes, string? format = null)
    {
        var creator = (IVolumeCreator)backend;
        var def = new VolumeDefinition { Name = volume, Capacity = (ulong)bytes, HasCapacity = true, Target = new VolumeTarget { Format = format } };
        return await creator.CreateVolumeAsync(pool, creator.PrepareVolume(pool, def), VolumeCreateFlags.None, null, default);
    }

    private static PoolContext DiskContext(string device, PoolDiskFormat format) => new(new PoolDefinition
    {
        Type = PoolType.Disk,
        Name = "c11atk" + format.ToName(),
        Source = new PoolSource { Devices = [new PoolSourceDevice(device)], Format = (int)format },
        Target = new PoolTarget { Path = "/dev" },
    });
}
