using VirtPool.Backends.Zfs;
using VirtPool.Core.Backends;
using VirtPool.Core.Errors;
using VirtPool.Core.Model;
using VirtPool.Core.Process;
using VirtPool.Core.Xml;
using VirtPool.TestSupport;

namespace VirtPool.Backends.Tests;

/// <summary>
/// The zfs backend's commands against libvirtd 9.0's recorded argv (Golden/zfs, from
/// tests/testdata/libvirt-local/zfs), with the tools' answers played back (zfs-fuse's captured here,
/// OpenZFS's shaped as it prints them): what runs, in which order, and how each failure reads. The same
/// steps run for real against zfs-fuse in <see cref="ZfsPoolTests"/>.
/// </summary>
public sealed class ZfsCommandTests
{
    private static readonly ProcessResult Ok = new(0, string.Empty, string.Empty);

    private static string[] GoldenArgv(string step, string work = "/w")
        => [.. ZfsOutputTests.Golden(step + ".argv").Replace("@WORK@", work, StringComparison.Ordinal)
            .Split('\n', StringSplitOptions.RemoveEmptyEntries)
            // libvirt logs the environment it sets; VirtPool's runner sets LC_ALL=C for every command.
            .Select(l => l.StartsWith("LC_ALL=C ", StringComparison.Ordinal) ? l["LC_ALL=C ".Length..] : l)];

    /// <summary>The message virsh printed after "error: " on the recorded step's last line.</summary>
    private static string GoldenError(string step, string work = "/w")
    {
        var err = ZfsOutputTests.Golden(step + ".err").Replace("@WORK@", work, StringComparison.Ordinal);
        var start = err.IndexOf("\nerror: ", StringComparison.Ordinal) + "\nerror: ".Length;
        return err[start..^1];
    }

    private static (IStorageBackend Backend, PoolContext Pool) Load(IProcessRunner runner, string source, string devices = "")
    {
        var pool = new PoolContext(PoolXml.Parse($"<pool type='zfs'><name>p</name><source><name>{source}</name>{devices}</source></pool>"));
        return (ZfsBackend.Type(runner).Load(pool), pool);
    }

    private static string[] Calls(RecordingProcessRunner runner) => [.. runner.Calls.Select(ChildProcessErrors.CommandText)];

    /// <summary>zfs-fuse as captured: libvirt's -Hp forms refused as usage errors, the old forms answered.</summary>
    private static ProcessResult ZfsFuse(IReadOnlyList<string> argv) => string.Join(' ', argv) switch
    {
        var a when a.StartsWith("zpool get -Hp", StringComparison.Ordinal) => new(2, string.Empty, ZfsOutputTests.Golden("zfs-fuse/zpool-get-Hp.err")),
        var a when a.StartsWith("zfs list -Hp", StringComparison.Ordinal) => new(2, string.Empty, ZfsOutputTests.Golden("zfs-fuse/zfs-list-Hp.err")),
        var a when a.StartsWith("zpool list -H", StringComparison.Ordinal) => new(0, ZfsOutputTests.Golden("zfs-fuse/zpool-list.out"), string.Empty),
        var a when a.StartsWith("zfs get -Hp", StringComparison.Ordinal) => new(0, ZfsOutputTests.Golden("zfs-fuse/zfs-get-volumes.out"), string.Empty),
        _ => Ok,
    };

    /// <summary>OpenZFS as its man pages and libvirt's comments show it (Golden/zfs/openzfs).</summary>
    private static ProcessResult OpenZfs(IReadOnlyList<string> argv) => string.Join(' ', argv) switch
    {
        var a when a.StartsWith("zpool get -Hp", StringComparison.Ordinal) => new(0, ZfsOutputTests.Golden("openzfs/zpool-get.out"), string.Empty),
        var a when a.StartsWith("zfs list -Hp", StringComparison.Ordinal) => new(0, ZfsOutputTests.Golden("openzfs/zfs-list.out"), string.Empty),
        "zfs get" => new(2, string.Empty, "missing property argument\nusage:\n\tget [-rHp] ...\n\tvolsize         YES       NO   <size>\n"),
        _ => Ok,
    };

