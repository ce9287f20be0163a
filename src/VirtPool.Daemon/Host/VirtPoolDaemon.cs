using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using VirtPool.Backends;
using VirtPool.Core.Interop;
using VirtPool.Core.Manager;
using VirtPool.Core.Process;
using VirtPool.Core.Secrets;
using VirtPool.Core.State;
using VirtPool.Daemon.Connections;
using VirtPool.Daemon.Events;
using VirtPool.Rpc;

namespace VirtPool.Daemon.Host;

/// <summary>
/// The running daemon: one PoolManager and SecretStore for the process, the listeners, and every live
/// connection. Usable without the generic host (tests start it in-process). It admits connections
/// within libvirtd's limits (max_clients, max_anonymous_clients), shares one budget for incoming
/// packets among them, and drops those that stall mid-packet or never open.
/// </summary>
public sealed class VirtPoolDaemon : IAsyncDisposable
{
    private const UnixFileMode ReadWriteSocketMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    private const UnixFileMode ReadOnlySocketMode = ReadWriteSocketMode
        | UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.OtherRead | UnixFileMode.OtherWrite;

    private readonly DaemonOptions _options;
    private readonly ILoggerFactory _loggers;
    private readonly ILogger _log;
    private readonly ProcedureTable<DaemonCallContext> _table;
    private readonly EventHub _events;
    private readonly List<Listener> _listeners = [];
    private readonly ConcurrentDictionary<ClientConnection, Task> _connections = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly List<Task> _acceptLoops = [];
    private readonly ConnectionLimits _limits;
    private readonly RateLimitedLog _refusals;
    private readonly RateLimitedLog _acceptFailures;

    /// <summary>max_clients, or fewer when the open files limit does not allow as many (<see cref="FileDescriptorLimit.ClientCapacity"/>).</summary>
    private readonly int _maxClients;

    /// <summary>Connections not yet opened, oldest first; guarded by locking the list.</summary>
    private readonly LinkedList<ClientConnection> _anonymous = new();
    private readonly Dictionary<ClientConnection, LinkedListNode<ClientConnection>> _anonymousNodes = [];
    private Task _sweeper = Task.CompletedTask;
    private int _disposed;

    private VirtPoolDaemon(DaemonOptions options, ILoggerFactory loggers, DaemonServices services, EventHub events, ProcedureTable<DaemonCallContext> table)
    {
        _options = options;
        _loggers = loggers;
        _log = loggers.CreateLogger("VirtPool.Daemon");
        Services = services;
        _events = events;
        _table = table;
        var clientLog = loggers.CreateLogger<ClientConnection>();
        _refusals = new RateLimitedLog(_log, options.ProtocolErrorLogLimit, TimeSpan.FromMinutes(1));
        _acceptFailures = new RateLimitedLog(_log, options.ProtocolErrorLogLimit, TimeSpan.FromMinutes(1));
        _maxClients = FileDescriptorLimit.ClientCapacity(options.MaxClients);
        _limits = new ConnectionLimits
        {
            MaxCalls = options.MaxCallsPerConnection,
            MaxQueuedCalls = options.MaxQueuedCallsPerConnection,
            MaxUnsentOutputBytes = options.MaxUnsentOutputBytes,
            BusyPollMicros = options.BusyPollMicros,
            FrameTimeout = options.FrameTimeout,
            HandshakeTimeout = options.HandshakeTimeout,
            Budget = new IncomingBudget(options.MaxBufferedBytes),
            ProtocolErrors = new RateLimitedLog(clientLog, options.ProtocolErrorLogLimit, TimeSpan.FromMinutes(1)),
            Failures = new RateLimitedLog(clientLog, options.ProtocolErrorLogLimit, TimeSpan.FromMinutes(1)),
        };
    }

    public DaemonServices Services { get; }

    /// <summary>The TCP endpoint actually bound (port 0 in the options picks a free one), or null.</summary>
    public IPEndPoint? TcpEndPoint { get; private set; }

    public int ConnectionCount => _connections.Count;

    /// <summary>Connections of every daemon in the process that ended since it started (the idle trimmer's cue).</summary>
    public static long ClosedConnections => Interlocked.Read(ref s_closedConnections);

