using System.Text;

namespace VirtPool.Core.Xml;

/// <summary>
/// libvirt's virBuffer as its formatters use it: two-space indentation adjusted by nesting,
/// single-quoted attributes, and virBufferEscapeString's escaping (which drops control characters).
/// </summary>
public sealed class XmlBuffer
{
    private readonly StringBuilder _sb = new();
    private int _indent;

    public int Indent => _indent;

    /// <summary>Appends one line at the current indentation; <paramref name="line"/> must already be escaped.</summary>
    public XmlBuffer Line(string line)
    {
        _sb.Append(' ', _indent).Append(line).Append('\n');
        return this;
    }

    /// <summary>Opens &lt;tag ...&gt; on its own line and indents what follows.</summary>
    public XmlBuffer Open(string tagWithAttributes)
    {
        Line("<" + tagWithAttributes + ">");
        _indent += 2;
        return this;
    }

    public XmlBuffer Close(string tag)
    {
        _indent -= 2;
        Line("</" + tag + ">");
        return this;
    }

    /// <summary>&lt;tag&gt;escaped value&lt;/tag&gt;, skipped when value is null (virBufferEscapeString).</summary>
    public XmlBuffer Element(string tag, string? value)
    {
        if (value is not null)
        {
            Line($"<{tag}>{Escape(value)}</{tag}>");
        }

        return this;
    }

    public void AdjustIndent(int delta) => _indent += delta;

    public override string ToString() => _sb.ToString();

    /// <summary>Escapes text for element content or a single-quoted attribute, as libvirt does.</summary>
    public static string Escape(string value)
    {
        if (value.AsSpan().IndexOfAny("<>&\"'") < 0 && !HasControl(value))
        {
            return value;
        }

        var sb = new StringBuilder(value.Length + 16);
        foreach (var c in value)
        {
            switch (c)
            {
                case '<': sb.Append("&lt;"); break;
                case '>': sb.Append("&gt;"); break;
                case '&': sb.Append("&amp;"); break;
                case '"': sb.Append("&quot;"); break;
                case '\'': sb.Append("&apos;"); break;
                default:
                    if (c >= 0x20 || c is '\n' or '\t' or '\r')
                    {
                        sb.Append(c);
                    }

                    break;
            }
        }

        return sb.ToString();
    }

    /// <summary>name='escaped value', or empty when value is null.</summary>
    public static string Attr(string name, string? value) => value is null ? string.Empty : $" {name}='{Escape(value)}'";

    private static bool HasControl(string value)
    {
        foreach (var c in value)
        {
            if (c < 0x20 && c is not ('\n' or '\t' or '\r'))
            {
                return true;
            }
        }

        return false;
    }
}
