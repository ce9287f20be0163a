using VirtPool.Rpc.Xdr;

namespace VirtPool.Rpc.Tests;

/// <summary>Malformed XDR raises XdrFormatException, checked before anything is allocated.</summary>
public class XdrRobustnessTests
{
    private delegate void ReadAction(ref XdrReader reader);

    private static XdrFormatException Fails(string hex, ReadAction read)
    {
        byte[] bytes = Hex.Parse(hex);
        return Assert.Throws<XdrFormatException>(() =>
        {
            var reader = new XdrReader(bytes);
            read(ref reader);
        });
    }

    [Theory]
    [InlineData("ffffffff")] // -1 as a length
    [InlineData("80000000")] // int.MinValue
    [InlineData("7fffffff")] // int.MaxValue: padding it would overflow an int
    [InlineData("7ffffffd")]
    [InlineData("00400001")] // one past REMOTE_STRING_MAX
    public void Huge_or_negative_string_length_is_rejected(string lengthWord)
    {
        Fails(lengthWord + "61626364", (ref XdrReader r) => r.ReadString());
        Fails("00000001" + lengthWord + "61626364", (ref XdrReader r) => r.ReadOptionalString());
        Fails(lengthWord + "61626364", (ref XdrReader r) => r.ReadVariableOpaque(int.MaxValue));
    }

    [Fact]
    public void String_longer_than_its_limit_is_rejected_even_when_the_bytes_are_there()
    {
        var ex = Fails("00000005 61626364 65000000", (ref XdrReader r) => r.ReadString(maxLength: 4));
        Assert.Contains("exceeds the limit 4", ex.Message, StringComparison.Ordinal);
        Assert.Equal(0, ex.Offset);
    }

    [Fact]
    public void Length_beyond_the_remaining_bytes_is_rejected()
    {
        Fails("00000008 61626364", (ref XdrReader r) => r.ReadString());
        Fails("00000008 61626364", (ref XdrReader r) => r.ReadVariableOpaque(100));
    }

    [Fact]
    public void Missing_padding_is_rejected()
    {
        // 5 bytes of string present, but its 3 pad bytes are not.
        Fails("00000005 61626364 65", (ref XdrReader r) => r.ReadString());
        Fails("616263", (ref XdrReader r) => r.ReadFixedOpaque(3));
    }

    [Theory]
    [InlineData("ffffffff")]
    [InlineData("80000000")]
    [InlineData("00004001")] // one past REMOTE_STORAGE_POOL_LIST_MAX
    public void Huge_or_negative_array_count_is_rejected(string countWord)
    {
        Fails(countWord + "00000000", (ref XdrReader r) => r.ReadArray(RpcLimits.StoragePoolListMax, (ref XdrReader e) => e.ReadInt32()));
    }

    [Fact]
    public void Array_count_needing_more_bytes_than_remain_is_rejected_before_allocating()
    {
        // 16384 elements claimed (within the limit), 8 bytes follow: must fail without allocating 16384 slots.
        byte[] bytes = Hex.Parse("00004000 00000001 00000002");
        var reader = new XdrReader(bytes);
        reader.ReadInt32(); // warm up
        long before = GC.GetAllocatedBytesForCurrentThread();
        bool threw = false;
        try
        {
            var r = new XdrReader(bytes);
            r.ReadArray(RpcLimits.StoragePoolListMax, (ref XdrReader e) => (object)e.ReadString());
        }
        catch (XdrFormatException)
        {
            threw = true;
        }

        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(threw);
        Assert.True(allocated < 16_384 * 8, $"allocated {allocated} bytes");
    }

    [Fact]
    public void Every_truncation_of_a_primitive_fails()
    {
        byte[] eight = new byte[8];
        for (int length = 0; length < 8; length++)
        {
            byte[] bytes = eight[..length];
            if (length < 4)
            {
                Assert.Throws<XdrFormatException>(() => new XdrReader(bytes).ReadInt32());
                Assert.Throws<XdrFormatException>(() => new XdrReader(bytes).ReadUInt32());
                Assert.Throws<XdrFormatException>(() => new XdrReader(bytes).ReadBool());
                Assert.Throws<XdrFormatException>(() => new XdrReader(bytes).ReadEnum<RpcMessageType>());
                Assert.Throws<XdrFormatException>(() => new XdrReader(bytes).ReadString());
                Assert.Throws<XdrFormatException>(() => new XdrReader(bytes).ReadOptionalString());
            }

            Assert.Throws<XdrFormatException>(() => new XdrReader(bytes).ReadInt64());
            Assert.Throws<XdrFormatException>(() => new XdrReader(bytes).ReadUInt64());
            Assert.Throws<XdrFormatException>(() => new XdrReader(bytes).ReadUuid());
        }
    }

    [Fact]
    public void Empty_reader_reports_the_failing_offset()
    {
        var ex = Fails("00000001 00000002", (ref XdrReader r) =>
        {
            r.ReadInt32();
            r.ReadInt32();
            r.ReadInt32();
        });
        Assert.Equal(8, ex.Offset);
    }

    [Fact]
    public void Trailing_bytes_are_left_for_the_caller()
    {
        // libvirt accepts trailing bytes after a complete args struct (spec 2.2); the reader just reports them.
        var reader = new XdrReader(Hex.Parse("0000000a 00000000"));
        Assert.Equal(10, reader.ReadInt32());
        Assert.Equal(4, reader.Remaining);
        reader.SkipRemaining();
        Assert.True(reader.IsAtEnd);
    }
}
