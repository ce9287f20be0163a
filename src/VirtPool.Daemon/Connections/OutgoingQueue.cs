using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using VirtPool.Core.Interop;
using VirtPool.Rpc;

namespace VirtPool.Daemon.Connections;

/// <summary>What a queued packet is, for what happens when it leaves.</summary>
[Flags]
internal enum OutgoingKind
{
    Plain = 0,

    /// <summary>The REPLY to a CALL: the call stays counted against the connection's limit until it is written or dropped.</summary>
    Reply = 1,

    /// <summary>The connection ends once this packet is written (CONNECT_CLOSE).</summary>
    CloseAfter = 2,

    /// <summary>An event MESSAGE, counted against <see cref="OutgoingQueue.MaxUnsentBytes"/> while unsent.</summary>
    Event = 4,
}

/// <summary>
/// The write side of one connection. Packets leave in the order they were queued. Whoever finds the
/// write side idle owns it and sends at once without blocking: a reply almost always fits the socket
/// buffer, so no writer task is woken per call (that hop cost more than the call). What does not fit,
/// and whatever queues meanwhile, is drained by one task with async sends.
/// <para>
/// What a client that does not read can make the daemon hold is bounded. The REPLY of a call gives
/// the call's slot back only once written (libvirtd counts a call against max_client_requests until
/// then). The connection's reader waits while more than <see cref="MaxUnsentBytes"/> are unsent, so
/// nothing it answers itself (PONGs, calls refused at once) queues without bound either; libvirtd
/// queues PONGs without limit. Events do not come from reading the client; libvirtd queues those
/// without limit too, here a connection with more than <see cref="MaxUnsentBytes"/> of unsent events
/// is refused the next one (the caller closes it).
/// </para>
/// </summary>
internal sealed class OutgoingQueue
{
    /// <summary>
    /// What a small queued packet holds at least: a pooled buffer of 256 bytes and its writer. Counting
    /// a 28-byte PONG as 28 bytes would let a PING flood queue ten times the bound.
    /// </summary>
    private const int SmallPacketCost = 320;

    private readonly Socket _socket;
    private readonly CancellationToken _closing;
    private readonly Action _replyDone;
    private readonly Action _endConnection;
    private readonly ILogger _log;
    private readonly string _description;
    private readonly Lock _gate = new();
    private readonly Queue<Outgoing> _pending = new();

    // Guarded by _gate.
    private bool _busy;
    private bool _closed;
    private long _unsentEvents;
    private TaskCompletionSource? _roomWaiter;
    private Task _drainTask = Task.CompletedTask;

    /// <summary>Bytes of packets queued or being drained; written under _gate, read without it.</summary>
    private long _unsent;

