using System.Buffers;
using System.Text;
using CsCheck;
using VirtPool.Core.Errors;
using VirtPool.Rpc.Xdr;

namespace VirtPool.Rpc.Tests;

public class XdrPrimitiveTests
{
    private static byte[] Encode(Action<XdrWriter> write)
    {
        var output = new ArrayBufferWriter<byte>();
        write(new XdrWriter(output));
        return output.WrittenSpan.ToArray();
    }

    /// <summary>
    /// Strings of valid Unicode scalars but NUL (lone surrogates cannot round-trip through UTF-8, and a
    /// NUL ends the string libvirtd sees).
    /// </summary>
    private static readonly Gen<string> GenText =
        Gen.OneOf(Gen.Int[0x20, 0x7E], Gen.Int[1, 0xD7FF], Gen.Int[0xE000, 0x10FFFF])
            .Array[0, 40]
            .Select(scalars => string.Concat(scalars.Select(s => new Rune(s).ToString())));

    [Fact]
    public void Integers_are_big_endian_and_round_trip()
    {
        Assert.Equal(Hex.Parse("fffffffe"), Encode(w => w.WriteInt32(-2)));
        Assert.Equal(Hex.Parse("20008086"), Encode(w => w.WriteUInt32(0x20008086)));
        Assert.Equal(Hex.Parse("0000003e fe39d000"), Encode(w => w.WriteUInt64(0x3efe39d000)));
        Assert.Equal(Hex.Parse("ffffffff ffffffff"), Encode(w => w.WriteInt64(-1)));

        Gen.Select(Gen.Int, Gen.UInt, Gen.Long, Gen.ULong).Sample((i, u, l, ul) =>
        {
            byte[] bytes = Encode(w =>
            {
                w.WriteInt32(i);
                w.WriteUInt32(u);
                w.WriteInt64(l);
                w.WriteUInt64(ul);
            });
            Assert.Equal(24, bytes.Length);
            var reader = new XdrReader(bytes);
            Assert.Equal(i, reader.ReadInt32());
            Assert.Equal(u, reader.ReadUInt32());
            Assert.Equal(l, reader.ReadInt64());
            Assert.Equal(ul, reader.ReadUInt64());
            Assert.True(reader.IsAtEnd);
        });
    }

    [Theory]
    [InlineData("00000000", false)]
    [InlineData("00000001", true)]
    [InlineData("01000000", true)] // go-libvirt's "present" marker (spec 2.2)
    [InlineData("ffffffff", true)]
    public void Bool_is_any_non_zero_word(string hex, bool expected)
    {
        var reader = new XdrReader(Hex.Parse(hex));
        Assert.Equal(expected, reader.ReadBool());
    }

    [Fact]
    public void Bool_writes_zero_or_one()
    {
        Assert.Equal(Hex.Parse("00000001 00000000"), Encode(w =>
        {
            w.WriteBool(true);
            w.WriteBool(false);
        }));
    }

    [Fact]
    public void Enums_round_trip_including_undefined_values()
    {
        byte[] bytes = Encode(w =>
        {
            w.WriteEnum(RpcMessageType.StreamHole);
            w.WriteEnum((RpcMessageStatus)77);
            w.WriteEnum(VirErrorCode.NoStoragePool);
        });
        Assert.Equal(Hex.Parse("00000006 0000004d 00000031"), bytes);
        var reader = new XdrReader(bytes);
        Assert.Equal(RpcMessageType.StreamHole, reader.ReadEnum<RpcMessageType>());
        Assert.Equal((RpcMessageStatus)77, reader.ReadEnum<RpcMessageStatus>());
        Assert.Equal(VirErrorCode.NoStoragePool, reader.ReadEnum<VirErrorCode>());
    }

    [Theory]
    [InlineData("", "00000000")]
    [InlineData("a", "00000001 61000000")]
    [InlineData("ab", "00000002 61620000")]
    [InlineData("abc", "00000003 61626300")]
    [InlineData("abcd", "00000004 61626364")]
    [InlineData("abcde", "00000005 61626364 65000000")]
    [InlineData("qemu:///system", "0000000e 71656d75 3a2f2f2f 73797374 656d0000")]
    [InlineData("é", "00000002 c3a90000")] // byte length, not char count
    public void Strings_have_byte_length_and_zero_padding(string text, string hex)
    {
        byte[] bytes = Encode(w => w.WriteString(text));
        Assert.Equal(Hex.Parse(hex), bytes);
        var reader = new XdrReader(bytes);
        Assert.Equal(text, reader.ReadString());
        Assert.True(reader.IsAtEnd);
    }

    [Fact]
    public void Strings_round_trip()
    {
        GenText.Sample(text =>
        {
            byte[] bytes = Encode(w => w.WriteString(text));
            Assert.Equal(0, bytes.Length % 4);
            var reader = new XdrReader(bytes);
            Assert.Equal(text, reader.ReadString());
            Assert.True(reader.IsAtEnd);
        });
    }

