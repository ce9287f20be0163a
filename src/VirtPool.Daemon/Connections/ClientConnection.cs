using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using VirtPool.Core.Errors;
using VirtPool.Core.Interop;
using VirtPool.Daemon.Events;
using VirtPool.Daemon.Host;
using VirtPool.Rpc;

namespace VirtPool.Daemon.Connections;

/// <summary>
/// One client socket = one libvirt connection (spec 1.1, 4.7). A single reader takes packets off the socket:
/// keepalive is answered inline, each CALL runs as its own task (so a slow call never blocks keepalive or other
/// calls), stream packets go to their stream. All output goes through one <see cref="OutgoingQueue"/>, so packets
/// never interleave; the reader waits for it only while the client leaves too much of it unread.
/// </summary>
public sealed partial class ClientConnection : IClientConnection, IAsyncDisposable
{
    /// <summary>
    /// Calls answered from the state folder's caches in microseconds, run on the reader itself (an
    /// epoll thread): a thread hop per call would cost more than the call. Nothing here touches pool
    /// storage, so a hung NFS server or disk can never stall the reader: volume info and XML, which
    /// probe the image, run on the thread pool like everything that may scan, copy or wait.
    /// </summary>
    private static readonly HashSet<int> InlineProcedures =
    [
        (int)RemoteProcedure.ConnectSupportsFeature, (int)RemoteProcedure.ConnectGetUri, (int)RemoteProcedure.ConnectGetLibVersion,
        (int)RemoteProcedure.StoragePoolLookupByName, (int)RemoteProcedure.StoragePoolLookupByUuid, (int)RemoteProcedure.StoragePoolLookupByVolume,
        (int)RemoteProcedure.StoragePoolGetInfo, (int)RemoteProcedure.StoragePoolGetXmlDesc, (int)RemoteProcedure.StoragePoolGetAutostart,
        (int)RemoteProcedure.StoragePoolIsActive, (int)RemoteProcedure.StoragePoolIsPersistent,
        (int)RemoteProcedure.StorageVolLookupByName, (int)RemoteProcedure.StorageVolLookupByKey, (int)RemoteProcedure.StorageVolLookupByPath,
        (int)RemoteProcedure.StorageVolGetPath,
        (int)RemoteProcedure.ConnectListAllStoragePools, (int)RemoteProcedure.StoragePoolListAllVolumes,
    ];

    /// <summary>Procedures libvirtd runs before CONNECT_OPEN (spec 3.6 / 4.3); the rest get "connection not open".</summary>
    private static readonly HashSet<int> AllowedBeforeOpen =
    [
        (int)RemoteProcedure.AuthList,
        (int)RemoteProcedure.AuthPolkit,
        (int)RemoteProcedure.AuthSaslInit,
        (int)RemoteProcedure.AuthSaslStart,
        (int)RemoteProcedure.AuthSaslStep,
        (int)RemoteProcedure.ConnectOpen,
        (int)RemoteProcedure.ConnectSupportsFeature,
        (int)RemoteProcedure.ConnectClose,
    ];

    private static long s_nextId;

    private readonly Socket _socket;
    private readonly FrameReader _frames;
    private readonly RateLimitedLog _protocolErrors;
    private readonly RateLimitedLog _failures;
    private readonly OutgoingQueue _output;
    private readonly CancellationTokenSource _closing = new();
    private readonly ProcedureTable<DaemonCallContext> _table;
    private readonly DaemonServices _services;
    private readonly ILogger _log;
    private readonly SemaphoreSlim _queuedCalls;
    private readonly SemaphoreSlim _workers;
    private readonly ConcurrentDictionary<Task, byte> _running = new();
    private readonly Lock _stateLock = new();
    private readonly TaskCompletionSource _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly bool _socketReadOnly;
    private Task? _keepaliveTask;
    private long _lastReceivedTicks = Environment.TickCount64;

    /// <summary>Stopwatch timestamp by which CONNECT_OPEN must have succeeded; 0 once open or without a limit.</summary>
    private long _handshakeDeadline;
    private int _closeStarted;
    private volatile string? _openedUri;
    private volatile bool _openedReadOnly;

