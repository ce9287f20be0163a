using System.Collections.Concurrent;
using System.Text.RegularExpressions;
using VirtPool.Backends.Dir;
using VirtPool.Core.Backends;
using VirtPool.Core.Errors;
using VirtPool.Core.Manager;
using VirtPool.Core.Model;
using VirtPool.Core.Process;
using VirtPool.Core.State;

namespace VirtPool.Backends.Tests;

/// <summary>
/// Clients racing through the embedded manager on real files: one qcow2 name created, deleted, looked
/// up, described, resized, uploaded into and downloaded from at once; pools defined, started, stopped
/// and removed while others read them. Two managers on one state folder stand for two processes. Each
/// client runs a fixed number of rounds; every error must be one libvirt's storage driver gives in such
/// a race, and nobody may see a pool's old state once a change of it returned.
/// </summary>
public sealed partial class RaceTests : IDisposable
{
    private const string Vol = "race.qcow2";
    private const ulong MiB = 1 << 20;

    private readonly string _root = Directory.CreateTempSubdirectory("vp-race-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private string State => Path.Combine(_root, "state");

    private PoolManager NewManager(BackendRegistry? backends = null) => new(new StateStore(State), backends ?? BackendCatalog.Create(ProcessRunner.Instance));

    private string PoolXml(string name) => $"<pool type='dir'><name>{name}</name><target><path>{Path.Combine(_root, name)}</path></target></pool>";

    private static string QcowXml(string name) => $"<volume><name>{name}</name><capacity unit='M'>64</capacity><target><format type='qcow2'/></target></volume>";

    /// <summary>What libvirt's storage driver answers in these races (code, whole message).</summary>
    private static readonly (VirErrorCode Code, Regex Message)[] Expected =
    [
        (VirErrorCode.NoStorageVol, new Regex(@"^Storage volume not found: no storage vol with matching (name|path|key) .*$")),
        (VirErrorCode.OperationInvalid, new Regex(@"^Requested operation is not valid: volume '.*' is still being allocated\.$")),
        (VirErrorCode.OperationInvalid, new Regex(@"^Requested operation is not valid: volume '.*' is still in use\.$")),
        (VirErrorCode.InvalidArg, new Regex(@"^invalid argument: Can't shrink capacity below current capacity unless shrink flag explicitly specified$")),
        (VirErrorCode.StorageVolExist, new Regex(@"^storage volume '.*' exists already$")),
        (VirErrorCode.NoStoragePool, new Regex(@"^Storage pool not found: no storage pool with matching (name|uuid) .*$")),
        (VirErrorCode.OperationInvalid, new Regex(@"^Requested operation is not valid: storage pool '.*' is not active$")),
    ];

    /// <summary>Every call's outcome: successes per kind, expected errors, and anything else.</summary>
    private sealed class Tally
    {
        public ConcurrentDictionary<string, int> Succeeded { get; } = new();

        public ConcurrentDictionary<string, int> ExpectedErrors { get; } = new();

        public ConcurrentBag<string> Unexpected { get; } = [];

        public ConcurrentBag<string> Violations { get; } = [];

        public async Task<T?> CallAsync<T>(string what, Func<Task<T>> call)
            where T : class
        {
            try
            {
                var result = await call();
                Succeeded.AddOrUpdate(what, 1, (_, n) => n + 1);
                return result;
            }
            catch (VirtPoolException ex) when (Expected.Any(e => e.Code == ex.Code && e.Message.IsMatch(ex.Message)))
            {
                ExpectedErrors.AddOrUpdate($"{what}: {QuotedRegex().Replace(ex.Message, "'…'")}", 1, (_, n) => n + 1);
                return null;
            }
            catch (Exception ex)
            {
                Unexpected.Add($"{what}: {ex.GetType().Name} [{(ex as VirtPoolException)?.Code}] {ex.Message}");
                return null;
            }
        }

        public Task<object?> CallAsync(string what, Func<Task> call) => CallAsync<object>(what, async () =>
        {
            await call();
            return new object();
        });

        public int Count(string what) => Succeeded.TryGetValue(what, out var n) ? n : 0;

        public void AssertClean()
        {
            var report = string.Join('\n', Unexpected.Concat(Violations).Take(30));
            Assert.True(Unexpected.IsEmpty && Violations.IsEmpty, $"{Unexpected.Count} unexpected errors, {Violations.Count} violations:\n{report}");
        }
    }

    [GeneratedRegex("'[^']*'")]
    private static partial Regex QuotedRegex();

    [Fact]
    public async Task Volume_operations_racing_on_one_name_give_only_libvirts_errors()
    {
        const int rounds = 120;
        const int hangGuardRounds = 3000;
        using var a = NewManager();
        using var b = NewManager();
        await a.CreatePoolAsync(PoolXml("vols"), PoolBuildFlags.None, doBuild: true);

        // What the uploader writes: a whole 64 MiB qcow2 image (header and tables), so the volume stays qcow2.
        var template = await a.CreateVolumeAsync("vols", QcowXml("template.qcow2"));
        var image = Path.Combine(_root, "template.img");
        File.Copy(await a.GetVolumePathAsync(template), image);
        await a.DeleteVolumeAsync(template);
        var imageLength = (ulong)new FileInfo(image).Length;

        var tally = new Tally();

        // Every client starts each step of a round together: the creators create while the others work
        // on whatever is there, then delete while the others work on the volume just made. Who wins is
        // up to the scheduler, so past the set rounds the mix goes on until every kind of call has
        // succeeded at least once (a mix where one never gets through tests nothing about it).
        var kinds = new[] { "create", "delete", "info", "xml", "resize", "upload", "download" };
        var barrier = new RoundBarrier(8);
        async Task Rounds(Func<int, int, Task> step)
        {
            for (var i = 0; ; i++)
            {
                // All have finished the last round and none starts the next before the phase barrier
                // below: the tally holds still, so every client decides alike.
                await barrier.ArriveAndWaitAsync();
                if (i >= rounds && (kinds.All(what => tally.Count(what) > 0) || i >= hangGuardRounds))
                {
                    return;
                }

                for (var phase = 0; phase < 2; phase++)
                {
                    await barrier.ArriveAndWaitAsync();
                    await step(i, phase);
                }
            }
        }

        Task Creator(PoolManager mgr) => Rounds(async (_, phase) =>
        {
            if (phase == 0)
            {
                await tally.CallAsync("create", () => mgr.CreateVolumeAsync("vols", QcowXml(Vol)));
            }
            else if (await tally.CallAsync("lookup", () => mgr.LookupVolumeByNameAsync("vols", Vol)) is { } vol)
            {
                await tally.CallAsync("delete", () => mgr.DeleteVolumeAsync(vol));
            }
        });

        Task Looker(PoolManager mgr) => Rounds(async (_, _) =>
        {
            if (await tally.CallAsync("lookup", () => mgr.LookupVolumeByNameAsync("vols", Vol)) is not { } vol)
            {
                return;
            }

            if (await tally.CallAsync("info", () => mgr.GetVolumeInfoAsync(vol)) is { } info && info.Capacity < 64 * MiB)
            {
                // A qcow2 volume made with 64 MiB never has less: that would be a half-made file.
                tally.Violations.Add($"info reported capacity {info.Capacity}");
            }

            if (await tally.CallAsync("xml", () => mgr.GetVolumeXmlAsync(vol)) is { } xml && xml.Contains("<capacity unit='bytes'>0</capacity>", StringComparison.Ordinal))
            {
                tally.Violations.Add("XML reported capacity 0");
            }
        });

        Task Resizer(PoolManager mgr, int seed) => Rounds(async (i, phase) =>
        {
            if (await tally.CallAsync("lookup", () => mgr.LookupVolumeByNameAsync("vols", Vol)) is { } vol)
            {
                // Growing, then a smaller size without --shrink: libvirt's refusal is expected.
                await tally.CallAsync("resize", () => mgr.ResizeVolumeAsync(vol, (64 + (8 * (ulong)((i + phase + seed) % 4))) * MiB, VolumeResizeFlags.None));
            }
        });

        Task Uploader(PoolManager mgr) => Rounds(async (_, _) =>
        {
            if (await tally.CallAsync("lookup", () => mgr.LookupVolumeByNameAsync("vols", Vol)) is { } vol)
            {
                using var source = File.OpenHandle(image);
                await tally.CallAsync("upload", async () => (object)await mgr.UploadVolumeAsync(vol, new LocalFileEndpoint(source), 0, imageLength, sparse: false));
            }
        });

        var target = Path.Combine(_root, "download.bin");
        Task Downloader(PoolManager mgr) => Rounds(async (_, _) =>
        {
            if (await tally.CallAsync("lookup", () => mgr.LookupVolumeByNameAsync("vols", Vol)) is { } vol)
            {
                using var handle = File.OpenHandle(target, FileMode.Create, FileAccess.Write);
                await tally.CallAsync("download", async () => (object)await mgr.DownloadVolumeAsync(vol, new LocalFileEndpoint(handle), 0, 65536, sparse: false));
            }
        });

        await Task.WhenAll(
            Task.Run(() => Creator(a)), Task.Run(() => Creator(b)),
            Task.Run(() => Looker(a)), Task.Run(() => Looker(b)),
            Task.Run(() => Resizer(a, 0)), Task.Run(() => Resizer(b, 1)),
            Task.Run(() => Uploader(a)), Task.Run(() => Downloader(b)));

        tally.AssertClean();

        // The mix did race: every kind of call got through at least once.
        foreach (var what in kinds)
        {
            Assert.True(tally.Count(what) > 0, $"no {what} succeeded in {hangGuardRounds} rounds: {string.Join(", ", tally.ExpectedErrors.Select(e => $"{e.Key} ×{e.Value}"))}");
        }

        // What is left agrees with storage: a fresh scan finds the same volumes, each one readable.
        var before = (await a.ListVolumesAsync("vols")).Select(v => v.Name).Order(StringComparer.Ordinal).ToList();
        await a.RefreshPoolAsync("vols");
        Assert.Equal(before, (await a.ListVolumesAsync("vols")).Select(v => v.Name).Order(StringComparer.Ordinal).ToList());
        foreach (var vol in await a.ListVolumesAsync("vols"))
        {
            Assert.True((await a.GetVolumeInfoAsync(vol)).Capacity >= 64 * MiB);
        }
    }

    [Fact]
    public async Task After_a_pool_change_returned_no_reader_sees_the_old_state()
    {
        const int rounds = 25;
        using var a = NewManager();
        using var b = NewManager(); // another process's view
        var tally = new Tally();
        using var stop = new CancellationTokenSource();

        async Task Reader(PoolManager mgr)
        {
            while (!stop.IsCancellationRequested)
            {
                await tally.CallAsync("list", () => mgr.ListPoolsAsync());
                foreach (var name in new[] { "racep", "racet" })
                {
                    await tally.CallAsync("summary", () => mgr.GetPoolSummaryAsync(name));
                    await tally.CallAsync("info", () => mgr.GetPoolInfoAsync(name));
                }
            }
        }

        async Task MustSeeActiveAsync(PoolManager mgr, string name, string who)
        {
            var summary = await tally.CallAsync("summary", () => mgr.GetPoolSummaryAsync(name));
            var info = await tally.CallAsync("info", () => mgr.GetPoolInfoAsync(name));
            if (summary is not { Active: true } || info is not { State: PoolState.Running })
            {
                tally.Violations.Add($"{who} saw {name} as {summary?.Active.ToString() ?? "missing"}/{info?.State.ToString() ?? "missing"} after its start returned");
            }
        }

        async Task Cycler()
        {
            for (var i = 0; i < rounds; i++)
            {
                await tally.CallAsync("define", () => a.DefinePoolAsync(PoolXml("racep")));
                await tally.CallAsync("start", () => a.StartPoolAsync("racep", PoolBuildFlags.None, doBuild: true));
                await Task.WhenAll(Task.Run(() => MustSeeActiveAsync(a, "racep", "this process")), MustSeeActiveAsync(b, "racep", "another process"));
                await tally.CallAsync("create", () => a.CreatePoolAsync(PoolXml("racet"), PoolBuildFlags.None, doBuild: true));
                await Task.WhenAll(Task.Run(() => MustSeeActiveAsync(a, "racet", "this process")), MustSeeActiveAsync(b, "racet", "another process"));
                await tally.CallAsync("destroy", () => a.DestroyPoolAsync("racep"));
                await tally.CallAsync("destroy", () => a.DestroyPoolAsync("racet"));
                await tally.CallAsync("undefine", () => a.UndefinePoolAsync("racep"));
            }
        }

        var readers = new[] { Task.Run(() => Reader(a)), Task.Run(() => Reader(a)), Task.Run(() => Reader(b)) };
        await Task.Run(Cycler);
        await stop.CancelAsync();
        await Task.WhenAll(readers);

        tally.AssertClean();
        Assert.Equal(2 * rounds, tally.Count("destroy"));
    }

    [Fact]
    public async Task A_read_about_a_pool_this_process_is_starting_waits_for_the_start()
    {
        var dir = new PausingDirBackend(DirBackend.Type(ProcessRunner.Instance));
        using var mgr = NewManager(new BackendRegistry([BackendType.Of(PoolType.Dir, dir.Wrap)]));
        using var other = NewManager(); // another process's view
        await mgr.DefinePoolAsync(PoolXml("slow"));
        await mgr.BuildPoolAsync("slow", PoolBuildFlags.None);
        await mgr.CreatePoolAsync(PoolXml("calm"), PoolBuildFlags.None, doBuild: true);

        dir.Pause();
        var start = mgr.StartPoolAsync("slow", PoolBuildFlags.None, doBuild: false);
        await dir.Entered;

        // As libvirt's calls wait for the pool's lock: reads of the pool wait, then answer with the outcome.
        var summary = mgr.GetPoolSummaryAsync("slow");
        var info = mgr.GetPoolInfoAsync("slow");
        var list = mgr.ListPoolsAsync(PoolListFilter.Active);
        var lookup = mgr.LookupPoolByNameAsync("slow");

        // Reads of other pools do not wait; nor does another process, which gets no event from this one.
        Assert.True(mgr.GetPoolSummaryAsync("calm").IsCompletedSuccessfully);
        Assert.False((await other.GetPoolSummaryAsync("slow")).Active);
        Assert.False(summary.IsCompleted || info.IsCompleted || list.IsCompleted || lookup.IsCompleted);

        dir.Release();
        await start;
        Assert.True((await summary).Active);
        Assert.Equal(PoolState.Running, (await info).State);
        Assert.Contains(await list, p => p.Pool.Name == "slow");
        Assert.Equal("slow", (await lookup).Name);

        // A transient pool being created: looked up by name meanwhile, it is found once it runs.
        dir.Pause();
        var create = mgr.CreatePoolAsync(PoolXml("fresh"), PoolBuildFlags.None, doBuild: true);
        await dir.Entered;
        var found = mgr.LookupPoolByNameAsync("fresh");
        var active = mgr.GetPoolSummaryAsync("fresh");
        Assert.False(found.IsCompleted || active.IsCompleted);
        dir.Release();
        await create;
        Assert.Equal("fresh", (await found).Name);
        Assert.True((await active).Active);
    }

    /// <summary>Lets a fixed number of clients start each step together (without blocking threads).</summary>
    private sealed class RoundBarrier(int parties)
    {
        private readonly Lock _sync = new();
        private int _waiting;
        private TaskCompletionSource _round = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task ArriveAndWaitAsync()
        {
            lock (_sync)
            {
                var round = _round;
                if (++_waiting == parties)
                {
                    _waiting = 0;
                    _round = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                    round.SetResult();
                }

                return round.Task;
            }
        }
    }

    /// <summary>
    /// The dir backend, with a start that can be held at will: the moment a pool's start is under way,
    /// made to last, so a test can read meanwhile. Everything else is the real backend of each pool.
    /// </summary>
    private sealed class PausingDirBackend(BackendType dir)
    {
        private TaskCompletionSource _entered = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private TaskCompletionSource? _release;

        public Task Entered => _entered.Task;

        public void Pause()
        {
            _entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        public void Release() => _release?.TrySetResult();

        public Pausing Wrap(PoolContext pool) => new(this, dir.Load(pool));

        public sealed class Pausing(PausingDirBackend owner, IStorageBackend inner) : IStorageBackend, IPoolBuilder, IVolumeCreator
        {
            public async Task StartPoolAsync(PoolContext pool, PoolStartFlags flags, CancellationToken cancellationToken)
            {
                if (owner._release is { } release)
                {
                    owner._entered.TrySetResult();
                    await release.Task;
                    owner._release = null;
                }

                await inner.StartPoolAsync(pool, flags, cancellationToken);
            }

            public Task<bool> CheckPoolAsync(PoolContext pool, CancellationToken cancellationToken) => inner.CheckPoolAsync(pool, cancellationToken);

            public Task StopPoolAsync(PoolContext pool, CancellationToken cancellationToken) => inner.StopPoolAsync(pool, cancellationToken);

            public Task<PoolScan> RefreshPoolAsync(PoolContext pool, CancellationToken cancellationToken) => inner.RefreshPoolAsync(pool, cancellationToken);

            public Task<VolumeDefinition> RefreshVolumeAsync(PoolContext pool, VolumeDefinition volume, CancellationToken cancellationToken) => inner.RefreshVolumeAsync(pool, volume, cancellationToken);

            public VolumeDefinition PrepareVolume(PoolContext pool, VolumeDefinition volume) => ((IVolumeCreator)inner).PrepareVolume(pool, volume);

            public Task<VolumeDefinition> CreateVolumeAsync(PoolContext pool, VolumeDefinition volume, VolumeCreateFlags flags, IProgress<long>? progress, CancellationToken cancellationToken)
                => ((IVolumeCreator)inner).CreateVolumeAsync(pool, volume, flags, progress, cancellationToken);

            public Task BuildPoolAsync(PoolContext pool, PoolBuildFlags flags, CancellationToken cancellationToken) => ((IPoolBuilder)inner).BuildPoolAsync(pool, flags, cancellationToken);
        }
    }
}
