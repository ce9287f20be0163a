using VirtPool.Rpc.Xdr;

namespace VirtPool.Rpc;

/// <summary>
/// What a procedure handler gets besides its args: the CALL header, where to encode the ret struct, and a token
/// that fires when the connection goes away. The daemon derives from it to add its per-connection state.
/// </summary>
public class RpcCallContext
{
    public RpcCallContext(RpcHeader call, PooledBufferWriter reply, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(reply);
        Call = call;
        Reply = reply;
        CancellationToken = cancellationToken;
    }

    public RpcHeader Call { get; }

    /// <summary>
    /// The ret struct goes here (nothing for a void ret). If the handler throws, whatever it wrote is discarded
    /// and an error reply is sent instead.
    /// </summary>
    public PooledBufferWriter Reply { get; }

    public XdrWriter ReplyWriter => new(Reply);

    public CancellationToken CancellationToken { get; }
}
