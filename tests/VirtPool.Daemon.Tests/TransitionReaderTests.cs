using VirtPool.Backends.Dir;
using VirtPool.Core.Backends;
using VirtPool.Core.Model;
using VirtPool.Core.Process;
using VirtPool.Daemon.Storage;
using VirtPool.Rpc;

namespace VirtPool.Daemon.Tests;

/// <summary>
/// A lookup about a pool whose start is under way waits for the start (libvirt's calls wait for the
/// pool's lock). It is one of the calls the reader answers itself; while it waits, the reader must go
/// on reading: keepalive and other calls are answered meanwhile, and the lookup when the start ends.
/// </summary>
public sealed class TransitionReaderTests
{
    [Fact]
    public async Task A_lookup_waiting_for_a_starting_pool_leaves_keepalive_and_other_calls_answered()
    {
        var gate = new StartGate();
        var dir = DirBackend.Type(ProcessRunner.Instance);
        var registry = new BackendRegistry([BackendType.Of(PoolType.Dir, context => new GatedStartBackend(dir.Load(context), gate))]);
        await using var harness = await ConnectionHarness.StartAsync(StorageProcedures.Register, backends: registry);
        await harness.OpenAsync();
        var client = harness.Client;
        await harness.Manager.DefinePoolAsync($"<pool type='dir'><name>slow</name><target><path>{Path.Combine(harness.Root, "slow")}</path></target></pool>");
        await harness.Manager.BuildPoolAsync("slow", PoolBuildFlags.None);

        // A start that takes its time, as a mount of a slow server does.
        gate.Close();
        var start = harness.Manager.StartPoolAsync("slow", PoolBuildFlags.None, doBuild: false);
        await gate.Entered.WaitAsync(TimeSpan.FromSeconds(30));
        client.SendCall(RemoteProcedure.StoragePoolLookupByName, 1, Payload.Build(w => w.WriteString("slow")));

        client.Send(RpcHeader.Keepalive(KeepaliveProcedure.Ping), []);
        var pong = await client.ReadAsync(TimeSpan.FromSeconds(30));
        Assert.True(pong is { IsPing: false }, "no PONG while a lookup waited for the pool's start");
        Assert.Equal((int)KeepaliveProcedure.Pong, pong.Header.Procedure);
        var lib = await client.CallAsync(RemoteProcedure.ConnectGetLibVersion, 2, []);
        Assert.Equal(RpcMessageStatus.Ok, lib.Header.Status);
        Assert.False(start.IsCompleted);

        gate.Open();
        await start;
        var lookup = await client.ReplyAsync(1, TimeSpan.FromSeconds(30));
        Assert.Equal(RpcMessageStatus.Ok, lookup.Header.Status);
    }

    private sealed class StartGate
    {
        private TaskCompletionSource? _open;

        public TaskCompletionSource Reached { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task Entered => Reached.Task;

        public void Close() => _open = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Open() => _open?.TrySetResult();

        public Task PassAsync()
        {
            Reached.TrySetResult();
            return _open?.Task ?? Task.CompletedTask;
        }
    }

    /// <summary>The real dir backend of the pool, with a start held at a gate.</summary>
    private sealed class GatedStartBackend(IStorageBackend inner, StartGate gate) : IStorageBackend, IPoolBuilder
    {
        public async Task StartPoolAsync(PoolContext pool, PoolStartFlags flags, CancellationToken cancellationToken)
        {
            await gate.PassAsync();
            await inner.StartPoolAsync(pool, flags, cancellationToken);
        }

        public Task<bool> CheckPoolAsync(PoolContext pool, CancellationToken cancellationToken) => inner.CheckPoolAsync(pool, cancellationToken);

        public Task StopPoolAsync(PoolContext pool, CancellationToken cancellationToken) => inner.StopPoolAsync(pool, cancellationToken);

        public Task<PoolScan> RefreshPoolAsync(PoolContext pool, CancellationToken cancellationToken) => inner.RefreshPoolAsync(pool, cancellationToken);

        public Task<VolumeDefinition> RefreshVolumeAsync(PoolContext pool, VolumeDefinition volume, CancellationToken cancellationToken) => inner.RefreshVolumeAsync(pool, volume, cancellationToken);

        public Task BuildPoolAsync(PoolContext pool, PoolBuildFlags flags, CancellationToken cancellationToken) => ((IPoolBuilder)inner).BuildPoolAsync(pool, flags, cancellationToken);
    }
}
