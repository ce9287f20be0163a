using VirtPool.Cli.Output;

namespace VirtPool.Cli.Tests.Output;

public class VirshSizeTests
{
    /// <summary>
    /// Sizes the captures show (vol-list --details, pool-list --details: 1023.00 B, 1.12 KiB for 1152 bytes,
    /// 2.62 KiB for 2688 bytes, 1024.00 KiB for 1048575 bytes, 5.00 TiB, 1.00 PiB...) plus boundaries worked out
    /// with vshPrettyCapacity's double arithmetic and C's "%.2lf" (exact value, ties to even).
    /// </summary>
    [Theory]
    [InlineData(0UL, "0.00 B")]
    [InlineData(1UL, "1.00 B")]
    [InlineData(1023UL, "1023.00 B")]
    [InlineData(1024UL, "1.00 KiB")]
    [InlineData(1025UL, "1.00 KiB")]
    [InlineData(1152UL, "1.12 KiB")]
    [InlineData(1535UL, "1.50 KiB")]
    [InlineData(1536UL, "1.50 KiB")]
    [InlineData(2688UL, "2.62 KiB")]
    [InlineData(5125UL, "5.00 KiB")]
    [InlineData(5130UL, "5.01 KiB")]
    [InlineData(10239UL, "10.00 KiB")]
    [InlineData(69632UL, "68.00 KiB")]
    [InlineData(1000UL, "1000.00 B")]
    [InlineData(999999UL, "976.56 KiB")]
    [InlineData(1047040UL, "1022.50 KiB")]
    [InlineData(1047552UL, "1023.00 KiB")]
    [InlineData(1048064UL, "1023.50 KiB")]
    [InlineData(1048575UL, "1024.00 KiB")]
    [InlineData(1048576UL, "1.00 MiB")]
    [InlineData(1572864UL, "1.50 MiB")]
    [InlineData(123456789UL, "117.74 MiB")]
    [InlineData(1073741823UL, "1024.00 MiB")]
    [InlineData(1073741824UL, "1.00 GiB")]
    [InlineData(1073745920UL, "1.00 GiB")]
    [InlineData(3221225472UL, "3.00 GiB")]
    [InlineData(270553174016UL, "251.97 GiB")]
    [InlineData(14719000576UL, "13.71 GiB")]
    [InlineData(255834173440UL, "238.26 GiB")]
    [InlineData(1099510579200UL, "1024.00 GiB")]
    [InlineData(1099511627775UL, "1024.00 GiB")]
    [InlineData(1099511627776UL, "1.00 TiB")]
    [InlineData(5497558138880UL, "5.00 TiB")]
    [InlineData(1125899906842623UL, "1024.00 TiB")]
    [InlineData(1125899906842624UL, "1.00 PiB")]
    [InlineData(9007199254740993UL, "8.00 PiB")]
    [InlineData(11258999068426239UL, "10.00 PiB")]
    [InlineData(1152921504606846975UL, "1.00 EiB")]
    [InlineData(1152921504606846976UL, "1.00 EiB")]
    [InlineData(9223372036854775808UL, "8.00 EiB")]
    [InlineData(18446744073709551615UL, "16.00 EiB")]
    public void Pretty_matches_vshPrettyCapacity(ulong bytes, string expected)
    {
        Assert.Equal(expected, VirshSize.Pretty(bytes));
    }

    [Fact]
    public void Scale_returns_value_and_unit()
    {
        var value = VirshSize.Scale(69632, out var unit);

        Assert.Equal(68.0, value);
        Assert.Equal("KiB", unit);
    }
}
