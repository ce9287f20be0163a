using System.Xml;
using System.Xml.Linq;
using System.Xml.XPath;
using VirtPool.Core.Errors;

namespace VirtPool.Core.Xml;

/// <summary>
/// The libvirt XML accessors the pool parser relies on, with their exact semantics and error messages:
/// virXPathString (empty string = absent), virXMLPropString (attribute by name, empty kept),
/// virXMLPropEnum/TristateBool/Int/UInt and the virStrToLong_* number rules (strtol-like, whole string).
/// </summary>
internal static class PoolXmlReading
{
    /// <summary>virXPathString("string(XPATH)"): the string value, or null when it is empty.</summary>
    public static string? XString(XElement context, string xpath, IXmlNamespaceResolver? namespaces = null)
    {
        var value = (string)context.XPathEvaluate("string(" + xpath + ")", namespaces);
        return value.Length == 0 ? null : value;
    }

    /// <summary>virXPathNode: the first element the path selects, in document order.</summary>
    public static XElement? XNode(XElement? context, string xpath, IXmlNamespaceResolver? namespaces = null)
        => context?.XPathSelectElement(xpath, namespaces);

    /// <summary>virXPathNodeSet: every element the path selects, in document order.</summary>
    public static List<XElement> XNodes(XElement context, string xpath, IXmlNamespaceResolver? namespaces = null)
        => [.. context.XPathSelectElements(xpath, namespaces)];

    /// <summary>virXMLPropString (xmlGetProp): the attribute's value by name whatever its namespace, "" kept.</summary>
    public static string? Prop(XElement? node, string name)
    {
        if (node is null)
        {
            return null;
        }

        foreach (var attribute in node.Attributes())
        {
            if (!attribute.IsNamespaceDeclaration && attribute.Name.LocalName == name)
            {
                return attribute.Value;
            }
        }

        return null;
    }

    /// <summary>
    /// virXMLPropEnum: null when absent (unless <paramref name="required"/>), else the index of the value in
    /// <paramref name="names"/>; index 0 is refused when <paramref name="nonZero"/>.
    /// </summary>
    public static int? PropEnum(XElement? node, string name, IReadOnlyList<string> names, bool required = false, bool nonZero = false)
    {
        var value = Prop(node, name);
        if (value is null)
        {
            return required && node is not null ? throw MissingAttribute(node, name) : null;
        }

        for (var i = 0; i < names.Count; i++)
        {
            if (names[i] == value && !(nonZero && i == 0))
            {
                return i;
            }
        }

        throw InvalidAttribute(node!, name, value);
    }

    /// <summary>virXMLPropTristateBool: null when absent, true for "yes", false for "no", else an error.</summary>
    public static bool? PropTristateBool(XElement? node, string name)
        => PropEnum(node, name, ["absent", "yes", "no"], nonZero: true) switch
        {
            null => null,
            1 => true,
            _ => false,
        };

    /// <summary>virXMLPropTristateSwitch: null when absent, true for "on", false for "off", else an error.</summary>
    public static bool? PropTristateSwitch(XElement? node, string name)
        => PropEnum(node, name, ["absent", "on", "off"], nonZero: true) switch
        {
            null => null,
            1 => true,
            _ => false,
        };

    /// <summary>virXMLPropInt (no flags): <paramref name="fallback"/> when absent, else a strict int.</summary>
    public static int PropInt(XElement node, string name, int numberBase, int fallback = 0)
    {
        var value = Prop(node, name);
        if (value is null)
        {
            return fallback;
        }

        return CNumbers.TryInt(value, numberBase, out var result)
            ? result
            : throw PoolXmlErrors.XmlAttr($"Invalid value for attribute '{name}' in element '{node.Name.LocalName}': '{value}'. Expected integer value");
    }

    /// <summary>virXMLPropUInt (no flags): 0 when absent, else a strict non-negative int.</summary>
    public static uint PropUInt(XElement node, string name, int numberBase)
    {
        var value = Prop(node, name);
        if (value is null)
        {
            return 0;
        }

        return CNumbers.TryUIntP(value, numberBase, out var result)
            ? result
            : throw PoolXmlErrors.XmlAttr($"Invalid value for attribute '{name}' in element '{node.Name.LocalName}': '{value}'. Expected non-negative integer value");
    }

    public static VirtPoolException MissingAttribute(XElement node, string name)
        => PoolXmlErrors.XmlAttr($"Missing required attribute '{name}' in element '{node.Name.LocalName}'");

    public static VirtPoolException InvalidAttribute(XElement node, string name, string value)
        => PoolXmlErrors.XmlAttr($"Invalid value for attribute '{name}' in element '{node.Name.LocalName}': '{value}'.");
}

/// <summary>Shorthands for the errors the pool XML code raises, with libvirt's codes and domains.</summary>
internal static class PoolXmlErrors
{
    /// <summary>VIR_ERR_XML_ERROR raised by storage_conf.c (storage domain).</summary>
    public static VirtPoolException Xml(string detail) => new(VirErrorCode.XmlError, detail);

    /// <summary>VIR_ERR_XML_ERROR raised by virxml.c's attribute helpers (XML domain).</summary>
    public static VirtPoolException XmlAttr(string detail) => new(VirErrorCode.XmlError, detail, VirErrorDomain.Xml);

    public static VirtPoolException Unsupported(string detail) => new(VirErrorCode.ConfigUnsupported, detail);

    public static VirtPoolException Internal(string detail) => new(VirErrorCode.InternalError, detail);
}
