using VirtPool.Backends.Network;

namespace VirtPool.Backends.Tests;

/// <summary>
/// Adversarial review of issue 12's shared network layer (NetworkConnection, NativeCalls): each test
/// is a defect found by the review and fails until it is fixed. The "library" is a handle whose close
/// and use the test observes, as in <see cref="NetworkConnectionTests"/>: with librados or libgfapi
/// behind it, the same sequence is a call on a freed rados_t / glfs_t (a native crash).
/// </summary>
public sealed class AttackIssue12NetworkTests
{
    /// <summary>
    /// DEFECT (crash: use after free). NetworkConnection.CallAsync(entry, …) counts a call as a user of
    /// the handle only inside the worker (<c>Enter(entry)</c> is the first statement of the delegate
    /// NativeCalls runs on its new thread). When the caller stops waiting before that thread has started
    /// (a cancelled token, or a limit used up in the slot wait so <c>left</c> is 0), the lease is disposed,
    /// the retired entry's user count reaches 0 and the handle is closed; then the worker starts, enters
    /// and calls the library with the closed handle. A pool stop (Close) during a transfer whose client
    /// disconnects is that sequence. Expected: the call is counted before it is started (Enter before
    /// RunAsync, released in the finished callback or when no slot was taken), so the handle is never
    /// closed while a started call can still use it.
    /// </summary>
    [Fact]
    public async Task A_cancelled_call_on_a_retired_handle_runs_after_the_handle_was_closed()
    {
        var usedAfterClose = 0;
        var closedWhileBusy = 0;
        var iterations = 0;
        var cancelled = 0;
        const int Rounds = 1500;

        // Many rounds side by side: the scheduler then interleaves the call's new thread, the caller and
        // the closing thread in every order, as a busy daemon does.
        await Task.WhenAll(Enumerable.Range(0, 16).Select(_ => Task.Run(async () =>
        {
            for (var round = 0; round < Rounds && Volatile.Read(ref usedAfterClose) + Volatile.Read(ref closedWhileBusy) == 0; round++)
            {
                Interlocked.Increment(ref iterations);
                if (await OneRoundAsync())
                {
                    Interlocked.Increment(ref cancelled);
                }
            }
        })));

        async Task<bool> OneRoundAsync()
        {
            var callEnded = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var closed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            using var connection = new NetworkConnection<ObservedHandle>(
                "the test server",
                new NetworkConnectionOptions(TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(30), TimeSpan.FromMinutes(5), CloseInBackground: false),
                () => new ObservedHandle(),
                handle =>
                {
                    if (Volatile.Read(ref handle.Busy) > 0)
                    {
                        Interlocked.Increment(ref closedWhileBusy);
                    }

                    Volatile.Write(ref handle.Closed, 1);
                    closed.TrySetResult();
                });

            var lease = await connection.AcquireAsync(CancellationToken.None);

            // A pool stop while the transfer holds its lease: the handle is retired, closed when the lease ends.
            connection.Close();
            using var cancel = new CancellationTokenSource();
            var call = lease.CallAsync(
                handle =>
                {
                    Interlocked.Increment(ref handle.Busy);
                    try
                    {
                        if (Volatile.Read(ref handle.Closed) != 0)
                        {
                            Interlocked.Increment(ref usedAfterClose);
                        }

                        // A library call takes a moment: a close meanwhile is a close under a running call.
                        Thread.SpinWait(20_000);
                        return 0;
                    }
                    finally
                    {
                        Interlocked.Decrement(ref handle.Busy);
                        callEnded.TrySetResult();
                    }
                },
                "transfer",
                cancel.Token);

            // The client goes away at once; the transfer gives up its lease.
            cancel.Cancel();
            var wasCancelled = false;
            try
            {
                await call;
            }
            catch (OperationCanceledException)
            {
                wasCancelled = true;
            }

            lease.Dispose();
            await Task.WhenAll(callEnded.Task, closed.Task).WaitAsync(TimeSpan.FromMinutes(1));
            return wasCancelled;
        }

        Assert.True(
            usedAfterClose + closedWhileBusy == 0,
            $"after {iterations} rounds ({cancelled} cancelled): a call used a closed handle {usedAfterClose} time(s), a handle was closed under a running call {closedWhileBusy} time(s)");
    }

    /// <summary>
    /// DEFECT (handle leak after pool stop). NetworkConnection.Close (what StopPoolAsync calls) retires only
    /// the handle that is current: an open still running at that moment (a pool-destroy right after a
    /// pool-start or the first call of a refresh, both slow against a far server) finishes afterwards and
    /// installs its handle as current. The stopped pool then keeps a connection (a rados_t, a glfs_t with
    /// its threads, an iSCSI login) until the idle timer closes it 5 minutes later, or forever while
    /// something keeps using the backend. Expected: an open that completes after Close is closed as soon
    /// as its caller is done with it, as Dispose already does with its <c>_disposed</c> flag.
    /// </summary>
    [Fact]
    public async Task A_pool_stop_during_the_open_leaves_the_new_handle_open_after_the_stop()
    {
        using var opening = new ManualResetEventSlim(false);
        using var opened = new ManualResetEventSlim(false);
        var closes = 0;
        using var connection = new NetworkConnection<ObservedHandle>(
            "the test server",
            new NetworkConnectionOptions(TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(30), TimeSpan.FromMinutes(5), CloseInBackground: false),
            () =>
            {
                opening.Set();
                opened.Wait();
                return new ObservedHandle();
            },
            _ => Interlocked.Increment(ref closes));

        var first = connection.CallAsync(_ => 1, "refresh", CancellationToken.None);
        opening.Wait();

        // pool-destroy while the connection is being opened.
        connection.Close();
        opened.Set();
        Assert.Equal(1, await first);

        Assert.False(connection.IsOpen, "a pool stopped during the open holds no connection once its last call is done");
    }

    private sealed class ObservedHandle
    {
        public int Busy;
        public int Closed;
    }
}
