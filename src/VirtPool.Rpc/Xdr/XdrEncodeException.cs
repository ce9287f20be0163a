namespace VirtPool.Rpc.Xdr;

/// <summary>
/// A message that cannot be encoded: a string, opaque or array beyond its XDR limit, or a payload
/// beyond the 16 MiB a message may have. libvirt's encoder (virNetMessageEncodePayload) reports all of
/// these alike, as a VIR_ERR_RPC "Unable to encode message payload": the daemon answers the call with
/// that error (<see cref="RemoteError.PayloadEncodeFailed"/>) and the client fails the call with it.
/// </summary>
public sealed class XdrEncodeException : Exception
{
    public XdrEncodeException()
    {
    }

    public XdrEncodeException(string message)
        : base(message)
    {
    }

    public XdrEncodeException(string message, Exception inner)
        : base(message, inner)
    {
    }
}
