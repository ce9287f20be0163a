using System.Xml.Linq;

namespace VirtPool.Core.Xml;

/// <summary>
/// The few XPath forms libvirt's volume parser uses, over LINQ to XML with libxml2's semantics:
/// steps match un-namespaced elements by name, results come in document order, and
/// string(...) is the text of the first match, with "" treated as absent (virXPathString).
/// </summary>
internal static class VolumeXmlNodes
{
    /// <summary>./a/b/c relative to <paramref name="context"/>, in document order.</summary>
    public static IEnumerable<XElement> Select(XElement context, params string[] steps)
    {
        IEnumerable<XElement> current = [context];
        foreach (var step in steps)
        {
            var name = XName.Get(step);
            current = current.SelectMany(e => e.Elements(name));
        }

        return current;
    }

    /// <summary>virXPathNode: the first match or null.</summary>
    public static XElement? Node(XElement context, params string[] steps) => Select(context, steps).FirstOrDefault();

    /// <summary>virXPathString("string(./a/b)"): the first match's text, null when none or empty.</summary>
    public static string? String(XElement context, params string[] steps)
    {
        var node = Node(context, steps);
        return NullIfEmpty(node?.Value);
    }

    /// <summary>virXPathString("string(./a/b/@attr)"): the first such attribute in document order.</summary>
    public static string? AttributeString(XElement context, string attribute, params string[] steps)
    {
        var name = XName.Get(attribute);
        foreach (var element in Select(context, steps))
        {
            var attr = element.Attribute(name);
            if (attr is not null)
            {
                return NullIfEmpty(attr.Value);
            }
        }

        return null;
    }

    /// <summary>virXMLPropString (xmlGetProp): the attribute's value, "" when empty, null when missing.</summary>
    public static string? Prop(XElement element, string attribute)
    {
        foreach (var attr in element.Attributes())
        {
            if (!attr.IsNamespaceDeclaration && attr.Name.LocalName == attribute)
            {
                return attr.Value;
            }
        }

        return null;
    }

    /// <summary>libxml2's node->name: the local name without prefix.</summary>
    public static string NodeName(XElement element) => element.Name.LocalName;

    private static string? NullIfEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;
}

/// <summary>
/// The C conversions libvirt's parsers are built on (strtol family through virStrToLong_*):
/// optional leading isspace(), an optional sign, at least one digit, nothing after.
/// </summary>
internal static class CNumbers
{
    /// <summary>virStrToLong_ullp: unsigned long long, a '-' anywhere in the number is refused.</summary>
    public static bool TryULongLongP(string text, int numberBase, out ulong value)
    {
        if (!TryParseMagnitude(text, numberBase, out var negative, out value) || negative)
        {
            value = 0;
            return false;
        }

        return true;
    }

    /// <summary>virStrToLong_uip: unsigned int, no '-'.</summary>
    public static bool TryUIntP(string text, int numberBase, out uint value)
    {
        value = 0;
        if (!TryParseMagnitude(text, numberBase, out var negative, out var magnitude) || negative || magnitude > uint.MaxValue)
        {
            return false;
        }

        value = (uint)magnitude;
        return true;
    }

    /// <summary>virStrToLong_ui: unsigned int where "-N" wraps as in C, for N up to UINT_MAX.</summary>
    public static bool TryUInt(string text, int numberBase, out uint value)
    {
        value = 0;
        if (!TryParseMagnitude(text, numberBase, out var negative, out var magnitude) || magnitude > uint.MaxValue)
        {
            return false;
        }

        value = negative ? unchecked((uint)(0 - (uint)magnitude)) : (uint)magnitude;
        return true;
    }

    /// <summary>C's isspace() in the C locale.</summary>
    public static bool IsCSpace(char c) => c is ' ' or '\t' or '\n' or '\v' or '\f' or '\r';

    /// <summary>
    /// The strtoull scan: whitespace, sign, digits of <paramref name="numberBase"/> (8 or 10), and the
    /// whole string consumed. False on no digits, trailing text or a magnitude beyond 64 bits (ERANGE).
    /// </summary>
    private static bool TryParseMagnitude(string text, int numberBase, out bool negative, out ulong magnitude)
    {
        negative = false;
        magnitude = 0;
        var i = 0;
        while (i < text.Length && IsCSpace(text[i]))
        {
            i++;
        }

        if (i < text.Length && text[i] is '+' or '-')
        {
            negative = text[i] == '-';
            i++;
        }

        var start = i;
        var overflow = false;
        var limit = (char)('0' + numberBase);
        while (i < text.Length && text[i] >= '0' && text[i] < limit)
        {
            var digit = (ulong)(text[i] - '0');
            if (magnitude > (ulong.MaxValue - digit) / (ulong)numberBase)
            {
                overflow = true;
            }
            else
            {
                magnitude = (magnitude * (ulong)numberBase) + digit;
            }

            i++;
        }

        return i > start && i == text.Length && !overflow;
    }
}
