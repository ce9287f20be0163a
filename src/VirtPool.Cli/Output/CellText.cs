using System.Globalization;
using System.Text;

namespace VirtPool.Cli.Output;

/// <summary>
/// What vshTable does to a cell before measuring it (vshTableSafeEncode): control characters and a
/// backslash followed by 'x' become "\xNN"; characters the locale cannot print become "\xff" per byte
/// (virsh formats a signed char, which the 4-character buffer truncates); the rest is kept and measured
/// in terminal columns (wide East Asian characters count 2, combining marks 0).
/// </summary>
public static class CellText
{
    // East Asian Width W and F ranges (Unicode 15), as glib's g_unichar_iswide uses them.
    private static readonly int[] WideRanges =
    [
        0x1100, 0x115F, 0x231A, 0x231B, 0x2329, 0x232A, 0x23E9, 0x23EC, 0x23F0, 0x23F0, 0x23F3, 0x23F3,
        0x25FD, 0x25FE, 0x2614, 0x2615, 0x2648, 0x2653, 0x267F, 0x267F, 0x2693, 0x2693, 0x26A1, 0x26A1,
        0x26AA, 0x26AB, 0x26BD, 0x26BE, 0x26C4, 0x26C5, 0x26CE, 0x26CE, 0x26D4, 0x26D4, 0x26EA, 0x26EA,
        0x26F2, 0x26F3, 0x26F5, 0x26F5, 0x26FA, 0x26FA, 0x26FD, 0x26FD, 0x2705, 0x2705, 0x270A, 0x270B,
        0x2728, 0x2728, 0x274C, 0x274C, 0x274E, 0x274E, 0x2753, 0x2755, 0x2757, 0x2757, 0x2795, 0x2797,
        0x27B0, 0x27B0, 0x27BF, 0x27BF, 0x2B1B, 0x2B1C, 0x2B50, 0x2B50, 0x2B55, 0x2B55, 0x2E80, 0x2E99,
        0x2E9B, 0x2EF3, 0x2F00, 0x2FD5, 0x2FF0, 0x2FFB, 0x3000, 0x303E, 0x3041, 0x3096, 0x3099, 0x30FF,
        0x3105, 0x312F, 0x3131, 0x318E, 0x3190, 0x31E3, 0x31F0, 0x321E, 0x3220, 0x3247, 0x3250, 0x4DBF,
        0x4E00, 0xA48C, 0xA490, 0xA4C6, 0xA960, 0xA97C, 0xAC00, 0xD7A3, 0xF900, 0xFAFF, 0xFE10, 0xFE19,
        0xFE30, 0xFE52, 0xFE54, 0xFE66, 0xFE68, 0xFE6B, 0xFF01, 0xFF60, 0xFFE0, 0xFFE6, 0x16FE0, 0x16FE4,
        0x16FF0, 0x16FF1, 0x17000, 0x187F7, 0x18800, 0x18CD5, 0x18D00, 0x18D08, 0x1AFF0, 0x1AFF3,
        0x1AFF5, 0x1AFFB, 0x1AFFD, 0x1AFFE, 0x1B000, 0x1B122, 0x1B132, 0x1B132, 0x1B150, 0x1B152,
        0x1B155, 0x1B155, 0x1B164, 0x1B167, 0x1B170, 0x1B2FB, 0x1F004, 0x1F004, 0x1F0CF, 0x1F0CF,
        0x1F18E, 0x1F18E, 0x1F191, 0x1F19A, 0x1F200, 0x1F202, 0x1F210, 0x1F23B, 0x1F240, 0x1F248,
        0x1F250, 0x1F251, 0x1F260, 0x1F265, 0x1F300, 0x1F320, 0x1F32D, 0x1F335, 0x1F337, 0x1F37C,
        0x1F37E, 0x1F393, 0x1F3A0, 0x1F3CA, 0x1F3CF, 0x1F3D3, 0x1F3E0, 0x1F3F0, 0x1F3F4, 0x1F3F4,
        0x1F3F8, 0x1F43E, 0x1F440, 0x1F440, 0x1F442, 0x1F4FC, 0x1F4FF, 0x1F53D, 0x1F54B, 0x1F54E,
        0x1F550, 0x1F567, 0x1F57A, 0x1F57A, 0x1F595, 0x1F596, 0x1F5A4, 0x1F5A4, 0x1F5FB, 0x1F64F,
        0x1F680, 0x1F6C5, 0x1F6CC, 0x1F6CC, 0x1F6D0, 0x1F6D2, 0x1F6D5, 0x1F6D7, 0x1F6DC, 0x1F6DF,
        0x1F6EB, 0x1F6EC, 0x1F6F4, 0x1F6FC, 0x1F7E0, 0x1F7EB, 0x1F7F0, 0x1F7F0, 0x1F90C, 0x1F93A,
        0x1F93C, 0x1F945, 0x1F947, 0x1F9FF, 0x1FA70, 0x1FA7C, 0x1FA80, 0x1FA88, 0x1FA90, 0x1FABD,
        0x1FABF, 0x1FAC5, 0x1FACE, 0x1FADB, 0x1FAE0, 0x1FAE8, 0x1FAF0, 0x1FAF8, 0x20000, 0x2FFFD,
        0x30000, 0x3FFFD,
    ];

