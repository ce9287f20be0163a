using System.Diagnostics;
using System.Globalization;
using VirtPool.Core.Errors;

namespace VirtPool.Backends.Network;

/// <summary>How long a network backend waits for its server, and how long an unused connection stays open.</summary>
/// <param name="ConnectTimeout">Limit on opening the connection (the library's connect and login).</param>
/// <param name="CallTimeout">Limit on each library call made with it.</param>
/// <param name="IdleTimeout">An unused connection is closed after this long (the daemon keeps it between calls meanwhile).</param>
/// <param name="CloseInBackground">
/// Close without waiting for the library (libgfapi's glfs_fini takes ~10 s); otherwise a pool stop
/// waits for the close, up to <paramref name="CallTimeout"/>.
/// </param>
public sealed record NetworkConnectionOptions(TimeSpan ConnectTimeout, TimeSpan CallTimeout, TimeSpan IdleTimeout, bool CloseInBackground)
{
    /// <summary>Seconds; overrides both time limits (tests of a dead server use a short one).</summary>
    public const string TimeoutVariable = "VIRTPOOL_NET_TIMEOUT";

    /// <summary>30 s to connect, 30 s per call, closed after 5 idle minutes; read each time, so the variable applies at once.</summary>
    public static NetworkConnectionOptions Default => FromTimeoutSetting(Environment.GetEnvironmentVariable(TimeoutVariable));

