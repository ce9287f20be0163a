using System.Runtime.CompilerServices;
using VirtPool.Backends.Disk;
using VirtPool.Core.Backends;
using VirtPool.Core.Errors;
using VirtPool.Core.Manager;
using VirtPool.Core.Model;
using VirtPool.Core.Process;
using VirtPool.Core.State;

namespace VirtPool.Backends.Tests;

/// <summary>
/// Disk pools on real 256 MiB loop devices (losetup -P), checked against what libvirtd 9.0 did on the
/// same steps (tests/testdata/libvirt-local/disk of the oracle recording: parted argv, extents, free
/// extents, sizes, errors, the bytes pool-delete zeroes; copied in Golden/disk where files are needed).
/// </summary>
public sealed class DiskPoolTests : IDisposable
{
    private const long DeviceBytes = 256L << 20;
    private readonly LoopDevices _loops = new();
    private readonly RecordingRunner _runner = new();

    public void Dispose() => _loops.Dispose();

    [Fact]
    public async Task DosPoolFollowsLibvirtsPartitioningAndAccounting()
    {
        var device = await _loops.AttachAsync(DeviceBytes, partitions: true);
        var name = Path.GetFileName(device);
        var pool = Context(device, PoolDiskFormat.Dos);
        var backend = Load(pool);

        var start = await Assert.ThrowsAsync<VirtPoolException>(() => backend.StartPoolAsync(pool, PoolStartFlags.None, default));
        Assert.Equal($"Storage pool probe failed: Device '{device}' is unrecognized, requires build", start.Message);

        await ((IPoolBuilder)backend).BuildPoolAsync(pool, PoolBuildFlags.NoOverwrite, default);
        Assert.Equal([$"parted {device} mklabel --script msdos"], _runner.Take());
        var again = await Assert.ThrowsAsync<VirtPoolException>(() => ((IPoolBuilder)backend).BuildPoolAsync(pool, PoolBuildFlags.None, default));
        Assert.Equal($"Storage pool already built: Device '{device}' already formatted using 'dos'", again.Message);

        await backend.StartPoolAsync(pool, PoolStartFlags.None, default);
        var empty = await backend.RefreshPoolAsync(pool, default);
        Assert.Equal(new PoolSizes(268431360, 0, 268430336), empty.Sizes);
        Assert.Equal([new PoolFreeExtent(1024, 268431360)], empty.Source!.Devices[0].FreeExtents);

        var creator = (IVolumeCreator)backend;
        var p1 = await Create(pool, $"{name}p1", 10 << 20);
        Assert.Equal([$"parted {device} mkpart --script primary ext2 1024B 10705919B"], _runner.Take());
        Assert.Equal((1024UL, 10705920UL), (p1.Source.Extents[0].Start, p1.Source.Extents[0].End));
        Assert.Equal(10704896UL, p1.Capacity);
        Assert.True(File.Exists($"{device}p1"), "the kernel did not learn of the new partition");

        // libvirt makes the partition, then refuses the name and fails to remove it; here nothing is made.
        var wrong = await Assert.ThrowsAsync<VirtPoolException>(() => Create(pool, "part2", 20 << 20));
        Assert.Equal($"invalid argument: invalid partition name 'part2', expected '{name}p2'", wrong.Message);
        Assert.Empty(_runner.Take());

        await Create(pool, $"{name}p2", 20 << 20);
        await Create(pool, $"{name}p3", 30 << 20);
        Assert.Equal(
            [$"parted {device} mkpart --script primary ext2 10705920B 31856639B", $"parted {device} mkpart --script primary ext2 31856640B 63452159B"],
            _runner.Take());
        var tooBig = await Assert.ThrowsAsync<VirtPoolException>(() => Create(pool, $"{name}p4", 1L << 30));
        Assert.Equal("internal error: no large enough free extent", tooBig.Message);

        var p4 = await Create(pool, $"{name}p4", 100 << 20, "extended");
        Assert.Equal([$"parted {device} mkpart --script extended 63452160B 168422399B"], _runner.Take());
        Assert.Equal("extended", p4.Target.Format);
        var second = await Assert.ThrowsAsync<VirtPoolException>(() => Create(pool, $"{name}p5", 10 << 20, "extended"));
        Assert.Equal("internal error: extended partition already exists", second.Message);

        var p5 = await Create(pool, $"{name}p5", 10 << 20);
        var p6 = await Create(pool, $"{name}p6", 20 << 20, "linux-swap");
        Assert.Equal(
            [$"parted {device} mkpart --script logical ext2 63453696B 74158079B", $"parted {device} mkpart --script logical linux-swap 74158592B 95308799B"],
            _runner.Take());
        Assert.Equal((63453696UL, 74158080UL, 10704384UL), (p5.Source.Extents[0].Start, p5.Source.Extents[0].End, p5.Capacity));
        Assert.Equal("linux-swap", p6.Target.Format);
        var beyond = await Assert.ThrowsAsync<VirtPoolException>(() => Create(pool, $"{name}p7", 80 << 20));
        Assert.Equal("internal error: no large enough free extent", beyond.Message);

        var scan = await backend.RefreshPoolAsync(pool, default);
        Assert.Equal(new PoolSizes(268431360, 95305728, 173122560), scan.Sizes);
        Assert.Equal([new PoolFreeExtent(95308800, 168422400), new PoolFreeExtent(168422400, 268431360)], scan.Source!.Devices[0].FreeExtents);
        Assert.Equal([.. Enumerable.Range(1, 6).Select(n => $"{name}p{n}")], scan.Volumes.Select(v => v.Name));
        var extended = scan.Volumes.Single(v => v.Name == $"{name}p4");
        // The node's size: parted re-adds the extended partition as 1 sector once it holds logicals (libvirtd
        // shows 1024, the 2 sectors it had when made, because it never re-reads a disk volume until a refresh).
        Assert.Equal((104970240UL, 31854592UL, 512UL), (extended.Capacity, extended.EffectiveAllocation, extended.Physical));

        // vol-info from the backend note alone: the extent comes back without a table read.
        var info = await backend.RefreshVolumeAsync(pool, new VolumeDefinition { Name = extended.Name, Type = VolumeType.Block, Target = new VolumeTarget { Path = extended.Target.Path }, BackendData = extended.BackendData }, default);
        Assert.Equal((63452160UL, 168422400UL, 104970240UL), (info.Source.Extents[0].Start, info.Source.Extents[0].End, info.Capacity));

        // libvirt 9.0 runs "rm --script p2" here and fails; the partition's number is what parted takes.
        var p2 = scan.Volumes.Single(v => v.Name == $"{name}p2");
        await ((IVolumeDeleter)backend).DeleteVolumeAsync(pool, p2, VolumeDeleteFlags.None, default);
        Assert.Equal([$"parted {device} rm --script 2"], _runner.Take());
        var afterDelete = await backend.RefreshPoolAsync(pool, default);
        Assert.DoesNotContain(afterDelete.Volumes, v => v.Name == $"{name}p2");
        Assert.Contains(new PoolFreeExtent(10705920, 31856640), afterDelete.Source!.Devices[0].FreeExtents);

        await AssertPoolDeleteZeroesAsLibvirt(backend, pool, device, "dos-delete.zeroed-after");

        async Task<VolumeDefinition> Create(PoolContext context, string volume, long bytes, string? format = null)
        {
            var def = new VolumeDefinition { Name = volume, Capacity = (ulong)bytes, HasCapacity = true, Target = new VolumeTarget { Format = format } };
            return await creator.CreateVolumeAsync(context, creator.PrepareVolume(context, def), VolumeCreateFlags.None, null, default);
        }
    }