    [Fact]
    public async Task Start_on_zfs_fuse_asks_libvirts_question_then_the_old_clis()
    {
        var runner = new RecordingProcessRunner(ZfsFuse);
        var (backend, pool) = Load(runner, "vpc11zfscap");
        await backend.StartPoolAsync(pool, PoolStartFlags.None, default);
        Assert.Empty(runner.Calls);
        var scan = await backend.RefreshPoolAsync(pool, default);

        // libvirt's first command, then what VirtPool adds where it is refused (libvirt gives up there).
        Assert.Equal(
            [
                .. GoldenArgv("02-start").Select(l => l.Replace("ztank", "vpc11zfscap", StringComparison.Ordinal)),
                "zpool list -H -o name,size,allocated,free,health vpc11zfscap",
                "zfs list -Hp -t volume -r -o name,volsize,refreservation vpc11zfscap",
                "zfs get -Hp -r -o name,property,value type,volsize,refreservation vpc11zfscap",
            ],
            Calls(runner));
        Assert.Equal(new PoolSizes(123UL << 20, 788UL << 10, 122UL << 20), scan.Sizes);
        Assert.Empty(scan.Volumes);
        Assert.Null(scan.Source);
    }

    [Fact]
    public async Task Refresh_on_openzfs_is_libvirts_two_commands_with_exact_numbers()
    {
        var runner = new RecordingProcessRunner(OpenZfs);
        var (backend, pool) = Load(runner, "test");
        var scan = await backend.RefreshPoolAsync(pool, default);
        Assert.Equal(
            ["zpool get -Hp health,size,free,allocated test", "zfs list -Hp -t volume -r -o name,volsize,refreservation test"],
            Calls(runner));
        Assert.Equal(new PoolSizes(199715979264, 816002560, 198899976704), scan.Sizes);
        var vol3 = scan.Volumes.Single(v => v.Name == "vol3");
        Assert.Equal(("test/vol3", "/dev/zvol/test/vol3", VolumeType.Block, 1073741824UL, 0UL), (vol3.Key, vol3.Target.Path, vol3.Type, vol3.Capacity, vol3.EffectiveAllocation));

        // vol-info from the note alone, as libvirt shows what its last refresh saw.
        var info = await backend.RefreshVolumeAsync(pool, new VolumeDefinition { Name = "vol1", Key = "test/vol1", BackendData = scan.Volumes[0].BackendData }, default);
        Assert.Equal((5368709120UL, 5502926848UL, "/dev/zvol/test/vol1"), (info.Capacity, info.EffectiveAllocation, info.Target.Path));
        Assert.Equal(2, runner.Calls.Count);
    }

    [Fact]
    public async Task A_dataset_source_asks_its_zpool_for_space_and_lists_under_the_dataset()
    {
        var runner = new RecordingProcessRunner(OpenZfs);
        var (backend, pool) = Load(runner, "test/vms");
        await backend.RefreshPoolAsync(pool, default);
        Assert.Equal(
            ["zpool get -Hp health,size,free,allocated test", "zfs list -Hp -t volume -r -o name,volsize,refreservation test/vms"],
            Calls(runner));
        Assert.Equal("/dev/zvol/test/vms", pool.TargetPath);
    }

    [Fact]
    public async Task A_missing_zpool_fails_the_refresh_with_zpools_words()
    {
        // libvirt runs the same command, ignores its failure and starts the pool with capacity 0.
        var runner = new RecordingProcessRunner(_ => new ProcessResult(1, string.Empty, "cannot open 'nosuchzpool': no such pool\n"));
        var (backend, pool) = Load(runner, "nosuchzpool");
        var error = await Assert.ThrowsAsync<VirtPoolException>(() => backend.RefreshPoolAsync(pool, default));
        Assert.Equal(GoldenArgv("15-missing-start"), Calls(runner));
        Assert.Equal("internal error: Child process (zpool get -Hp health,size,free,allocated nosuchzpool) unexpected exit status 1: cannot open 'nosuchzpool': no such pool\n", error.Message);
        Assert.Equal(VirErrorCode.InternalError, error.Code);
    }

