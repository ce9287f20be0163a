using VirtPool.Core.Backends;
using VirtPool.Core.Errors;
using VirtPool.Rpc;

namespace VirtPool.Daemon.Connections;

/// <summary>
/// State shared by upload and download streams: the worker (the handler's consumer or producer) runs on its
/// own task with a token that fires on client abort or disconnect; exactly one final STREAM answer is sent.
/// </summary>
internal abstract class StreamBase : ISparseStream
{
    private readonly Func<ISparseStream, CancellationToken, Task> _worker;
    private readonly CancellationTokenSource _cancel;
    private int _answered;

    protected StreamBase(ClientConnection connection, RpcHeader call, bool sparse, Func<ISparseStream, CancellationToken, Task> worker)
    {
        Connection = connection;
        Call = call;
        Sparse = sparse;
        _worker = worker;
        _cancel = CancellationTokenSource.CreateLinkedTokenSource(connection.Closing);
        Key = StreamKey.Of(call);
    }

    public StreamKey Key { get; }

    protected ClientConnection Connection { get; }

    protected RpcHeader Call { get; }

    protected bool Sparse { get; }

    protected CancellationToken Token => _cancel.Token;

    /// <summary>Guards the finish/abort/worker-ended state of the derived stream.</summary>
    protected Lock Gate { get; } = new();

    protected bool IsClosing => Connection.Closing.IsCancellationRequested;

    public abstract bool AcceptsHoles { get; }

    public abstract ValueTask<SparseRead> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken);

    public abstract ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken);

    public abstract ValueTask WriteHoleAsync(long length, CancellationToken cancellationToken);

    /// <summary>Runs the worker; called right after the OK REPLY was queued.</summary>
    public void Start()
        => Connection.TrackStreamTask(Task.Run(RunWorkerAsync, CancellationToken.None));

    public abstract ValueTask OnClientPacketAsync(StreamPacketKind kind, RpcPacket packet, CancellationToken readerToken);

    /// <summary>The connection is gone: stop the worker, answer nothing.</summary>
    public virtual void ConnectionClosed()
    {
        Interlocked.Exchange(ref _answered, 1);
        Cancel();
    }

    protected void Cancel()
    {
        try
        {
            _cancel.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
    }

    private async Task RunWorkerAsync()
    {
        Exception? failure = null;
        try
        {
            await _worker(this, _cancel.Token).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            failure = ex;
        }

        try
        {
            OnWorkerEnded(failure);
        }
        catch (Exception ex)
        {
            // Never leave the client waiting for an answer because of a bug here.
            AnswerError(ex);
        }
    }

    /// <summary>
    /// Decides the answer once the worker returned or threw: nothing if the connection is gone, OK after a
    /// client abort, STREAM/ERROR for a failure, otherwise what the direction needs.
    /// </summary>
    protected abstract void OnWorkerEnded(Exception? failure);

    /// <summary>STREAM/OK, empty: the answer to finish or abort.</summary>
    protected void AnswerOk()
    {
        if (Interlocked.Exchange(ref _answered, 1) != 0)
        {
            return;
        }

        // Queued before the stream is forgotten: a client packet read meanwhile still finds the stream
        // (and is ignored), so an "invalid stream pointer" for it can never overtake this answer.
        var packet = new PooledBufferWriter(RpcLimits.MinPacketLength);
        RpcStream.WriteFinish(packet, Call);
        Connection.Send(packet);
        Connection.RemoveStream(this);
    }

    /// <summary>STREAM/ERROR with the failure; the stream is dead afterwards (spec 6.1).</summary>
    protected void AnswerError(Exception failure)
    {
        if (Interlocked.Exchange(ref _answered, 1) != 0)
        {
            return;
        }

        Cancel();
        var packet = new PooledBufferWriter();
        RpcStream.WriteError(packet, Call, ToRemoteError(failure));
        Connection.Send(packet);
        Connection.RemoveStream(this); // after the answer is queued, as in AnswerOk
    }

    protected void AnswerNothing()
    {
        Interlocked.Exchange(ref _answered, 1);
        Connection.RemoveStream(this);
    }

    protected static RemoteError ToRemoteError(Exception failure) => failure switch
    {
        VirtPoolException vpe => RemoteError.FromException(vpe),
        OperationCanceledException => RemoteError.FromException(new VirtPoolException(VirErrorCode.OperationAborted, "stream aborted", VirErrorDomain.Streams)),
        IOException io => RemoteError.FromException(VirtPoolException.System("stream I/O failed", io)),
        // A defect: the client gets libvirt's words for an unreported failure, the log the exception.
        _ => RemoteError.NoErrorSet(),
    };

    protected static VirtPoolException StreamProtocolError(string detail)
        => new(VirErrorCode.Rpc, detail, VirErrorDomain.Streams);
}