    /// <param name="replyDone">Called once per <see cref="OutgoingKind.Reply"/> packet, when it was written or dropped.</param>
    /// <param name="endConnection">Called when the socket broke or a <see cref="OutgoingKind.CloseAfter"/> packet went out.</param>
    public OutgoingQueue(Socket socket, long maxUnsentBytes, Action replyDone, Action endConnection, ILogger log, string description,
        CancellationToken closing)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxUnsentBytes);
        _socket = socket;
        MaxUnsentBytes = maxUnsentBytes;
        _closing = closing;
        _replyDone = replyDone;
        _endConnection = endConnection;
        _log = log;
        _description = description;
    }

    /// <summary>Above this many unsent bytes the reader waits; beyond it in unsent events, events are refused.</summary>
    public long MaxUnsentBytes { get; }

    /// <summary>Bytes queued but not yet taken by the socket, small packets counted as <see cref="SmallPacketCost"/> (tests, diagnostics).</summary>
    public long UnsentBytes => Volatile.Read(ref _unsent);

    /// <summary>Queues a packet; ownership passes to the queue. False when the connection is closed (the packet is dropped).</summary>
    public bool Send(PooledBufferWriter packet, OutgoingKind kind = OutgoingKind.Plain) => Enqueue(new Outgoing(packet, null, kind));

    /// <summary>Queues a packet and completes when the socket took it (download flow control, spec 6.4).</summary>
    public Task SendAndWaitAsync(PooledBufferWriter packet)
    {
        var written = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        return Enqueue(new Outgoing(packet, written, OutgoingKind.Plain))
            ? written.Task
            : Task.FromCanceled(_closing.IsCancellationRequested ? _closing : new CancellationToken(true));
    }

    /// <summary>Queues an event; false (the packet dropped) when the client has left too many unread.</summary>
    public bool TrySendEvent(PooledBufferWriter packet)
    {
        lock (_gate)
        {
            if (!_closed && _unsentEvents + Math.Max(packet.WrittenCount, SmallPacketCost) > MaxUnsentBytes)
            {
                packet.Dispose();
                return false;
            }
        }

        Enqueue(new Outgoing(packet, null, OutgoingKind.Event));
        return true;
    }

    /// <summary>Completes at once while at most <see cref="MaxUnsentBytes"/> are unsent; otherwise once they drained.</summary>
    public ValueTask WaitForRoomAsync(CancellationToken token)
        => Volatile.Read(ref _unsent) <= MaxUnsentBytes ? ValueTask.CompletedTask : new ValueTask(WaitForRoomSlowAsync(token));

    /// <summary>The task sending what did not fit the socket at once (awaited by the connection's close).</summary>
    public Task DrainTask
    {
        get
        {
            lock (_gate)
            {
                return _drainTask;
            }
        }
    }

    /// <summary>No more output: queued packets are dropped (their calls given back, their waiters cancelled).</summary>
    public void Close()
    {
        Outgoing[] dropped;
        TaskCompletionSource? room;
        lock (_gate)
        {
            _closed = true;
            dropped = [.. _pending];
            _pending.Clear();

            // Taken first: Uncount hands the waiter out (and clears it) once there is room again.
            room = _roomWaiter;
            _roomWaiter = null;
            foreach (var item in dropped)
            {
                Uncount(item);
            }
        }

        room?.TrySetResult();
        foreach (var item in dropped)
        {
            Drop(item);
        }
    }

    private async Task WaitForRoomSlowAsync(CancellationToken token)
    {
        Task room;
        lock (_gate)
        {
            if (_unsent <= MaxUnsentBytes || _closed)
            {
                return;
            }

            _roomWaiter ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            room = _roomWaiter.Task;
        }

        await room.WaitAsync(token).ConfigureAwait(false);
    }

    private bool Enqueue(Outgoing item)
    {
        bool closed;
        lock (_gate)
        {
            closed = _closed;
            if (!closed)
            {
                if (_busy)
                {
                    Count(item);
                    _pending.Enqueue(item);
                    return true;
                }

                _busy = true;
            }
        }

        if (closed)
        {
            Drop(item);
            return false;
        }

        int sent = TrySendNow(item.Packet.WrittenSpan);
        if (sent < 0)
        {
            Drop(item);
            Close();
            _endConnection();
            return true;
        }

        if (sent < item.Packet.WrittenCount)
        {
            lock (_gate)
            {
                Count(item);
            }

            StartDrain(item, sent);
            return true;
        }

        Finish(item);
        if ((item.Kind & OutgoingKind.CloseAfter) != 0)
        {
            // CONNECT_CLOSE: the reply is on its way; now end the connection (spec 4.5).
            Close();
            _endConnection();
            return true;
        }

        Outgoing next;
        lock (_gate)
        {
            if (_closed || !_pending.TryDequeue(out next))
            {
                _busy = false;
                return true;
            }
        }

        StartDrain(next, 0);
        return true;
    }

    /// <summary>A non-blocking send on the socket; -1 when the connection is broken.</summary>
    private int TrySendNow(ReadOnlySpan<byte> data)
    {
        bool added = false;
        try
        {
            _socket.SafeHandle.DangerousAddRef(ref added);
            int sent = LibC.SendNonBlocking((int)_socket.SafeHandle.DangerousGetHandle(), data);
            return sent < 0 ? -1 : sent;
        }
        catch (ObjectDisposedException)
        {
            return -1;
        }
        finally
        {
            if (added)
            {
                _socket.SafeHandle.DangerousRelease();
            }
        }
    }

    /// <summary>Hands the write side (still owned by the caller) to a drain task, starting with a counted packet.</summary>
    private void StartDrain(Outgoing first, int offset)
    {
        lock (_gate)
        {
            _drainTask = Task.Run(() => DrainAsync(first, offset));
        }
    }

    private async Task DrainAsync(Outgoing current, int offset)
    {
        while (true)
        {
            try
            {
                var remaining = current.Packet.WrittenMemory[offset..];
                while (!remaining.IsEmpty)
                {
                    int n = await _socket.SendAsync(remaining, SocketFlags.None, _closing).ConfigureAwait(false);
                    remaining = remaining[n..];
                }
            }
            catch (Exception ex)
            {
                if (ex is not (OperationCanceledException or IOException or SocketException or ObjectDisposedException))
                {
                    _log.LogError(ex, "Connection {Connection}: write failed", _description);
                }

                TaskCompletionSource? waiter;
                lock (_gate)
                {
                    waiter = Uncount(current);
                }

                waiter?.TrySetResult();
                Drop(current);
                Close();
                _endConnection();
                return;
            }

            TaskCompletionSource? room;
            lock (_gate)
            {
                room = Uncount(current);
            }

            room?.TrySetResult();
            Finish(current);
            if ((current.Kind & OutgoingKind.CloseAfter) != 0)
            {
                Close();
                _endConnection();
                return;
            }

            lock (_gate)
            {
                if (_closed || !_pending.TryDequeue(out current))
                {
                    _busy = false;
                    return;
                }
            }

            offset = 0;
        }
    }

    private static long Cost(Outgoing item) => Math.Max(item.Packet.WrittenCount, SmallPacketCost);

    private void Count(Outgoing item)
    {
        _unsent += Cost(item);
        if ((item.Kind & OutgoingKind.Event) != 0)
        {
            _unsentEvents += Cost(item);
        }
    }

    /// <summary>Uncounts a packet that left the queue; returns the reader's waiter when there is room again.</summary>
    private TaskCompletionSource? Uncount(Outgoing item)
    {
        _unsent -= Cost(item);
        if ((item.Kind & OutgoingKind.Event) != 0)
        {
            _unsentEvents -= Cost(item);
        }

        if (_roomWaiter is null || _unsent > MaxUnsentBytes)
        {
            return null;
        }

        var room = _roomWaiter;
        _roomWaiter = null;
        return room;
    }

    private void Finish(Outgoing item)
    {
        item.Packet.Dispose();
        item.Written?.TrySetResult();
        if ((item.Kind & OutgoingKind.Reply) != 0)
        {
            _replyDone();
        }
    }

    private void Drop(Outgoing item)
    {
        item.Packet.Dispose();
        item.Written?.TrySetCanceled();
        if ((item.Kind & OutgoingKind.Reply) != 0)
        {
            _replyDone();
        }
    }

    private readonly record struct Outgoing(PooledBufferWriter Packet, TaskCompletionSource? Written, OutgoingKind Kind);
}
