using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics;
using System.Net.Sockets;
using VirtPool.Rpc;

namespace VirtPool.Daemon.Connections;

/// <summary>
/// Takes whole packets off a client socket while holding as little as possible:
/// <list type="bullet">
/// <item>an idle connection holds no buffer: it waits for readability with a zero-byte receive and
/// rents its small buffer only when bytes arrive;</item>
/// <item>frames up to <see cref="SmallFrameLimit"/> (calls, replies to nothing, keepalive) are read into
/// that small buffer, several at a time;</item>
/// <item>a larger frame is first reserved in full from the daemon's <see cref="IncomingBudget"/> on its
/// length word; until the reservation is granted nothing more is read, so the client is throttled by
/// its socket instead of the daemon allocating. Its buffer is filled exactly to the frame's end.</item>
/// </list>
/// Time spent waiting on the socket in the middle of a frame counts against the frame timeout; a
/// connection whose deadline passed is reported by <see cref="IsOverdue"/> for the daemon to drop.
/// </summary>
internal sealed class FrameReader : IDisposable
{
    /// <summary>Frames up to this length are read into the connection's own buffer, outside the budget.</summary>
    public const int SmallFrameLimit = 16 * 1024;

    private static readonly long PollFloorTicks = 5 * Stopwatch.Frequency / 1_000_000;
    private static readonly long CappedGapTicks = Stopwatch.Frequency / 1000;

    private readonly Socket _socket;
    private readonly IncomingBudget _budget;
    private readonly long _frameTimeoutTicks;
    private readonly long _busyPollLimitTicks;

    private byte[]? _buffer;
    private int _start;
    private int _end;

    /// <summary>Length of the small frame last handed out, skipped at the next read.</summary>
    private int _consumed;

    /// <summary>The large frame last handed out, released at the next read unless detached.</summary>
    private LargeFrame? _current;

    /// <summary>Socket-wait time the frame being read may still take (Stopwatch ticks).</summary>
    private long _frameAllowance;

    /// <summary>When the current wait in the middle of a frame becomes overdue; 0 when not waiting mid-frame.</summary>
    private long _waitDeadline;

    private long _idleSince;
    private long _gapEwmaTicks = CappedGapTicks;

    public FrameReader(Socket socket, IncomingBudget budget, TimeSpan frameTimeout, int busyPollMicros)
    {
        _socket = socket;
        _budget = budget;
        _frameTimeoutTicks = frameTimeout > TimeSpan.Zero ? (long)(frameTimeout.TotalSeconds * Stopwatch.Frequency) : 0;
        _frameAllowance = _frameTimeoutTicks;
        _busyPollLimitTicks = busyPollMicros * Stopwatch.Frequency / 1_000_000;
    }

    /// <summary>The client closed the connection with part of a packet unsent.</summary>
    public bool EndedMidFrame { get; private set; }

    /// <summary>Whether the frame being read has waited on the socket longer than the frame timeout.</summary>
    public bool IsOverdue(long timestamp)
    {
        long deadline = Volatile.Read(ref _waitDeadline);
        return deadline != 0 && timestamp > deadline;
    }

    /// <summary>
    /// The next packet, or null at the end of the stream. Its payload stays valid until the next call,
    /// or, for a large frame taken with <see cref="DetachLargeFrame"/>, until that frame is disposed.
    /// </summary>
    /// <exception cref="RpcProtocolException">A length word out of range: the stream cannot be resynchronised.</exception>
    public async ValueTask<RpcPacket?> ReadAsync(CancellationToken token)
    {
        ReleaseCurrent();
        _start += _consumed;
        _consumed = 0;
        while (true)
        {
            int available = _end - _start;
            if (available >= RpcLimits.LengthWordSize)
            {
                uint length = BinaryPrimitives.ReadUInt32BigEndian(_buffer.AsSpan(_start));
                RpcFrame.ValidateLength(length);
                if (length <= available)
                {
                    _consumed = (int)length;
                    _frameAllowance = _frameTimeoutTicks;
                    return Packet(_buffer!, _start, (int)length);
                }

                if (length > SmallFrameLimit)
                {
                    return await ReadLargeAsync((int)length, token).ConfigureAwait(false);
                }
            }

            if (!await ReceiveAsync(token).ConfigureAwait(false))
            {
                EndedMidFrame = _end > _start;
                return null;
            }
        }
    }