    [Fact]
    public async Task DosTableTakesFourPrimariesThenWantsAnExtended()
    {
        var device = await _loops.AttachAsync(DeviceBytes, partitions: true);
        var name = Path.GetFileName(device);
        var pool = Context(device, PoolDiskFormat.Dos);
        var backend = Load(pool);
        await ((IPoolBuilder)backend).BuildPoolAsync(pool, PoolBuildFlags.Overwrite, default);
        var creator = (IVolumeCreator)backend;
        for (var n = 1; n <= 4; n++)
        {
            var def = new VolumeDefinition { Name = $"{name}p{n}", Capacity = 10 << 20, HasCapacity = true };
            await creator.CreateVolumeAsync(pool, creator.PrepareVolume(pool, def), VolumeCreateFlags.None, null, default);
        }

        Assert.Equal($"parted {device} mkpart --script primary ext2 32117760B 42823679B", _runner.Take()[^1]);
        var fifth = new VolumeDefinition { Name = $"{name}p5", Capacity = 10 << 20, HasCapacity = true };
        var error = await Assert.ThrowsAsync<VirtPoolException>(() => creator.CreateVolumeAsync(pool, creator.PrepareVolume(pool, fifth), VolumeCreateFlags.None, null, default));
        Assert.Equal("internal error: no extended partition found and no primary partition available", error.Message);
        var scan = await backend.RefreshPoolAsync(pool, default);
        Assert.Equal(new PoolSizes(268431360, 42822656, 225607680), scan.Sizes);
        Assert.Equal([new PoolFreeExtent(42823680, 268431360)], scan.Source!.Devices[0].FreeExtents);
    }