    private static long s_closedConnections;

    /// <summary>Connections that have not completed CONNECT_OPEN.</summary>
    public int AnonymousCount
    {
        get
        {
            lock (_anonymous)
            {
                return _anonymous.Count;
            }
        }
    }

    /// <summary>The budget incoming packets over 16 KiB are reserved from (tests, diagnostics).</summary>
    internal IncomingBudget IncomingBudget => _limits.Budget;

    /// <summary>Client-caused warnings, rate-limited (tests).</summary>
    internal RateLimitedLog ProtocolErrors => _limits.ProtocolErrors!;

    internal IEnumerable<ClientConnection> Connections => _connections.Keys;

    /// <summary>Opens the state, runs start-up reconciliation (autostart), then starts listening.</summary>
    public static async Task<VirtPoolDaemon> StartAsync(DaemonOptions options, ILoggerFactory? loggers = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        loggers ??= NullLoggerFactory.Instance;
        var log = loggers.CreateLogger("VirtPool.Daemon");

        var store = new StateStore(options.StateDir, options.RuntimeDir);
        store.EnsureCreated();

        // A long-lived reader of the folder: unchanged state is then answered without a stat per file.
        store.WatchForChanges();
        var manager = new PoolManager(store, BackendCatalog.Create(new ProcessRunner(loggers.CreateLogger("VirtPool.Process"))),
            loggers.CreateLogger("VirtPool.Manager"));
        var secrets = manager.Secrets;
        var events = new EventHub(loggers.CreateLogger<EventHub>());
        var daemon = new VirtPoolDaemon(options, loggers, new DaemonServices(manager, secrets, events), events, DaemonProcedures.Create());
        try
        {
            // A restarted libvirtd has forgotten ephemeral secrets; autostart may need the persistent ones.
            secrets.DiscardEphemeral();
            // The manager logs each problem itself.
            await manager.ReconcileAsync(ct).ConfigureAwait(false);

            // Listening only after reconciliation: it may clear the runtime folder the socket lives in.
            daemon.Listen();
            daemon.WritePidFile();
        }
        catch
        {
            await daemon.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        log.LogInformation("virtpoold ready: state {StateDir}, socket {Socket}{Tcp}", store.Root, options.SocketPath,
            daemon.TcpEndPoint is { } tcp ? $", tcp {tcp}" : string.Empty);
        return daemon;
    }

    private void Listen()
    {
        _listeners.Add(Listener.Unix(_options.SocketPath, ReadWriteSocketMode, readOnly: false));
        if (_options.ReadOnlySocket)
        {
            _listeners.Add(Listener.Unix(_options.ReadOnlySocketPath, ReadOnlySocketMode, readOnly: true));
        }

        if (_options.Listen is { } endpoint)
        {
            var tcp = Listener.Tcp(endpoint);
            _listeners.Add(tcp);
            TcpEndPoint = (IPEndPoint)tcp.Socket.LocalEndPoint!;
        }

        foreach (var listener in _listeners)
        {
            _acceptLoops.Add(Task.Run(() => AcceptLoopAsync(listener)));
        }

        _sweeper = Task.Run(SweepLoopAsync);
    }

    private async Task AcceptLoopAsync(Listener listener)
    {
        CancellationToken token = _stopping.Token;
        while (!token.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await listener.Socket.AcceptAsync(token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException)
            {
                return;
            }
            catch (SocketException ex)
            {
                // EMFILE and friends: keep serving the connections we have, retry shortly. The error
                // lasts as long as clients hold the descriptors, so it is rate-limited like a refusal.
                _acceptFailures.Warn("Accept on {Listener} failed: {Error}", listener.Name, DescribeAcceptFailure(ex));
                await Task.Delay(100, CancellationToken.None).ConfigureAwait(false);
                continue;
            }

            if (_connections.Count >= _maxClients)
            {
                // libvirtd's max_clients. Closed rather than left in the backlog: the client learns at
                // once instead of hanging until someone else disconnects.
                _refusals.Warn("Too many clients ({Max}): closed a new connection on {Listener}", _maxClients, listener.Name);
                client.Dispose();
                continue;
            }

            if (listener.IsTcp)
            {
                client.NoDelay = true;
            }

            var connection = new ClientConnection(client, listener.ReadOnly, listener.Name, _table, Services,
                _loggers.CreateLogger<ClientConnection>(), _limits)
            {
                Opened = NoLongerAnonymous,
            };
            // Counted before it can read anything, so its CONNECT_OPEN always finds it counted.
            AdmitAnonymous(connection);
            _events.Attach(connection);
            // Registered before it starts: a connection that ends at once (the client closed) would
            // otherwise remove itself before being added, and its entry would count against
            // max_clients for good.
            var start = new Task<Task>(async () =>
            {
                try
                {
                    await connection.RunAsync().ConfigureAwait(false);
                }
                finally
                {
                    NoLongerAnonymous(connection);
                    _events.Detach(connection);
                    _connections.TryRemove(connection, out _);
                    Interlocked.Increment(ref s_closedConnections);
                }
            });
            _connections[connection] = start.Unwrap();
            start.Start(TaskScheduler.Default);
            if (token.IsCancellationRequested)
            {
                connection.BeginClose();
            }
        }
    }

    /// <summary>
    /// Counts a new connection as anonymous until it opens; over max_anonymous_clients, closes the one
    /// that has waited longest. libvirtd stops accepting instead, which lets a few idle connections
    /// lock every new client out until they time out; a real client opens within milliseconds, so
    /// the oldest unopened one is the likeliest to be idle on purpose.
    /// </summary>
    private void AdmitAnonymous(ClientConnection connection)
    {
        ClientConnection? evicted = null;
        lock (_anonymous)
        {
            _anonymousNodes[connection] = _anonymous.AddLast(connection);
            if (_anonymous.Count > _options.MaxAnonymousClients)
            {
                evicted = _anonymous.First!.Value;
                _anonymous.RemoveFirst();
                _anonymousNodes.Remove(evicted);
            }
        }

        if (evicted is not null)
        {
            _refusals.Warn("Too many connections not yet opened ({Max}): closed the oldest, {Connection}", _options.MaxAnonymousClients, evicted.Description);
            evicted.BeginClose();
        }
    }

    private void NoLongerAnonymous(ClientConnection connection)
    {
        lock (_anonymous)
        {
            if (_anonymousNodes.Remove(connection, out var node))
            {
                _anonymous.Remove(node);
            }
        }
    }

    /// <summary>
    /// Drops connections past a deadline (a packet stalled mid-way, no CONNECT_OPEN in time) and
    /// writes the summaries of suppressed warnings. One pass over the connections per tick: cheaper
    /// than a timer per connection and per packet.
    /// </summary>
    private async Task SweepLoopAsync()
    {
        var interval = SweepInterval(_options.FrameTimeout, _options.HandshakeTimeout);
        using var timer = new PeriodicTimer(interval);
        try
        {
            while (await timer.WaitForNextTickAsync(_stopping.Token).ConfigureAwait(false))
            {
                long now = Stopwatch.GetTimestamp();
                foreach (var connection in _connections.Keys)
                {
                    if (connection.OverdueReason(now) is { } reason)
                    {
                        _limits.ProtocolErrors!.Warn("Connection {Connection}: {Reason}, closing", connection.Description, reason);
                        connection.BeginClose();
                    }
                }

                _limits.ProtocolErrors!.Flush();
                _limits.Failures!.Flush();
                _refusals.Flush();
                _acceptFailures.Flush();
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>
    /// The runtime reports EMFILE (this process's limit) and ENFILE (the system's) alike, both with
    /// ENFILE's text; opening a file tells them apart while the condition lasts.
    /// </summary>
    private static string DescribeAcceptFailure(SocketException ex)
    {
        if (ex.SocketErrorCode != SocketError.TooManyOpenSockets)
        {
            return ex.Message;
        }

        int errno = Errno.EMFILE;
        try
        {
            using var probe = File.OpenHandle("/dev/null");
        }
        catch (IOException io) when (io.HResult == Errno.ENFILE)
        {
            errno = Errno.ENFILE;
        }
        catch (IOException)
        {
        }

        string text = StrError.Describe(errno);
        return FileDescriptorLimit.Read() is { } limit && errno == Errno.EMFILE ? $"{text} (limit {limit.Soft})" : text;
    }

    /// <summary>A quarter of the shortest timeout, between 10 ms and 1 s: deadlines are kept to within 25 %.</summary>
    private static TimeSpan SweepInterval(TimeSpan frameTimeout, TimeSpan handshakeTimeout)
    {
        var shortest = TimeSpan.FromSeconds(4);
        foreach (var timeout in new[] { frameTimeout, handshakeTimeout })
        {
            if (timeout > TimeSpan.Zero && timeout < shortest)
            {
                shortest = timeout;
            }
        }

        return TimeSpan.FromTicks(Math.Max(shortest.Ticks / 4, TimeSpan.FromMilliseconds(10).Ticks));
    }

    private void WritePidFile()
    {
        if (_options.PidFile is { } path)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllText(path, Environment.ProcessId + "\n");
        }
    }

    /// <summary>Stops accepting, closes every connection (aborting its streams), removes the sockets and pid file.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stopping.CancelAsync().ConfigureAwait(false);
        foreach (var listener in _listeners)
        {
            listener.Dispose();
        }

        await Task.WhenAll(_acceptLoops).ConfigureAwait(false);
        await _sweeper.ConfigureAwait(false);
        foreach (var connection in _connections.Keys)
        {
            connection.BeginClose();
        }

        Task all = Task.WhenAll(_connections.Values.ToArray());
        if (await Task.WhenAny(all, Task.Delay(TimeSpan.FromSeconds(20))).ConfigureAwait(false) != all)
        {
            _log.LogWarning("{Count} connections did not close in time", _connections.Count);
        }

        if (_options.PidFile is { } pid)
        {
            TryDelete(pid);
        }

        Services.Manager.Dispose();
        _stopping.Dispose();
        _log.LogInformation("virtpoold stopped");
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
        }
    }

    /// <summary>A listening socket and what connections through it may do.</summary>
    private sealed class Listener : IDisposable
    {
        private readonly string? _path;

        private Listener(Socket socket, string name, bool readOnly, bool isTcp, string? path)
        {
            Socket = socket;
            Name = name;
            ReadOnly = readOnly;
            IsTcp = isTcp;
            _path = path;
        }

        public Socket Socket { get; }

        public string Name { get; }

        public bool ReadOnly { get; }

        public bool IsTcp { get; }

        public static Listener Unix(string path, UnixFileMode mode, bool readOnly)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            RemoveStaleSocket(path);
            var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                socket.Bind(new UnixDomainSocketEndPoint(path));
                File.SetUnixFileMode(path, mode);
                socket.Listen(128);
            }
            catch
            {
                socket.Dispose();
                TryDelete(path);
                throw;
            }

            return new Listener(socket, path, readOnly, isTcp: false, path);
        }

        public static Listener Tcp(IPEndPoint endpoint)
        {
            var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                if (endpoint.AddressFamily == AddressFamily.InterNetworkV6)
                {
                    // Bind exactly the address given, never the IPv4 side as well.
                    socket.DualMode = false;
                }

                socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
                socket.Bind(endpoint);
                socket.Listen(128);
            }
            catch
            {
                socket.Dispose();
                throw;
            }

            return new Listener(socket, "tcp " + socket.LocalEndPoint, readOnly: false, isTcp: true, path: null);
        }

        /// <summary>A socket file nobody answers on is left from a crash; one that answers belongs to a live daemon.</summary>
        private static void RemoveStaleSocket(string path)
        {
            if (!File.Exists(path) && !Directory.Exists(path))
            {
                return;
            }

            using (var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
            {
                try
                {
                    probe.Connect(new UnixDomainSocketEndPoint(path));
                    throw new IOException($"socket {path} is in use by another process");
                }
                catch (SocketException)
                {
                }
            }

            File.Delete(path);
        }

        public void Dispose()
        {
            Socket.Dispose();
            if (_path is not null)
            {
                TryDelete(_path);
            }
        }
    }
}