    [Fact]
    public void Optional_strings_round_trip()
    {
        byte[] absent = Encode(w => w.WriteOptionalString(null));
        Assert.Equal(Hex.Parse("00000000"), absent);
        Assert.Null(new XdrReader(absent).ReadOptionalString());

        GenText.Sample(text =>
        {
            byte[] bytes = Encode(w => w.WriteOptionalString(text));
            var reader = new XdrReader(bytes);
            Assert.Equal(text, reader.ReadOptionalString());
            Assert.True(reader.IsAtEnd);
        });
    }

    [Fact]
    public void A_string_ends_at_its_first_nul_as_libvirtd_reads_it()
    {
        Gen.Select(GenText, GenText).Sample((head, tail) =>
        {
            var reader = new XdrReader(Encode(w => { w.WriteString(head + "\0" + tail); w.WriteInt32(7); }));
            Assert.Equal(head, reader.ReadString());
            Assert.Equal(7, reader.ReadInt32());
        });
    }

    [Fact]
    public void Non_zero_padding_is_ignored()
    {
        // libvirt ignores the value of pad bytes (spec 2.2); only their presence matters.
        var reader = new XdrReader(Hex.Parse("00000001 61ffffff 00000007"));
        Assert.Equal("a", reader.ReadString());
        Assert.Equal(7, reader.ReadInt32());
    }

    [Fact]
    public void Opaques_round_trip_with_padding()
    {
        Gen.Byte.Array[0, 70].Sample(data =>
        {
            byte[] variable = Encode(w => w.WriteVariableOpaque(data, RpcLimits.SecretValueMax));
            Assert.Equal(4 + ((data.Length + 3) & ~3), variable.Length);
            Assert.All(variable.Skip(4 + data.Length), b => Assert.Equal(0, b));
            var reader = new XdrReader(variable);
            Assert.Equal(data, reader.ReadVariableOpaque(RpcLimits.SecretValueMax).ToArray());
            Assert.True(reader.IsAtEnd);

            byte[] fixedOpaque = Encode(w => w.WriteFixedOpaque(data));
            Assert.Equal((data.Length + 3) & ~3, fixedOpaque.Length);
            reader = new XdrReader(fixedOpaque);
            Assert.Equal(data, reader.ReadFixedOpaque(data.Length).ToArray());
            Assert.True(reader.IsAtEnd);
        });
    }

    [Fact]
    public void Uuid_is_in_textual_byte_order()
    {
        var uuid = Guid.Parse("51ba6aa6-162e-4404-a7f3-b932553be85e");
        byte[] bytes = Encode(w => w.WriteUuid(uuid));
        Assert.Equal(Hex.Parse("51ba6aa6 162e4404 a7f3b932 553be85e"), bytes);
        Assert.Equal(uuid, new XdrReader(bytes).ReadUuid());

        Gen.Guid.Sample(g => Assert.Equal(g, new XdrReader(Encode(w => w.WriteUuid(g))).ReadUuid()));
    }

    [Fact]
    public void Arrays_round_trip()
    {
        Gen.Int.Array[0, 50].Sample(items =>
        {
            byte[] bytes = Encode(w => w.WriteArray<int>(items, 64, (x, v) => x.WriteInt32(v)));
            var reader = new XdrReader(bytes);
            Assert.Equal(items, reader.ReadArray(64, (ref XdrReader r) => r.ReadInt32()));
            Assert.True(reader.IsAtEnd);
        });

        GenText.Array[0, 10].Sample(items =>
        {
            byte[] bytes = Encode(w => w.WriteArray<string>(items, 16, (x, v) => x.WriteString(v)));
            var reader = new XdrReader(bytes);
            Assert.Equal(items, reader.ReadArray(16, (ref XdrReader r) => r.ReadString()));
        });
    }

    [Fact]
    public void Optional_values_round_trip()
    {
        Gen.Select(Gen.Bool, Gen.Long, GenText).Sample((present, number, text) =>
        {
            long? value = present ? number : null;
            string? reference = present ? text : null;
            byte[] bytes = Encode(w =>
            {
                w.WriteOptionalValue(value, (x, v) => x.WriteInt64(v));
                w.WriteOptional(reference, (x, v) => x.WriteString(v));
            });
            var reader = new XdrReader(bytes);
            Assert.Equal(value, reader.ReadOptionalValue((ref XdrReader r) => r.ReadInt64()));
            Assert.Equal(reference, reader.ReadOptional((ref XdrReader r) => r.ReadString()));
            Assert.True(reader.IsAtEnd);
        });
    }

    [Fact]
    public void Writer_refuses_lengths_over_the_limit()
    {
        var output = new ArrayBufferWriter<byte>();
        var writer = new XdrWriter(output);
        Assert.Throws<XdrEncodeException>(() => writer.WriteString("abcde", maxLength: 4));
        Assert.Throws<XdrEncodeException>(() => writer.WriteVariableOpaque(new byte[5], 4));
        Assert.Throws<XdrEncodeException>(() => writer.WriteArray<int>(new int[3], 2, (x, v) => x.WriteInt32(v)));
        Assert.Equal(0, output.WrittenCount);
    }
}
