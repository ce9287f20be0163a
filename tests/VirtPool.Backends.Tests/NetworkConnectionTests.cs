using System.Collections.Concurrent;
using VirtPool.Backends.Network;
using VirtPool.Core.Errors;
using VirtPool.TestSupport;

namespace VirtPool.Backends.Tests;

/// <summary>
/// The connection holder every network backend uses, driven by a "library" of blocking calls whose
/// answers the test controls (a server that answers, hangs, refuses): the rbd, gluster and iscsi-direct
/// tests run the same class against real servers.
/// </summary>
public sealed class NetworkConnectionTests : IDisposable
{
    private readonly ConcurrentQueue<FakeHandle> _opened = new();
    private readonly ConcurrentQueue<FakeHandle> _closed = new();
    private readonly ManualResetEventSlim _serverHangs = new(initialState: true);
    private Exception? _refuse;
    private volatile bool _closedWhileBusy;

    public void Dispose()
    {
        Assert.False(_closedWhileBusy, "a handle was closed while a call still used it");
        _serverHangs.Set(); // release any call a test left stuck
        _serverHangs.Dispose();
    }

    private NetworkConnection<FakeHandle> Connect(TimeSpan? call = null, TimeSpan? idle = null, bool background = false)
        => new(
            "the test server",
            new NetworkConnectionOptions(TimeSpan.FromSeconds(5), call ?? TimeSpan.FromSeconds(5), idle ?? TimeSpan.FromMinutes(5), background),
            () =>
            {
                if (_refuse is { } refuse)
                {
                    throw refuse;
                }

                var handle = new FakeHandle(_opened.Count + 1);
                _opened.Enqueue(handle);
                return handle;
            },
            handle =>
            {
                if (Volatile.Read(ref handle.Busy) > 0)
                {
                    _closedWhileBusy = true;
                }

                _closed.Enqueue(handle);
            });

    private int Answer(FakeHandle handle)
    {
        Interlocked.Increment(ref handle.Busy);
        try
        {
            _serverHangs.Wait();
            return handle.Id;
        }
        finally
        {
            Interlocked.Decrement(ref handle.Busy);
        }
    }

