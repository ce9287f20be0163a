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
/// zfs pools on a real zfs-fuse 0.7 daemon (tests/services/zfs-up.sh, one per machine, serialized by
/// <see cref="ZfsDaemon"/>), zpools on 128 MiB file vdevs, named vpc11zfs… and destroyed by each test,
/// also when it fails (zfs-down.sh destroys whatever is left with a vdev in the daemon's folder).
/// zfs-fuse makes no zvols (<c>zfs create -V</c> aborts), so volumes stop at that boundary: the
/// argv and the error, as libvirtd's recording has them.
/// </summary>
public sealed class ZfsPoolTests(ZfsDaemon zfs) : IClassFixture<ZfsDaemon>
{
    /// <summary>A 128 MiB file vdev: 123 one-MiB metaslabs, which zfs-fuse prints as "123M".</summary>
    private const ulong ZpoolSize = 123UL << 20;

    private readonly CommandLog _log = new(ProcessRunner.Instance);

    [Fact]
    public async Task Zpool_is_built_started_refreshed_and_deleted_with_libvirts_commands()
    {
        var name = ZfsDaemon.NewZpoolName();
        var vdev = zfs.NewVdev();
        var (backend, pool) = Load(name, $"<device path='{vdev}'/>");
        try
        {
            await ((IPoolBuilder)backend).BuildPoolAsync(pool, PoolBuildFlags.None, default);
            Assert.Equal(GoldenArgv("20-build", vdev, name), _log.Take());
            Assert.Contains(name, ZfsDaemon.Tool("zpool", "list", "-H", "-o", "name").Split('\n'));

            // libvirt has no -f: zpool's own refusal is the answer.
            var again = await Assert.ThrowsAsync<VirtPoolException>(() => ((IPoolBuilder)backend).BuildPoolAsync(pool, PoolBuildFlags.None, default));
            Assert.Equal(
                $"internal error: Child process (zpool create {name} {vdev}) unexpected exit status 1: Defaulting to 4K blocksize (ashift=12) for '{vdev}'\n"
                + $"invalid vdev specification\nuse '-f' to override the following errors:\n{vdev} is part of active pool '{name}'\n",
                again.Message);
            _log.Take();

            await backend.StartPoolAsync(pool, PoolStartFlags.None, default);
            var scan = await backend.RefreshPoolAsync(pool, default);
            Assert.Equal($"zpool get -Hp health,size,free,allocated {name}", _log.Take()[0]);

            // libvirtd reports 0 here; zfs-fuse's rounded figures are within 0.5 % of the truth.
            Assert.Equal(ZpoolSize, scan.Sizes.Capacity);
            Assert.InRange(scan.Sizes.Allocation, 1UL, 4UL << 20);
            var sum = scan.Sizes.Allocation + scan.Sizes.Available;
            Assert.InRange(sum, ZpoolSize - (ZpoolSize / 100), ZpoolSize + (ZpoolSize / 100));
            Assert.Empty(scan.Volumes);
            Assert.True(await backend.CheckPoolAsync(pool, default));

            // A filesystem dataset is no volume.
            ZfsDaemon.Tool("zfs", "create", "-o", "mountpoint=none", $"{name}/fs1");
            Assert.Empty((await backend.RefreshPoolAsync(pool, default)).Volumes);

            await backend.StopPoolAsync(pool, default);
            _log.Take();
            await ((IPoolDeleter)backend).DeletePoolAsync(pool, PoolDeleteFlags.None, default);
            Assert.Equal(GoldenArgv("26-build-delete", vdev, name), _log.Take());
            Assert.False(await backend.CheckPoolAsync(pool, default));
            Assert.False(Directory.Exists("/" + name), "zpool destroy left its mountpoint behind");
        }
        finally
        {
            ZfsDaemon.DestroyIfPresent(name);
        }
    }

    [Fact]
    public async Task A_zpool_that_does_not_exist_fails_the_refresh_and_check()
    {
        var name = ZfsDaemon.NewZpoolName();
        var (backend, pool) = Load(name);
        var error = await Assert.ThrowsAsync<VirtPoolException>(() => backend.RefreshPoolAsync(pool, default));
        Assert.Equal(
            $"internal error: Child process (zpool list -H -o name,size,allocated,free,health {name}) unexpected exit status 1: cannot open '{name}': no such pool\n",
            error.Message);
        Assert.Equal([$"zpool get -Hp health,size,free,allocated {name}", $"zpool list -H -o name,size,allocated,free,health {name}"], _log.Take());
        Assert.False(await backend.CheckPoolAsync(pool, default));
    }