    internal ClientConnection(Socket socket, bool readOnlySocket, string listenerName, ProcedureTable<DaemonCallContext> table,
        DaemonServices services, ILogger log, ConnectionLimits limits)
    {
        _socket = socket;
        _socketReadOnly = readOnlySocket;
        _table = table;
        _services = services;
        _log = log;
        Limits = limits;
        _protocolErrors = limits.ProtocolErrors ?? RateLimitedLog.Unlimited(log);
        _failures = limits.Failures ?? RateLimitedLog.Unlimited(log);
        _frames = new FrameReader(socket, limits.Budget, limits.FrameTimeout, limits.BusyPollMicros);
        _workers = new SemaphoreSlim(limits.MaxCalls, limits.MaxCalls);
        _queuedCalls = new SemaphoreSlim(limits.MaxQueuedCalls, limits.MaxQueuedCalls);
        if (limits.HandshakeTimeout > TimeSpan.Zero)
        {
            _handshakeDeadline = Stopwatch.GetTimestamp() + (long)(limits.HandshakeTimeout.TotalSeconds * Stopwatch.Frequency);
        }

        Id = Interlocked.Increment(ref s_nextId);
        Description = $"#{Id} on {listenerName}";
        _output = new OutgoingQueue(socket, limits.MaxUnsentOutputBytes, () => _queuedCalls.Release(), BeginClose, log, Description, _closing.Token);
    }

    internal ConnectionLimits Limits { get; }

    /// <summary>Called once when CONNECT_OPEN succeeds (the daemon stops counting the connection as anonymous).</summary>
    internal Action<ClientConnection>? Opened { get; set; }

    public long Id { get; }

    public string Description { get; }

    public bool IsReadOnly => _socketReadOnly || _openedReadOnly;

    public string? OpenedUri => _openedUri;

    /// <summary>The client asked CONNECT_SUPPORTS_FEATURE(10): it can answer server PINGs (spec 1.8 rule 3).</summary>
    public bool KeepaliveRequested { get; private set; }

    public bool CloseCallbackRegistered { get; set; }

    public EventRegistrations Events { get; } = new();

    /// <summary>Completes when the connection is fully closed and every task it started has ended.</summary>
    public Task Completion => _closed.Task;

    /// <summary>Fires when the connection is going away; calls and streams observe it.</summary>
    public CancellationToken Closing => _closing.Token;

    /// <summary>Server PING interval and how many unanswered intervals end the connection (libvirtd: 5 s, 5).</summary>
    internal TimeSpan KeepaliveInterval { get; set; } = TimeSpan.FromSeconds(5);

    internal int KeepaliveCount { get; set; } = 5;

    /// <summary>Records a successful CONNECT_OPEN; false when the connection was already open.</summary>
    internal bool TryOpen(string uri, bool readOnly)
    {
        lock (_stateLock)
        {
            if (_openedUri is not null)
            {
                return false;
            }

            _openedReadOnly = readOnly;
            _openedUri = uri;
            Volatile.Write(ref _handshakeDeadline, 0);
        }

        Opened?.Invoke(this);
        return true;
    }

    /// <summary>
    /// Why the connection should be dropped as of <paramref name="timestamp"/> (a Stopwatch timestamp):
    /// a frame that has waited on the socket longer than the frame timeout (a client that stalls or
    /// trickles mid-packet), or no CONNECT_OPEN within the handshake timeout; null when neither.
    /// </summary>
    internal string? OverdueReason(long timestamp)
    {
        if (_frames.IsOverdue(timestamp))
        {
            return $"packet incomplete for more than {Limits.FrameTimeout.TotalSeconds} s";
        }

        long handshake = Volatile.Read(ref _handshakeDeadline);
        return handshake != 0 && timestamp > handshake && _openedUri is null
            ? $"not opened within {Limits.HandshakeTimeout.TotalSeconds} s"
            : null;
    }

    /// <summary>Starts server-side keepalive the first time the client shows it can answer PINGs.</summary>
    internal void EnableKeepalive()
    {
        lock (_stateLock)
        {
            if (KeepaliveRequested)
            {
                return;
            }

            KeepaliveRequested = true;
            _keepaliveTask = Track(Task.Run(KeepaliveLoopAsync));
        }
    }

    /// <summary>Reads and dispatches until the client goes away or the connection is closed; never throws.</summary>
    public async Task RunAsync()
    {
        _log.LogDebug("Connection {Connection} opened", Description);
        try
        {
            await ReadLoopAsync().ConfigureAwait(false);
        }
        finally
        {
            await CloseAsync().ConfigureAwait(false);
        }
    }

