namespace VirtPool.Cli.Parsing;

/// <summary>C's strtoull/strtoll for base 10 and libvirt's virStrToLong_* wrappers built on them.</summary>
internal static class CNumber
{
    /// <summary>
    /// strtoull(s, &amp;end, 10): leading white space, an optional sign, decimal digits. A '-' negates
    /// modulo 2^64. <paramref name="end"/> is the index after the digits, or 0 when there were none.
    /// </summary>
    public static ulong StrToULL(string s, out int end, out bool negative, out bool overflow)
    {
        var i = 0;
        while (i < s.Length && IsCSpace(s[i]))
        {
            i++;
        }

        negative = false;
        if (i < s.Length && (s[i] == '+' || s[i] == '-'))
        {
            negative = s[i] == '-';
            i++;
        }

        var digitsStart = i;
        ulong value = 0;
        overflow = false;
        while (i < s.Length && s[i] is >= '0' and <= '9')
        {
            var digit = (ulong)(s[i] - '0');
            if (!overflow)
            {
                if (value > (ulong.MaxValue - digit) / 10)
                {
                    overflow = true;
                }
                else
                {
                    value = (value * 10) + digit;
                }
            }

            i++;
        }

        if (i == digitsStart)
        {
            end = 0;
            negative = false;
            return 0;
        }

        end = i;
        if (overflow)
        {
            return ulong.MaxValue;
        }

        return negative ? unchecked(0UL - value) : value;
    }

    /// <summary>virStrToLong_ull: the whole string must be a number; negative values wrap.</summary>
    public static bool TryULongLong(string s, out ulong value)
    {
        value = StrToULL(s, out var end, out _, out var overflow);
        return end != 0 && end == s.Length && !overflow;
    }

    /// <summary>virStrToLong_ullp: as <see cref="TryULongLong"/> but a '-' sign is rejected.</summary>
    public static bool TryULongLongPositive(string s, out ulong value)
    {
        value = StrToULL(s, out var end, out var negative, out var overflow);
        return end != 0 && end == s.Length && !overflow && !negative;
    }

    /// <summary>virStrToLong_ullp with a trailing suffix allowed; <paramref name="end"/> is where the digits stop.</summary>
    public static bool TryULongLongPositivePrefix(string s, out ulong value, out int end)
    {
        value = StrToULL(s, out end, out var negative, out var overflow);
        return end != 0 && !overflow && !negative;
    }

    /// <summary>virStrToLong_i: a whole-string decimal that fits in an int.</summary>
    public static bool TryInt(string s, out int value)
    {
        var magnitude = StrToULL(s, out var end, out var negative, out var overflow);
        value = 0;
        if (end == 0 || end != s.Length || overflow)
        {
            return false;
        }

        // StrToULL already negated; recover the magnitude to check strtol's range, then int's.
        var abs = negative ? unchecked(0UL - magnitude) : magnitude;
        if (negative)
        {
            if (abs > 2147483648UL)
            {
                return false;
            }

            value = (int)(-(long)abs);
            return true;
        }

        if (abs > int.MaxValue)
        {
            return false;
        }

        value = (int)abs;
        return true;
    }

    /// <summary>virStrToLong_uip: a whole-string non-negative decimal that fits in an unsigned int.</summary>
    public static bool TryUIntPositive(string s, out uint value)
    {
        value = 0;
        if (!TryULongLongPositive(s, out var wide) || wide > uint.MaxValue)
        {
            return false;
        }

        value = (uint)wide;
        return true;
    }

    /// <summary>virStrToLong_ui: like <see cref="TryUIntPositive"/> but "-N" wraps when N fits in 32 bits.</summary>
    public static bool TryUIntWrap(string s, out uint value)
    {
        value = 0;
        var wide = StrToULL(s, out var end, out var negative, out var overflow);
        if (end == 0 || end != s.Length || overflow)
        {
            return false;
        }

        if (negative)
        {
            var magnitude = unchecked(0UL - wide);
            if (magnitude > uint.MaxValue)
            {
                return false;
            }

            wide &= uint.MaxValue;
        }

        if (wide > uint.MaxValue)
        {
            return false;
        }

        value = (uint)wide;
        return true;
    }

    /// <summary>C's isspace in the C locale.</summary>
    public static bool IsCSpace(char c) => c is ' ' or '\t' or '\n' or '\v' or '\f' or '\r';
}
