namespace VirtPool.Rpc;

/// <summary>
/// A byte stream that is not a sequence of libvirt RPC packets (bad length word). There is no way to find the
/// next packet boundary after this, so the connection must be closed.
/// </summary>
public sealed class RpcProtocolException : Exception
{
    public RpcProtocolException()
    {
    }

    public RpcProtocolException(string message)
        : base(message)
    {
    }

    public RpcProtocolException(string message, Exception inner)
        : base(message, inner)
    {
    }
}
