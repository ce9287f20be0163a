using VirtPool.Core.Backends;
using VirtPool.Core.Interop;
using VirtPool.Core.Manager;
using VirtPool.Core.Model;
using VirtPool.Core.Process;
using VirtPool.Core.State;
using VirtPool.TestSupport;

namespace VirtPool.Backends.Tests;

/// <summary>
/// Per-pool locking through the manager, with another process's long operation on a pool played by a
/// flock on that pool's lock file (exactly what another VirtPool process holds while it works).
/// </summary>
public sealed class PoolLockingTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("vp-locks-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private string State => Path.Combine(_root, "state");

    private PoolManager NewManager() => new(new StateStore(State), BackendCatalog.Create(ProcessRunner.Instance));

    private string Xml(string name) => $"<pool type='dir'><name>{name}</name><target><path>{Path.Combine(_root, name)}</path></target></pool>";

    private async Task StartAsync(PoolManager mgr, string name)
    {
        await mgr.DefinePoolAsync(Xml(name));
        await mgr.StartPoolAsync(name, PoolBuildFlags.None, doBuild: true);
    }

    /// <summary>Holds <paramref name="pool"/>'s lock as another process would, until disposed.</summary>
    private sealed class OtherProcessHolding : IDisposable
    {
        private int _fd;

        public OtherProcessHolding(string state, string pool)
        {
            LockPath = Path.Combine(state, "locks", pool + ".lock");
            _fd = LibC.Open(LockPath, LibC.O_RDWR | LibC.O_CREAT | LibC.O_CLOEXEC, 0x180);
            Assert.True(_fd >= 0);

            // The manager's last holder has closed its descriptor, but a child process that another
            // test forked in the meantime keeps that lock until its exec closes the copy.
            Eventually.Until(() => LibC.Flock(_fd, LibC.LOCK_EX | LibC.LOCK_NB) == 0, "the pool's lock to be free");
        }

        public string LockPath { get; }

        /// <summary>Returns once someone in this process waits for the lock: it has opened the lock file too.</summary>
        public Task WaitedForAsync() => Eventually.UntilAsync(() => OpenFiles.DescriptorsOn(LockPath) >= 2, $"a waiter on {LockPath}");

        public void Dispose()
        {
            if (_fd >= 0)
            {
                LibC.Close(_fd);
                _fd = -1;
            }
        }
    }

    [Fact]
    public async Task Work_on_one_pool_never_waits_for_a_long_operation_on_another()
    {
        using var mgr = NewManager();
        await StartAsync(mgr, "busy");
        await StartAsync(mgr, "free");
        using var other = new OtherProcessHolding(State, "busy");

        // The busy pool's writers wait...
        var blocked = mgr.CreateVolumeAsync("busy", "<volume><name>late.img</name><capacity>4096</capacity></volume>");
        await other.WaitedForAsync();

        // ...while everything else goes on: the other pool's writes, new definitions, and reads of the busy pool.
        var timeout = TimeSpan.FromSeconds(10);
        await mgr.CreateVolumeAsync("free", "<volume><name>a.img</name><capacity>4096</capacity></volume>").WaitAsync(timeout);
        await mgr.RefreshPoolAsync("free").WaitAsync(timeout);
        await mgr.DeleteVolumeAsync(new VolumeRef("free", "a.img", string.Empty)).WaitAsync(timeout);
        await mgr.DefinePoolAsync(Xml("third")).WaitAsync(timeout);
        await mgr.UndefinePoolAsync("third").WaitAsync(timeout);
        Assert.Equal(PoolState.Running, (await mgr.GetPoolInfoAsync("busy").WaitAsync(timeout)).State);
        Assert.Empty(await mgr.ListVolumesAsync("busy").WaitAsync(timeout));
        Assert.False(blocked.IsCompleted);

        other.Dispose();
        await blocked.WaitAsync(timeout);
        Assert.Equal(["late.img"], (await mgr.ListVolumesAsync("busy")).Select(v => v.Name));
    }

    [Fact]
    public async Task Refreshes_requested_while_one_waits_are_coalesced_into_it()
    {
        using var mgr = NewManager();
        await StartAsync(mgr, "p");
        var scansBefore = mgr.RefreshScans;
        Task[] refreshes;
        using (var other = new OtherProcessHolding(State, "p"))
        {
            refreshes = [.. Enumerable.Range(0, 5).Select(_ => mgr.RefreshPoolAsync("p"))];
            await other.WaitedForAsync();
            Assert.All(refreshes, r => Assert.False(r.IsCompleted));

            // Made behind the manager's back while the refreshes wait: the one scan must still see it.
            await File.WriteAllBytesAsync(Path.Combine(_root, "p", "dropped-in.img"), new byte[4096]);
        }

        await Task.WhenAll(refreshes).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(1, mgr.RefreshScans - scansBefore);
        Assert.Equal(["dropped-in.img"], (await mgr.ListVolumesAsync("p")).Select(v => v.Name));

        // A refresh asked for after that one started is a new scan.
        await mgr.RefreshPoolAsync("p");
        Assert.Equal(2, mgr.RefreshScans - scansBefore);
    }

    [Fact]
    public async Task Joined_refreshes_share_the_failure_of_the_scan()
    {
        using var mgr = NewManager();
        await StartAsync(mgr, "gone");
        Task[] refreshes;
        using (var other = new OtherProcessHolding(State, "gone"))
        {
            refreshes = [.. Enumerable.Range(0, 3).Select(_ => mgr.RefreshPoolAsync("gone"))];
            await other.WaitedForAsync();
            Directory.Delete(Path.Combine(_root, "gone"));
        }

        foreach (var refresh in refreshes)
        {
            var ex = await Assert.ThrowsAsync<Core.Errors.VirtPoolException>(() => refresh.WaitAsync(TimeSpan.FromSeconds(10)));
            Assert.Contains("gone", ex.Message, StringComparison.Ordinal);
        }

        // libvirt stops a pool whose refresh fails.
        Assert.Equal(PoolState.Inactive, (await mgr.GetPoolInfoAsync("gone")).State);
    }
}