    /// <summary>
    /// Takes ownership of the large frame just returned (its payload is then valid until it is disposed,
    /// and its reservation stays spent until then); null for a small frame.
    /// </summary>
    public LargeFrame? DetachLargeFrame()
    {
        var frame = _current;
        _current = null;
        return frame;
    }

    public void Dispose()
    {
        ReleaseCurrent();
        ReturnBuffer();
    }

    private static RpcPacket Packet(byte[] buffer, int offset, int length)
    {
        var header = RpcHeader.Read(buffer.AsSpan(offset + RpcLimits.LengthWordSize, RpcHeader.Size));
        return new RpcPacket(header, new ReadOnlySequence<byte>(buffer, offset + RpcLimits.MinPacketLength, length - RpcLimits.MinPacketLength));
    }

    /// <summary>Reads more into the small buffer; false at the end of the stream.</summary>
    private async ValueTask<bool> ReceiveAsync(CancellationToken token)
    {
        int available = _end - _start;
        if (available == 0)
        {
            _start = _end = 0;
            if (!AwaitNextPacketBriefly())
            {
                // Idle: hold no buffer while nothing arrives (thousands of idle clients cost no buffers).
                ReturnBuffer();
                await _socket.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None, token).ConfigureAwait(false);
            }

            NoteArrival();
        }

        _buffer ??= ArrayPool<byte>.Shared.Rent(SmallFrameLimit);
        if (_end == _buffer.Length)
        {
            // A frame runs past the end: move its start to the front (it fits: it is a small one).
            _buffer.AsSpan(_start, available).CopyTo(_buffer);
            _start = 0;
            _end = available;
        }

        int received = await ReceiveCountingAsync(_buffer.AsMemory(_end), midFrame: available > 0, token).ConfigureAwait(false);
        _end += received;
        return received > 0;
    }

    private async ValueTask<RpcPacket?> ReadLargeAsync(int length, CancellationToken token)
    {
        var lane = _budget.LaneFor(length);
        long reservation = lane.ReservationFor(length);
        if (!lane.TryReserve(reservation))
        {
            // Nothing more is read meanwhile: the client's bytes wait in the socket, and the time
            // spent here is not the client's doing, so the frame timeout does not run.
            await lane.ReserveAsync(reservation, token).ConfigureAwait(false);
        }

        var frame = new LargeFrame(_budget, lane, reservation, length);
        try
        {
            token.ThrowIfCancellationRequested();
            int have = _end - _start;
            _buffer.AsSpan(_start, have).CopyTo(frame.Buffer);
            frame.Add(have);
            _start = _end = 0;

            // The small buffer is not needed while the frame fills, which may take a while.
            ReturnBuffer();
            while (frame.Filled < length)
            {
                int received = await ReceiveCountingAsync(frame.FreeSpace(), midFrame: true, token).ConfigureAwait(false);
                if (received == 0)
                {
                    EndedMidFrame = true;
                    frame.Dispose();
                    return null;
                }

                frame.Add(received);
            }
        }
        catch
        {
            frame.Dispose();
            throw;
        }

        _current = frame;
        _frameAllowance = _frameTimeoutTicks;
        return Packet(frame.Buffer, 0, length);
    }

    /// <summary>One receive; in the middle of a frame its wait counts against the frame timeout.</summary>
    private async ValueTask<int> ReceiveCountingAsync(Memory<byte> into, bool midFrame, CancellationToken token)
    {
        if (!midFrame || _frameTimeoutTicks == 0)
        {
            return await _socket.ReceiveAsync(into, SocketFlags.None, token).ConfigureAwait(false);
        }

        long began = Stopwatch.GetTimestamp();
        Volatile.Write(ref _waitDeadline, began + Math.Max(_frameAllowance, 1));
        try
        {
            return await _socket.ReceiveAsync(into, SocketFlags.None, token).ConfigureAwait(false);
        }
        finally
        {
            Volatile.Write(ref _waitDeadline, 0);
            _frameAllowance -= Stopwatch.GetTimestamp() - began;
        }
    }

    /// <summary>
    /// A client in a call loop sends its next call a few microseconds after our reply. Waiting for it
    /// in epoll costs a sleep and a wake-up, which is most of a round trip here; so a connection
    /// whose calls recently followed replies that closely polls its socket for about that long
    /// first. Connections that pause longer (most of them) never spin. True when data arrived.
    /// </summary>
    private bool AwaitNextPacketBriefly()
    {
        _idleSince = Stopwatch.GetTimestamp();
        long gap = _gapEwmaTicks;
        if (gap > _busyPollLimitTicks)
        {
            return false;
        }

        long until = _idleSince + Math.Min(_busyPollLimitTicks, (2 * gap) + PollFloorTicks);
        while (_socket.Available == 0)
        {
            if (Stopwatch.GetTimestamp() >= until)
            {
                return false;
            }

            Thread.SpinWait(1);
        }

        return true;
    }

    private void NoteArrival()
    {
        long gap = Stopwatch.GetTimestamp() - _idleSince;

        // A moving average of the gaps, with outliers capped so one long pause is forgotten quickly.
        _gapEwmaTicks += (Math.Min(gap, CappedGapTicks) - _gapEwmaTicks) / 4;
    }

    /// <summary>Gives back the current large frame's buffer and budget share, unless a call detached it.</summary>
    public void ReleaseCurrent()
    {
        _current?.Dispose();
        _current = null;
    }

    private void ReturnBuffer()
    {
        if (_buffer is not null)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = null;
        }
    }
}

