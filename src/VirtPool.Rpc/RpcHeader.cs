using System.Buffers.Binary;

namespace VirtPool.Rpc;

/// <summary>virNetMessageType: what the payload of a packet is (spec 1.4).</summary>
public enum RpcMessageType
{
    Call = 0,
    Reply = 1,
    Message = 2,
    Stream = 3,
    CallWithFds = 4,
    ReplyWithFds = 5,
    StreamHole = 6,
}

/// <summary>virNetMessageStatus.</summary>
public enum RpcMessageStatus
{
    Ok = 0,
    Error = 1,
    Continue = 2,
}

/// <summary>
/// The 24-byte packet header that follows the length word (spec 1.3). Values outside the known enums are kept
/// as they are: the dispatcher answers them with an error reply, framing does not judge them.
/// </summary>
public readonly record struct RpcHeader(
    uint Program,
    uint Version,
    int Procedure,
    RpcMessageType Type,
    uint Serial,
    RpcMessageStatus Status)
{
    public const int Size = RpcLimits.HeaderSize;

    public static RpcHeader Read(ReadOnlySpan<byte> source)
    {
        if (source.Length < Size)
        {
            throw new RpcProtocolException($"An RPC header needs {Size} bytes, got {source.Length}.");
        }

        return new RpcHeader(
            BinaryPrimitives.ReadUInt32BigEndian(source),
            BinaryPrimitives.ReadUInt32BigEndian(source.Slice(4)),
            BinaryPrimitives.ReadInt32BigEndian(source.Slice(8)),
            (RpcMessageType)BinaryPrimitives.ReadInt32BigEndian(source.Slice(12)),
            BinaryPrimitives.ReadUInt32BigEndian(source.Slice(16)),
            (RpcMessageStatus)BinaryPrimitives.ReadInt32BigEndian(source.Slice(20)));
    }

    public void Write(Span<byte> destination)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length, Size, nameof(destination));
        BinaryPrimitives.WriteUInt32BigEndian(destination, Program);
        BinaryPrimitives.WriteUInt32BigEndian(destination.Slice(4), Version);
        BinaryPrimitives.WriteInt32BigEndian(destination.Slice(8), Procedure);
        BinaryPrimitives.WriteInt32BigEndian(destination.Slice(12), (int)Type);
        BinaryPrimitives.WriteUInt32BigEndian(destination.Slice(16), Serial);
        BinaryPrimitives.WriteInt32BigEndian(destination.Slice(20), (int)Status);
    }

    /// <summary>The REPLY to this CALL: same program, version, procedure and serial (the client checks them).</summary>
    public RpcHeader ToReply(RpcMessageStatus status = RpcMessageStatus.Ok)
        => this with { Type = RpcMessageType.Reply, Status = status };

    /// <summary>A packet of the stream opened by this CALL: streams are addressed by the call's proc and serial.</summary>
    public RpcHeader ToStream(RpcMessageType type, RpcMessageStatus status)
        => this with { Type = type, Status = status };

    public bool IsRemoteProgram => Program == RpcPrograms.Remote && Version == RpcPrograms.RemoteVersion;

    public bool IsKeepaliveProgram => Program == RpcPrograms.Keepalive && Version == RpcPrograms.KeepaliveVersion;

    public static RpcHeader Call(RemoteProcedure procedure, uint serial)
        => new(RpcPrograms.Remote, RpcPrograms.RemoteVersion, (int)procedure, RpcMessageType.Call, serial, RpcMessageStatus.Ok);

    /// <summary>An event MESSAGE; serial 0 (spec 1.5: go-libvirt never uses 0 for a request).</summary>
    public static RpcHeader Event(RemoteProcedure procedure)
        => new(RpcPrograms.Remote, RpcPrograms.RemoteVersion, (int)procedure, RpcMessageType.Message, 0, RpcMessageStatus.Ok);

    public static RpcHeader Keepalive(KeepaliveProcedure procedure)
        => new(RpcPrograms.Keepalive, RpcPrograms.KeepaliveVersion, (int)procedure, RpcMessageType.Message, 0, RpcMessageStatus.Ok);
}
