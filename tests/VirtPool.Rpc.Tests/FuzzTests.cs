using System.Buffers;
using CsCheck;
using VirtPool.Rpc.Xdr;

namespace VirtPool.Rpc.Tests;

/// <summary>
/// Random and mutated input: framing only ever throws RpcProtocolException, payload decoders only
/// XdrFormatException, and everything finishes quickly (each successful parse consumes at least 28 bytes).
/// </summary>
public class FuzzTests
{
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(60);

    private delegate void PayloadDecoder(ref XdrReader reader);

    /// <summary>Decoders for the payload shapes the server reads: args structs, errors, holes, generic containers.</summary>
    private static readonly PayloadDecoder[] Decoders =
    [
        (ref XdrReader r) => RemoteError.Decode(ref r),
        (ref XdrReader r) => StreamHole.Decode(ref r),
        (ref XdrReader r) =>
        {
            r.ReadOptionalString(); // CONNECT_OPEN
            r.ReadUInt32();
        },
        (ref XdrReader r) =>
        {
            r.ReadArray(RpcLimits.StoragePoolListMax, (ref XdrReader e) => (e.ReadString(), e.ReadUuid()), minElementSize: 20);
            r.ReadUInt32();
        },
        (ref XdrReader r) =>
        {
            r.ReadString(); // Vol { pool, name, key }, offset, length, flags (VOL_UPLOAD)
            r.ReadString();
            r.ReadString();
            r.ReadUInt64();
            r.ReadUInt64();
            r.ReadUInt32();
        },
        (ref XdrReader r) =>
        {
            r.ReadUuid(); // SECRET_SET_VALUE { Secret, opaque value<65536>, flags }
            r.ReadInt32();
            r.ReadString();
            r.ReadVariableOpaque(RpcLimits.SecretValueMax);
            r.ReadUInt32();
        },
        (ref XdrReader r) => r.ReadOptional((ref XdrReader e) => e.ReadArray(RpcLimits.AuthTypeListMax, (ref XdrReader x) => x.ReadEnum<RpcMessageType>())),
        (ref XdrReader r) =>
        {
            while (!r.IsAtEnd)
            {
                r.ReadString(64);
            }
        },
    ];

    /// <summary>Frames everything in <paramref name="buffer"/> and decodes every payload every way.</summary>
    private static int Consume(ReadOnlySequence<byte> buffer)
    {
        int packets = 0;
        long maxPackets = (buffer.Length / RpcLimits.MinPacketLength) + 1;
        try
        {
            while (RpcFrame.TryReadPacket(ref buffer, out var packet))
            {
                packets++;
                Assert.True(packets <= maxPackets, "framing made no progress");
                byte[] payload = packet.Payload.ToArray();
                foreach (var decode in Decoders)
                {
                    try
                    {
                        var reader = new XdrReader(payload);
                        decode(ref reader);
                    }
                    catch (XdrFormatException)
                    {
                    }
                }

                RpcStream.Classify(packet);
            }
        }
        catch (RpcProtocolException)
        {
        }

        return packets;
    }

    private static void Bounded(Action body)
    {
        var task = Task.Run(body);
        if (!task.Wait(Budget))
        {
            Assert.Fail($"fuzzing did not finish within {Budget}: something hangs");
        }
    }

    private static byte[] Corpus() => WireExampleTests.All.SelectMany(Hex.Parse).ToArray();

