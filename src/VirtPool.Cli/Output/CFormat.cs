using System.Globalization;
using System.Numerics;
using System.Text;

namespace VirtPool.Cli.Output;

/// <summary>The pieces of C's printf that virsh's output depends on.</summary>
public static class CFormat
{
    /// <summary>
    /// printf("%-Ns", text): pads with spaces to <paramref name="width"/> bytes of UTF-8 (printf counts
    /// bytes, so "vo-ü日本" takes 11 of the 20 columns of "%-20s").
    /// </summary>
    public static string PadRight(string text, int width)
    {
        var bytes = Encoding.UTF8.GetByteCount(text);
        return bytes >= width ? text : text + new string(' ', width - bytes);
    }

    /// <summary>
    /// printf("%.Nf", value) as glibc does it: the exact binary value rounded to
    /// <paramref name="decimals"/> places, ties to even (1.125 gives "1.12", 2.625 gives "2.62").
    /// </summary>
    public static string Fixed(double value, int decimals)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(decimals);
        if (double.IsNaN(value))
        {
            return double.IsNegative(value) ? "-nan" : "nan";
        }

        if (double.IsInfinity(value))
        {
            return value < 0 ? "-inf" : "inf";
        }

        var negative = double.IsNegative(value);
        var bits = BitConverter.DoubleToInt64Bits(Math.Abs(value));
        var exponent = (int)((bits >> 52) & 0x7FF);
        var mantissa = bits & 0xFFFFFFFFFFFFFL;
        if (exponent == 0)
        {
            exponent = 1;
        }
        else
        {
            mantissa |= 1L << 52;
        }

        // |value| = mantissa * 2^(exponent - 1075); scaled = |value| * 10^decimals, rounded half to even.
        var power = exponent - 1075;
        var numerator = new BigInteger(mantissa) * BigInteger.Pow(10, decimals);
        BigInteger scaled;
        if (power >= 0)
        {
            scaled = numerator << power;
        }
        else
        {
            var denominator = BigInteger.One << -power;
            scaled = BigInteger.DivRem(numerator, denominator, out var remainder);
            var twice = remainder * 2;
            if (twice > denominator || (twice == denominator && !scaled.IsEven))
            {
                scaled += 1;
            }
        }

        var digits = scaled.ToString(CultureInfo.InvariantCulture);
        if (decimals > 0)
        {
            digits = digits.PadLeft(decimals + 1, '0');
            digits = digits[..^decimals] + "." + digits[^decimals..];
        }

        return negative ? "-" + digits : digits;
    }
}