    private async Task ReadLoopAsync()
    {
        CancellationToken token = _closing.Token;
        try
        {
            while (true)
            {
                // A client that does not read what we send is not read from either (its socket then
                // throttles it): what it makes us queue stays bounded.
                await _output.WaitForRoomAsync(token).ConfigureAwait(false);

                // Nor is one whose queue of calls is full (libvirtd stops polling such a client): read,
                // a large CALL would hold its share of the daemon-wide incoming budget while it waited
                // for a place, which a client that never reads its replies would never give it.
                if (_queuedCalls.CurrentCount == 0)
                {
                    // Only this loop takes places, so the one given back here is still free below.
                    await _queuedCalls.WaitAsync(token).ConfigureAwait(false);
                    _queuedCalls.Release();
                }

                if (await _frames.ReadAsync(token).ConfigureAwait(false) is not { } packet)
                {
                    break;
                }

                Interlocked.Exchange(ref _lastReceivedTicks, Environment.TickCount64);
                await OnPacketAsync(packet, token).ConfigureAwait(false);

                // A large packet nothing kept (stream data is copied) gives its budget back now, not
                // after the next wait above.
                _frames.ReleaseCurrent();
            }

            if (_frames.EndedMidFrame)
            {
                _log.LogDebug("Connection {Connection}: client closed in the middle of a packet", Description);
            }
        }
        catch (RpcProtocolException ex)
        {
            // No way to resynchronise a byte stream after a bad length word (spec 1.2).
            _protocolErrors.Warn("Connection {Connection}: malformed packet, closing: {Message}", Description, ex.Message);
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException)
        {
            _log.LogDebug("Connection {Connection}: read failed: {Message}", Description, ex.Message);
        }
        catch (Exception ex)
        {
            _log.LogError(ex, "Connection {Connection}: unexpected failure, closing", Description);
        }
        finally
        {
            // Buffers and budget go back now, not when the last call of the connection has finished.
            _frames.Dispose();
        }
    }

    private async ValueTask OnPacketAsync(RpcPacket packet, CancellationToken token)
    {
        RpcHeader header = packet.Header;
        if (header.Program == RpcPrograms.Keepalive)
        {
            // Answered here, in the I/O path, so a PING is never stuck behind queued calls (spec 1.8 rule 1).
            if (header.IsKeepaliveProgram && header.Type == RpcMessageType.Message && header.Procedure == (int)KeepaliveProcedure.Ping)
            {
                var pong = new PooledBufferWriter(RpcLimits.MinPacketLength);
                RpcReplies.WriteKeepalive(pong, KeepaliveProcedure.Pong);
                Send(pong);
            }

            return;
        }

        if (!header.IsRemoteProgram)
        {
            if (header.Type is RpcMessageType.Call or RpcMessageType.CallWithFds)
            {
                SendError(header, RemoteError.UnknownProgram(header.Program, header.Version));
            }
            else
            {
                _log.LogDebug("Connection {Connection}: dropped packet for program {Program:x}", Description, header.Program);
            }

            return;
        }

        switch (header.Type)
        {
            case RpcMessageType.Call:
                await AcceptCallAsync(packet, token).ConfigureAwait(false);
                break;
            case RpcMessageType.Stream:
            case RpcMessageType.StreamHole:
                await OnStreamPacketAsync(packet, token).ConfigureAwait(false);
                break;
            case RpcMessageType.CallWithFds:
                // Storage never passes descriptors (spec 1.4); answer so the client is not left waiting.
                SendError(header, RemoteError.UnexpectedType(header.Type));
                break;
            default:
                _log.LogDebug("Connection {Connection}: ignored packet type {Type} proc {Procedure}", Description, header.Type, header.Procedure);
                break;
        }
    }