    [Fact]
    public async Task GptPoolFollowsLibvirtsPartitioning()
    {
        var device = await _loops.AttachAsync(DeviceBytes, partitions: true);
        var name = Path.GetFileName(device);
        var dos = Context(device, PoolDiskFormat.Dos);
        await ((IPoolBuilder)Load(dos)).BuildPoolAsync(dos, PoolBuildFlags.None, default);
        _runner.Take();

        var pool = Context(device, PoolDiskFormat.Gpt);
        var backend = Load(pool);
        var start = await Assert.ThrowsAsync<VirtPoolException>(() => backend.StartPoolAsync(pool, PoolStartFlags.None, default));
        Assert.Equal($"Requested operation is not valid: Format of device '{device}' does not match the expected format 'gpt'", start.Message);
        var build = await Assert.ThrowsAsync<VirtPoolException>(() => ((IPoolBuilder)backend).BuildPoolAsync(pool, PoolBuildFlags.NoOverwrite, default));
        Assert.Equal($"Storage pool already built: Format of device '{device}' does not match the expected format 'gpt', forced overwrite is necessary", build.Message);

        await ((IPoolBuilder)backend).BuildPoolAsync(pool, PoolBuildFlags.Overwrite, default);
        Assert.Equal([$"parted {device} mklabel --script gpt"], _runner.Take());
        await backend.StartPoolAsync(pool, PoolStartFlags.None, default);
        var creator = (IVolumeCreator)backend;
        long[] sizes = [10, 20, 30, 10, 10, 10];
        for (var n = 1; n <= sizes.Length; n++)
        {
            var def = new VolumeDefinition { Name = $"{name}p{n}", Capacity = (ulong)(sizes[n - 1] << 20), HasCapacity = true, Target = new VolumeTarget { Format = n == 6 ? "extended" : null } };
            await creator.CreateVolumeAsync(pool, creator.PrepareVolume(pool, def), VolumeCreateFlags.None, null, default);
        }

        // libvirtd ran "parted DEV mkpart --script primary 17408B 10503167B" and so on: the entries are
        // written natively, and parted reads back what its mkpart would have left (both tables intact).
        Assert.Empty(_runner.Take());
        var print = await ProcessRunner.Instance.RunCheckedAsync(["parted", "-s", "-m", device, "unit", "B", "print"]);
        Assert.Equal(string.Empty, print.StandardError);
        Assert.Equal(
            [
                "1:17408B:10503167B:10485760B::primary:;",
                "2:10503168B:31474687B:20971520B::primary:;",
                "3:31474688B:62931967B:31457280B::primary:;",
                "4:62931968B:73417727B:10485760B::primary:;",
                "5:73417728B:83903487B:10485760B::primary:;",
                "6:83903488B:94389247B:10485760B::primary:;",
            ],
            print.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(2));
        for (var n = 1; n <= sizes.Length; n++)
        {
            Assert.True(File.Exists($"{device}p{n}"), $"the kernel did not learn of partition {n}");
        }
        var scan = await backend.RefreshPoolAsync(pool, default);
        Assert.Equal(new PoolSizes(268418560, 94371840, 174029312), scan.Sizes);
        Assert.Equal([new PoolFreeExtent(94389248, 268418560)], scan.Source!.Devices[0].FreeExtents);
        Assert.Equal(20971520UL, scan.Volumes.Single(v => v.Name == $"{name}p2").Capacity);

        var p2 = scan.Volumes.Single(v => v.Name == $"{name}p2");
        await ((IVolumeDeleter)backend).DeleteVolumeAsync(pool, p2, VolumeDeleteFlags.None, default);
        Assert.DoesNotContain((await backend.RefreshPoolAsync(pool, default)).Volumes, v => v.Name == $"{name}p2");
        Assert.False(File.Exists($"{device}p2"), "the kernel still lists the deleted partition");
        print = await ProcessRunner.Instance.RunCheckedAsync(["parted", "-s", "-m", device, "unit", "B", "print"]);
        Assert.Equal(string.Empty, print.StandardError);
        Assert.DoesNotContain(print.StandardOutput.Split('\n'), l => l.StartsWith("2:", StringComparison.Ordinal));
        Assert.Equal(5, print.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length - 2);

        await Load(pool).StopPoolAsync(pool, default);
        var over = await Assert.ThrowsAsync<VirtPoolException>(() => ((IPoolBuilder)backend).BuildPoolAsync(pool, PoolBuildFlags.NoOverwrite, default));
        Assert.Equal($"Storage pool already built: Device '{device}' already formatted using 'gpt'", over.Message);
        await AssertPoolDeleteZeroesAsLibvirt(backend, pool, device, "gpt-delete.zeroed-after");
    }

