using System.Globalization;
using VirtPool.Backends.Zfs;
using VirtPool.Core.Backends;
using VirtPool.Core.Errors;
using VirtPool.Core.Manager;
using VirtPool.Core.Model;
using VirtPool.Core.Process;
using VirtPool.Core.State;
using VirtPool.Core.Xml;
using VirtPool.TestSupport;

namespace VirtPool.Backends.Tests;

/// <summary>
/// vol-resize of zvols, an addition (libvirt 9.0 has no resizeVol for zfs). zfs-fuse makes no zvols, so
/// the zvol side runs against <see cref="OpenZfsZvols"/>, which answers as OpenZFS's zfs does; the argv
/// are VirtPool's own golden files (Golden/zfs/resize). The failure of a real <c>zfs set volsize</c> is
/// taken from zfs-fuse in <see cref="ZfsPoolTests"/>.
/// </summary>
public sealed class ZfsResizeTests
{
    private const string SizesPrefix = "zfs get -Hp -o property,value volsize,volblocksize,refreservation ";

    private static string[] GoldenArgv(string name)
        => ZfsOutputTests.Golden($"resize/{name}.argv").Split('\n', StringSplitOptions.RemoveEmptyEntries);

    private static string[] Calls(RecordingProcessRunner runner) => [.. runner.Calls.Select(ChildProcessErrors.CommandText)];

    private static (IStorageBackend Backend, PoolContext Pool) Load(IProcessRunner runner, string source = "test")
    {
        var pool = new PoolContext(PoolXml.Parse($"<pool type='zfs'><name>p</name><source><name>{source}</name></source></pool>"));
        return (ZfsBackend.Type(runner).Load(pool), pool);
    }

    /// <summary>The volume as the manager has it after a pool refresh: its note from the listing.</summary>
    private static async Task<VolumeDefinition> Listed(IStorageBackend backend, PoolContext pool, string name)
        => (await backend.RefreshPoolAsync(pool, default)).Volumes.Single(v => v.Name == name);

    [Fact]
    public async Task A_thick_zvol_grows_with_its_refreservation_and_vol_info_shows_the_new_sizes()
    {
        var zfs = new OpenZfsZvols();
        var runner = new RecordingProcessRunner(zfs.Answer);
        var (backend, pool) = Load(runner);
        var vol1 = await Listed(backend, pool, "vol1");
        var before = runner.Calls.Count;

        await ((IVolumeResizer)backend).ResizeVolumeAsync(pool, vol1, 10UL << 30, allocate: false, default);
        Assert.Equal(GoldenArgv("grow-thick"), Calls(runner)[before..]);

        // libzfs moved the reservation with the size: the zvol is still thick.
        Assert.Equal((10UL << 30, OpenZfsZvols.Reservation(10UL << 30)), zfs.Sizes("test/vol1"));

        // vol-info of the volume as the index still has it (the old note) shows the new sizes, without zfs.
        var count = runner.Calls.Count;
        var info = await backend.RefreshVolumeAsync(pool, vol1, default);
        Assert.Equal((10UL << 30, OpenZfsZvols.Reservation(10UL << 30)), (info.Capacity, info.EffectiveAllocation));
        Assert.Equal($"{10UL << 30} {OpenZfsZvols.Reservation(10UL << 30)} test/vol1", info.BackendData);
        Assert.Equal(count, runner.Calls.Count);
    }

