using VirtPool.Core.Backends;
using VirtPool.Rpc;

namespace VirtPool.Daemon.Connections;

/// <summary>
/// VOL_DOWNLOAD (spec 6.3): the producer's writes become STREAM/STREAM_HOLE packets of at most 256 KiB; each
/// write returns only once its packet reached the socket, so nothing is buffered beyond one chunk (6.4).
/// </summary>
internal sealed class DownloadStream(ClientConnection connection, RpcHeader call, bool sparse, Func<ISparseStream, CancellationToken, Task> producer)
    : StreamBase(connection, call, sparse, producer)
{
    private static readonly byte[] Zeros = new byte[RpcLimits.LegacyPayloadMax];

    // Guarded by Gate.
    private bool _stopRequested;
    private bool _workerDone;

    public override bool AcceptsHoles => Sparse;

    public override ValueTask<SparseRead> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken)
        => throw new NotSupportedException("A download stream is written, not read.");

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        while (!data.IsEmpty)
        {
            ThrowIfStopped(cancellationToken);
            int size = Math.Min(data.Length, RpcLimits.LegacyPayloadMax);
            var packet = new PooledBufferWriter(RpcLimits.MinPacketLength + size);
            RpcStream.WriteData(packet, Call, data.Span[..size]);
            await Connection.SendAndWaitAsync(packet).ConfigureAwait(false);
            data = data[size..];
        }
    }

    public override async ValueTask WriteHoleAsync(long length, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        if (length == 0)
        {
            return;
        }

        if (Sparse)
        {
            ThrowIfStopped(cancellationToken);
            var packet = new PooledBufferWriter(RpcLimits.MinPacketLength + StreamHole.EncodedSize);
            RpcStream.WriteHole(packet, Call, new StreamHole(length));
            await Connection.SendAndWaitAsync(packet).ConfigureAwait(false);
            return;
        }

        // A client that did not ask for a sparse stream rejects holes: send the zeros instead.
        while (length > 0)
        {
            int size = (int)Math.Min(length, Zeros.Length);
            await WriteAsync(Zeros.AsMemory(0, size), cancellationToken).ConfigureAwait(false);
            length -= size;
        }
    }

    public override ValueTask OnClientPacketAsync(StreamPacketKind kind, RpcPacket packet, CancellationToken readerToken)
    {
        if (kind is StreamPacketKind.Finish or StreamPacketKind.Abort or StreamPacketKind.Error)
        {
            bool answer;
            lock (Gate)
            {
                // A finish before our end-of-data is treated like an abort: stop producing, then answer OK.
                _stopRequested = true;
                answer = _workerDone;
            }

            if (answer)
            {
                AnswerOk();
            }
            else
            {
                Cancel();
            }
        }

        // Data or holes from the client on a download carry no meaning; dropped like libvirtd does.
        return ValueTask.CompletedTask;
    }

    protected override void OnWorkerEnded(Exception? failure)
    {
        bool stopped;
        lock (Gate)
        {
            _workerDone = true;
            stopped = _stopRequested;
        }

        if (IsClosing)
        {
            AnswerNothing();
        }
        else if (stopped)
        {
            AnswerOk();
        }
        else if (failure is not null)
        {
            AnswerError(failure);
        }
        else
        {
            // End of data is an empty CONTINUE; the client's finish is answered OK later. go-libvirt never sends
            // that finish: the stream then simply stays until the connection ends (spec 6.3).
            var end = new PooledBufferWriter(RpcLimits.MinPacketLength);
            RpcStream.WriteEndOfData(end, Call);
            Connection.Send(end);
        }
    }

    private void ThrowIfStopped(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        Token.ThrowIfCancellationRequested();
    }
}
