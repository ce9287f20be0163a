using VirtPool.Cli.Parsing;

namespace VirtPool.Cli.Tests.Parsing;

public class ParsedCommandTests
{
    /// <summary>Captured: <c>virsh pool-info --pool=</c> printed "error: Failed to get option 'pool': Option argument is empty".</summary>
    [Fact]
    public void Empty_value_is_rejected_by_GetStringReq()
    {
        var command = CommandParser.ParseOne("pool-info", "--pool=");

        var error = Assert.Throws<VirshOptionException>(() => command.GetStringReq("pool"));

        Assert.Equal("Failed to get option 'pool': Option argument is empty", error.Message);
    }

    [Fact]
    public void GetStringReq_returns_null_for_an_absent_option()
    {
        var command = CommandParser.ParseOne("vol-info", "v");

        Assert.Null(command.GetStringReq("pool"));
        Assert.Equal("v", command.GetStringReq("vol"));
    }

    [Fact]
    public void TryGetStringQuiet_fails_silently_on_empty()
    {
        var empty = CommandParser.ParseOne("pool-dumpxml", "p", "--xpath=");
        var given = CommandParser.ParseOne("pool-dumpxml", "p", "--xpath", "/pool");
        var absent = CommandParser.ParseOne("pool-dumpxml", "p");

        Assert.False(empty.TryGetStringQuiet("xpath", out _));
        Assert.True(given.TryGetStringQuiet("xpath", out var xpath));
        Assert.Equal("/pool", xpath);
        Assert.True(absent.TryGetStringQuiet("xpath", out var none));
        Assert.Null(none);
    }

    /// <summary>Captured: <c>virsh vol-upload x68k /tmp/none --pool vo-a --offset -1</c>.</summary>
    [Fact]
    public void Negative_offset_is_malformed()
    {
        var command = CommandParser.ParseOne("vol-upload", "x68k", "/tmp/none", "--pool", "vo-a", "--offset", "-1");

        var error = Assert.Throws<VirshOptionException>(() => command.GetULongLong("offset"));

        Assert.Equal("Numeric value '-1' for <offset> option is malformed or out of range", error.Message);
    }

    /// <summary>Captured: <c>virsh vol-upload ... --length -1</c> got past option parsing (it failed opening the file).</summary>
    [Fact]
    public void Negative_length_wraps()
    {
        var command = CommandParser.ParseOne("vol-upload", "x68k", "/tmp/none", "--length", "-1");

        Assert.Equal(ulong.MaxValue, command.GetULongLong("length", wrap: true));
    }

    [Theory]
    [InlineData("0", 0UL)]
    [InlineData("18446744073709551615", ulong.MaxValue)]
    [InlineData(" 42", 42UL)]
    [InlineData("+7", 7UL)]
    public void ULongLong_accepts(string text, ulong expected)
    {
        var command = CommandParser.ParseOne("vol-download", "v", "f", "--offset", text);

        Assert.Equal(expected, command.GetULongLong("offset"));
    }

    [Theory]
    [InlineData("")]
    [InlineData("x")]
    [InlineData("1x")]
    [InlineData("1 ")]
    [InlineData("18446744073709551616")]
    [InlineData("-0")]
    public void ULongLong_rejects(string text)
    {
        var command = CommandParser.ParseOne("vol-download", "v", "f", "--offset", text);

        var error = Assert.Throws<VirshOptionException>(() => command.GetULongLong("offset"));
        Assert.Equal($"Numeric value '{text}' for <offset> option is malformed or out of range", error.Message);
    }

    [Theory]
    [InlineData("-1", 4294967295U)]
    [InlineData("-4294967295", 1U)]
    [InlineData("4294967295", 4294967295U)]
    public void UInt_wrap(string text, uint expected)
    {
        var command = CommandParser.ParseOne("vol-download", "v", "f", "--offset", text);

        Assert.Equal(expected, command.GetUInt("offset", wrap: true));
    }

    [Theory]
    [InlineData("-1")]
    [InlineData("4294967296")]
    public void UInt_positive_rejects(string text)
    {
        var command = CommandParser.ParseOne("vol-download", "v", "f", "--offset", text);

        Assert.Throws<VirshOptionException>(() => command.GetUInt("offset"));
    }

    [Theory]
    [InlineData("-2147483648", int.MinValue)]
    [InlineData("2147483647", int.MaxValue)]
    public void Int_range(string text, int expected)
    {
        var command = CommandParser.ParseOne("vol-download", "v", "f", "--offset", text);

        Assert.Equal(expected, command.GetInt("offset"));
    }

    [Fact]
    public void Int_overflow_is_malformed()
    {
        var command = CommandParser.ParseOne("vol-download", "v", "f", "--offset", "2147483648");

        Assert.Throws<VirshOptionException>(() => command.GetInt("offset"));
    }

    [Theory]
    [InlineData("10", 10UL)]
    [InlineData("10k", 10240UL)]
    [InlineData("1KB", 1000UL)]
    [InlineData("2MiB", 2097152UL)]
    public void Scaled_int(string text, ulong expected)
    {
        var command = CommandParser.ParseOne("vol-download", "v", "f", "--offset", text);

        Assert.Equal(expected, command.GetScaledInt("offset", 1, ulong.MaxValue));
    }

    [Theory]
    [InlineData("12Q")]
    [InlineData("-1")]
    [InlineData("99999999999E")]
    public void Scaled_int_errors(string text)
    {
        var command = CommandParser.ParseOne("vol-download", "v", "f", "--offset", text);

        var error = Assert.Throws<VirshOptionException>(() => command.GetScaledInt("offset", 1, ulong.MaxValue));
        Assert.Equal($"Scaled numeric value '{text}' for <offset> option is malformed or out of range", error.Message);
    }

    [Fact]
    public void Asking_for_an_undefined_option_is_a_programming_error()
    {
        var command = CommandParser.ParseOne("pool-info", "p");

        Assert.Throws<ArgumentException>(() => command.Has("nosuch"));
        Assert.Throws<ArgumentException>(() => command.GetString("bytes"));
    }

    [Fact]
    public void Absent_numbers_are_null()
    {
        var command = CommandParser.ParseOne("vol-download", "v", "f");

        Assert.Null(command.GetULongLong("offset"));
        Assert.Null(command.GetInt("length"));
        Assert.Null(command.GetUInt("length"));
        Assert.Null(command.GetScaledInt("length", 1, 100));
    }
}