    [Fact]
    public async Task A_size_that_is_not_a_multiple_of_volblocksize_is_rounded_up_and_a_sparse_zvol_stays_sparse()
    {
        var zfs = new OpenZfsZvols();
        var runner = new RecordingProcessRunner(zfs.Answer);
        var (backend, pool) = Load(runner);
        var vol3 = await Listed(backend, pool, "vol3");
        var before = runner.Calls.Count;

        // zfs set refuses a volsize that is not a multiple of volblocksize (16 KiB here).
        await ((IVolumeResizer)backend).ResizeVolumeAsync(pool, vol3, (1UL << 30) + 1, allocate: false, default);
        Assert.Equal(GoldenArgv("round-up-sparse"), Calls(runner)[before..]);
        Assert.Equal(((1UL << 30) + 16384, 0UL), zfs.Sizes("test/vol3"));
        var info = await backend.RefreshVolumeAsync(pool, vol3, default);
        Assert.Equal(((1UL << 30) + 16384, 0UL), (info.Capacity, info.EffectiveAllocation));
    }

    [Fact]
    public async Task Allocate_makes_a_sparse_zvol_thick_at_its_new_size_in_the_same_set()
    {
        var zfs = new OpenZfsZvols();
        var runner = new RecordingProcessRunner(zfs.Answer);
        var (backend, pool) = Load(runner);
        var vol4 = await Listed(backend, pool, "vol4");
        var before = runner.Calls.Count;
        await ((IVolumeResizer)backend).ResizeVolumeAsync(pool, vol4, 2UL << 30, allocate: true, default);
        Assert.Equal(GoldenArgv("allocate-sparse"), Calls(runner)[before..]);
        Assert.Equal((2UL << 30, OpenZfsZvols.Reservation(2UL << 30)), zfs.Sizes("test/vol4"));

        // A thick zvol needs no refreservation=auto: libzfs keeps it thick.
        var vol1 = await Listed(backend, pool, "vol1");
        before = runner.Calls.Count;
        await ((IVolumeResizer)backend).ResizeVolumeAsync(pool, vol1, 6UL << 30, allocate: true, default);
        Assert.Equal("zfs set volsize=6442450944 test/vol1", Calls(runner)[before + 1]);
    }

    [Fact]
    public async Task The_same_size_after_rounding_runs_no_set()
    {
        var zfs = new OpenZfsZvols();
        var runner = new RecordingProcessRunner(zfs.Answer);
        var (backend, pool) = Load(runner);
        var vol3 = await Listed(backend, pool, "vol3");
        var before = runner.Calls.Count;
        await ((IVolumeResizer)backend).ResizeVolumeAsync(pool, vol3, (1UL << 30) - 100, allocate: false, default);
        Assert.Equal([SizesPrefix + "test/vol3"], Calls(runner)[before..]);
    }

    [Fact]
    public async Task A_zvol_grown_behind_the_index_is_not_shrunk_by_a_grow()
    {
        var zfs = new OpenZfsZvols();
        var runner = new RecordingProcessRunner(zfs.Answer);
        var (backend, pool) = Load(runner);
        var vol3 = await Listed(backend, pool, "vol3");

        // Someone ran zfs set volsize=4G by hand; the index (and so the manager) still says 1 GiB, and
        // checked "2 GiB" as a grow, without the shrink flag.
        zfs.Set("test/vol3", 4UL << 30);
        var before = runner.Calls.Count;
        var error = await Assert.ThrowsAsync<VirtPoolException>(() => ((IVolumeResizer)backend).ResizeVolumeAsync(pool, vol3, 2UL << 30, allocate: false, default));
        Assert.Equal("invalid argument: Can't shrink capacity below current capacity unless shrink flag explicitly specified", error.Message);
        Assert.Equal(VirErrorCode.InvalidArg, error.Code);
        Assert.Equal([SizesPrefix + "test/vol3"], Calls(runner)[before..]);
        Assert.Equal((4UL << 30, 0UL), zfs.Sizes("test/vol3"));

        // A shrink the manager saw as one (2 GiB below the 4 GiB it had) goes through.
        var current = new VolumeDefinition { Name = "vol3", Capacity = 4UL << 30, BackendData = vol3.BackendData };
        await ((IVolumeResizer)backend).ResizeVolumeAsync(pool, current, 2UL << 30, allocate: false, default);
        Assert.Equal((2UL << 30, 0UL), zfs.Sizes("test/vol3"));
    }

