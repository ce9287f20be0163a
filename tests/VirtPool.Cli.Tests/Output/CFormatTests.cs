using VirtPool.Cli.Output;

namespace VirtPool.Cli.Tests.Output;

public class CFormatTests
{
    [Theory]
    [InlineData(0.0, 2, "0.00")]
    [InlineData(1.125, 2, "1.12")]
    [InlineData(1.375, 2, "1.38")]
    [InlineData(2.5, 0, "2")]
    [InlineData(3.5, 0, "4")]
    [InlineData(0.005, 2, "0.01")]
    [InlineData(0.015, 2, "0.01")]
    [InlineData(1023.999, 2, "1024.00")]
    [InlineData(-1.125, 2, "-1.12")]
    [InlineData(12.3456, 3, "12.346")]
    [InlineData(1e20, 2, "100000000000000000000.00")]
    public void Fixed_rounds_the_exact_binary_value_half_to_even(double value, int decimals, string expected)
    {
        Assert.Equal(expected, CFormat.Fixed(value, decimals));
    }

    [Fact]
    public void Fixed_special_values()
    {
        Assert.Equal("inf", CFormat.Fixed(double.PositiveInfinity, 2));
        Assert.Equal("-inf", CFormat.Fixed(double.NegativeInfinity, 2));
        Assert.Equal("-0.00", CFormat.Fixed(-0.0, 2));
    }

    [Theory]
    [InlineData("vo-a", 20, "vo-a                ")]
    [InlineData("vo-\u00FC\u65E5\u672C", 20, "vo-\u00FC\u65E5\u672C         ")]
    [InlineData("a-name-longer-than-twenty", 20, "a-name-longer-than-twenty")]
    [InlineData("Name:", 15, "Name:          ")]
    public void PadRight_counts_utf8_bytes_like_printf(string text, int width, string expected)
    {
        Assert.Equal(expected, CFormat.PadRight(text, width));
    }
}