    [Fact]
    public async Task Vol_create_stops_where_zfs_fuse_does_and_leaves_nothing()
    {
        var name = MakeZpool();
        try
        {
            var (backend, pool) = Load(name);
            var creator = (IVolumeCreator)backend;
            var def = creator.PrepareVolume(pool, new VolumeDefinition { Name = "zv1", Capacity = 64UL << 20, HasCapacity = true });
            var error = await Assert.ThrowsAsync<VirtPoolException>(() => creator.CreateVolumeAsync(pool, def, VolumeCreateFlags.None, null, default));
            Assert.Equal(GoldenArgv("06-vol-create-zvol-unsupported-bad", string.Empty, "ztank").Select(l => l.Replace("ztank", name, StringComparison.Ordinal)), _log.Take());
            Assert.Equal($"internal error: Child process (zfs create -V 65536K {name}/zv1) unexpected fatal signal 6: internal error: Function not implemented\n", error.Message);

            // -s (allocation 0) aborts the same way.
            var sparse = creator.PrepareVolume(pool, new VolumeDefinition { Name = "zv2", Capacity = 64UL << 20, HasCapacity = true, Allocation = 0 });
            var sparseError = await Assert.ThrowsAsync<VirtPoolException>(() => creator.CreateVolumeAsync(pool, sparse, VolumeCreateFlags.None, null, default));
            Assert.Contains($"(zfs create -s -V 65536K {name}/zv2) unexpected fatal signal 6", sparseError.Message, StringComparison.Ordinal);
            Assert.Equal(["zfs create -s -V 65536K " + name + "/zv2"], _log.Take());

            Assert.Empty((await backend.RefreshPoolAsync(pool, default)).Volumes);
            Assert.Equal(name + "\n", ZfsDaemon.Tool("zfs", "list", "-H", "-r", "-t", "all", "-o", "name", name));
        }
        finally
        {
            ZfsDaemon.DestroyIfPresent(name);
        }
    }

    [Fact]
    public async Task Vol_resize_passes_zfss_refusal_through_where_zfs_fuse_has_no_zvol()
    {
        // zfs-fuse makes no zvols: the resize runs against a filesystem dataset named as a volume, so the
        // real zfs set volsize runs, and its refusal is the error (Golden/zfs/resize, zfs-fuse/).
        var name = MakeZpool();
        try
        {
            ZfsDaemon.Tool("zfs", "create", "-o", "mountpoint=none", $"{name}/fs1");
            var (backend, pool) = Load(name);
            var resizer = (IVolumeResizer)backend;
            var notZvol = new VolumeDefinition { Name = "fs1", Capacity = 32UL << 20, BackendData = $"{32UL << 20} 0 {name}/fs1" };
            var error = await Assert.ThrowsAsync<VirtPoolException>(() => resizer.ResizeVolumeAsync(pool, notZvol, 64UL << 20, allocate: false, default));
            Assert.Equal(ResizeGolden("resize/not-a-zvol.argv", name).Split('\n', StringSplitOptions.RemoveEmptyEntries), _log.Take());
            Assert.Equal(
                $"internal error: Child process (zfs set volsize=67108864 {name}/fs1) unexpected exit status {ResizeGolden("zfs-fuse/zfs-set-volsize-filesystem.rc", name).Trim()}: "
                + ResizeGolden("zfs-fuse/zfs-set-volsize-filesystem.err", name),
                error.Message);
            Assert.Equal(VirErrorCode.InternalError, error.Code);
            Assert.Equal(ResizeGolden("zfs-fuse/zfs-get-sizes-filesystem.out", name), ZfsDaemon.Tool("zfs", "get", "-Hp", "-o", "property,value", "volsize,volblocksize,refreservation", $"{name}/fs1"));

            // A dataset that is gone: zfs get's own words, and nothing is set.
            var gone = new VolumeDefinition { Name = "zv9", Capacity = 32UL << 20 };
            var missing = await Assert.ThrowsAsync<VirtPoolException>(() => resizer.ResizeVolumeAsync(pool, gone, 64UL << 20, allocate: false, default));
            Assert.Equal(
                $"internal error: Child process (zfs get -Hp -o property,value volsize,volblocksize,refreservation {name}/zv9) unexpected exit status 1: cannot open '{name}/zv9': dataset does not exist\n",
                missing.Message);
            Assert.Single(_log.Take());
        }
        finally
        {
            ZfsDaemon.DestroyIfPresent(name);
        }
    }