    private async ValueTask AcceptCallAsync(RpcPacket packet, CancellationToken token)
    {
        RpcHeader call = packet.Header;
        if (call.Status != RpcMessageStatus.Ok)
        {
            SendError(call, RemoteError.UnexpectedStatus(call.Status));
            return;
        }

        if (!_table.TryGet(call.Procedure, out _))
        {
            SendError(call, RemoteError.UnknownProcedure(call.Procedure));
            return;
        }

        if (_openedUri is null && !AllowedBeforeOpen.Contains(call.Procedure))
        {
            SendError(call, RemoteError.FromException(new VirtPoolException(VirErrorCode.InternalError, "connection not open", VirErrorDomain.Rpc)));
            return;
        }

        // A small payload lives in the reader's buffer only until the next read: copied. A large one
        // has a buffer of its own, which the call keeps (with its share of the incoming budget) until done.
        LargeFrame? frame = _frames.DetachLargeFrame();
        ReadOnlyMemory<byte> args = frame is null ? packet.Payload.ToArray() : frame.Payload;
        try
        {
            // A full queue stops the reader, which throttles the client through the socket (libvirt's
            // max_client_requests). A call leaves the queue when its REPLY has been written, not queued:
            // a client that never reads its replies gets no more calls read.
            await _queuedCalls.WaitAsync(token).ConfigureAwait(false);
        }
        catch
        {
            frame?.Dispose();
            throw;
        }

        if (InlineProcedures.Contains(call.Procedure))
        {
            // No worker place: waiting on the reader for one, behind max_client_requests slow calls,
            // would stop keepalive and stream data with it. A lookup of a pool whose start or stop
            // is under way (a mount that takes its time) waits for it, as libvirt's waits for the
            // pool's lock: such a call goes on without the reader, keeping its place in the queue.
            var run = RunCallAsync(call, args, frame, takeWorker: false, token);
            if (!run.IsCompleted)
            {
                _ = Track(run);
            }

            return;
        }

        _ = Track(Task.Run(() => RunCallAsync(call, args, frame, takeWorker: true, token), CancellationToken.None));
    }

    private async Task RunCallAsync(RpcHeader call, ReadOnlyMemory<byte> args, LargeFrame? frame, bool takeWorker, CancellationToken token)
    {
        bool replied = false;
        try
        {
            if (takeWorker)
            {
                await _workers.WaitAsync(token).ConfigureAwait(false);
            }

            try
            {
                replied = await DispatchAsync(call, args, token).ConfigureAwait(false);
            }
            finally
            {
                if (takeWorker)
                {
                    _workers.Release();
                }
            }
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            // The connection went away; nobody is left to answer.
        }
        catch (Exception ex)
        {
            // A call that could not even be answered (a defect in the reply path): the client would wait
            // for its serial forever, so end the connection, which its library reports as an error.
            _log.LogError(ex, "Connection {Connection}: procedure {Procedure} could not be answered, closing", Description, call.Procedure);
            BeginClose();
        }
        finally
        {
            frame?.Dispose();
            if (!replied)
            {
                // Otherwise the output gives the call's place back once its REPLY is written or dropped.
                _queuedCalls.Release();
            }
        }
    }

    /// <summary>Runs the call and queues its REPLY; false when the connection went away first (no REPLY queued).</summary>
    private async Task<bool> DispatchAsync(RpcHeader call, ReadOnlyMemory<byte> args, CancellationToken token)
    {
        var reply = new PooledBufferWriter();
        var context = new DaemonCallContext(call, reply, this, _services, token);
        try
        {
            await _table.DispatchAsync(context, args).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            reply.Dispose();
            DiscardPendingStream(call);
            return false;
        }
        catch (Exception ex)
        {
            // A defect, but one a client can repeat at will: rate-limited.
            _failures.Error(ex, "Connection {Connection}: procedure {Procedure} failed unexpectedly", Description, call.Procedure);

            reply.Clear();
            RpcReplies.WriteErrorReply(reply, call, RemoteError.NoErrorSet());
        }

        bool ok = RpcFrame.ReadHeader(reply.WrittenSpan).Status == RpcMessageStatus.Ok;
        StreamBase? stream = TakePendingStream(call);
        if (stream is not null && ok)
        {
            // Registered before the REPLY is queued: the client may send data the moment it sees the REPLY.
            if (!_streams.TryAdd(stream.Key, stream))
            {
                stream = null;
                reply.Clear();
                RpcReplies.WriteErrorReply(reply, call, RemoteError.FromException(VirtPoolException.Internal("a stream with this serial is already open")));
                ok = false;
            }
        }

        bool closeAfter = ok && call.Procedure == (int)RemoteProcedure.ConnectClose;
        _output.Send(reply, closeAfter ? OutgoingKind.Reply | OutgoingKind.CloseAfter : OutgoingKind.Reply);
        if (stream is not null && ok)
        {
            // Started only now, so nothing of the stream can precede its REPLY in the output queue.
            stream.Start();
        }

        return true;
    }

