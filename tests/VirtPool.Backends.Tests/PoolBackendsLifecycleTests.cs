using VirtPool.Backends.Dir;
using VirtPool.Core.Backends;
using VirtPool.Core.Manager;
using VirtPool.Core.Model;
using VirtPool.Core.Process;
using VirtPool.Core.State;

namespace VirtPool.Backends.Tests;

/// <summary>
/// The per-pool backend table (PoolBackends) stays bounded and keeps what it should (cases found by an adversarial review).
/// Two managers on one state folder stand for the daemon and a CLI command (two processes).
/// </summary>
public sealed class PoolBackendsLifecycleTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("vp-adv-backends-").FullName;
    private readonly List<string> _events = [];

    private string State => Path.Combine(_root, "state");

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private PoolManager NewManager(string who, Func<PoolScan, PoolScan>? scanned = null, PoolType poolType = PoolType.Dir)
    {
        var dir = DirBackend.Type(ProcessRunner.Instance);
        var type = BackendType.Of(poolType, context =>
        {
            Record($"{who} load {context.Name}");
            return new RecordingBackend(dir.Load(context), $"{who} dispose {context.Name}", Record, scanned ?? (s => s));
        });
        return new PoolManager(new StateStore(State), new BackendRegistry([type]));
    }

    private void Record(string what)
    {
        lock (_events)
        {
            _events.Add(what);
        }
    }

    private string[] Events()
    {
        lock (_events)
        {
            var copy = _events.ToArray();
            _events.Clear();
            return copy;
        }
    }

    private string DirPoolXml(string name)
        => $"<pool type='dir'><name>{name}</name><target><path>{Path.Combine(_root, name)}</path></target></pool>";

    /// <summary>
    /// A daemon that touched pools another process then undefined (or destroyed, when transient) keeps
    /// their backends forever: the table only forgets pools this process itself undefines or stops, so
    /// a long-lived daemon grows by one entry (definition, identity XML, backend and whatever it holds:
    /// a network backend's connection) per pool name a CLI ever cycled. Nothing disposes them.
    /// </summary>
    [Fact]
    public async Task Pools_undefined_by_another_process_do_not_keep_their_backends_in_the_daemon()
    {
        using var daemon = NewManager("daemon");
        for (var i = 0; i < 20; i++)
        {
            var name = $"p{i}";
            using (var cli = NewManager("cli"))
            {
                await cli.DefinePoolAsync(DirPoolXml(name));
                await cli.StartPoolAsync(name, PoolBuildFlags.None, doBuild: true);
            }

            await daemon.RefreshPoolAsync(name);
            using (var cli = NewManager("cli"))
            {
                await cli.DestroyPoolAsync(name);
                await cli.UndefinePoolAsync(name);
            }

            // A transient pool the daemon worked on, stopped by a CLI command.
            using (var cli = NewManager("cli"))
            {
                await cli.CreatePoolAsync(DirPoolXml("t" + i), PoolBuildFlags.None, doBuild: true);
            }

            await daemon.RefreshPoolAsync("t" + i);
            using (var cli = NewManager("cli"))
            {
                await cli.DestroyPoolAsync("t" + i);
            }
        }

        // The daemon has seen every one of them go.
        Assert.Empty(await daemon.ListPoolsAsync());
        Events();
        Assert.Equal(0, daemon.LoadedBackends);
    }

    /// <summary>
    /// A transient pool whose create fails (its start or its build fails) never existed, but the backend
    /// loaded for it stays in the table: never disposed, one entry per failed name in the daemon.
    /// </summary>
    [Fact]
    public async Task A_transient_pool_whose_create_fails_leaves_no_backend_behind()
    {
        using var daemon = NewManager("daemon");
        for (var i = 0; i < 5; i++)
        {
            // No build and no directory: the start's refresh fails, as libvirt's does.
            await Assert.ThrowsAsync<VirtPool.Core.Errors.VirtPoolException>(() => daemon.CreatePoolAsync(DirPoolXml("gone" + i), PoolBuildFlags.None, doBuild: false));
        }

        Assert.Empty(await daemon.ListPoolsAsync());
        Assert.Equal(0, daemon.LoadedBackends);
        Assert.Equal(5, Events().Count(e => e.StartsWith("daemon dispose", StringComparison.Ordinal)));
    }

    /// <summary>
    /// What a refresh adds to the live source "does not count" for the backend's identity only for free
    /// extents and the target's permissions. A refresh that reports the source's devices (a logical
    /// pool's physical volumes, a zfs pool's vdevs: the live source this contract introduced) makes
    /// the live definition differ from the one the backend was loaded with, so the next call disposes
    /// the backend start loaded and loads another, and every start does it again.
    /// </summary>
    [Fact]
    public async Task A_refresh_that_reports_the_source_devices_keeps_the_pools_backend()
    {
        // As a zfs or logical refresh reports the vdevs / PVs the definition did not list (the dir
        // backend serves an fs pool here only so that the target is a plain directory).
        static PoolScan Scanned(PoolScan scan) => scan with
        {
            Source = new PoolSource { Devices = [new PoolSourceDevice("/dev/loop9"), new PoolSourceDevice("/dev/loop10")] },
        };

        using var mgr = NewManager("daemon", Scanned, PoolType.Fs);
        Directory.CreateDirectory(Path.Combine(_root, "p"));
        await mgr.DefinePoolAsync($"<pool type='fs'><name>p</name><source><device path='/dev/loop9'/></source><target><path>{_root}/p</path></target></pool>");
        await mgr.StartPoolAsync("p", PoolBuildFlags.None, doBuild: false);
        Assert.Equal(["daemon load p"], Events());

        await mgr.RefreshPoolAsync("p");
        Assert.Equal([], Events());
    }

    /// <summary>The real dir backend of one pool, recording its disposal.</summary>
    private sealed class RecordingBackend(IStorageBackend inner, string disposed, Action<string> record, Func<PoolScan, PoolScan> scanned)
        : IStorageBackend, IPoolBuilder, IDisposable
    {
        public Task<bool> CheckPoolAsync(PoolContext context, CancellationToken cancellationToken) => inner.CheckPoolAsync(context, cancellationToken);

        public Task StartPoolAsync(PoolContext context, PoolStartFlags flags, CancellationToken cancellationToken) => inner.StartPoolAsync(context, flags, cancellationToken);

        public Task StopPoolAsync(PoolContext context, CancellationToken cancellationToken) => inner.StopPoolAsync(context, cancellationToken);

        public async Task<PoolScan> RefreshPoolAsync(PoolContext context, CancellationToken cancellationToken)
            => scanned(await inner.RefreshPoolAsync(context, cancellationToken));

        public Task<VolumeDefinition> RefreshVolumeAsync(PoolContext context, VolumeDefinition volume, CancellationToken cancellationToken)
            => inner.RefreshVolumeAsync(context, volume, cancellationToken);

        public Task<ulong> GetAllocationAsync(PoolContext context, VolumeDefinition volume, CancellationToken cancellationToken)
            => inner.GetAllocationAsync(context, volume, cancellationToken);

        public Task BuildPoolAsync(PoolContext context, PoolBuildFlags flags, CancellationToken cancellationToken) => ((IPoolBuilder)inner).BuildPoolAsync(context, flags, cancellationToken);

        public void Dispose() => record(disposed);
    }
}