    [Fact]
    public async Task Concurrent_calls_share_one_handle_that_closes_after_idling()
    {
        using var connection = Connect(idle: TimeSpan.FromMilliseconds(200));
        var ids = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => connection.CallAsync(Answer, "ping", CancellationToken.None)));

        Assert.All(ids, id => Assert.Equal(1, id));
        Assert.Single(_opened);
        Assert.True(connection.IsReachable);
        await Eventually.UntilAsync(() => !_closed.IsEmpty, "the idle handle is closed");
        Assert.False(connection.IsOpen);

        Assert.Equal(2, await connection.CallAsync(Answer, "ping", CancellationToken.None));
    }

    [Fact]
    public async Task A_hung_call_times_out_and_its_handle_is_closed_only_once_the_library_returns()
    {
        using var connection = Connect(call: TimeSpan.FromMilliseconds(300));
        Assert.Equal(1, await connection.CallAsync(Answer, "ping", CancellationToken.None));

        _serverHangs.Reset();
        var error = await Assert.ThrowsAsync<VirtPoolException>(() => connection.CallAsync(Answer, "rbd_stat", CancellationToken.None));
        Assert.Equal(VirErrorCode.OperationTimeout, error.Code);
        Assert.Equal("Timed out during operation: the test server did not answer rbd_stat within 0.3 s", error.Message);
        Assert.False(connection.IsReachable);
        Assert.Empty(_closed); // the stuck call still holds handle 1

        // The next caller gets a new handle (and hangs too, as long as the server does).
        var stuckAgain = connection.CallAsync(Answer, "ping", CancellationToken.None);
        await Assert.ThrowsAsync<VirtPoolException>(() => stuckAgain);
        Assert.Equal(2, _opened.Count);

        _serverHangs.Set();
        await Eventually.UntilAsync(() => _closed.Count == 2, "both retired handles are closed once their calls return");
        Assert.Equal(3, await connection.CallAsync(Answer, "ping", CancellationToken.None));
        Assert.True(connection.IsReachable);
    }

    [Fact]
    public async Task A_refused_open_fails_every_queued_caller_with_its_error_without_reconnecting_for_each()
    {
        using var connection = Connect();
        _refuse = VirtPoolException.Internal("failed to connect to the RADOS monitor on: 127.0.0.1:1,: Connection refused");
        var calls = Enumerable.Range(0, 8).Select(_ => connection.CallAsync(Answer, "ping", CancellationToken.None)).ToArray();
        foreach (var call in calls)
        {
            var error = await Assert.ThrowsAsync<VirtPoolException>(() => call);
            Assert.Same(_refuse, error);
        }

        Assert.False(connection.IsReachable);
        Assert.Empty(_opened);

        _refuse = null;
        Assert.Equal(1, await connection.CallAsync(Answer, "ping", CancellationToken.None));
        Assert.True(connection.IsReachable);
    }

    [Fact]
    public async Task An_open_refused_for_its_secret_or_by_the_server_itself_does_not_make_the_pool_inaccessible()
    {
        using var connection = Connect();
        _refuse = new VirtPoolException(VirErrorCode.NoSecret, "no secret with matching usage 'x'", VirErrorDomain.Secret);
        await Assert.ThrowsAsync<VirtPoolException>(() => connection.CallAsync(Answer, "ping", CancellationToken.None));
        Assert.True(connection.IsReachable);

        _refuse = NetworkErrors.ServerAnswered(VirtPoolException.System("failed to connect to the RADOS monitor on: 127.0.0.1:6789", 13));
        await Assert.ThrowsAsync<VirtPoolException>(() => connection.CallAsync(Answer, "ping", CancellationToken.None));
        Assert.True(connection.IsReachable);

        _refuse = VirtPoolException.System("failed to connect to the RADOS monitor on: 127.0.0.1:6789", 111);
        await Assert.ThrowsAsync<VirtPoolException>(() => connection.CallAsync(Answer, "ping", CancellationToken.None));
        Assert.False(connection.IsReachable);
    }

    [Fact]
    public async Task Close_waits_for_a_lease_and_a_later_use_reconnects()
    {
        using var connection = Connect();
        var lease = await connection.AcquireAsync(CancellationToken.None);
        Assert.Equal(1, await lease.CallAsync(Answer, "read", CancellationToken.None));

        connection.Close();
        Assert.Empty(_closed);
        Assert.Equal(1, await lease.CallAsync(Answer, "read", CancellationToken.None)); // the transfer goes on

        lease.Dispose();
        await Eventually.UntilAsync(() => _closed.Count == 1, "the handle is closed when the lease ends");
        Assert.Equal(2, await connection.CallAsync(Answer, "ping", CancellationToken.None));
    }

    [Fact]
    public async Task Cancelling_a_call_returns_at_once_and_keeps_the_handle()
    {
        using var connection = Connect();
        Assert.Equal(1, await connection.CallAsync(Answer, "ping", CancellationToken.None));
        _serverHangs.Reset();
        using var cancel = new CancellationTokenSource();
        var call = connection.CallAsync(Answer, "write", cancel.Token);
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => call);
        Assert.True(connection.IsOpen);

        _serverHangs.Set();
        Assert.Equal(1, await connection.CallAsync(Answer, "ping", CancellationToken.None));
        Assert.Single(_opened);
    }

    [Fact]
    public async Task Dispose_closes_in_the_background_without_waiting_when_asked()
    {
        var slowClose = new ManualResetEventSlim();
        var closedOn = new TaskCompletionSource();
        var connection = new NetworkConnection<FakeHandle>(
            "gluster",
            new NetworkConnectionOptions(TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(5), TimeSpan.FromMinutes(5), CloseInBackground: true),
            () => new FakeHandle(1),
            _ =>
            {
                slowClose.Wait(); // glfs_fini's ten seconds
                closedOn.SetResult();
            });
        Assert.Equal(1, await connection.CallAsync(h => h.Id, "stat", CancellationToken.None));

        connection.Dispose(); // returns although the close has not finished
        Assert.False(closedOn.Task.IsCompleted);
        slowClose.Set();
        await closedOn.Task.WaitAsync(Eventually.HangGuard);
        slowClose.Dispose();
    }

    [Fact]
    public async Task A_server_that_hangs_holds_one_open_and_a_few_calls_never_a_thread_per_request()
    {
        var opensStarted = 0;
        using var hangingOpen = new NetworkConnection<FakeHandle>(
            "the dead server",
            new NetworkConnectionOptions(TimeSpan.FromMilliseconds(200), TimeSpan.FromMilliseconds(200), TimeSpan.FromMinutes(5), CloseInBackground: false),
            () =>
            {
                Interlocked.Increment(ref opensStarted);
                _serverHangs.Wait(); // glfs_init against a stopped glusterd
                return new FakeHandle(1);
            },
            _ => { });
        _serverHangs.Reset();
        for (var attempt = 0; attempt < 10; attempt++)
        {
            var error = await Assert.ThrowsAsync<VirtPoolException>(() => hangingOpen.CallAsync(h => h.Id, "refresh", CancellationToken.None));
            Assert.Equal(VirErrorCode.OperationTimeout, error.Code);
        }

        Assert.Equal(1, Volatile.Read(ref opensStarted));

        // Calls on an open handle: once a few hang, the rest fail at once without a thread of their own.
        using var connection = Connect(call: TimeSpan.FromMilliseconds(200));
        _serverHangs.Set();
        Assert.Equal(1, await connection.CallAsync(Answer, "ping", CancellationToken.None));
        _serverHangs.Reset();
        var started = 0;
        for (var attempt = 0; attempt < 12; attempt++)
        {
            await Assert.ThrowsAsync<VirtPoolException>(() => connection.CallAsync(
                h =>
                {
                    Interlocked.Increment(ref started);
                    return Answer(h);
                },
                "read",
                CancellationToken.None));
        }

        Assert.InRange(Volatile.Read(ref started), 1, NetworkConnection<FakeHandle>.MaxStuckCalls);
        _serverHangs.Set();
        await Eventually.UntilAsync(() => _closed.Count == _opened.Count - 1, "every retired handle is closed once its hung calls return");
        Assert.Equal(_opened.Count, await connection.CallAsync(Answer, "ping", CancellationToken.None));
        Assert.True(connection.IsReachable);
    }

    [Theory]
    [InlineData("2.5", 2.5)]
    [InlineData("nonsense", 30)]
    [InlineData("0", 30)]
    [InlineData("-4", 30)]
    [InlineData(null, 30)]
    public void The_time_limit_setting_takes_seconds_and_ignores_nonsense(string? setting, double seconds)
    {
        var options = NetworkConnectionOptions.FromTimeoutSetting(setting);
        Assert.Equal(TimeSpan.FromSeconds(seconds), options.CallTimeout);
        Assert.Equal(TimeSpan.FromSeconds(seconds), options.ConnectTimeout);
    }

    private sealed class FakeHandle(int id)
    {
        public int Id { get; } = id;

        public int Busy;
    }
}