    [Fact]
    public async Task A_failed_read_or_set_is_zfss_error_and_changes_no_note()
    {
        var zfs = new OpenZfsZvols();
        var runner = new RecordingProcessRunner(zfs.Answer);
        var (backend, pool) = Load(runner);
        var vol3 = await Listed(backend, pool, "vol3");
        zfs.Destroy("test/vol3");
        var error = await Assert.ThrowsAsync<VirtPoolException>(() => ((IVolumeResizer)backend).ResizeVolumeAsync(pool, vol3, 2UL << 30, allocate: false, default));
        Assert.Equal($"internal error: Child process ({SizesPrefix}test/vol3) unexpected exit status 1: cannot open 'test/vol3': dataset does not exist\n", error.Message);
        Assert.Equal(1UL << 30, (await backend.RefreshVolumeAsync(pool, vol3, default)).Capacity);

        zfs.RefuseSets = "cannot set property for 'test/vol1': size is greater than available space\n";
        var vol1 = await Listed(backend, pool, "vol1");
        var full = await Assert.ThrowsAsync<VirtPoolException>(() => ((IVolumeResizer)backend).ResizeVolumeAsync(pool, vol1, 1UL << 40, allocate: false, default));
        Assert.Equal("internal error: Child process (zfs set volsize=1099511627776 test/vol1) unexpected exit status 1: cannot set property for 'test/vol1': size is greater than available space\n", full.Message);
        Assert.Equal(5UL << 30, (await backend.RefreshVolumeAsync(pool, vol1, default)).Capacity);
    }

    [Fact]
    public async Task A_note_older_than_the_zvols_device_node_is_read_again_from_zfs()
    {
        // Another process (the embedded CLI's vol-resize) grew the zvol: the index still has the note of
        // the last refresh, 1 MiB, and the device node says 2 MiB. A loop device stands in for the zvol's
        // node (zfs-fuse makes none), linked where OpenZFS's udev rules put it.
        using var loops = new LoopDevices();
        var device = await loops.AttachAsync(2L << 20);
        var zpool = "vpc11zfsrsz" + Guid.NewGuid().ToString("N")[..6];
        var madeRoot = !Directory.Exists("/dev/zvol");
        var folder = Directory.CreateDirectory($"/dev/zvol/{zpool}").FullName;
        try
        {
            File.CreateSymbolicLink($"{folder}/v", device);
            var runner = new RecordingProcessRunner(argv => argv is ["zfs", "get", ..]
                ? new ProcessResult(0, "volsize\t2097152\nvolblocksize\t16384\nrefreservation\t0\n", string.Empty)
                : new ProcessResult(2, string.Empty, "unexpected command\n"));
            var (backend, pool) = Load(runner, zpool);
            var stale = new VolumeDefinition { Name = "v", Key = $"/dev/zvol/{zpool}/v", BackendData = $"1048576 0 {zpool}/v" };
            var info = await backend.RefreshVolumeAsync(pool, stale, default);
            Assert.Equal((2UL << 20, $"2097152 0 {zpool}/v"), (info.Capacity, info.BackendData));
            Assert.Equal([SizesPrefix + zpool + "/v"], Calls(runner));

            // Read once; and a note that matches its node costs no command.
            await backend.RefreshVolumeAsync(pool, stale, default);
            var (fresh, freshPool) = Load(runner, zpool);
            var current = await fresh.RefreshVolumeAsync(freshPool, new VolumeDefinition { Name = "v", BackendData = $"2097152 0 {zpool}/v" }, default);
            Assert.Equal(2UL << 20, current.Capacity);
            Assert.Single(runner.Calls);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
            if (madeRoot && !Directory.EnumerateFileSystemEntries("/dev/zvol").Any())
            {
                Directory.Delete("/dev/zvol");
            }
        }
    }