    /// <summary>The defaults, with both time limits from <paramref name="seconds"/> when it is a number of seconds in (0, 3600].</summary>
    public static NetworkConnectionOptions FromTimeoutSetting(string? seconds)
    {
        var limit = TimeSpan.FromSeconds(30);
        if (double.TryParse(seconds, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && value > 0 && value <= 3600)
        {
            limit = TimeSpan.FromSeconds(value);
        }

        return new NetworkConnectionOptions(limit, limit, TimeSpan.FromMinutes(5), CloseInBackground: false);
    }
}

/// <summary>
/// A pool's connection to a storage server through its client library (a rados cluster handle, a
/// glfs_t, an iSCSI session): opened on first use, shared by concurrent operations, closed after
/// idling, on pool stop and on dispose. Every library call runs through <see cref="NativeCalls"/>
/// with a time limit, so a dead server fails an operation in seconds and never hangs a thread, a
/// lock or the daemon. A call that overruns retires the handle: the next use opens a new one, and the
/// old one is closed once its stuck calls return (never while the library still uses it).
/// </summary>
/// <typeparam name="THandle">The library's handle, as the backend wraps it.</typeparam>
public sealed class NetworkConnection<THandle> : IDisposable
    where THandle : class
{
    private readonly string _what;
    private readonly NetworkConnectionOptions _options;
    private readonly Func<THandle> _open;
    private readonly Action<THandle> _close;
    private readonly object _gate = new();
    private readonly SemaphoreSlim _opening = new(1, 1);
    private readonly Timer _idleTimer;
    private ConnectionEntry<THandle>? _current;
    private (long Attempt, Exception Error)? _lastOpenFailure;
    private long _openAttempts;
    private bool _disposed;
    private volatile bool _reachable = true;
    private int _opensRunning;
    private int _closes;
    private int _stuckCalls;

    /// <summary>Calls of one connection the library may keep hung before new ones fail at once.</summary>
    internal const int MaxStuckCalls = 4;

    /// <param name="what">Who answers, for messages: "the RADOS cluster at 127.0.0.1:6789".</param>
    /// <param name="options">Time limits.</param>
    /// <param name="open">Connects (blocking); throws a <see cref="VirtPoolException"/> in libvirt's words when refused.</param>
    /// <param name="close">Disconnects and frees the handle (blocking).</param>
    public NetworkConnection(string what, NetworkConnectionOptions options, Func<THandle> open, Action<THandle> close)
    {
        _what = what;
        _options = options;
        _open = open;
        _close = close;
        _idleTimer = new Timer(static state => ((NetworkConnection<THandle>)state!).CloseIfIdle(), this, Timeout.Infinite, Timeout.Infinite);
    }

    /// <summary>False after a failed open, an overrun call or <see cref="MarkBroken"/>; true again once a call succeeds.</summary>
    public bool IsReachable => _reachable;

    /// <summary>Whether a handle is open now (for tests and the daemon's accounting).</summary>
    public bool IsOpen
    {
        get
        {
            lock (_gate)
            {
                return _current is not null;
            }
        }
    }

    /// <summary>Runs one blocking library call with the handle, opening it first if needed.</summary>
    public async Task<T> CallAsync<T>(Func<THandle, T> call, string operation, CancellationToken cancellationToken)
    {
        using var lease = await AcquireAsync(cancellationToken).ConfigureAwait(false);
        return await lease.CallAsync(call, operation, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The handle for a series of calls (a transfer, a parallel refresh): it stays open until the lease
    /// is disposed, whatever the idle limit or a <see cref="Close"/> meanwhile.
    /// </summary>
    public async Task<NetworkLease<THandle>> AcquireAsync(CancellationToken cancellationToken)
    {
        if (TryJoin() is { } joined)
        {
            return new NetworkLease<THandle>(this, joined);
        }

        var attempt = Interlocked.Read(ref _openAttempts);
        var closes = Volatile.Read(ref _closes);
        await _opening.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (TryJoin() is { } opened)
            {
                return new NetworkLease<THandle>(this, opened);
            }

            // Those who queued behind a failed open get its error instead of each waiting out its own;
            // and while an abandoned open still hangs in the library, no second one is started (each
            // would hold a thread until the server answers).
            if (_lastOpenFailure is { } failure && (failure.Attempt > attempt || Volatile.Read(ref _opensRunning) > 0))
            {
                throw failure.Error;
            }

            var number = Interlocked.Increment(ref _openAttempts);
            THandle handle;
            try
            {
                handle = await NativeCalls.RunAsync(
                    () =>
                    {
                        Interlocked.Increment(ref _opensRunning);
                        try
                        {
                            return _open();
                        }
                        finally
                        {
                            Interlocked.Decrement(ref _opensRunning);
                        }
                    },
                    _options.ConnectTimeout,
                    () => TimedOut("the connection", _options.ConnectTimeout),
                    (late, abandoned) =>
                    {
                        if (abandoned && late is not null)
                        {
                            StartClose(late, wait: false);
                        }
                    },
                    cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                if (NetworkErrors.MeansUnreachable(ex))
                {
                    _reachable = false;
                }

                _lastOpenFailure = (number, ex);
                throw;
            }

            var entry = new ConnectionEntry<THandle>(handle) { Users = 1 };
            lock (_gate)
            {
                if (_disposed || _closes != closes)
                {
                    // A straggler after dispose, or an open the pool's stop overtook: this caller may
                    // finish with it, then it is closed.
                    entry.Retired = true;
                }
                else
                {
                    _current = entry;
                }
            }

            _reachable = true;
            _lastOpenFailure = null;
            return new NetworkLease<THandle>(this, entry);
        }
        finally
        {
            _opening.Release();
        }
    }

    /// <summary>
    /// A call said the connection is gone (ENOTCONN, ESHUTDOWN, a library-side timeout): the next use
    /// opens a new handle; this one is closed once nothing uses it.
    /// </summary>
    public void MarkBroken()
    {
        _reachable = false;
        ConnectionEntry<THandle>? entry;
        lock (_gate)
        {
            entry = _current;
            if (entry is null)
            {
                return;
            }

            _current = null;
        }

        Retire(entry);
    }

    /// <summary>Pool stop: closes the handle now if unused, else when its last lease or call ends. A later use opens a new one.</summary>
    public void Close()
    {
        ConnectionEntry<THandle>? entry;
        lock (_gate)
        {
            entry = _current;
            _current = null;
            _closes++;
        }

        _idleTimer.Change(Timeout.Infinite, Timeout.Infinite);
        if (entry is not null)
        {
            Retire(entry, wait: !_options.CloseInBackground);
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _disposed = true;
        }

        Close();
        _idleTimer.Dispose();
    }

    internal async Task<T> CallAsync<T>(ConnectionEntry<THandle> entry, Func<THandle, T> call, string operation, CancellationToken cancellationToken)
    {
        // A server that let this many calls hang gets no more threads until they return: one dead
        // server must not use up the slots every other pool's calls need.
        if (Volatile.Read(ref _stuckCalls) >= MaxStuckCalls)
        {
            _reachable = false;
            throw TimedOut(operation, _options.CallTimeout);
        }

        // Counted before it may start, released exactly once when the library is done with it (or it
        // never started): a handle is never closed under a call that can still use it.
        Enter(entry);
        var tracker = new CallTracker();
        try
        {
            var result = await NativeCalls.RunAsync(
                () => call(entry.Handle),
                _options.CallTimeout,
                () => TimedOut(operation, _options.CallTimeout),
                (_, _) =>
                {
                    if (Interlocked.Exchange(ref tracker.State, CallTracker.Ended) == CallTracker.Stuck)
                    {
                        Interlocked.Decrement(ref _stuckCalls);
                    }

                    Release(entry);
                },
                cancellationToken).ConfigureAwait(false);
            _reachable = true;
            return result;
        }
        catch (Exception ex) when (ex is OperationCanceledException || ex is VirtPoolException { Code: VirErrorCode.OperationTimeout })
        {
            // Given up on while the library may still run it: counted until it returns.
            if (Interlocked.CompareExchange(ref tracker.State, CallTracker.Stuck, CallTracker.Running) == CallTracker.Running)
            {
                Interlocked.Increment(ref _stuckCalls);
            }

            if (ex is OperationCanceledException)
            {
                throw;
            }

            _reachable = false;
            lock (_gate)
            {
                if (ReferenceEquals(_current, entry))
                {
                    _current = null;
                }
            }

            Retire(entry);
            throw;
        }
    }

    internal void Release(ConnectionEntry<THandle> entry)
    {
        bool close;
        lock (_gate)
        {
            entry.Users--;
            close = entry.Users == 0 && entry.Retired && !entry.Closed;
            if (close)
            {
                entry.Closed = true;
            }
            else if (entry.Users == 0 && ReferenceEquals(_current, entry))
            {
                entry.LastUsed = Stopwatch.GetTimestamp();
                _idleTimer.Change(_options.IdleTimeout, Timeout.InfiniteTimeSpan);
            }
        }

        if (close)
        {
            StartClose(entry.Handle, wait: false);
        }
    }

    private ConnectionEntry<THandle>? TryJoin()
    {
        lock (_gate)
        {
            if (_current is { } entry)
            {
                entry.Users++;
                return entry;
            }

            return null;
        }
    }

    private void Enter(ConnectionEntry<THandle> entry)
    {
        lock (_gate)
        {
            entry.Users++;
        }
    }

    private void Retire(ConnectionEntry<THandle> entry, bool wait = false)
    {
        bool close;
        lock (_gate)
        {
            entry.Retired = true;
            close = entry.Users == 0 && !entry.Closed;
            if (close)
            {
                entry.Closed = true;
            }
        }

        if (close)
        {
            StartClose(entry.Handle, wait);
        }
    }

    private void CloseIfIdle()
    {
        ConnectionEntry<THandle>? idle = null;
        lock (_gate)
        {
            if (_current is { Users: 0 } entry)
            {
                var unused = Stopwatch.GetElapsedTime(entry.LastUsed);
                if (unused >= _options.IdleTimeout)
                {
                    idle = entry;
                    _current = null;
                }
                else
                {
                    _idleTimer.Change(_options.IdleTimeout - unused, Timeout.InfiniteTimeSpan);
                }
            }
        }

        if (idle is not null)
        {
            Retire(idle);
        }
    }

    /// <summary>
    /// Closes on a background thread: the library may block (a dead server, glfs_fini's 10 s), and a
    /// process may exit without waiting for it.
    /// </summary>
    private void StartClose(THandle handle, bool wait)
    {
        var thread = new Thread(() =>
        {
            try
            {
                _close(handle);
            }
            catch (Exception)
            {
                // Nothing to tell anyone: the handle is gone either way.
            }
        })
        {
            IsBackground = true,
            Name = "virtpool-net-close",
        };
        thread.Start();
        if (wait)
        {
            thread.Join(_options.CallTimeout);
        }
    }

    private VirtPoolException TimedOut(string operation, TimeSpan limit)
        => new(VirErrorCode.OperationTimeout, $"{_what} did not answer {operation} within {limit.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture)} s");
}

/// <summary>Whether a call given up on still runs in the library (so counts as stuck) or has ended.</summary>
internal sealed class CallTracker
{
    public const int Running = 0;
    public const int Stuck = 1;
    public const int Ended = 2;

    public int State;
}

/// <summary>One open handle and who uses it (leases and running calls).</summary>
internal sealed class ConnectionEntry<THandle>(THandle handle)
    where THandle : class
{
    public THandle Handle { get; } = handle;

    public int Users { get; set; }

    /// <summary>No new users: closed when <see cref="Users"/> reaches 0.</summary>
    public bool Retired { get; set; }

    public bool Closed { get; set; }

    public long LastUsed { get; set; }
}

/// <summary>A hold on a connection's handle for a series of calls; disposing it lets the handle idle or close.</summary>
public sealed class NetworkLease<THandle> : IDisposable
    where THandle : class
{
    private readonly NetworkConnection<THandle> _owner;
    private readonly ConnectionEntry<THandle> _entry;
    private int _disposed;

    internal NetworkLease(NetworkConnection<THandle> owner, ConnectionEntry<THandle> entry)
    {
        _owner = owner;
        _entry = entry;
    }

    /// <summary>The handle, for calls the caller bounds itself (prefer <see cref="CallAsync{T}"/>).</summary>
    public THandle Handle => _entry.Handle;

    /// <summary>Runs one blocking library call with this lease's handle, bounded by the connection's call limit.</summary>
    public Task<T> CallAsync<T>(Func<THandle, T> call, string operation, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        return _owner.CallAsync(_entry, call, operation, cancellationToken);
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _owner.Release(_entry);
        }
    }
}
