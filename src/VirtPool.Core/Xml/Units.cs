using VirtPool.Core.Errors;

namespace VirtPool.Core.Xml;

/// <summary>
/// libvirt's virScaleInteger: b/byte/bytes; k,M,G,T,P,E alone or with "iB" are powers of 1024,
/// with "B" powers of 1000; suffixes are case-insensitive.
/// </summary>
public static class Units
{
    /// <summary>Scales <paramref name="value"/> by <paramref name="suffix"/>; throws libvirt's errors.</summary>
    public static ulong Scale(ulong value, string? suffix, ulong defaultScale, ulong limit)
    {
        ulong scale;
        if (string.IsNullOrEmpty(suffix))
        {
            scale = defaultScale;
        }
        else if (suffix.Equals("b", StringComparison.OrdinalIgnoreCase)
                 || suffix.Equals("byte", StringComparison.OrdinalIgnoreCase)
                 || suffix.Equals("bytes", StringComparison.OrdinalIgnoreCase))
        {
            scale = 1;
        }
        else
        {
            ulong unitBase;
            if (suffix.Length == 1 || suffix.AsSpan(1).Equals("iB", StringComparison.OrdinalIgnoreCase))
            {
                unitBase = 1024;
            }
            else if (suffix.AsSpan(1).Equals("B", StringComparison.OrdinalIgnoreCase))
            {
                unitBase = 1000;
            }
            else
            {
                throw VirtPoolException.InvalidArg($"unknown suffix '{suffix}'");
            }

            var power = char.ToLowerInvariant(suffix[0]) switch
            {
                'k' => 1,
                'm' => 2,
                'g' => 3,
                't' => 4,
                'p' => 5,
                'e' => 6,
                _ => throw VirtPoolException.InvalidArg($"unknown suffix '{suffix}'"),
            };
            scale = 1;
            for (var i = 0; i < power; i++)
            {
                scale *= unitBase;
            }
        }

        if (scale != 0 && value > limit / scale)
        {
            throw new VirtPoolException(VirErrorCode.Overflow, $"value too large: {value}{suffix}");
        }

        return value * scale;
    }

    /// <summary>
    /// Parses a decimal unsigned integer as virStrToLong_ullp does (optional leading '+', no '-').
    /// Returns the index where digits ended in <paramref name="end"/>.
    /// </summary>
    public static bool TryParseUnsigned(string text, out ulong value, out int end)
    {
        value = 0;
        end = 0;
        var i = 0;
        while (i < text.Length && char.IsWhiteSpace(text[i]))
        {
            i++;
        }

        if (i < text.Length && text[i] == '+')
        {
            i++;
        }

        var start = i;
        while (i < text.Length && text[i] is >= '0' and <= '9')
        {
            var digit = (ulong)(text[i] - '0');
            if (value > (ulong.MaxValue - digit) / 10)
            {
                return false;
            }

            value = (value * 10) + digit;
            i++;
        }

        end = i;
        return i > start;
    }

    /// <summary>Parses "NUMBER[SUFFIX]" the way virsh's vshVolSize and libvirt's XML size reader do.</summary>
    public static bool TryParseScaled(string text, ulong limit, out ulong bytes)
    {
        bytes = 0;
        if (!TryParseUnsigned(text, out var value, out var end))
        {
            return false;
        }

        bytes = Scale(value, text[end..], 1, limit);
        return true;
    }
}