    [Fact]
    public async Task ManagerRescansThePoolAfterEachCreateAndDeleteAsLibvirtsDiskBackend()
    {
        var device = await _loops.AttachAsync(DeviceBytes, partitions: true);
        var name = Path.GetFileName(device);
        using var manager = new PoolManager(new StateStore(Path.Combine(_loops.Folder, "state")), BackendCatalog.Create(ProcessRunner.Instance));
        await manager.CreatePoolAsync(
            $"<pool type='disk'><name>d</name><source><device path='{device}'/><format type='dos'/></source><target><path>/dev</path></target></pool>",
            PoolBuildFlags.Overwrite,
            doBuild: true);
        for (var n = 1; n <= 3; n++)
        {
            await manager.CreateVolumeAsync("d", $"<volume><name>{name}p{n}</name><capacity unit='M'>10</capacity></volume>");
        }

        var p4 = await manager.CreateVolumeAsync("d", $"<volume><name>{name}p4</name><capacity unit='M'>100</capacity><target><format type='extended'/></target></volume>");
        await manager.CreateVolumeAsync("d", $"<volume><name>{name}p5</name><capacity unit='M'>10</capacity></volume>");

        // libvirt's numbers after the creates: the free extents and the available space follow the table.
        var xml = await manager.GetPoolXmlAsync("d", inactive: false);
        Assert.Contains("<available unit='bytes'>225607680</available>", xml, StringComparison.Ordinal);
        Assert.Contains("<freeExtent start='42823680' end='137088000'/>", xml, StringComparison.Ordinal);
        Assert.Contains("<freeExtent start='137088000' end='268431360'/>", xml, StringComparison.Ordinal);
        var extended = await manager.GetVolumeAsync(p4);
        Assert.Equal(10704384UL, extended.Allocation);

        await manager.DeleteVolumeAsync(await manager.LookupVolumeByNameAsync("d", $"{name}p1"));
        xml = await manager.GetPoolXmlAsync("d", inactive: false);
        Assert.Contains("<freeExtent start='1024' end='10705920'/>", xml, StringComparison.Ordinal);
        await manager.DestroyPoolAsync("d");
    }

