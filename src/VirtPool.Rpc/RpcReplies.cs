using System.Buffers;
using VirtPool.Rpc.Xdr;

namespace VirtPool.Rpc;

/// <summary>Builders for the packets the server sends without a procedure handler.</summary>
public static class RpcReplies
{
    /// <summary>REPLY/ERROR to <paramref name="call"/>, echoing its program, version, procedure and serial.</summary>
    public static void WriteErrorReply(IBufferWriter<byte> output, in RpcHeader call, RemoteError error)
        => WriteWithError(output, call.ToReply(RpcMessageStatus.Error), error);

    /// <summary>"unknown procedure: N" for a procedure with no handler (spec 3.2).</summary>
    public static void WriteUnknownProcedure(IBufferWriter<byte> output, in RpcHeader call)
        => WriteErrorReply(output, call, RemoteError.UnknownProcedure(call.Procedure));

    /// <summary>"Cannot find program P version V" for a call to a program we do not serve (spec 1.6).</summary>
    public static void WriteUnknownProgram(IBufferWriter<byte> output, in RpcHeader call)
        => WriteErrorReply(output, call, RemoteError.UnknownProgram(call.Program, call.Version));

    /// <summary>A keepalive PING or PONG: MESSAGE, serial 0, empty payload.</summary>
    public static void WriteKeepalive(IBufferWriter<byte> output, KeepaliveProcedure procedure)
        => RpcFrame.WritePacket(output, RpcHeader.Keepalive(procedure), []);

    /// <summary>Writes a packet whose payload is <paramref name="error"/>.</summary>
    internal static void WriteWithError(IBufferWriter<byte> output, in RpcHeader header, RemoteError error)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(error);
        using var payload = new PooledBufferWriter();
        error.Encode(new XdrWriter(payload));
        RpcFrame.WritePacket(output, header, payload.WrittenSpan);
    }
}
