using System.Globalization;
using System.Text;

namespace VirtPool.Cli.Tests.Support;

/// <summary>A line diff for reports: ' ' both, '-' expected only, '+' actual only; '$' ends each line.</summary>
public static class TextDiff
{
    public static string Lines(string expected, string actual)
    {
        var a = Split(expected);
        var b = Split(actual);

        // longest common subsequence on lines (outputs here are short)
        var lcs = new int[a.Count + 1, b.Count + 1];
        for (var i = a.Count - 1; i >= 0; i--)
        {
            for (var j = b.Count - 1; j >= 0; j--)
            {
                lcs[i, j] = a[i] == b[j] ? lcs[i + 1, j + 1] + 1 : Math.Max(lcs[i + 1, j], lcs[i, j + 1]);
            }
        }

        var sb = new StringBuilder();
        int x = 0, y = 0;
        while (x < a.Count || y < b.Count)
        {
            if (x < a.Count && y < b.Count && a[x] == b[y])
            {
                sb.Append("     ").Append(Show(a[x])).Append('\n');
                x++;
                y++;
            }
            else if (y < b.Count && (x == a.Count || lcs[x, y + 1] >= lcs[x + 1, y]))
            {
                sb.Append("   + ").Append(Show(b[y])).Append('\n');
                y++;
            }
            else
            {
                sb.Append("   - ").Append(Show(a[x])).Append('\n');
                x++;
            }
        }

        return sb.ToString();
    }

    /// <summary>Lines with their ends: a last line without '\n' shows no '$'.</summary>
    private static List<string> Split(string text)
    {
        var lines = new List<string>();
        var start = 0;
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] == '\n')
            {
                lines.Add(text[start..(i + 1)]);
                start = i + 1;
            }
        }

        if (start < text.Length)
        {
            lines.Add(text[start..]);
        }

        return lines;
    }

    private static string Show(string line)
    {
        var readable = Bytes.Readable(line);
        var sb = new StringBuilder(readable.Length + 2);
        foreach (var c in readable)
        {
            switch (c)
            {
                case '\n':
                    sb.Append('$');
                    break;
                case '\t':
                    sb.Append("\\t");
                    break;
                case '\r':
                    sb.Append("\\r");
                    break;
                default:
                    if (char.IsControl(c))
                    {
                        sb.Append(CultureInfo.InvariantCulture, $"\\x{(int)c:x2}");
                    }
                    else
                    {
                        sb.Append(c);
                    }

                    break;
            }
        }

        if (line.Length > 0 && line[^1] != '\n')
        {
            sb.Append("  (no newline at end)");
        }

        return sb.ToString();
    }
}
