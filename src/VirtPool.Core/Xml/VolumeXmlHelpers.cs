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

    /// <summary>libxml2's node->name: the local name without prefix.</summary>
    public static string NodeName(XElement element) => element.Name.LocalName;

    private static string? NullIfEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;
}
