using System.Buffers;
using System.Buffers.Binary;
using CsCheck;
using VirtPool.Rpc.Xdr;

namespace VirtPool.Rpc.Tests;

public class FramingTests
{
    private static byte[] AllExamples() => WireExampleTests.All.SelectMany(Hex.Parse).ToArray();

    private static void AssertSame(List<(RpcHeader Header, byte[] Payload)> expected, List<(RpcHeader Header, byte[] Payload)> actual)
    {
        Assert.Equal(expected.Count, actual.Count);
        for (int i = 0; i < expected.Count; i++)
        {
            Assert.Equal(expected[i].Header, actual[i].Header);
            Assert.Equal(expected[i].Payload, actual[i].Payload);
        }
    }

    [Fact]
    public void Multiple_packets_in_one_buffer()
    {
        byte[] stream = AllExamples();
        var packets = Packets.ReadAll(new ReadOnlySequence<byte>(stream), out long leftover);
        Assert.Equal(WireExampleTests.All.Length, packets.Count);
        Assert.Equal(0, leftover);
        Assert.Equal((int)RemoteProcedure.AuthList, packets[0].Header.Procedure);
        Assert.Equal(RpcPrograms.Keepalive, packets[^2].Header.Program);
        Assert.Equal(RpcMessageType.StreamHole, packets[^1].Header.Type);
        Assert.Equal(12, packets[^1].Payload.Length);
    }

    [Fact]
    public void Incomplete_packet_returns_false_until_its_last_byte_arrives()
    {
        foreach (string hex in WireExampleTests.All)
        {
            byte[] wire = Hex.Parse(hex);
            for (int available = 0; available < wire.Length; available++)
            {
                var buffer = new ReadOnlySequence<byte>(wire, 0, available);
                Assert.False(RpcFrame.TryReadPacket(ref buffer, out _));
                Assert.Equal(available, buffer.Length); // untouched
            }

            var whole = new ReadOnlySequence<byte>(wire);
            Assert.True(RpcFrame.TryReadPacket(ref whole, out _));
            Assert.True(whole.IsEmpty);
        }
    }

    [Fact]
    public void Split_at_every_byte_boundary_parses_identically()
    {
        byte[] stream = AllExamples();
        var reference = Packets.ReadAll(new ReadOnlySequence<byte>(stream), out _);
        for (int cut = 0; cut <= stream.Length; cut++)
        {
            AssertSame(reference, Packets.ReadAll(Segment.Split(stream, cut), out long leftover));
            Assert.Equal(0, leftover);
        }

        AssertSame(reference, Packets.ReadAll(Segment.BytePerSegment(stream), out _));
    }

    [Fact]
    public void Arriving_in_pieces_gives_the_same_packets()
    {
        // Simulates a PipeReader loop: bytes arrive in random chunks, unconsumed bytes stay buffered.
        byte[] stream = AllExamples();
        var reference = Packets.ReadAll(new ReadOnlySequence<byte>(stream), out _);
        Gen.Int[1, 40].Array[1, 60].Sample(chunks =>
        {
            var received = new List<(RpcHeader, byte[])>();
            int consumed = 0;
            int arrived = 0;
            int chunk = 0;
            while (arrived < stream.Length)
            {
                arrived = Math.Min(stream.Length, arrived + chunks[chunk++ % chunks.Length]);
                var buffer = Segment.Split(stream[consumed..arrived], chunks[chunk % chunks.Length]);
                long before = buffer.Length;
                received.AddRange(Packets.ReadAll(buffer, out long leftover));
                consumed += (int)(before - leftover);
            }

            Assert.Equal(stream.Length, consumed);
            AssertSame(reference, received);
        });
    }

    [Theory]
    [InlineData(0u)]
    [InlineData(1u)]
    [InlineData(4u)]
    [InlineData(24u)]
    [InlineData(27u)]
    public void Length_below_28_is_rejected(uint length)
    {
        byte[] wire = new byte[64];
        BinaryPrimitives.WriteUInt32BigEndian(wire, length);
        var buffer = new ReadOnlySequence<byte>(wire);
        Assert.Throws<RpcProtocolException>(() => RpcFrame.TryReadPacket(ref buffer, out _));

        // Rejected as soon as the length word is there, without waiting for more.
        var justTheWord = new ReadOnlySequence<byte>(wire, 0, 4);
        Assert.Throws<RpcProtocolException>(() => RpcFrame.TryReadPacket(ref justTheWord, out _));
    }