    [Fact]
    public async Task MissingDeviceFailsBuildAndStartInLibvirtsWords()
    {
        var missing = Path.Combine(_loops.Folder, "no-such-device");
        var pool = Context(missing, PoolDiskFormat.Dos);
        var backend = Load(pool);
        var build = await Assert.ThrowsAsync<VirtPoolException>(() => ((IPoolBuilder)backend).BuildPoolAsync(pool, PoolBuildFlags.Overwrite, default));
        Assert.Equal($"Failed to open storage volume with path '{missing}': No such file or directory", build.Message);
        var start = await Assert.ThrowsAsync<VirtPoolException>(() => backend.StartPoolAsync(pool, PoolStartFlags.None, default));
        Assert.Equal($"invalid argument: device path '{missing}' doesn't exist", start.Message);
        Assert.Empty(_runner.Take());
    }

    [Theory]
    [InlineData(PoolDiskFormat.Gpt)]
    [InlineData(PoolDiskFormat.Dos)]
    public async Task ParallelCreatesNeverShareAnExtentOrAnEntry(PoolDiskFormat format)
    {
        var device = await _loops.AttachAsync(DeviceBytes, partitions: true);
        var name = Path.GetFileName(device);
        var pool = Context(device, format);
        await ((IPoolBuilder)Load(pool)).BuildPoolAsync(pool, PoolBuildFlags.Overwrite, default);

        // The same name from separate backends, as from separate CLI processes (the manager's name
        // reservation is per process): each reads the table and finds that number free unless the table
        // is locked from the read to the write; then all but one are told the name is wrong.
        var go = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var creates = Enumerable.Range(1, 4).Select(n => Task.Run(async () =>
        {
            var creator = (IVolumeCreator)Load(pool);
            var def = new VolumeDefinition { Name = $"{name}p1", Capacity = (ulong)n << 20, HasCapacity = true };
            var prepared = creator.PrepareVolume(pool, def);
            await go.Task;
            try
            {
                return await creator.CreateVolumeAsync(pool, prepared, VolumeCreateFlags.None, null, default);
            }
            catch (VirtPoolException ex) when (ex.Code == VirErrorCode.InvalidArg)
            {
                // Another create took that number first: libvirt's wrong-name refusal, nothing made.
                return null;
            }
        })).ToList();
        go.SetResult();
        var made = await Task.WhenAll(creates);

        var table = DiskDevice.ReadTable(device);
        Assert.Single(made.OfType<VolumeDefinition>());
        foreach (var volume in made.OfType<VolumeDefinition>())
        {
            var number = int.Parse(volume.Name[(name.Length + 1)..], System.Globalization.CultureInfo.InvariantCulture);
            var partition = Assert.Single(table.Partitions, p => p.Number == number);
            Assert.Equal(volume.Source.Extents[0].Start, (ulong)partition.Start * 512);
        }

        Assert.Equal(made.Count(v => v is not null), table.Partitions.Count);
        var ordered = table.Partitions.OrderBy(p => p.Start).ToList();
        for (var i = 1; i < ordered.Count; i++)
        {
            Assert.True(ordered[i].Start > ordered[i - 1].End, $"partitions {ordered[i - 1].Number} and {ordered[i].Number} overlap");
        }
    }

