using VirtPool.Core.Backends;
using VirtPool.Core.Manager;
using VirtPool.Core.Secrets;
using VirtPool.Rpc;

namespace VirtPool.Daemon;

/// <summary>
/// What the daemon's procedure handlers share: the pool manager and secret store (the same state folder
/// the embedded CLI uses) and the event hub that fans lifecycle events out to subscribed connections.
/// </summary>
public sealed record DaemonServices(PoolManager Manager, SecretStore Secrets, IEventHub Events);

/// <summary>A CALL being handled: the RPC context plus the connection it came on and the daemon's services.</summary>
public sealed class DaemonCallContext(RpcHeader call, PooledBufferWriter reply, IClientConnection connection, DaemonServices services, CancellationToken cancellationToken)
    : RpcCallContext(call, reply, cancellationToken)
{
    public IClientConnection Connection { get; } = connection;

    public DaemonServices Services { get; } = services;
}

/// <summary>The per-connection state handlers need (spec §4.7), and the connection's streams.</summary>
public interface IClientConnection
{
    /// <summary>Opened read-only (read-only socket, or CONNECT_OPEN flag 1): mutating calls fail with code 29.</summary>
    bool IsReadOnly { get; }

    /// <summary>The name CONNECT_OPEN accepted, or null before it.</summary>
    string? OpenedUri { get; }

    /// <summary>
    /// VOL_UPLOAD: after the handler returns (and its OK REPLY is sent), the connection feeds the
    /// STREAM/STREAM_HOLE packets of this CALL's (proc, serial) to <paramref name="consumer"/> through an
    /// <see cref="ISparseStream"/>; when the consumer finishes and the client sent "finish", it answers
    /// STREAM OK (or STREAM ERROR with the consumer's exception). Holes are accepted only when
    /// <paramref name="sparse"/>; an abort from the client cancels the token.
    /// </summary>
    void StartUpload(RpcHeader call, bool sparse, Func<ISparseStream, CancellationToken, Task> consumer);

    /// <summary>
    /// VOL_DOWNLOAD: after the OK REPLY, <paramref name="producer"/> writes data (and holes when
    /// <paramref name="sparse"/>) that the connection sends as STREAM/STREAM_HOLE packets; when it returns
    /// the connection sends the empty CONTINUE and completes the finish handshake; if it throws, STREAM ERROR.
    /// </summary>
    void StartDownload(RpcHeader call, bool sparse, Func<ISparseStream, CancellationToken, Task> producer);
}

/// <summary>
/// Storage pool and secret events (spec §5.5): handlers report what happened; the hub sends MESSAGE
/// packets to every connection that registered a matching callback.
/// </summary>
public interface IEventHub
{
    /// <summary>STORAGE_POOL_EVENT_LIFECYCLE: virStoragePoolEventLifecycleType event and detail.</summary>
    void PoolLifecycle(PoolRef pool, int lifecycleEvent, int detail);

    /// <summary>STORAGE_POOL_EVENT_REFRESH.</summary>
    void PoolRefresh(PoolRef pool);

    /// <summary>SECRET_EVENT_LIFECYCLE.</summary>
    void SecretLifecycle(Guid uuid, int usageType, string usageId, int lifecycleEvent, int detail);

    /// <summary>SECRET_EVENT_VALUE_CHANGED.</summary>
    void SecretValueChanged(Guid uuid, int usageType, string usageId);
}