    /// <summary>Output of this connection not yet taken by its socket (tests, diagnostics).</summary>
    internal long UnsentOutputBytes => _output.UnsentBytes;

    /// <summary>Places left in the queue of calls (tests: a full queue is 0).</summary>
    internal int FreeCallPlaces => _queuedCalls.CurrentCount;

    /// <summary>Sends a complete packet in order; ownership of <paramref name="packet"/> passes to the connection.</summary>
    internal void Send(PooledBufferWriter packet) => _output.Send(packet);

    /// <summary>Sends a packet and completes when it has been handed to the socket (download flow control, spec 6.4).</summary>
    internal Task SendAndWaitAsync(PooledBufferWriter packet) => _output.SendAndWaitAsync(packet);

    /// <summary>
    /// Sends an event. A client that leaves more than the output bound of events unread is closed
    /// (its library reports the connection lost) rather than queued for without limit, as libvirtd
    /// does, or silently skipped, which would leave it believing a stale state.
    /// </summary>
    internal void SendEvent(PooledBufferWriter packet)
    {
        if (!_output.TrySendEvent(packet))
        {
            _protocolErrors.Warn("Connection {Connection}: more than {Bytes} bytes of events unread, closing", Description, _output.MaxUnsentBytes);
            BeginClose();
        }
    }

    internal void SendError(in RpcHeader call, RemoteError error)
    {
        var packet = new PooledBufferWriter();
        RpcReplies.WriteErrorReply(packet, call, error);
        Send(packet);
    }

    private async Task KeepaliveLoopAsync()
    {
        CancellationToken token = _closing.Token;
        int unanswered = 0;
        try
        {
            using var timer = new PeriodicTimer(KeepaliveInterval);
            while (await timer.WaitForNextTickAsync(token).ConfigureAwait(false))
            {
                long silentMs = Environment.TickCount64 - Interlocked.Read(ref _lastReceivedTicks);
                if (silentMs < KeepaliveInterval.TotalMilliseconds)
                {
                    unanswered = 0;
                    continue;
                }

                if (++unanswered > KeepaliveCount)
                {
                    _protocolErrors.Warn("Connection {Connection}: no keepalive response, closing", Description);
                    BeginClose();
                    return;
                }

                var ping = new PooledBufferWriter(RpcLimits.MinPacketLength);
                RpcReplies.WriteKeepalive(ping, KeepaliveProcedure.Ping);
                Send(ping);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Stops everything without waiting: the read loop ends and runs <see cref="CloseAsync"/>.</summary>
    public void BeginClose()
    {
        try
        {
            _closing.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }

        try
        {
            // Shutdown(Send) after the queued output: the peer sees EOF only after our last packet.
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
        }
    }

    /// <summary>Closes the connection: aborts streams, stops calls, drops event registrations; idempotent.</summary>
    public async Task CloseAsync()
    {
        if (Interlocked.Exchange(ref _closeStarted, 1) != 0)
        {
            await _closed.Task.ConfigureAwait(false);
            return;
        }

        BeginClose();
        Events.Clear();
        AbortAllStreams();
        await _output.DrainTask.ConfigureAwait(false);
        _output.Close();

        // Calls and stream workers observe the token; give a stuck backend a bounded time, then move on.
        Task all = Task.WhenAll(_running.Keys.ToArray());
        if (await Task.WhenAny(all, Task.Delay(TimeSpan.FromSeconds(15))).ConfigureAwait(false) != all)
        {
            _log.LogWarning("Connection {Connection}: {Count} tasks did not stop in time", Description, _running.Count);
        }

        _socket.Dispose();
        _log.LogDebug("Connection {Connection} closed", Description);
        _closed.TrySetResult();
    }

    public async ValueTask DisposeAsync() => await CloseAsync().ConfigureAwait(false);

    private Task Track(Task task)
    {
        _running[task] = 0;
        _ = task.ContinueWith(t => _running.TryRemove(t, out _), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        return task;
    }

}
