using System.Buffers;

namespace VirtPool.Rpc;

/// <summary>
/// One received packet. <see cref="Payload"/> is a slice of the reader's buffer, valid until the reader moves
/// past it; copy it (e.g. <c>Payload.ToArray()</c>) if it must outlive that.
/// </summary>
public readonly record struct RpcPacket(RpcHeader Header, ReadOnlySequence<byte> Payload)
{
    /// <summary>The packet's length word: length word + header + payload.</summary>
    public int Length => RpcLimits.MinPacketLength + (int)Payload.Length;
}