    /// <summary>The cell as vshTable prints it, and its width in columns.</summary>
    /// <param name="text">The cell's text.</param>
    /// <param name="utf8Locale">virsh runs in a UTF-8 locale (else the C locale: every non-ASCII byte is "\xff").</param>
    public static (string Text, int Width) Encode(string text, bool utf8Locale)
    {
        var output = new StringBuilder(text.Length);
        var width = 0;
        var i = 0;
        while (i < text.Length)
        {
            var c = text[i];
            if ((c == '\\' && i + 1 < text.Length && text[i + 1] == 'x') || c < 0x20 || c == 0x7F)
            {
                output.Append("\\x").Append(((int)c).ToString("x2", CultureInfo.InvariantCulture));
                width += 4;
                i++;
                continue;
            }

            if (c < 0x80)
            {
                output.Append(c);
                width++;
                i++;
                continue;
            }

            var status = Rune.DecodeFromUtf16(text.AsSpan(i), out var rune, out var consumed);
            if (status != System.Buffers.OperationStatus.Done)
            {
                rune = Rune.ReplacementChar;
                consumed = 1;
            }

            if (!utf8Locale || !IsPrintable(rune))
            {
                for (var b = 0; b < rune.Utf8SequenceLength; b++)
                {
                    output.Append("\\xff");
                    width += 4;
                }
            }
            else
            {
                output.Append(text, i, consumed);
                width += ColumnWidth(rune);
            }

            i += consumed;
        }

        return (output.ToString(), width);
    }

    /// <summary>glib's column width of a printable character: 0 (zero-width), 2 (wide) or 1.</summary>
    public static int ColumnWidth(Rune rune)
    {
        if (IsZeroWidth(rune))
        {
            return 0;
        }

        return IsWide(rune.Value) ? 2 : 1;
    }

    /// <summary>iswprint in glibc's UTF-8 locales: assigned, not a control, not U+2028/U+2029.</summary>
    private static bool IsPrintable(Rune rune)
    {
        var category = Rune.GetUnicodeCategory(rune);
        return category is not (UnicodeCategory.Control or UnicodeCategory.OtherNotAssigned or UnicodeCategory.Surrogate)
               && rune.Value is not (0x2028 or 0x2029);
    }

    /// <summary>g_unichar_iszerowidth.</summary>
    private static bool IsZeroWidth(Rune rune)
    {
        var value = rune.Value;
        if (value == 0x00AD)
        {
            return false;
        }

        var category = Rune.GetUnicodeCategory(rune);
        if (category is UnicodeCategory.NonSpacingMark or UnicodeCategory.EnclosingMark or UnicodeCategory.Format)
        {
            return true;
        }

        return value is (>= 0x1160 and < 0x1200) or (>= 0xD7B0 and < 0xD800) or 0x200B;
    }

    private static bool IsWide(int value)
    {
        int low = 0, high = (WideRanges.Length / 2) - 1;
        while (low <= high)
        {
            var mid = (low + high) / 2;
            if (value < WideRanges[mid * 2])
            {
                high = mid - 1;
            }
            else if (value > WideRanges[(mid * 2) + 1])
            {
                low = mid + 1;
            }
            else
            {
                return true;
            }
        }

        return false;
    }
}
