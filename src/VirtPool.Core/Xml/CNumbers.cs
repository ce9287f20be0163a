namespace VirtPool.Core.Xml;

/// <summary>
/// The C conversions libvirt's parsers are built on (strtol family through virStrToLong_*): optional
/// leading isspace(), an optional sign, a base prefix where the base allows one, at least one digit,
/// nothing after, no overflow of unsigned long.
/// </summary>
internal static class CNumbers
{
    /// <summary>virStrToLong_i: strtol, whole string, int range.</summary>
    public static bool TryInt(string text, int numberBase, out int value)
    {
        value = 0;
        if (!StrToInteger(text, numberBase, out var negative, out var magnitude) || magnitude > (ulong)long.MaxValue + (negative ? 1UL : 0UL))
        {
            return false;
        }

        var signed = negative ? -(Int128)magnitude : magnitude;
        if (signed < int.MinValue || signed > int.MaxValue)
        {
            return false;
        }

        value = (int)signed;
        return true;
    }

    /// <summary>virStrToLong_ll: strtoll, whole string, long range.</summary>
    public static bool TryLong(string text, int numberBase, out long value)
    {
        value = 0;
        if (!StrToInteger(text, numberBase, out var negative, out var magnitude))
        {
            return false;
        }

        var signed = negative ? -(Int128)magnitude : magnitude;
        if (signed < long.MinValue || signed > long.MaxValue)
        {
            return false;
        }

        value = (long)signed;
        return true;
    }

    /// <summary>virStrToLong_uip: strtoul refusing a '-' sign, whole string, unsigned int range.</summary>
    public static bool TryUIntP(string text, int numberBase, out uint value)
    {
        value = 0;
        if (!StrToInteger(text, numberBase, out var negative, out var magnitude) || negative || magnitude > uint.MaxValue)
        {
            return false;
        }

        value = (uint)magnitude;
        return true;
    }

    /// <summary>virStrToLong_ui: strtoul where "-N" wraps within unsigned int (N up to UINT_MAX), whole string.</summary>
    public static bool TryUInt(string text, int numberBase, out uint value)
    {
        value = 0;
        if (!StrToInteger(text, numberBase, out var negative, out var magnitude) || magnitude > uint.MaxValue)
        {
            return false;
        }

        value = negative ? unchecked((uint)-(long)magnitude) : (uint)magnitude;
        return true;
    }

    /// <summary>virStrToLong_ullp: strtoull refusing a '-' sign, whole string.</summary>
    public static bool TryULongLongP(string text, int numberBase, out ulong value)
    {
        if (!StrToInteger(text, numberBase, out var negative, out value) || negative)
        {
            value = 0;
            return false;
        }

        return true;
    }

    /// <summary>
    /// The common core of strtol/strtoul with a NULL end pointer: optional C whitespace, optional sign,
    /// base prefix (0x for base 0/16, leading 0 = octal for base 0), at least one digit, nothing after,
    /// no overflow of unsigned long.
    /// </summary>
    private static bool StrToInteger(string text, int numberBase, out bool negative, out ulong magnitude)
    {
        negative = false;
        magnitude = 0;
        var i = 0;
        while (i < text.Length && text[i] is ' ' or '\t' or '\n' or '\v' or '\f' or '\r')
        {
            i++;
        }

        if (i < text.Length && text[i] is '+' or '-')
        {
            negative = text[i] == '-';
            i++;
        }

        var effectiveBase = numberBase;
        if ((numberBase is 0 or 16) && i + 2 < text.Length && text[i] == '0' && text[i + 1] is 'x' or 'X' && HexValue(text[i + 2]) >= 0)
        {
            i += 2;
            effectiveBase = 16;
        }
        else if (numberBase == 0)
        {
            effectiveBase = i < text.Length && text[i] == '0' ? 8 : 10;
        }

        var start = i;
        var overflow = false;
        for (; i < text.Length; i++)
        {
            var digit = HexValue(text[i]);
            if (digit < 0 || digit >= effectiveBase)
            {
                break;
            }

            var next = ((UInt128)magnitude * (uint)effectiveBase) + (uint)digit;
            if (next > ulong.MaxValue)
            {
                overflow = true;
            }
            else
            {
                magnitude = (ulong)next;
            }
        }

        return i > start && i == text.Length && !overflow;
    }

    private static int HexValue(char c) => c switch
    {
        >= '0' and <= '9' => c - '0',
        >= 'a' and <= 'z' => c - 'a' + 10,
        >= 'A' and <= 'Z' => c - 'A' + 10,
        _ => -1,
    };
}