    [Fact]
    public void Capabilities_are_libvirts_plus_wipe_and_resize_without_clone()
    {
        var caps = ZfsBackend.Type(new RecordingProcessRunner()).Capabilities;
        Assert.True(caps.CanBuild && caps.CanDeletePool && caps.CanCreateVolume && caps.CanDeleteVolume && caps.CanTransferVolume && caps.CanWipeVolume && caps.CanResizeVolume);
        Assert.False(caps.CanCreateVolumeFrom || caps.CanFindSources);
    }

    [Fact]
    public async Task Manager_reports_the_new_capacity_after_a_resize_and_keeps_the_shrink_rules()
    {
        var zfs = new OpenZfsZvols();
        var state = Directory.CreateTempSubdirectory("vp-c11-zfsresize-state-").FullName;
        try
        {
            using var manager = new PoolManager(new StateStore(state), BackendCatalog.Create(new RecordingProcessRunner(zfs.Answer)));
            await manager.DefinePoolAsync("<pool type='zfs'><name>zp</name><source><name>test</name></source></pool>");
            await manager.StartPoolAsync("zp", PoolBuildFlags.None, doBuild: false);
            var vol3 = await manager.LookupVolumeByNameAsync("zp", "vol3");
            Assert.Equal(1UL << 30, (await manager.GetVolumeAsync(vol3)).Capacity);

            await manager.ResizeVolumeAsync(vol3, 3UL << 30, VolumeResizeFlags.None);
            Assert.Equal((3UL << 30, 0UL), zfs.Sizes("test/vol3"));
            var grown = await manager.GetVolumeAsync(vol3);
            Assert.Equal((3UL << 30, 0UL), (grown.Capacity, grown.EffectiveAllocation));
            Assert.Contains("<capacity unit='bytes'>3221225472</capacity>", await manager.GetVolumeXmlAsync(vol3), StringComparison.Ordinal);

            // A delta grows from the new size, not the indexed one.
            await manager.ResizeVolumeAsync(vol3, 1UL << 30, VolumeResizeFlags.Delta);
            Assert.Equal(4UL << 30, (await manager.GetVolumeAsync(vol3)).Capacity);

            var noShrink = await Assert.ThrowsAsync<VirtPoolException>(() => manager.ResizeVolumeAsync(vol3, 2UL << 30, VolumeResizeFlags.None));
            Assert.Equal("invalid argument: Can't shrink capacity below current capacity unless shrink flag explicitly specified", noShrink.Message);
            Assert.Equal(4UL << 30, zfs.Sizes("test/vol3").VolSize);
            await manager.ResizeVolumeAsync(vol3, 2UL << 30, VolumeResizeFlags.Shrink);
            Assert.Equal(2UL << 30, (await manager.GetVolumeAsync(vol3)).Capacity);

            // A thick zvol's allocation (its refreservation) is above its capacity: libvirt's rule refuses any shrink.
            var vol1 = await manager.LookupVolumeByNameAsync("zp", "vol1");
            var belowAllocation = await Assert.ThrowsAsync<VirtPoolException>(() => manager.ResizeVolumeAsync(vol1, 4UL << 30, VolumeResizeFlags.Shrink));
            Assert.Equal("invalid argument: can't shrink capacity below existing allocation", belowAllocation.Message);

            // A pool refresh lists the same sizes from zfs and writes them into the index.
            await manager.RefreshPoolAsync("zp");
            Assert.Equal(2UL << 30, (await manager.GetVolumeAsync(vol3)).Capacity);
            await manager.DestroyPoolAsync("zp");
            await manager.UndefinePoolAsync("zp");
        }
        finally
        {
            Directory.Delete(state, recursive: true);
        }
    }

