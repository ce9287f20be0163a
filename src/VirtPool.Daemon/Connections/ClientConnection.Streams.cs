using System.Collections.Concurrent;
using VirtPool.Core.Backends;
using VirtPool.Core.Errors;
using VirtPool.Rpc;

namespace VirtPool.Daemon.Connections;

/// <summary>Stream plumbing (spec 6): the handler declares the stream, the connection runs it after the REPLY.</summary>
public sealed partial class ClientConnection
{
    /// <summary>Streams announced by a handler whose CALL has not been answered yet.</summary>
    private readonly ConcurrentDictionary<StreamKey, StreamBase> _pendingStreams = new();

    /// <summary>Live streams, addressed by the opening CALL's procedure and serial.</summary>
    private readonly ConcurrentDictionary<StreamKey, StreamBase> _streams = new();

    public void StartUpload(RpcHeader call, bool sparse, Func<ISparseStream, CancellationToken, Task> consumer)
    {
        ArgumentNullException.ThrowIfNull(consumer);
        AddPending(new UploadStream(this, call, sparse, consumer));
    }

    public void StartDownload(RpcHeader call, bool sparse, Func<ISparseStream, CancellationToken, Task> producer)
    {
        ArgumentNullException.ThrowIfNull(producer);
        AddPending(new DownloadStream(this, call, sparse, producer));
    }

    /// <summary>Number of live streams (tests and diagnostics).</summary>
    internal int StreamCount => _streams.Count;

    private void AddPending(StreamBase stream)
    {
        if (!_pendingStreams.TryAdd(stream.Key, stream))
        {
            throw VirtPoolException.Internal("a stream for this call was already started");
        }
    }

    private StreamBase? TakePendingStream(in RpcHeader call)
        => _pendingStreams.TryRemove(StreamKey.Of(call), out var stream) ? stream : null;

    private void DiscardPendingStream(in RpcHeader call) => _pendingStreams.TryRemove(StreamKey.Of(call), out _);

    internal void RemoveStream(StreamBase stream)
        => _streams.TryRemove(new KeyValuePair<StreamKey, StreamBase>(stream.Key, stream));

    internal Task TrackStreamTask(Task task) => Track(task);

    private async ValueTask OnStreamPacketAsync(RpcPacket packet, CancellationToken token)
    {
        var key = StreamKey.Of(packet.Header);
        StreamPacketKind kind = RpcStream.Classify(packet);
        if (!_streams.TryGetValue(key, out var stream))
        {
            if (kind is StreamPacketKind.Finish or StreamPacketKind.Abort)
            {
                // libvirtd drops these silently; answering keeps the client from waiting forever (spec 6.1).
                var error = new PooledBufferWriter();
                RpcStream.WriteError(error, packet.Header, RemoteError.FromException(
                    VirtPoolException.Verbatim(VirErrorCode.InvalidStream, "invalid stream pointer", VirErrorDomain.Streams)));
                Send(error);
            }

            // Data already in flight for a stream that failed or ended is dropped (libvirtd does the same).
            return;
        }

        await stream.OnClientPacketAsync(kind, packet, token).ConfigureAwait(false);
    }

    private void AbortAllStreams()
    {
        foreach (var stream in _pendingStreams.Values)
        {
            stream.ConnectionClosed();
        }

        _pendingStreams.Clear();
        foreach (var stream in _streams.Values)
        {
            stream.ConnectionClosed();
        }

        _streams.Clear();
    }
}

/// <summary>(procedure, serial) of the CALL that opened a stream.</summary>
internal readonly record struct StreamKey(int Procedure, uint Serial)
{
    public static StreamKey Of(in RpcHeader header) => new(header.Procedure, header.Serial);
}