    [Fact]
    public async Task A_dataset_pool_is_built_in_its_zpool_and_deleted_with_it()
    {
        var name = MakeZpool();
        try
        {
            var (backend, pool) = Load($"{name}/vms");
            Assert.False(await backend.CheckPoolAsync(pool, default));
            var missing = await Assert.ThrowsAsync<VirtPoolException>(() => backend.RefreshPoolAsync(pool, default));
            Assert.EndsWith($"unexpected exit status 1: cannot open '{name}/vms': dataset does not exist\n", missing.Message, StringComparison.Ordinal);
            _log.Take();

            await ((IPoolBuilder)backend).BuildPoolAsync(pool, PoolBuildFlags.None, default);
            Assert.Equal([$"zfs create -o mountpoint=none {name}/vms"], _log.Take());
            Assert.True(await backend.CheckPoolAsync(pool, default));
            var scan = await backend.RefreshPoolAsync(pool, default);
            Assert.Equal(ZpoolSize, scan.Sizes.Capacity);
            Assert.Empty(scan.Volumes);
            _log.Take();

            await ((IPoolDeleter)backend).DeletePoolAsync(pool, PoolDeleteFlags.None, default);
            Assert.Equal([$"zfs destroy -r {name}/vms"], _log.Take());
            Assert.False(await backend.CheckPoolAsync(pool, default));
            Assert.Equal(name + "\n", ZfsDaemon.Tool("zfs", "list", "-H", "-r", "-o", "name", name));
        }
        finally
        {
            ZfsDaemon.DestroyIfPresent(name);
        }
    }

    [Fact]
    public async Task Manager_starts_a_zpool_with_its_space_and_refuses_a_missing_one()
    {
        var name = MakeZpool();
        var state = Directory.CreateTempSubdirectory("vp-zfs-state-").FullName;
        try
        {
            using var manager = new PoolManager(new StateStore(state), BackendCatalog.Create(ProcessRunner.Instance));
            await manager.DefinePoolAsync($"<pool type='zfs'><name>zp</name><source><name>{name}</name></source></pool>");
            await manager.StartPoolAsync("zp", PoolBuildFlags.None, doBuild: false);
            var xml = await manager.GetPoolXmlAsync("zp", inactive: false);
            Assert.Contains($"<capacity unit='bytes'>{ZpoolSize}</capacity>", xml, StringComparison.Ordinal);
            Assert.Contains($"<path>/dev/zvol/{name}</path>", xml, StringComparison.Ordinal);
            var create = await Assert.ThrowsAsync<VirtPoolException>(() => manager.CreateVolumeAsync("zp", "<volume><name>zv1</name><capacity unit='M'>64</capacity></volume>"));
            Assert.Contains("unexpected fatal signal 6: internal error: Function not implemented", create.Message, StringComparison.Ordinal);
            await manager.RefreshPoolAsync("zp");
            await manager.DestroyPoolAsync("zp");
            await manager.DeletePoolAsync("zp");
            Assert.False(await ((IStorageBackend)ZfsBackend.Type(ProcessRunner.Instance).Load(Context(name))).CheckPoolAsync(Context(name), default));

            // The zpool is gone now: a start fails and the pool stays inactive.
            var start = await Assert.ThrowsAsync<VirtPoolException>(() => manager.StartPoolAsync("zp", PoolBuildFlags.None, doBuild: false));
            Assert.Contains($"cannot open '{name}': no such pool", start.Message, StringComparison.Ordinal);
            var inactive = await Assert.ThrowsAsync<VirtPoolException>(() => manager.DestroyPoolAsync("zp"));
            Assert.Equal("Requested operation is not valid: storage pool 'zp' is not active", inactive.Message);
            await manager.UndefinePoolAsync("zp");
        }
        finally
        {
            ZfsDaemon.DestroyIfPresent(name);
            Directory.Delete(state, recursive: true);
        }
    }

    /// <summary>A zpool made outside the backend (no mountpoint, no cache entry), as an existing one a pool names.</summary>
    private string MakeZpool()
    {
        var name = ZfsDaemon.NewZpoolName();
        ZfsDaemon.Tool("zpool", "create", "-o", "cachefile=none", "-m", "none", name, zfs.NewVdev());
        return name;
    }

    private (IStorageBackend Backend, PoolContext Pool) Load(string source, string devices = "")
    {
        var pool = Context(source, devices);
        return (ZfsBackend.Type(_log).Load(pool), pool);
    }

    private static PoolContext Context(string source, string devices = "")
        => new(PoolXml.Parse($"<pool type='zfs'><name>p</name><source><name>{source}</name>{devices}</source></pool>"));

    /// <summary>A capture of Golden/zfs (zpool vpc11zfscap) with this test's zpool in its place.</summary>
    private static string ResizeGolden(string file, string zpool)
        => ZfsOutputTests.Golden(file).Replace("vpc11zfscap", zpool, StringComparison.Ordinal);

    /// <summary>libvirtd's recorded argv with this test's vdev and zpool in place of the recording's.</summary>
    private static string[] GoldenArgv(string step, string vdev, string zpool)
        => [.. ZfsOutputTests.Golden(step + ".argv")
            .Replace("@WORK@/zvdev1.img", vdev, StringComparison.Ordinal)
            .Replace("vpozbuilt", zpool, StringComparison.Ordinal)
            .Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.StartsWith("LC_ALL=C ", StringComparison.Ordinal) ? l["LC_ALL=C ".Length..] : l)];
}
