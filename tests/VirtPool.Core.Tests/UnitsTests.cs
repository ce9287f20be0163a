using VirtPool.Core.Errors;
using VirtPool.Core.Xml;

namespace VirtPool.Core.Tests;

public class UnitsTests
{
    [Theory]
    [InlineData("10", 10UL)]
    [InlineData("10b", 10UL)]
    [InlineData("10bytes", 10UL)]
    [InlineData("1k", 1024UL)]
    [InlineData("1KiB", 1024UL)]
    [InlineData("1KB", 1000UL)]
    [InlineData("1kb", 1000UL)]
    [InlineData("2M", 2UL * 1024 * 1024)]
    [InlineData("2MB", 2_000_000UL)]
    [InlineData("1G", 1UL << 30)]
    [InlineData("1GiB", 1UL << 30)]
    [InlineData("1T", 1UL << 40)]
    [InlineData("1P", 1UL << 50)]
    [InlineData("1E", 1UL << 60)]
    [InlineData("1EB", 1_000_000_000_000_000_000UL)]
    [InlineData("+5", 5UL)]
    public void Scales_like_virScaleInteger(string text, ulong expected)
    {
        Assert.True(Units.TryParseScaled(text, ulong.MaxValue, out var bytes));
        Assert.Equal(expected, bytes);
    }

    [Theory]
    [InlineData("1x", "invalid argument: unknown suffix 'x'")]
    [InlineData("1Kx", "invalid argument: unknown suffix 'Kx'")]
    [InlineData("1KiBB", "invalid argument: unknown suffix 'KiBB'")]
    public void Unknown_suffixes_are_refused_with_libvirts_message(string text, string message)
    {
        var ex = Assert.Throws<VirtPoolException>(() => Units.TryParseScaled(text, ulong.MaxValue, out _));
        Assert.Equal(message, ex.Message);
        Assert.Equal(VirErrorCode.InvalidArg, ex.Code);
    }

    [Fact]
    public void Overflow_is_reported_not_wrapped()
    {
        var ex = Assert.Throws<VirtPoolException>(() => Units.Scale(16, "E", 1, long.MaxValue));
        Assert.Equal(VirErrorCode.Overflow, ex.Code);
        Assert.Equal("numerical overflow: value too large: 16E", ex.Message);
    }

    [Theory]
    [InlineData("")]
    [InlineData("abc")]
    [InlineData("-1")]
    [InlineData("99999999999999999999999")]
    public void Non_numbers_do_not_parse(string text) => Assert.False(Units.TryParseScaled(text, ulong.MaxValue, out _));
}