    [Fact]
    public async Task LabelsThatAreNotReadHereAreBuiltButNotStarted()
    {
        var device = await _loops.AttachAsync(DeviceBytes, partitions: true);
        var pool = Context(device, PoolDiskFormat.Sun);
        var backend = Load(pool);
        await ((IPoolBuilder)backend).BuildPoolAsync(pool, PoolBuildFlags.NoOverwrite, default);
        Assert.Equal([$"parted {device} mklabel --script sun"], _runner.Take());
        var start = await Assert.ThrowsAsync<VirtPoolException>(() => backend.StartPoolAsync(pool, PoolStartFlags.None, default));
        Assert.Equal("unsupported configuration: VirtPool reads dos and gpt partition tables only, not 'sun'", start.Message);
    }

    private static string GoldenDir([CallerFilePath] string thisFile = "") => Path.Combine(Path.GetDirectoryName(thisFile)!, "Golden", "disk");

    /// <summary>Fills the device with 0xAA under a fresh label, deletes the pool, and compares the zero runs with libvirtd's.</summary>
    private async Task AssertPoolDeleteZeroesAsLibvirt(IStorageBackend backend, PoolContext pool, string device, string golden)
    {
        await using (var stream = new FileStream(device, FileMode.Open, FileAccess.Write))
        {
            var chunk = new byte[1 << 20];
            Array.Fill(chunk, (byte)0xAA);
            for (var done = 0L; done < DeviceBytes; done += chunk.Length)
            {
                await stream.WriteAsync(chunk);
            }
        }

        await ProcessRunner.Instance.RunCheckedAsync(["parted", device, "mklabel", "--script", pool.Definition.Source.DiskFormat == PoolDiskFormat.Gpt ? "gpt" : "msdos"]);
        await ((IPoolDeleter)backend).DeletePoolAsync(pool, PoolDeleteFlags.None, default);
        var bytes = await File.ReadAllBytesAsync(LoopDevices.BackingFileOf(device));
        var runs = new List<string>();
        for (var i = 0; i < bytes.Length;)
        {
            if (bytes[i] != 0)
            {
                i++;
                continue;
            }

            var startRun = i;
            while (i < bytes.Length && bytes[i] == 0)
            {
                i++;
            }

            runs.Add($"{startRun} {i} {i - startRun}");
        }

        var expected = File.ReadAllLines(Path.Combine(GoldenDir(), golden)).Where(l => l.Length > 0);
        Assert.Equal(expected, runs);
        Assert.Equal(DiskLabel.None, DiskDevice.ProbeLabel(device));
    }

    private IStorageBackend Load(PoolContext pool) => DiskBackend.Type(_runner).Load(pool);

    private static PoolContext Context(string device, PoolDiskFormat format) => new(new PoolDefinition
    {
        Type = PoolType.Disk,
        Name = "disk" + format.ToName(),
        Source = new PoolSource { Devices = [new PoolSourceDevice(device)], Format = (int)format },
        Target = new PoolTarget { Path = "/dev" },
    });

    /// <summary>The real runner, keeping each argv as libvirt's debug log shows it (space-joined, quoted where it has spaces).</summary>
    private sealed class RecordingRunner : IProcessRunner
    {
        private readonly List<string> _argv = [];

        public Task<ProcessResult> RunAsync(IReadOnlyList<string> argv, CancellationToken cancellationToken = default)
            => RunAsync(new ProcessRequest(argv), cancellationToken);

        public Task<ProcessResult> RunAsync(ProcessRequest request, CancellationToken cancellationToken = default)
        {
            // libvirt probes with libblkid in-process: its argv has no blkid, so neither does this record.
            if (!request.Argv.Contains("-p") || Path.GetFileName(request.Argv[0]) != "blkid")
            {
                lock (_argv)
                {
                    _argv.Add(string.Join(' ', request.Argv));
                }
            }

            return ProcessRunner.Instance.RunAsync(request, cancellationToken);
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
    }
}
