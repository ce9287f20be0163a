namespace VirtPool.Rpc.Xdr;

/// <summary>
/// An XDR payload that cannot be decoded: it ends early, or a length or count is beyond its limit.
/// The daemon answers it with libvirt's "Unable to decode message payload" error; it never closes the connection.
/// </summary>
public sealed class XdrFormatException : FormatException
{
    public XdrFormatException()
    {
    }

    public XdrFormatException(string message)
        : base(message)
    {
    }

    public XdrFormatException(string message, Exception inner)
        : base(message, inner)
    {
    }

    public XdrFormatException(string message, int offset)
        : base($"{message} (at payload offset {offset})")
    {
        Offset = offset;
    }

    /// <summary>Byte offset in the payload where decoding failed, or -1 when unknown.</summary>
    public int Offset { get; } = -1;
}
