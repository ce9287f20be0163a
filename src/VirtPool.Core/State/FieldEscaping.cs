using System.Text;

namespace VirtPool.Core.State;

/// <summary>
/// The escaping of one field of the tab-separated state files (the volume index, the volume labels):
/// backslash, TAB and LF are written as <c>\\</c>, <c>\t</c> and <c>\n</c>, so a field never splits a
/// line or a record. Reading takes any other escaped character as itself, and a lone trailing
/// backslash as a backslash, which is what both files have always done.
/// </summary>
internal static class FieldEscaping
{
    public static string Escape(string s)
        => s.AsSpan().IndexOfAny("\\\t\n") < 0
            ? s
            : s.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\t", "\\t", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);

    public static string Unescape(ReadOnlySpan<char> s)
    {
        if (s.IndexOf('\\') < 0)
        {
            return s.ToString();
        }

        var sb = new StringBuilder(s.Length);
        for (var i = 0; i < s.Length; i++)
        {
            if (s[i] == '\\' && i + 1 < s.Length)
            {
                i++;
                sb.Append(s[i] switch { 't' => '\t', 'n' => '\n', _ => s[i] });
            }
            else
            {
                sb.Append(s[i]);
            }
        }

        return sb.ToString();
    }
}