/// <summary>
/// A frame larger than a connection's small buffer, with its share of the <see cref="IncomingBudget"/>:
/// both are given back when it is disposed (a CALL keeps it until the call has finished with its
/// arguments). Its buffer grows as the bytes arrive (from 1 MiB, fourfold), so a client that declares
/// 16 MiB and then stalls makes the daemon hold what it sent, not what it announced. Growing copies
/// at most a third of the frame and holds at most twice what arrived.
/// </summary>
internal sealed class LargeFrame : IDisposable
{
    private const int InitialCapacity = 1 << 20;

    private readonly IncomingBudget _budget;
    private readonly IncomingBudget.Lane _lane;
    private readonly long _reservation;
    private int _capacity;
    private bool _disposed;

    public LargeFrame(IncomingBudget budget, IncomingBudget.Lane lane, long reservation, int length)
    {
        _budget = budget;
        _lane = lane;
        _reservation = reservation;
        Length = length;
        _capacity = Math.Min(length, InitialCapacity);
        Buffer = Allocate(_capacity);
    }

    /// <summary>The bytes so far; the whole frame (<see cref="Length"/> bytes from 0) once <see cref="Filled"/> reaches it.</summary>
    public byte[] Buffer { get; private set; }

    public int Length { get; }

    public int Filled { get; private set; }

    public ReadOnlyMemory<byte> Payload => Buffer.AsMemory(RpcLimits.MinPacketLength, Length - RpcLimits.MinPacketLength);

    /// <summary>Where the next bytes go, growing the buffer when it is full.</summary>
    public Memory<byte> FreeSpace()
    {
        if (Filled == _capacity)
        {
            int capacity = (int)Math.Min(Length, 4L * _capacity);
            byte[] bigger = Allocate(capacity);
            Buffer.AsSpan(0, Filled).CopyTo(bigger);
            RpcBufferPool.Return(Buffer);
            Buffer = bigger;
            _capacity = capacity;
        }

        return Buffer.AsMemory(Filled, _capacity - Filled);
    }

    public void Add(int bytes)
    {
        Filled += bytes;
        _budget.AddBuffered(bytes);
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _budget.RemoveBuffered(Filled);
        _lane.Release(_reservation);
        RpcBufferPool.Return(Buffer);
    }

    // Large arrays uninitialised: their pages become resident only as the bytes arrive.
    private static byte[] Allocate(int length)
        => length <= RpcBufferPool.MaxPooledLength ? RpcBufferPool.Rent(length) : GC.AllocateUninitializedArray<byte>(length);
}
