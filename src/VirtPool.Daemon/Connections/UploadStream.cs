using System.Buffers;
using System.Threading.Channels;
using VirtPool.Core.Backends;
using VirtPool.Rpc;
using VirtPool.Rpc.Xdr;

namespace VirtPool.Daemon.Connections;

/// <summary>
/// VOL_UPLOAD (spec 6.2): the client's STREAM/STREAM_HOLE packets are queued for the consumer. The queue is
/// small and bounded, so a slow disk writer stops the connection's reader and TCP throttles the client (6.4).
/// </summary>
internal sealed class UploadStream(ClientConnection connection, RpcHeader call, bool sparse, Func<ISparseStream, CancellationToken, Task> consumer)
    : StreamBase(connection, call, sparse, consumer)
{
    private const int QueueDepth = 8;

    private readonly Channel<Piece> _pieces = Channel.CreateBounded<Piece>(new BoundedChannelOptions(QueueDepth)
    {
        // Not single-reader: abort and disconnect drain the queue while the consumer may still be reading.
        SingleReader = false,
        SingleWriter = true,
        FullMode = BoundedChannelFullMode.Wait,
    });

    private byte[]? _current;
    private int _currentOffset;
    private int _currentLength;
    private bool _ended;

    // Guarded by Gate.
    private bool _finishRequested;
    private bool _aborted;
    private bool _inputClosed;
    private bool _workerDone;

    /// <summary>Why the consumer failed, once it has (guarded by Gate).</summary>
    private Exception? _failure;

    public override bool AcceptsHoles => Sparse;

    public override async ValueTask<SparseRead> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        if (buffer.IsEmpty)
        {
            throw new ArgumentException("The read buffer is empty.", nameof(buffer));
        }

        if (_current is not null)
        {
            return TakeCurrent(buffer.Span);
        }

        while (!_ended)
        {
            // Completed with an exception on abort or disconnect, so the consumer fails instead of seeing a clean end.
            if (!await _pieces.Reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
            {
                _ended = true;
                break;
            }

            if (!_pieces.Reader.TryRead(out var piece))
            {
                continue;
            }

            if (piece.Data is null)
            {
                if (piece.Hole > 0)
                {
                    return new SparseRead(0, piece.Hole);
                }

                continue;
            }

            _current = piece.Data;
            _currentOffset = 0;
            _currentLength = piece.Length;
            return TakeCurrent(buffer.Span);
        }

        return default;
    }

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
        => throw new NotSupportedException("An upload stream is read, not written.");

    public override ValueTask WriteHoleAsync(long length, CancellationToken cancellationToken)
        => throw new NotSupportedException("An upload stream is read, not written.");

    public override async ValueTask OnClientPacketAsync(StreamPacketKind kind, RpcPacket packet, CancellationToken readerToken)
    {
        switch (kind)
        {
            case StreamPacketKind.Data:
                await EnqueueDataAsync(packet).ConfigureAwait(false);
                break;
            case StreamPacketKind.Hole:
                await EnqueueHoleAsync(packet).ConfigureAwait(false);
                break;
            case StreamPacketKind.EndOfData:
                lock (Gate)
                {
                    _inputClosed = true;
                }

                _pieces.Writer.TryComplete();
                break;
            case StreamPacketKind.Finish:
                OnFinish();
                break;
            case StreamPacketKind.Abort:
            case StreamPacketKind.Error:
                OnAbort();
                break;
            default:
                AnswerError(StreamProtocolError($"unexpected stream packet (type {(int)packet.Header.Type}, status {(int)packet.Header.Status})"));
                CloseInput(new OperationCanceledException("stream failed"));
                break;
        }
    }

    private async ValueTask EnqueueDataAsync(RpcPacket packet)
    {
        lock (Gate)
        {
            if (_workerDone)
            {
                // The consumer is finished (it had all it wanted, or failed): surplus data is dropped.
                return;
            }

            if (_inputClosed)
            {
                AnswerError(StreamProtocolError("stream data received after the end of the stream"));
                CloseInput(new OperationCanceledException("stream failed"));
                return;
            }
        }

        int length = (int)packet.Payload.Length;
        byte[] data = RpcBufferPool.Rent(length);
        packet.Payload.CopyTo(data);
        await EnqueueAsync(new Piece(data, length, 0)).ConfigureAwait(false);
    }

    private async ValueTask EnqueueHoleAsync(RpcPacket packet)
    {
        if (!Sparse)
        {
            AnswerError(StreamProtocolError("stream hole received on a stream that is not sparse"));
            CloseInput(new OperationCanceledException("stream failed"));
            return;
        }

        StreamHole hole;
        try
        {
            hole = StreamHole.Decode(packet.Payload);
        }
        catch (XdrFormatException)
        {
            hole = new StreamHole(-1);
        }

        if (!hole.IsValid)
        {
            AnswerError(StreamProtocolError("invalid stream hole"));
            CloseInput(new OperationCanceledException("stream failed"));
            return;
        }

        await EnqueueAsync(new Piece(null, 0, hole.Length)).ConfigureAwait(false);
    }

    private async ValueTask EnqueueAsync(Piece piece)
    {
        try
        {
            await _pieces.Writer.WriteAsync(piece, Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is ChannelClosedException or OperationCanceledException)
        {
            // The stream ended meanwhile (consumer done, abort, failure, disconnect).
            Return(piece);
        }
    }

    private void OnFinish()
    {
        bool answer;
        Exception? failure;
        lock (Gate)
        {
            _finishRequested = true;
            _inputClosed = true;
            answer = _workerDone;
            failure = _failure;
        }

        _pieces.Writer.TryComplete();
        if (answer)
        {
            // The consumer may have failed and not yet sent its STREAM/ERROR: whichever of the two
            // answers first sends the failure, never OK for an upload that did not complete.
            if (failure is not null)
            {
                AnswerError(failure);
            }
            else
            {
                AnswerOk();
            }
        }
    }

    private void OnAbort()
    {
        bool answer;
        lock (Gate)
        {
            _aborted = true;
            _inputClosed = true;
            answer = _workerDone;
        }

        CloseInput(new OperationCanceledException("The client aborted the upload."));
        Cancel();
        if (answer)
        {
            AnswerOk();
        }
    }

    public override void ConnectionClosed()
    {
        base.ConnectionClosed();
        CloseInput(new OperationCanceledException("The connection closed during the upload."));
    }

    protected override void OnWorkerEnded(Exception? failure)
    {
        bool finish, aborted;
        lock (Gate)
        {
            _workerDone = true;
            _failure = failure;
            finish = _finishRequested;
            aborted = _aborted;
        }

        CloseInput(null);
        if (IsClosing)
        {
            AnswerNothing();
        }
        else if (aborted)
        {
            AnswerOk();
        }
        else if (failure is not null)
        {
            AnswerError(failure);
        }
        else if (finish)
        {
            AnswerOk();
        }

        // Otherwise the consumer is satisfied and the client's finish will be answered OK when it comes.
    }

    /// <summary>Completes the queue (waking a blocked reader) and returns queued buffers to the pool.</summary>
    private void CloseInput(Exception? error)
    {
        _pieces.Writer.TryComplete(error);
        if (error is not null || Volatile.Read(ref _workerDone))
        {
            while (_pieces.Reader.TryRead(out var piece))
            {
                Return(piece);
            }
        }
    }

    private SparseRead TakeCurrent(Span<byte> destination)
    {
        int count = Math.Min(destination.Length, _currentLength - _currentOffset);
        _current.AsSpan(_currentOffset, count).CopyTo(destination);
        _currentOffset += count;
        if (_currentOffset == _currentLength)
        {
            RpcBufferPool.Return(_current!);
            _current = null;
        }

        return new SparseRead(count, 0);
    }

    private static void Return(Piece piece)
    {
        if (piece.Data is not null)
        {
            RpcBufferPool.Return(piece.Data);
        }
    }

    /// <summary>Data (rented array, valid length) or a hole.</summary>
    private readonly record struct Piece(byte[]? Data, int Length, long Hole);
}
