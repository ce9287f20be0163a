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
                Interlocked.Increment(ref refreshes);
            }
        });
        try
        {
            // At least 10 rounds, and on until a refresh has run among them (the race must happen).
            for (var round = 0; (round < 10 || Volatile.Read(ref refreshes) == 0) && round < 500 && !refresher.IsCompleted; round++)
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

    /// <summary>
    /// A disk of 4096-byte sectors (a 4Kn drive; here losetup -b 4096) that already holds a gpt label
    /// and a partition. libvirtd 9.0 starts such a pool, and pool-build without --overwrite refuses
    /// ("Storage pool already built: Device '/dev/loop0' already formatted using 'gpt'"). DiskDevice.ProbeLabel
    /// looks for the GPT header at byte 512, where only a 512-byte-sector disk has it, so VirtPool calls
    /// the device unlabelled: pool-start says "unrecognized, requires build", and the plain pool-build
    /// that message asks for zeroes the label and writes a new one: the partition is gone.
    /// </summary>
    [Fact]
    public async Task Build_without_overwrite_never_wipes_the_gpt_of_a_4k_sector_disk()
    {
        var backing = Path.Combine(_loops.Folder, "c11atk-4kn.img");
        await using (var file = new FileStream(backing, FileMode.CreateNew))
        {
            file.SetLength(DeviceBytes);
        }

        var attach = await ProcessRunner.Instance.RunCheckedAsync(["losetup", "-b", "4096", "-P", "-f", "--show", backing]);
        var device = attach.StandardOutput.Trim();
        try
        {
            await ProcessRunner.Instance.RunCheckedAsync(["parted", "-s", device, "mklabel", "gpt", "mkpart", "data", "1MiB", "20MiB"]);
            var pool = DiskContext(device, PoolDiskFormat.Gpt);
            var backend = DiskBackend.Type(ProcessRunner.Instance).Load(pool);

            var refused = await Assert.ThrowsAsync<VirtPoolException>(() => ((IPoolBuilder)backend).BuildPoolAsync(pool, PoolBuildFlags.None, default));
            Assert.Equal($"Storage pool already built: Device '{device}' already formatted using 'gpt'", refused.Message);
            var print = await ProcessRunner.Instance.RunAsync(["parted", "-s", device, "print"]);
            Assert.Contains(" data", print.StandardOutput, StringComparison.Ordinal);
        }
        finally
        {
            await ProcessRunner.Instance.RunAsync(["losetup", "-d", device]);
        }
    }

    /// <summary>
    /// dos tables libparted refuses, so libvirtd 9.0 cannot start the pool ("libvirt_parthelper …
    /// unexpected exit status 2"): a partition that begins at sector 0 (it holds the MBR itself) and two
    /// primaries that overlap. PartitionTableReader accepts both: with the first, pool-start succeeds and
    /// lists loop2p1 as a volume whose vol-wipe or vol-upload overwrites the partition table; with the
    /// second the start fails only later, on "no storage vol with matching path '/dev/loop2p2'".
    /// </summary>
    [Theory]
    [InlineData("starts-at-sector-0", 0L, 10000L, 0L, 0L)]
    [InlineData("overlapping-primaries", 2048L, 100000L, 50000L, 100000L)]
    public void Dos_reader_refuses_tables_libparted_refuses(string what, long start1, long length1, long start2, long length2)
    {
        const long sectors = DeviceBytes / 512;
        var mbr = new byte[512];
        mbr[510] = 0x55;
        mbr[511] = 0xAA;
        void Entry(int slot, long start, long length)
        {
            if (length == 0)
            {
                return;
            }

            mbr[446 + (16 * slot) + 4] = 0x83;
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(mbr.AsSpan(446 + (16 * slot) + 8), (uint)start);
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(mbr.AsSpan(446 + (16 * slot) + 12), (uint)length);
        }

        Entry(0, start1, length1);
        Entry(1, start2, length2);
        var read = PartitionTableReader.TryRead(lba => lba == 0 ? mbr : new byte[512], sectors, out var table, out _);
        Assert.False(read, $"{what}: read as {table?.Partitions.Count} partitions");
    }

    /// <summary>
    /// A netfs pool whose host name is empty (<c>&lt;host name=''/&gt;</c>, which both parsers accept).
    /// libvirtd 9.0 checks only for a missing name, so its start runs <c>/bin/mount -o
    /// nodev,nosuid,noexec -t nfs :/x TARGET</c> and reports mount's own error; VirtPool answers
    /// "internal error: missing source host" (NetfsBackend.SourceText tests IsNullOrEmpty).
    /// </summary>
    [Fact]
    public async Task Netfs_start_with_an_empty_host_name_runs_mount_as_libvirt_does()
    {
        var target = Path.Combine(_loops.Folder, "c11atk-nt");
        Directory.CreateDirectory(target);
        using var mgr = new PoolManager(new StateStore(Path.Combine(_loops.Folder, "state")), new BackendRegistry([Netfs.NetfsBackend.Type(ProcessRunner.Instance)]));
        await mgr.DefinePoolAsync($"<pool type='netfs'><name>c11atknfe</name><source><host name=''/><dir path='/x'/><format type='nfs'/></source><target><path>{target}</path></target></pool>");
        var failed = await Assert.ThrowsAsync<VirtPoolException>(() => mgr.StartPoolAsync("c11atknfe", PoolBuildFlags.None, false));
        Assert.StartsWith($"internal error: Child process (/bin/mount -o nodev,nosuid,noexec -t nfs :/x {target}) unexpected exit status", failed.Message);
    }

    /// <summary>
    /// pool-build without --overwrite of a disk pool whose device holds a filesystem (or swap, a PV, a
    /// LUKS header: anything but a partition table). libvirtd 9.0 probes superblocks too and refuses
    /// ("Storage pool already built: Format of device '/dev/loop3' does not match the expected format
    /// 'dos', forced overwrite is necessary"); the filesystem stays. DiskBackend.BuildAsync asks only
    /// DiskDevice.ProbeLabel, which knows partition tables alone, so the device counts as empty: its first
    /// and last MiB are zeroed and a dos label written over the filesystem. The build libvirt makes safe
    /// destroys data (it would zero a mounted filesystem's superblock just the same).
    /// </summary>
    [Fact]
    public async Task Build_without_overwrite_refuses_a_device_holding_a_filesystem()
    {
        var device = await _loops.AttachAsync(DeviceBytes, partitions: true);
        await ProcessRunner.Instance.RunCheckedAsync(["mkfs.ext4", "-q", "-F", device]);
        var pool = DiskContext(device, PoolDiskFormat.Dos);
        var backend = DiskBackend.Type(ProcessRunner.Instance).Load(pool);

        var refused = await Assert.ThrowsAsync<VirtPoolException>(() => ((IPoolBuilder)backend).BuildPoolAsync(pool, PoolBuildFlags.None, default));
        Assert.Equal($"Storage pool already built: Format of device '{device}' does not match the expected format 'dos', forced overwrite is necessary", refused.Message);
        var probe = await ProcessRunner.Instance.RunAsync(["blkid", "-p", "-o", "export", device]);
        Assert.Contains("TYPE=ext4", probe.StandardOutput, StringComparison.Ordinal);
    }

    /// <summary>
    /// pool-build without --overwrite (or with --no-overwrite) of a disk pool whose device does not
    /// exist: libvirtd 9.0 fails in its blkid probe ("Storage pool probe failed: Failed to create
    /// filesystem probe for device /nonexist"); only with --overwrite, which skips the probe, does it
    /// say "Failed to open storage volume with path … No such file or directory" (the recorded
    /// 79-missing-build-bad). DiskBackend.BuildAsync gives the --overwrite text for every flag.
    /// </summary>
    [Theory]
    [InlineData(PoolBuildFlags.None)]
    [InlineData(PoolBuildFlags.NoOverwrite)]
    public async Task Build_of_a_missing_device_without_overwrite_fails_in_the_probe_as_libvirt(PoolBuildFlags flags)
    {
        var missing = Path.Combine(_loops.Folder, "c11atk-no-such-device");
        var pool = DiskContext(missing, PoolDiskFormat.Dos);
        var backend = DiskBackend.Type(ProcessRunner.Instance).Load(pool);
        var failed = await Assert.ThrowsAsync<VirtPoolException>(() => ((IPoolBuilder)backend).BuildPoolAsync(pool, flags, default));
        Assert.Equal($"Storage pool probe failed: Failed to create filesystem probe for device {missing}", failed.Message);
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