    [Fact]
    public void Every_single_byte_mutation_of_the_wire_examples()
    {
        // Deterministic: every position of every example, set to each interesting value, then framed and decoded.
        byte[] values = [0x00, 0x01, 0x03, 0x7f, 0x80, 0xfe, 0xff];
        int runs = 0;
        Bounded(() =>
        {
            foreach (string hex in WireExampleTests.All)
            {
                byte[] original = Hex.Parse(hex);
                for (int position = 0; position < original.Length; position++)
                {
                    foreach (byte value in values)
                    {
                        byte[] mutated = (byte[])original.Clone();
                        mutated[position] = value;
                        Consume(new ReadOnlySequence<byte>(mutated));
                        Consume(Segment.Split(mutated, position));
                        runs++;
                    }
                }
            }
        });
        Assert.True(runs > 1000, runs.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public void Random_bytes()
    {
        Bounded(() => Gen.Select(Gen.Byte.Array[0, 400], Gen.Int[0, 400]).Sample((bytes, cut) =>
        {
            Consume(new ReadOnlySequence<byte>(bytes));
            Consume(Segment.Split(bytes, cut));
        }, iter: 20_000));
    }

    [Fact]
    public void Random_payloads_behind_a_valid_header()
    {
        Bounded(() => Gen.Byte.Array[0, 600].Sample(payload =>
        {
            byte[] wire = Packets.Build(RpcHeader.Call(RemoteProcedure.ConnectOpen, 1), payload);
            Assert.Equal(1, Consume(new ReadOnlySequence<byte>(wire)));
        }, iter: 20_000));
    }

    /// <summary>Payloads that look like XDR: lengths and counts near the limits, sign bits, short tails.</summary>
    [Fact]
    public void Structured_payloads_with_hostile_lengths()
    {
        var word = Gen.OneOf(
            Gen.UInt[0, 70],
            Gen.Const(0xffffffffu),
            Gen.Const(0x80000000u),
            Gen.Const(0x7fffffffu),
            Gen.Const((uint)RpcLimits.StringMax),
            Gen.Const((uint)RpcLimits.StringMax + 1),
            Gen.Const((uint)RpcLimits.StoragePoolListMax),
            Gen.UInt);
        Bounded(() => Gen.Select(word.Array[0, 40], Gen.Int[0, 3]).Sample((words, trim) =>
        {
            byte[] payload = new byte[words.Length * 4];
            for (int i = 0; i < words.Length; i++)
            {
                System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(payload.AsSpan(i * 4), words[i]);
            }

            payload = payload[..Math.Max(0, payload.Length - trim)];
            byte[] wire = Packets.Build(RpcHeader.Call(RemoteProcedure.SecretSetValue, 9), payload);
            Assert.Equal(1, Consume(new ReadOnlySequence<byte>(wire)));
        }, iter: 30_000));
    }

    private readonly record struct Edit(int Kind, int Where, int Value);

    [Fact]
    public void Mutated_packet_streams()
    {
        var edit = Gen.Select(Gen.Int[0, 3], Gen.Int[0, int.MaxValue], Gen.Int[0, 255]).Select((k, w, v) => new Edit(k, w, v));
        byte[] corpus = Corpus();
        Bounded(() => Gen.Select(edit.Array[1, 6], Gen.Int[0, 600]).Sample((edits, cut) =>
        {
            var bytes = corpus.ToList();
            foreach (var e in edits)
            {
                int at = bytes.Count == 0 ? 0 : e.Where % bytes.Count;
                switch (e.Kind)
                {
                    case 0 when bytes.Count > 0: bytes[at] ^= (byte)(1 << (e.Value % 8)); break; // bit flip
                    case 1 when bytes.Count > 0: bytes[at] = (byte)e.Value; break; // overwrite
                    case 2: bytes.RemoveRange(at, Math.Min(e.Value % 32, bytes.Count - at)); break; // delete
                    case 3: bytes.InsertRange(at, Enumerable.Repeat((byte)e.Value, (e.Value % 16) + 1)); break; // insert
                }
            }

            byte[] mutated = [.. bytes];
            Consume(new ReadOnlySequence<byte>(mutated));
            Consume(Segment.Split(mutated, cut, cut / 2));
        }, iter: 20_000));
    }

    [Fact]
    public void Consume_really_decodes_the_unmutated_corpus()
    {
        // Guards the fuzz harness itself: if framing silently failed, the fuzz tests above would prove nothing.
        Assert.Equal(WireExampleTests.All.Length, Consume(new ReadOnlySequence<byte>(Corpus())));
    }
}
