using System.Buffers;
using CsCheck;
using VirtPool.Core.Errors;
using VirtPool.Rpc.Xdr;

namespace VirtPool.Rpc.Tests;

public class StreamTests
{
    private static readonly RpcHeader UploadCall = RpcHeader.Call(RemoteProcedure.StorageVolUpload, 12);

    private static RpcPacket ReadOne(ArrayBufferWriter<byte> output, out byte[] payload)
    {
        var buffer = new ReadOnlySequence<byte>(output.WrittenMemory.ToArray());
        Assert.True(RpcFrame.TryReadPacket(ref buffer, out var packet));
        Assert.True(buffer.IsEmpty);
        payload = packet.Payload.ToArray();
        return packet;
    }

    [Fact]
    public void Data_packet_carries_raw_bytes_with_the_calls_proc_and_serial()
    {
        Gen.Byte.Array[1, 300].Sample(data =>
        {
            var output = new ArrayBufferWriter<byte>();
            RpcStream.WriteData(output, UploadCall, data);
            var packet = ReadOne(output, out byte[] payload);
            Assert.Equal(new RpcHeader(RpcPrograms.Remote, 1, 208, RpcMessageType.Stream, 12, RpcMessageStatus.Continue), packet.Header);
            Assert.Equal(data, payload); // not XDR: no length word, no padding
            Assert.Equal(StreamPacketKind.Data, RpcStream.Classify(packet));
        });
    }

    [Fact]
    public void Empty_data_is_refused_because_it_means_end_of_data()
    {
        Assert.Throws<ArgumentException>(() => RpcStream.WriteData(new ArrayBufferWriter<byte>(), UploadCall, []));
    }

    [Fact]
    public void Control_packets_have_the_right_type_status_and_payload()
    {
        var output = new ArrayBufferWriter<byte>();
        RpcStream.WriteEndOfData(output, UploadCall);
        Assert.Equal("0000001c 20008086 00000001 000000d0 00000003 0000000c 00000002".Replace(" ", "", StringComparison.Ordinal), Hex.Format(output.WrittenSpan));
        Assert.Equal(StreamPacketKind.EndOfData, RpcStream.Classify(ReadOne(output, out _)));

        output = new ArrayBufferWriter<byte>();
        RpcStream.WriteFinish(output, UploadCall);
        Assert.Equal(StreamPacketKind.Finish, RpcStream.Classify(ReadOne(output, out _)));

        output = new ArrayBufferWriter<byte>();
        RpcStream.WriteAbort(output, UploadCall);
        Assert.Equal(StreamPacketKind.Abort, RpcStream.Classify(ReadOne(output, out _)));

        output = new ArrayBufferWriter<byte>();
        var error = RemoteError.FromException(new VirtPoolException(VirErrorCode.SystemError, "cannot write: No space left on device"));
        RpcStream.WriteError(output, UploadCall, error);
        var packet = ReadOne(output, out byte[] payload);
        Assert.Equal((RpcMessageType.Stream, RpcMessageStatus.Error), (packet.Header.Type, packet.Header.Status));
        Assert.Equal(StreamPacketKind.Error, RpcStream.Classify(packet));
        Assert.Equal(error, RemoteError.Decode(payload));
    }

    [Theory]
    [InlineData(RpcMessageType.Stream, RpcMessageStatus.Continue, 5, StreamPacketKind.Data)]
    [InlineData(RpcMessageType.Stream, RpcMessageStatus.Continue, 0, StreamPacketKind.EndOfData)]
    [InlineData(RpcMessageType.Stream, RpcMessageStatus.Ok, 0, StreamPacketKind.Finish)]
    [InlineData(RpcMessageType.Stream, RpcMessageStatus.Ok, 4, StreamPacketKind.Invalid)]
    [InlineData(RpcMessageType.Stream, RpcMessageStatus.Error, 0, StreamPacketKind.Abort)]
    [InlineData(RpcMessageType.Stream, RpcMessageStatus.Error, 40, StreamPacketKind.Error)]
    [InlineData(RpcMessageType.StreamHole, RpcMessageStatus.Continue, 12, StreamPacketKind.Hole)]
    [InlineData(RpcMessageType.StreamHole, RpcMessageStatus.Ok, 12, StreamPacketKind.Invalid)]
    [InlineData(RpcMessageType.Call, RpcMessageStatus.Ok, 0, StreamPacketKind.Invalid)]
    [InlineData(RpcMessageType.Stream, (RpcMessageStatus)9, 0, StreamPacketKind.Invalid)]
    public void Classify(RpcMessageType type, RpcMessageStatus status, long payloadLength, StreamPacketKind expected)
    {
        Assert.Equal(expected, RpcStream.Classify(UploadCall with { Type = type, Status = status }, payloadLength));
    }

    [Fact]
    public void Hole_round_trips()
    {
        Gen.Select(Gen.Long, Gen.UInt).Sample((length, flags) =>
        {
            var hole = new StreamHole(length, flags);
            var output = new ArrayBufferWriter<byte>();
            RpcStream.WriteHole(output, UploadCall, hole);
            var packet = ReadOne(output, out byte[] payload);
            Assert.Equal(StreamPacketKind.Hole, RpcStream.Classify(packet));
            Assert.Equal(StreamHole.EncodedSize, payload.Length);
            Assert.Equal(hole, StreamHole.Decode(packet.Payload));
            Assert.Equal(hole, StreamHole.Decode(payload));
            Assert.Equal(length >= 0 && flags == 0, hole.IsValid);
        });
    }

    [Fact]
    public void Short_hole_payload_fails_with_xdr_format_exception()
    {
        byte[] bytes = Hex.Parse("00000000 01000000 00000000");
        for (int length = 0; length < bytes.Length; length++)
        {
            byte[] prefix = bytes[..length];
            Assert.Throws<XdrFormatException>(() => StreamHole.Decode(prefix));
            Assert.Throws<XdrFormatException>(() => StreamHole.Decode(new ReadOnlySequence<byte>(prefix)));
        }
    }
}
