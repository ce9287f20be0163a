using System.Buffers;

namespace VirtPool.Rpc;

/// <summary>What a STREAM / STREAM_HOLE packet means (spec 1.4 and 6).</summary>
public enum StreamPacketKind
{
    /// <summary>Not a well-formed stream packet (wrong type, or a status/payload combination that has no meaning).</summary>
    Invalid = 0,

    /// <summary>STREAM/CONTINUE with raw bytes.</summary>
    Data,

    /// <summary>STREAM/CONTINUE with no bytes: the sender has no more data.</summary>
    EndOfData,

    /// <summary>STREAM_HOLE/CONTINUE with a <see cref="StreamHole"/>.</summary>
    Hole,

    /// <summary>STREAM/OK, empty: the client's "finish", or the server's confirmation of it.</summary>
    Finish,

    /// <summary>STREAM/ERROR, empty: the client aborts the stream.</summary>
    Abort,

    /// <summary>STREAM/ERROR with a remote_error: the server failed the stream.</summary>
    Error,
}

/// <summary>
/// Stream packets. A stream is addressed by the program, version, procedure and serial of the CALL that opened
/// it; every writer here takes that CALL's header and swaps in the stream type and status.
/// </summary>
public static class RpcStream
{
    public static StreamPacketKind Classify(in RpcHeader header, long payloadLength) => (header.Type, header.Status) switch
    {
        (RpcMessageType.Stream, RpcMessageStatus.Continue) => payloadLength == 0 ? StreamPacketKind.EndOfData : StreamPacketKind.Data,
        (RpcMessageType.Stream, RpcMessageStatus.Ok) => payloadLength == 0 ? StreamPacketKind.Finish : StreamPacketKind.Invalid,
        (RpcMessageType.Stream, RpcMessageStatus.Error) => payloadLength == 0 ? StreamPacketKind.Abort : StreamPacketKind.Error,
        (RpcMessageType.StreamHole, RpcMessageStatus.Continue) => StreamPacketKind.Hole,
        _ => StreamPacketKind.Invalid,
    };

    public static StreamPacketKind Classify(in RpcPacket packet) => Classify(packet.Header, packet.Payload.Length);

    /// <summary>
    /// Raw data, not XDR-encoded. Must not be empty: an empty CONTINUE means end of data.
    /// Download chunks should stay within <see cref="RpcLimits.LegacyPayloadMax"/>.
    /// </summary>
    public static void WriteData(IBufferWriter<byte> output, in RpcHeader call, ReadOnlySpan<byte> data)
    {
        if (data.IsEmpty)
        {
            throw new ArgumentException("A stream data packet cannot be empty; an empty CONTINUE means end of data.", nameof(data));
        }

        RpcFrame.WritePacket(output, call.ToStream(RpcMessageType.Stream, RpcMessageStatus.Continue), data);
    }

    /// <summary>End of data: STREAM/CONTINUE with an empty payload (not OK).</summary>
    public static void WriteEndOfData(IBufferWriter<byte> output, in RpcHeader call)
        => RpcFrame.WritePacket(output, call.ToStream(RpcMessageType.Stream, RpcMessageStatus.Continue), []);

    /// <summary>STREAM/OK, empty: finish request (client) or finish confirmed (server).</summary>
    public static void WriteFinish(IBufferWriter<byte> output, in RpcHeader call)
        => RpcFrame.WritePacket(output, call.ToStream(RpcMessageType.Stream, RpcMessageStatus.Ok), []);

    /// <summary>STREAM/ERROR, empty: the client aborts.</summary>
    public static void WriteAbort(IBufferWriter<byte> output, in RpcHeader call)
        => RpcFrame.WritePacket(output, call.ToStream(RpcMessageType.Stream, RpcMessageStatus.Error), []);

    /// <summary>STREAM/ERROR with a remote_error: the server failed the stream.</summary>
    public static void WriteError(IBufferWriter<byte> output, in RpcHeader call, RemoteError error)
        => RpcReplies.WriteWithError(output, call.ToStream(RpcMessageType.Stream, RpcMessageStatus.Error), error);

    public static void WriteHole(IBufferWriter<byte> output, in RpcHeader call, StreamHole hole)
    {
        Span<byte> payload = stackalloc byte[StreamHole.EncodedSize];
        hole.Write(payload);
        RpcFrame.WritePacket(output, call.ToStream(RpcMessageType.StreamHole, RpcMessageStatus.Continue), payload);
    }
}