    [Fact]
    public async Task Output_that_cannot_be_read_is_an_error_not_a_zero()
    {
        var runner = new RecordingProcessRunner(_ => new ProcessResult(0, "test\tsize\tlots\t-\n", string.Empty));
        var (backend, pool) = Load(runner, "test");
        var error = await Assert.ThrowsAsync<VirtPoolException>(() => backend.RefreshPoolAsync(pool, default));
        Assert.Equal("internal error: cannot read the output of 'zpool get -Hp health,size,free,allocated test': 'test\tsize\tlots\t-'", error.Message);
    }

    [Fact]
    public async Task Build_and_delete_run_libvirts_zpool_commands()
    {
        var runner = new RecordingProcessRunner();
        var (backend, pool) = Load(runner, "vpozbuilt", "<device path='/w/zvdev1.img'/>");
        await ((IPoolBuilder)backend).BuildPoolAsync(pool, PoolBuildFlags.None, default);
        Assert.Equal(GoldenArgv("20-build"), Calls(runner));
        await ((IPoolDeleter)backend).DeletePoolAsync(pool, PoolDeleteFlags.None, default);
        Assert.Equal([.. GoldenArgv("20-build"), .. GoldenArgv("26-build-delete")], Calls(runner));
    }

    [Fact]
    public async Task Build_failure_passes_zpools_error_through_as_libvirt()
    {
        var stderr = "Defaulting to 4K blocksize (ashift=12) for '/w/zvdev1.img'\ninvalid vdev specification\nuse '-f' to override the following errors:\n/w/zvdev1.img is part of active pool 'vpozbuilt'\n";
        var runner = new RecordingProcessRunner(_ => new ProcessResult(1, string.Empty, stderr));
        var (backend, pool) = Load(runner, "vpozbuilt", "<device path='/w/zvdev1.img'/>");
        var error = await Assert.ThrowsAsync<VirtPoolException>(() => ((IPoolBuilder)backend).BuildPoolAsync(pool, PoolBuildFlags.None, default));
        Assert.Equal(GoldenArgv("21-build-again-bad"), Calls(runner));
        Assert.Equal(GoldenError("21-build-again-bad"), error.Message);
    }

    [Fact]
    public async Task A_dataset_is_built_and_deleted_with_zfs_and_a_zpool_needs_devices()
    {
        var runner = new RecordingProcessRunner();
        var (dataset, datasetPool) = Load(runner, "tank/vms");
        await ((IPoolBuilder)dataset).BuildPoolAsync(datasetPool, PoolBuildFlags.None, default);
        await ((IPoolDeleter)dataset).DeletePoolAsync(datasetPool, PoolDeleteFlags.None, default);
        Assert.Equal(["zfs create -o mountpoint=none tank/vms", "zfs destroy -r tank/vms"], Calls(runner));

        var (zpool, zpoolPool) = Load(runner, "tank");
        var missing = await Assert.ThrowsAsync<VirtPoolException>(() => ((IPoolBuilder)zpool).BuildPoolAsync(zpoolPool, PoolBuildFlags.None, default));
        Assert.Equal("unsupported configuration: missing source devices", missing.Message);
        var flags = await Assert.ThrowsAsync<VirtPoolException>(() => ((IPoolBuilder)zpool).BuildPoolAsync(zpoolPool, PoolBuildFlags.Overwrite, default));
        Assert.Equal("unsupported flags (0x8) in function virStorageBackendZFSBuildPool", flags.Message);
        var deleteFlags = await Assert.ThrowsAsync<VirtPoolException>(() => ((IPoolDeleter)zpool).DeletePoolAsync(zpoolPool, PoolDeleteFlags.Zeroed, default));
        Assert.Equal("unsupported flags (0x1) in function virStorageBackendZFSDeletePool", deleteFlags.Message);
        Assert.Equal(2, runner.Calls.Count);
    }

