using System.Buffers;
using System.Buffers.Binary;

namespace VirtPool.Rpc;

/// <summary>
/// Packet framing: a u32 length word that counts itself, the 24-byte header, the payload (spec 1.2).
/// </summary>
public static class RpcFrame
{
    /// <summary>
    /// Takes one complete packet off the front of <paramref name="buffer"/>. Returns false, leaving the buffer
    /// untouched, when more bytes are needed; on success the buffer is advanced past the packet. Suited to a
    /// <c>PipeReader</c> loop: <c>while (TryReadPacket(ref buffer, out var p)) ...; reader.AdvanceTo(buffer.Start, buffer.End);</c>
    /// The length word is validated as soon as its 4 bytes are present, so a hostile length is rejected
    /// before anything waits for or allocates its bytes. Nothing is copied or allocated here.
    /// </summary>
    /// <exception cref="RpcProtocolException">The length word is below 28 or above 16 777 220.</exception>
    public static bool TryReadPacket(ref ReadOnlySequence<byte> buffer, out RpcPacket packet)
    {
        packet = default;
        if (buffer.Length < RpcLimits.LengthWordSize)
        {
            return false;
        }

        uint length = ReadLengthWord(buffer);
        ValidateLength(length);
        if (buffer.Length < length)
        {
            return false;
        }

        Span<byte> headerBytes = stackalloc byte[RpcHeader.Size];
        buffer.Slice(RpcLimits.LengthWordSize, RpcHeader.Size).CopyTo(headerBytes);
        var header = RpcHeader.Read(headerBytes);
        var payload = buffer.Slice(RpcLimits.MinPacketLength, length - RpcLimits.MinPacketLength);
        packet = new RpcPacket(header, payload);
        buffer = buffer.Slice(length);
        return true;
    }

    /// <summary>Rejects length words libvirt treats as a fatal protocol error.</summary>
    public static void ValidateLength(uint length)
    {
        if (length < RpcLimits.MinPacketLength)
        {
            throw new RpcProtocolException($"RPC packet length {length} is below the minimum {RpcLimits.MinPacketLength}.");
        }

        if (length > RpcLimits.MaxPacketLength)
        {
            throw new RpcProtocolException($"RPC packet length {length} exceeds the maximum {RpcLimits.MaxPacketLength}.");
        }
    }

    /// <summary>Writes a whole packet whose payload is already encoded.</summary>
    public static void WritePacket(IBufferWriter<byte> output, in RpcHeader header, ReadOnlySpan<byte> payload)
    {
        ArgumentNullException.ThrowIfNull(output);
        CheckPayloadLength(payload.Length);
        int length = RpcLimits.MinPacketLength + payload.Length;
        Span<byte> span = output.GetSpan(length);
        BinaryPrimitives.WriteUInt32BigEndian(span, (uint)length);
        header.Write(span.Slice(RpcLimits.LengthWordSize));
        payload.CopyTo(span.Slice(RpcLimits.MinPacketLength));
        output.Advance(length);
    }

    /// <summary>
    /// Starts a packet whose payload is encoded next, straight into <paramref name="buffer"/>; finish with
    /// <see cref="EndPacket"/>. Returns where the packet starts, which is also where to
    /// <see cref="PooledBufferWriter.Truncate"/> to discard it.
    /// </summary>
    public static int BeginPacket(PooledBufferWriter buffer, in RpcHeader header)
    {
        ArgumentNullException.ThrowIfNull(buffer);
        int start = buffer.WrittenCount;
        Span<byte> span = buffer.GetSpan(RpcLimits.MinPacketLength);
        span.Slice(0, RpcLimits.LengthWordSize).Clear();
        header.Write(span.Slice(RpcLimits.LengthWordSize));
        buffer.Advance(RpcLimits.MinPacketLength);
        return start;
    }

    /// <summary>Fills in the length word of the packet begun at <paramref name="packetStart"/>.</summary>
    /// <exception cref="Xdr.XdrEncodeException">The payload is larger than the protocol allows.</exception>
    public static void EndPacket(PooledBufferWriter buffer, int packetStart)
    {
        ArgumentNullException.ThrowIfNull(buffer);
        int length = buffer.WrittenCount - packetStart;
        ArgumentOutOfRangeException.ThrowIfLessThan(length, RpcLimits.MinPacketLength, nameof(packetStart));
        CheckPayloadLength(length - RpcLimits.MinPacketLength);
        BinaryPrimitives.WriteUInt32BigEndian(buffer.GetWrittenSpan(packetStart, RpcLimits.LengthWordSize), (uint)length);
    }

    /// <summary>Header of the packet at the start of an encoded frame (tests, logging).</summary>
    public static RpcHeader ReadHeader(ReadOnlySpan<byte> frame) => RpcHeader.Read(frame.Slice(RpcLimits.LengthWordSize));

    private static uint ReadLengthWord(in ReadOnlySequence<byte> buffer)
    {
        ReadOnlySpan<byte> first = buffer.FirstSpan;
        if (first.Length >= RpcLimits.LengthWordSize)
        {
            return BinaryPrimitives.ReadUInt32BigEndian(first);
        }

        // The word straddles segments.
        Span<byte> word = stackalloc byte[RpcLimits.LengthWordSize];
        buffer.Slice(0, RpcLimits.LengthWordSize).CopyTo(word);
        return BinaryPrimitives.ReadUInt32BigEndian(word);
    }

    private static void CheckPayloadLength(int payloadLength)
    {
        if (payloadLength > RpcLimits.MaxPayload)
        {
            throw new Xdr.XdrEncodeException($"RPC payload of {payloadLength} bytes exceeds the maximum {RpcLimits.MaxPayload}.");
        }
    }
}