    [Theory]
    [InlineData(16_777_221u)]
    [InlineData(0x7fffffffu)]
    [InlineData(0x80000000u)]
    [InlineData(0xffffffffu)]
    public void Oversized_length_is_rejected_without_allocating(uint length)
    {
        byte[] wire = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(wire, length);
        var sequence = Segment.Split([.. wire, .. new byte[60]], 2); // the word even straddles two segments

        // Warm up so JIT and type loading do not count.
        var warm = sequence;
        Assert.Throws<RpcProtocolException>(() => RpcFrame.TryReadPacket(ref warm, out _));

        long before = GC.GetAllocatedBytesForCurrentThread();
        var buffer = sequence;
        bool threw = false;
        try
        {
            RpcFrame.TryReadPacket(ref buffer, out _);
        }
        catch (RpcProtocolException)
        {
            threw = true;
        }

        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(threw);
        Assert.True(allocated < 16 * 1024, $"allocated {allocated} bytes");
    }

    [Fact]
    public void Maximum_length_is_accepted_and_waits_for_its_bytes()
    {
        byte[] wire = new byte[RpcLimits.MinPacketLength];
        BinaryPrimitives.WriteUInt32BigEndian(wire, RpcLimits.MaxPacketLength);
        var buffer = new ReadOnlySequence<byte>(wire);
        long before = GC.GetAllocatedBytesForCurrentThread();
        Assert.False(RpcFrame.TryReadPacket(ref buffer, out _));
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 1024);
        Assert.Equal(16_777_220, RpcLimits.MaxPacketLength);
    }

    [Fact]
    public void Largest_packet_parses()
    {
        byte[] wire = Packets.Build(RpcHeader.Call(RemoteProcedure.StorageVolUpload, 3) with { Type = RpcMessageType.Stream, Status = RpcMessageStatus.Continue }, new byte[RpcLimits.MaxPayload]);
        Assert.Equal(RpcLimits.MaxPacketLength, wire.Length);
        var buffer = new ReadOnlySequence<byte>(wire);
        Assert.True(RpcFrame.TryReadPacket(ref buffer, out var packet));
        Assert.Equal(RpcLimits.MaxPayload, packet.Payload.Length);
    }

    [Fact]
    public void Writing_a_payload_over_the_maximum_throws()
    {
        var output = new ArrayBufferWriter<byte>();
        Assert.Throws<XdrEncodeException>(() => RpcFrame.WritePacket(output, default, new byte[RpcLimits.MaxPayload + 1]));

        using var pooled = new PooledBufferWriter();
        int start = RpcFrame.BeginPacket(pooled, default);
        pooled.GetSpan(RpcLimits.MaxPayload + 1);
        pooled.Advance(RpcLimits.MaxPayload + 1);
        Assert.Throws<XdrEncodeException>(() => RpcFrame.EndPacket(pooled, start));
    }

    [Fact]
    public void Header_round_trips()
    {
        Gen.Select(Gen.UInt, Gen.UInt, Gen.Int, Gen.Int, Gen.UInt, Gen.Int).Sample((prog, vers, proc, type, serial, status) =>
        {
            var header = new RpcHeader(prog, vers, proc, (RpcMessageType)type, serial, (RpcMessageStatus)status);
            byte[] bytes = new byte[RpcHeader.Size];
            header.Write(bytes);
            Assert.Equal(header, RpcHeader.Read(bytes));
            Assert.Equal(proc, BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(8)));
        });
    }

    [Fact]
    public void Begin_and_end_packet_match_write_packet()
    {
        Gen.Byte.Array[0, 100].Sample(payload =>
        {
            var header = RpcHeader.Call(RemoteProcedure.StoragePoolLookupByName, 42).ToReply();
            using var pooled = new PooledBufferWriter(16);
            pooled.Write<byte>([9, 9, 9]); // something before: packets are appended
            int start = RpcFrame.BeginPacket(pooled, header);
            pooled.Write(payload);
            RpcFrame.EndPacket(pooled, start);
            Assert.Equal(3, start);
            Assert.Equal(Packets.Build(header, payload), pooled.WrittenSpan[3..].ToArray());
        });
    }

    [Fact]
    public void Reply_header_echoes_the_call()
    {
        var call = new RpcHeader(RpcPrograms.Remote, 1, 84, RpcMessageType.Call, 77, RpcMessageStatus.Ok);
        Assert.Equal(new RpcHeader(RpcPrograms.Remote, 1, 84, RpcMessageType.Reply, 77, RpcMessageStatus.Error), call.ToReply(RpcMessageStatus.Error));
        Assert.True(call.IsRemoteProgram);
        Assert.False(call.IsKeepaliveProgram);
        Assert.Equal(new RpcHeader(RpcPrograms.Remote, 1, 370, RpcMessageType.Message, 0, RpcMessageStatus.Ok), RpcHeader.Event(RemoteProcedure.StoragePoolEventLifecycle));
    }
}