    [Fact]
    public async Task Vol_create_on_zfs_fuse_runs_libvirts_probe_and_create_and_passes_the_abort_through()
    {
        // zfs-fuse's zfs aborts (SIGABRT): the runner reports 128 + 6.
        var runner = new RecordingProcessRunner(argv => argv is ["zfs", "create", ..]
            ? new ProcessResult(134, string.Empty, "internal error: Function not implemented\n")
            : argv is ["zfs", "get"] ? new ProcessResult(2, string.Empty, ZfsOutputTests.Golden("zfs-fuse/zfs-list-Hp.err")) : Ok);
        var (backend, pool) = Load(runner, "ztank");
        var creator = (IVolumeCreator)backend;
        var volume = creator.PrepareVolume(pool, new VolumeDefinition { Name = "zv1", Capacity = 64UL << 20, HasCapacity = true });
        Assert.Equal(("/dev/zvol/ztank/zv1", "/dev/zvol/ztank/zv1", VolumeType.Block), (volume.Key, volume.Target.Path, volume.Type));
        var error = await Assert.ThrowsAsync<VirtPoolException>(() => creator.CreateVolumeAsync(pool, volume, VolumeCreateFlags.None, null, default));
        Assert.Equal(GoldenArgv("06-vol-create-zvol-unsupported-bad"), Calls(runner));
        Assert.Equal(GoldenError("06-vol-create-zvol-unsupported-bad"), error.Message);
    }

    [Theory]
    [InlineData(10485760UL, null, false, "zfs create -V 10240K tank/v")]
    [InlineData(10485761UL, null, false, "zfs create -V 10241K tank/v")]
    [InlineData(10485760UL, 0UL, false, "zfs create -s -V 10240K tank/v")]
    [InlineData(10485760UL, 1000UL, false, "zfs create -s -o refreservation=1K -V 10240K tank/v")]
    [InlineData(10485760UL, 10485760UL, true, "zfs create -o volmode=dev -V 10240K tank/v")]
    [InlineData(10485760UL, 1048576UL, true, "zfs create -o volmode=dev -s -o refreservation=1024K -V 10240K tank/v")]
    public async Task Vol_create_argv_follows_the_allocation_and_the_volmode_probe(ulong capacity, ulong? allocation, bool volmode, string expected)
    {
        var created = false;
        var runner = new RecordingProcessRunner(argv =>
        {
            var line = string.Join(' ', argv);
            if (line == "zfs get")
            {
                // libvirt looks for " volmode " (spaces both sides) in the usage text.
                return new ProcessResult(2, string.Empty, volmode ? "usage:\n  volmode         YES      YES   default | geom | dev | none\n" : "usage:\n  volsize         YES       NO   <size>\n");
            }

            // Only the first create makes its zvol; the listing shows what was made.
            created |= line.EndsWith("tank/v", StringComparison.Ordinal) && argv[1] == "create";
            return line.StartsWith("zfs list", StringComparison.Ordinal)
                ? new ProcessResult(0, created ? $"tank/v\t{capacity}\t{allocation ?? capacity}\n" : string.Empty, string.Empty)
                : Ok;
        });
        var (backend, pool) = Load(runner, "tank");
        var creator = (IVolumeCreator)backend;
        var def = creator.PrepareVolume(pool, new VolumeDefinition { Name = "v", Capacity = capacity, HasCapacity = true, Allocation = allocation });
        var made = await creator.CreateVolumeAsync(pool, def, VolumeCreateFlags.None, null, default);
        Assert.Equal(["zfs get", expected, "zfs list -Hp -t volume -r -o name,volsize,refreservation tank"], Calls(runner));
        Assert.Equal(("/dev/zvol/tank/v", capacity, allocation ?? capacity), (made.Key, made.Capacity, made.EffectiveAllocation));

        // The probe is asked once per pool's backend.
        var second = creator.PrepareVolume(pool, new VolumeDefinition { Name = "w", Capacity = capacity, HasCapacity = true, Allocation = allocation });
        await Assert.ThrowsAsync<VirtPoolException>(() => creator.CreateVolumeAsync(pool, second, VolumeCreateFlags.None, null, default));
        Assert.Equal(1, runner.Calls.Count(c => string.Join(' ', c) == "zfs get"));
    }