    /// <summary>
    /// OpenZFS's zfs for the zvols of Golden/zfs/openzfs/zfs-list.out (zpool "test", volblocksize 16 KiB,
    /// OpenZFS 2.2's default), answering the commands the zfs backend runs as OpenZFS does: a volsize must
    /// be a multiple of volblocksize; a thick zvol's refreservation follows its volsize (libzfs's
    /// zfs_add_synthetic_resv); <c>refreservation=auto</c> reserves the new size. The reservation of a
    /// thick zvol is modelled as volsize + 1/40 (vol1's figures); the real one depends on the vdevs.
    /// </summary>
    private sealed class OpenZfsZvols
    {
        private const ulong BlockSize = 16384;
        private readonly Dictionary<string, (ulong VolSize, ulong RefReservation)> _zvols = new(StringComparer.Ordinal)
        {
            ["test/vol1"] = (5368709120, 5502926848),
            ["test/vol3"] = (1073741824, 0),
            ["test/vol4"] = (1572864000, 524288000),
        };

        /// <summary>When set, every zfs set fails with this stderr.</summary>
        public string? RefuseSets { get; set; }

        public static ulong Reservation(ulong volsize) => volsize + (volsize / 40);

        public (ulong VolSize, ulong RefReservation) Sizes(string dataset) => _zvols[dataset];

        public void Set(string dataset, ulong volsize) => _zvols[dataset] = (volsize, _zvols[dataset].RefReservation);

        public void Destroy(string dataset) => _zvols.Remove(dataset);

        public ProcessResult Answer(IReadOnlyList<string> argv)
        {
            lock (_zvols)
            {
                return argv.ToArray() switch
                {
                    ["zpool", "get", "-Hp", "health,size,free,allocated", "test"] => Ok(ZfsOutputTests.Golden("openzfs/zpool-get.out")),
                    ["zfs", "list", "-Hp", "-t", "volume", "-r", "-o", "name,volsize,refreservation", "test"]
                        => Ok(string.Concat(_zvols.Select(z => string.Create(CultureInfo.InvariantCulture, $"{z.Key}\t{z.Value.VolSize}\t{z.Value.RefReservation}\n")))),
                    ["zfs", "list", "-H", "-t", "filesystem", "-o", "name", "test"] => Ok("test\n"),
                    ["zfs", "get", "-Hp", "-o", "property,value", "volsize,volblocksize,refreservation", var dataset] => _zvols.TryGetValue(dataset, out var zvol)
                        ? Ok(string.Create(CultureInfo.InvariantCulture, $"volsize\t{zvol.VolSize}\nvolblocksize\t{BlockSize}\nrefreservation\t{zvol.RefReservation}\n"))
                        : Missing(dataset),
                    ["zfs", "set", var volsize, .. var rest] when volsize.StartsWith("volsize=", StringComparison.Ordinal) => SetVolSize(ulong.Parse(volsize["volsize=".Length..], CultureInfo.InvariantCulture), rest),
                    _ => new ProcessResult(2, string.Empty, $"unexpected command in this test: {string.Join(' ', argv)}\n"),
                };
            }
        }

        private ProcessResult SetVolSize(ulong volsize, string[] rest)
        {
            var dataset = rest[^1];
            var auto = rest is ["refreservation=auto", _];
            if (RefuseSets is { } refusal)
            {
                return new ProcessResult(1, string.Empty, refusal);
            }

            if (!_zvols.TryGetValue(dataset, out var zvol))
            {
                return Missing(dataset);
            }

            if (volsize % BlockSize != 0)
            {
                return new ProcessResult(1, string.Empty, $"cannot set property for '{dataset}': 'volsize' must be a multiple of volume block size\n");
            }

            var thick = zvol.RefReservation == Reservation(zvol.VolSize);
            _zvols[dataset] = (volsize, thick || auto ? Reservation(volsize) : zvol.RefReservation);
            return Ok(string.Empty);
        }

        private static ProcessResult Ok(string output) => new(0, output, string.Empty);

        private static ProcessResult Missing(string dataset) => new(1, string.Empty, $"cannot open '{dataset}': dataset does not exist\n");
    }
}
