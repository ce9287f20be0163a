using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using VirtPool.Backends;
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
/// connection. Usable without the generic host (tests start it in-process).
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
    private int _disposed;

    private VirtPoolDaemon(DaemonOptions options, ILoggerFactory loggers, DaemonServices services, EventHub events, ProcedureTable<DaemonCallContext> table)
    {
        _options = options;
        _loggers = loggers;
        _log = loggers.CreateLogger("VirtPool.Daemon");
        Services = services;
        _events = events;
        _table = table;
    }

    public DaemonServices Services { get; }

    /// <summary>The TCP endpoint actually bound (port 0 in the options picks a free one), or null.</summary>
    public IPEndPoint? TcpEndPoint { get; private set; }

    public int ConnectionCount => _connections.Count;

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
        var manager = new PoolManager(store, BackendCatalog.Create(ProcessRunner.Instance));
        var secrets = manager.Secrets;
        var events = new EventHub(loggers.CreateLogger<EventHub>());
        var daemon = new VirtPoolDaemon(options, loggers, new DaemonServices(manager, secrets, events), events, DaemonProcedures.Create());
        try
        {
            // A restarted libvirtd has forgotten ephemeral secrets; autostart may need the persistent ones.
            secrets.DiscardEphemeral();
            foreach (var problem in await manager.ReconcileAsync(ct).ConfigureAwait(false))
            {
                log.LogWarning("Start-up: {Problem}", problem);
            }

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
                // EMFILE and friends: keep serving the connections we have, retry shortly.
                _log.LogWarning("Accept on {Listener} failed: {Message}", listener.Name, ex.Message);
                await Task.Delay(100, CancellationToken.None).ConfigureAwait(false);
                continue;
            }

            if (listener.IsTcp)
            {
                client.NoDelay = true;
            }

            var connection = new ClientConnection(client, listener.ReadOnly, listener.Name, _table, Services,
                _loggers.CreateLogger<ClientConnection>(), _options.MaxCallsPerConnection, _options.MaxQueuedCallsPerConnection, _options.BusyPollMicros);
            _events.Attach(connection);
            var run = Task.Run(async () =>
            {
                try
                {
                    await connection.RunAsync().ConfigureAwait(false);
                }
                finally
                {
                    _events.Detach(connection);
                    _connections.TryRemove(connection, out _);
                }
            }, CancellationToken.None);
            _connections[connection] = run;
            if (token.IsCancellationRequested)
            {
                connection.BeginClose();
            }
        }
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