    [Fact]
    public async Task A_zvol_that_the_listing_does_not_show_is_destroyed_again()
    {
        var runner = new RecordingProcessRunner(argv => argv is ["zfs", "get"] ? new ProcessResult(2, string.Empty, "usage:\n") : Ok);
        var (backend, pool) = Load(runner, "tank");
        var creator = (IVolumeCreator)backend;
        var def = creator.PrepareVolume(pool, new VolumeDefinition { Name = "v", Capacity = 1 << 20, HasCapacity = true });
        var error = await Assert.ThrowsAsync<VirtPoolException>(() => creator.CreateVolumeAsync(pool, def, VolumeCreateFlags.None, null, default));
        Assert.Equal("internal error: zfs lists no zvol 'tank/v' after creating it", error.Message);
        Assert.Equal(["zfs get", "zfs create -V 1024K tank/v", "zfs list -Hp -t volume -r -o name,volsize,refreservation tank", "zfs destroy tank/v"], Calls(runner));
    }

    [Fact]
    public async Task Encrypted_zvols_are_refused_before_any_command_as_libvirt()
    {
        var runner = new RecordingProcessRunner();
        var (backend, pool) = Load(runner, "tank");
        var creator = (IVolumeCreator)backend;
        var def = creator.PrepareVolume(pool, VolumeXml.Parse("<volume><name>v</name><capacity>1048576</capacity><target><encryption format='luks'><secret type='passphrase' uuid='0a81f5b2-8403-7b23-c8d6-21ccc2f80d6f'/></encryption></target></volume>", PoolType.Zfs, VolumeParseFlags.OptCapacity));
        var error = await Assert.ThrowsAsync<VirtPoolException>(() => creator.CreateVolumeAsync(pool, def, VolumeCreateFlags.None, null, default));
        Assert.Equal("unsupported configuration: storage pool does not support encrypted volumes", error.Message);
        Assert.Empty(runner.Calls);
    }

    [Fact]
    public async Task Vol_delete_destroys_the_listed_dataset()
    {
        var runner = new RecordingProcessRunner();
        var (backend, pool) = Load(runner, "tank");
        var deleter = (IVolumeDeleter)backend;
        await deleter.DeleteVolumeAsync(pool, new VolumeDefinition { Name = "v" }, VolumeDeleteFlags.None, default);

        // A zvol in a child filesystem is destroyed by its own name (libvirt would name tank/v2).
        await deleter.DeleteVolumeAsync(pool, new VolumeDefinition { Name = "v2", BackendData = "1048576 0 tank/fs/v2" }, VolumeDeleteFlags.None, default);
        Assert.Equal(["zfs destroy tank/v", "zfs destroy tank/fs/v2"], Calls(runner));
        var flags = Assert.Throws<VirtPoolException>(() => deleter.CheckDeleteFlags(new VolumeDefinition { Name = "v" }, VolumeDeleteFlags.ZeroedOut));
        Assert.Equal("unsupported flags (0x1) in function virStorageBackendZFSDeleteVol", flags.Message);
    }

    [Fact]
    public async Task Check_asks_zfs_whether_the_source_is_a_filesystem()
    {
        var runner = new RecordingProcessRunner(argv => argv[^1] == "gone" ? new ProcessResult(1, string.Empty, "cannot open 'gone': dataset does not exist\n") : Ok);
        var (present, presentPool) = Load(runner, "tank/vms");
        var (gone, gonePool) = Load(runner, "gone");
        Assert.True(await present.CheckPoolAsync(presentPool, default));
        Assert.False(await gone.CheckPoolAsync(gonePool, default));
        Assert.Equal(["zfs list -H -t filesystem -o name tank/vms", "zfs list -H -t filesystem -o name gone"], Calls(runner));
    }
}
