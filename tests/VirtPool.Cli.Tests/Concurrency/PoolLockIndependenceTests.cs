using VirtPool.Cli.Tests.Support;
using VirtPool.Core.Interop;

namespace VirtPool.Cli.Tests.Concurrency;

/// <summary>
/// The README's promise, across processes: work on one pool never waits for another's, and reads wait
/// for nobody. This test process takes a pool's lock (or the global one) exactly as another virtpool
/// process holds it while it works on that pool, then runs virtpool commands as separate processes: the
/// reads and the work on other pools finish while the lock is still held; only a change of the locked
/// pool waits for it.
/// </summary>
public sealed class PoolLockIndependenceTests : IDisposable
{
    private readonly string _root = TestPaths.NewTempDir("vplocks");

    public void Dispose() => TestPaths.DeleteTree(_root);

    private string State => Path.Combine(_root, "state");

    private async Task<RunResult> MustAsync(params string[] args)
    {
        var result = await VirtPoolCli.RunAsync(State, args);
        Assert.True(result.ExitCode == 0, $"virtpool {string.Join(' ', args)}: {result}");
        return result;
    }

    private async Task StartedPoolAsync(string name)
    {
        await MustAsync("pool-define-as", name, "dir", "--target", Path.Combine(_root, name));
        await MustAsync("pool-build", name);
        await MustAsync("pool-start", name);
    }

    [Fact]
    public async Task Reads_and_other_pools_go_on_while_another_process_holds_a_pools_lock()
    {
        await StartedPoolAsync("busy");
        await StartedPoolAsync("free");
        await MustAsync("vol-create-as", "busy", "a.img", "1M");

        using (var held = new HeldLock(Path.Combine(State, "locks", "busy.lock")))
        {
            // A change of the busy pool waits for its lock...
            using var writer = VirtPoolCli.Start(State, "vol-create-as", "busy", "late.img", "1M");

            // ...while every read, of that pool too, and the work on other pools finish meanwhile.
            Assert.Contains("busy", (await MustAsync("pool-list", "--all")).Stdout, StringComparison.Ordinal);
            Assert.Contains("running", (await MustAsync("pool-info", "busy")).Stdout, StringComparison.Ordinal);
            Assert.Contains("a.img", (await MustAsync("vol-list", "busy")).Stdout, StringComparison.Ordinal);
            await MustAsync("vol-info", "a.img", "--pool", "busy");
            await MustAsync("vol-dumpxml", "a.img", "--pool", "busy");
            await MustAsync("pool-dumpxml", "busy");
            await MustAsync("vol-create-as", "free", "b.img", "1M");
            await MustAsync("vol-delete", "b.img", "--pool", "free");
            await MustAsync("pool-refresh", "free");
            await MustAsync("pool-define-as", "third", "dir", "--target", Path.Combine(_root, "third"));
            await MustAsync("pool-undefine", "third");

            // All of it while the lock was held; the busy pool's change has not happened.
            Assert.True(held.IsHeld);
            Assert.DoesNotContain("late.img", (await MustAsync("vol-list", "busy")).Stdout, StringComparison.Ordinal);

            held.Dispose();
            var late = await writer.WaitAsync(ChildProcess.DefaultTimeout);
            Assert.True(late.ExitCode == 0, late.ToString());
        }

        Assert.Contains("late.img", (await MustAsync("vol-list", "busy")).Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Commands_reconcile_only_after_a_reboot_and_need_no_lock_to_find_that_out()
    {
        await StartedPoolAsync("p");
        await MustAsync("pool-autostart", "p");
        await MustAsync("pool-define-as", "idle", "dir", "--target", Path.Combine(_root, "idle"));
        await MustAsync("pool-build", "idle");
        await MustAsync("pool-start", "idle");

        // Same boot: with the global lock and every pool's lock held by another process, reads still answer.
        using (new HeldLock(Path.Combine(State, "lock")))
        using (new HeldLock(Path.Combine(State, "locks", "p.lock")))
        using (new HeldLock(Path.Combine(State, "locks", "idle.lock")))
        {
            var list = (await MustAsync("pool-list", "--all")).Stdout;
            Assert.Contains("idle", list, StringComparison.Ordinal);
            Assert.DoesNotContain("inactive", list, StringComparison.Ordinal);
        }

        // After a reboot (another boot id recorded) the next command reconciles first, as libvirtd does
        // on its start: runtime state is dropped and only the autostart pool runs again.
        await File.WriteAllTextAsync(Path.Combine(State, "boot_id"), "an-earlier-boot\n");
        var after = (await MustAsync("pool-list", "--all", "--details")).Stdout;
        Assert.Matches(@"(?m)^\s*p\s+running\s+yes\s+yes", after);
        Assert.Matches(@"(?m)^\s*idle\s+inactive\s+no\s+yes", after);
        Assert.Equal(File.ReadAllText("/proc/sys/kernel/random/boot_id").Trim(), File.ReadAllText(Path.Combine(State, "boot_id")).Trim());
    }

    /// <summary>An flock on a state lock file, as a virtpool process at work holds it; released on dispose.</summary>
    private sealed class HeldLock : IDisposable
    {
        private readonly string _path;
        private int _fd;

        public HeldLock(string path)
        {
            _path = path;
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            _fd = LibC.Open(path, LibC.O_RDWR | LibC.O_CREAT | LibC.O_CLOEXEC, 0x180);
            Assert.True(_fd >= 0, $"cannot open {path}");

            // Nobody else holds it between commands: the virtpool processes above have exited.
            Assert.Equal(0, LibC.Flock(_fd, LibC.LOCK_EX | LibC.LOCK_NB));
        }

        /// <summary>Whether the lock is still taken: another descriptor cannot have it.</summary>
        public bool IsHeld
        {
            get
            {
                var probe = LibC.Open(_path, LibC.O_RDWR | LibC.O_CLOEXEC, 0);
                Assert.True(probe >= 0, $"cannot open {_path}");
                try
                {
                    return LibC.Flock(probe, LibC.LOCK_EX | LibC.LOCK_NB) != 0;
                }
                finally
                {
                    LibC.Close(probe);
                }
            }
        }

        public void Dispose()
        {
            if (_fd >= 0)
            {
                LibC.Close(_fd);
                _fd = -1;
            }
        }
    }
}
