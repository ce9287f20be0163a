using System.Xml;
using System.Xml.Linq;

namespace VirtPool.Core.Xml;

/// <summary>
/// libxml2's nesting limit: libvirt parses without XML_PARSE_HUGE, so an element that would open with
/// more than 256 elements already open ends the parse with "Excessive depth in document". System.Xml
/// has no such limit; without this check VirtPool would accept documents libvirt refuses.
/// </summary>
public static partial class XmlInput
{
    /// <summary>libxml2's xmlParserMaxDepth: the most elements that may be open when another one starts.</summary>
    private const int MaxOpenElements = 256;

    private const string ExcessiveDepth = "Excessive depth in document: 256 use XML_PARSE_HUGE option\n";

    /// <summary>
    /// The first element, in document order, with more than <see cref="MaxOpenElements"/> ancestors;
    /// null when there is none. Iterative: a document 100,000 levels deep must not overflow the stack.
    /// </summary>
    private static XElement? FirstTooDeep(XElement root)
    {
        var pending = new Stack<(XElement Element, int Ancestors)>();
        pending.Push((root, 0));
        while (pending.TryPop(out var next))
        {
            if (next.Ancestors > MaxOpenElements)
            {
                return next.Element;
            }

            // Children pushed last to first, so they come off the stack in document order.
            for (var child = next.Element.LastNode; child is not null; child = child.PreviousNode)
            {
                if (child is XElement element)
                {
                    pending.Push((element, next.Ancestors + 1));
                }
            }
        }

        return null;
    }

    /// <summary>The offset of the '&lt;' of an element whose line info points at its name.</summary>
    private static int StartOfTag(string xml, IXmlLineInfo element)
        => Math.Max(OffsetOf(xml, element.LineNumber, element.LinePosition) - 1, 0);
}
