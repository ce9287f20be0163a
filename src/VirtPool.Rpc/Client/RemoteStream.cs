using System.Threading.Channels;
using VirtPool.Core.Errors;

namespace VirtPool.Rpc.Client;

/// <summary>One piece received from a download stream: data, a hole, or (both empty) the end of data.</summary>
public readonly record struct RemoteStreamPiece(ReadOnlyMemory<byte> Data, long HoleLength)
{
    public bool IsEnd => Data.IsEmpty && HoleLength == 0;
}

/// <summary>
/// The client side of a libvirt stream (spec 6), addressed by the proc and serial of the CALL that
/// opened it. Upload: <see cref="SendAsync"/> / <see cref="SendHoleAsync"/>, then <see cref="FinishAsync"/>.
/// Download: <see cref="ReceiveAsync"/> until the end, then <see cref="FinishAsync"/>. Disposing a stream
/// that was not finished aborts it.
/// </summary>
public sealed class RemoteStream : IAsyncDisposable
{
    private readonly RemoteConnection _connection;
    private readonly RpcHeader _call;
    private readonly Channel<RpcReply> _packets;
    private bool _done;

    internal RemoteStream(RemoteConnection connection, RpcHeader call, Channel<RpcReply> packets)
    {
        _connection = connection;
        _call = call;
        _packets = packets;
    }

    /// <summary>Sends data in pieces of at most <see cref="RemoteConnection.StreamChunkSize"/> bytes.</summary>
    public async Task SendAsync(ReadOnlyMemory<byte> data, CancellationToken ct = default)
    {
        while (!data.IsEmpty)
        {
            ThrowIfServerFailed();
            var piece = data[..Math.Min(data.Length, RemoteConnection.StreamChunkSize)];
            await _connection.SendRawAsync(_call.ToStream(RpcMessageType.Stream, RpcMessageStatus.Continue), piece, ct).ConfigureAwait(false);
            data = data[piece.Length..];
        }
    }

    /// <summary>STREAM_HOLE: the next <paramref name="length"/> bytes are a hole (sparse uploads only).</summary>
    public async Task SendHoleAsync(long length, CancellationToken ct = default)
    {
        ThrowIfServerFailed();
        var payload = new byte[StreamHole.EncodedSize];
        new StreamHole(length).Write(payload);
        await _connection.SendRawAsync(_call.ToStream(RpcMessageType.StreamHole, RpcMessageStatus.Continue), payload, ct).ConfigureAwait(false);
    }

    /// <summary>The next piece of a download; a server error is thrown.</summary>
    public async Task<RemoteStreamPiece> ReceiveAsync(CancellationToken ct = default)
    {
        var packet = await ReadPacketAsync(ct).ConfigureAwait(false);
        switch (RpcStream.Classify(packet.Header, packet.Payload.Length))
        {
            case StreamPacketKind.Data:
                return new RemoteStreamPiece(packet.Payload, 0);
            case StreamPacketKind.EndOfData:
                return default;
            case StreamPacketKind.Hole:
                var hole = StreamHole.Decode(packet.Payload);
                if (!hole.IsValid)
                {
                    throw new VirtPoolException(VirErrorCode.Rpc, "Unable to decode message payload", VirErrorDomain.Rpc);
                }

                return new RemoteStreamPiece(ReadOnlyMemory<byte>.Empty, hole.Length);
            case StreamPacketKind.Error:
                _done = true;
                RemoteConnection.CheckReply(packet);
                throw new VirtPoolException(VirErrorCode.Rpc, "stream failed", VirErrorDomain.Rpc);
            default:
                throw new VirtPoolException(VirErrorCode.Rpc, $"Unexpected stream packet type {(int)packet.Header.Type} status {(int)packet.Header.Status}", VirErrorDomain.Rpc);
        }
    }

    /// <summary>virStreamFinish: STREAM/OK, then the server's STREAM/OK (or its error).</summary>
    public async Task FinishAsync(CancellationToken ct = default)
    {
        ThrowIfServerFailed();
        await _connection.SendRawAsync(_call.ToStream(RpcMessageType.Stream, RpcMessageStatus.Ok), ReadOnlyMemory<byte>.Empty, ct).ConfigureAwait(false);
        await AwaitConfirmationAsync(ct).ConfigureAwait(false);
    }

    /// <summary>virStreamAbort: STREAM/ERROR (empty), then the server's answer, whatever it is.</summary>
    public async Task AbortAsync(CancellationToken ct = default)
    {
        if (_done)
        {
            return;
        }

        try
        {
            await _connection.SendRawAsync(_call.ToStream(RpcMessageType.Stream, RpcMessageStatus.Error), ReadOnlyMemory<byte>.Empty, ct).ConfigureAwait(false);
            await AwaitConfirmationAsync(ct).ConfigureAwait(false);
        }
        catch (VirtPoolException)
        {
            // the stream is gone either way
        }
    }

    private async Task AwaitConfirmationAsync(CancellationToken ct)
    {
        while (true)
        {
            var packet = await ReadPacketAsync(ct).ConfigureAwait(false);
            switch (RpcStream.Classify(packet.Header, packet.Payload.Length))
            {
                case StreamPacketKind.Finish:
                    _done = true;
                    return;
                case StreamPacketKind.Error:
                    _done = true;
                    RemoteConnection.CheckReply(packet);
                    return;
                default:
                    // data or holes still in flight before the answer
                    continue;
            }
        }
    }

    private async Task<RpcReply> ReadPacketAsync(CancellationToken ct)
    {
        try
        {
            return await _packets.Reader.ReadAsync(ct).ConfigureAwait(false);
        }
        catch (ChannelClosedException ex) when (ex.InnerException is VirtPoolException inner)
        {
            _done = true;
            throw VirtPoolException.Verbatim(inner.Code, inner.Message, inner.Domain);
        }
    }

    /// <summary>An upload learns of a server-side failure from a STREAM/ERROR queued while it was sending.</summary>
    private void ThrowIfServerFailed()
    {
        while (_packets.Reader.TryRead(out var packet))
        {
            if (packet.Header.Status == RpcMessageStatus.Error && packet.Payload.Length > 0)
            {
                _done = true;
                RemoteConnection.CheckReply(packet);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_done)
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            try
            {
                await AbortAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException)
            {
            }
        }

        _connection.RemoveStream(_call.Serial);
    }
}
