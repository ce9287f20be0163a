using VirtPool.Core.Errors;
using VirtPool.Core.Xml;

namespace VirtPool.Core.Secrets;

/// <summary>
/// libvirt 9.0's secret XML (secret_conf.c): <see cref="Parse"/> is virSecretDefParseString with its
/// checks, order, codes and messages; <see cref="Format"/> is virSecretDefFormat byte for byte.
/// </summary>
public static class SecretXml
{
    /// <summary>The document name libxml2 errors carry.</summary>
    public const string DocumentName = "(definition_of_secret)";

    /// <summary>
    /// Parses a definition. A missing (or empty) &lt;uuid&gt; gets a random one, as libvirt does.
    /// Unknown elements and attributes are ignored.
    /// </summary>
    /// <exception cref="VirtPoolException">The XML is malformed or breaks a rule, with libvirt's error.</exception>
    public static SecretDefinition Parse(string xml)
    {
        var root = XmlInput.Parse(xml, DocumentName, "secret", VirErrorDomain.Secret);

        var ephemeral = YesNo(root, "ephemeral");
        var isPrivate = YesNo(root, "private");

        var uuidText = PoolXmlReading.XString(root, "./uuid");
        Guid uuid;
        if (uuidText is null)
        {
            uuid = Guid.NewGuid();
        }
        else if (!LibvirtUuid.TryParse(uuidText, out uuid))
        {
            throw Error(VirErrorCode.InternalError, "malformed uuid element");
        }

        var description = PoolXmlReading.XString(root, "./description");
        var usageType = SecretUsageType.None;
        string? usageId = null;
        if (PoolXmlReading.XNode(root, "./usage") is not null)
        {
            (usageType, usageId) = ParseUsage(root);
        }

        return new SecretDefinition
        {
            Uuid = uuid,
            Description = description,
            Ephemeral = ephemeral,
            Private = isPrivate,
            UsageType = usageType,
            UsageId = usageId,
        };
    }

    /// <summary>virSecretDefFormat: both flags always, &lt;usage&gt; only for a type other than none.</summary>
    public static string Format(SecretDefinition def)
    {
        var buffer = new XmlBuffer();
        buffer.Open($"secret ephemeral='{(def.Ephemeral ? "yes" : "no")}' private='{(def.Private ? "yes" : "no")}'");
        buffer.Element("uuid", def.UuidString);
        buffer.Element("description", def.Description);
        if (def.UsageType != SecretUsageType.None)
        {
            buffer.Open($"usage type='{SecretUsageTypes.Name(def.UsageType)}'");
            buffer.Element(SecretUsageTypes.IdElement(def.UsageType)!, def.UsageId);
            buffer.Close("usage");
        }

        buffer.Close("secret");
        return buffer.ToString();
    }

    /// <summary>virSecretDefParseUsage: the type attribute, then the element holding the ID.</summary>
    private static (SecretUsageType Type, string? Id) ParseUsage(System.Xml.Linq.XElement root)
    {
        var typeText = PoolXmlReading.XString(root, "./usage/@type")
            ?? throw Error(VirErrorCode.XmlError, "unknown secret usage type");
        if (!SecretUsageTypes.TryParse(typeText, out var type))
        {
            throw Error(VirErrorCode.ConfigUnsupported, $"unknown secret usage type {typeText}");
        }

        if (type == SecretUsageType.None)
        {
            return (type, null);
        }

        var id = PoolXmlReading.XString(root, "./usage/" + SecretUsageTypes.IdElement(type));
        return id is not null ? (type, id) : throw Error(VirErrorCode.InternalError, type switch
        {
            SecretUsageType.Volume => "volume usage specified, but volume path is missing",
            SecretUsageType.Ceph => "Ceph usage specified, but name is missing",
            SecretUsageType.Iscsi => "iSCSI usage specified, but target is missing",
            SecretUsageType.Tls => "TLS usage specified, but name is missing",
            _ => "vTPM usage specified, but name is missing",
        });
    }

    /// <summary>virStringParseYesNo on string(./@NAME): absent or empty is "no"; only "yes" and "no" parse.</summary>
    private static bool YesNo(System.Xml.Linq.XElement root, string attribute)
    {
        return PoolXmlReading.XString(root, "./@" + attribute) switch
        {
            null or "no" => false,
            "yes" => true,
            _ => throw Error(VirErrorCode.XmlError, $"invalid value of '{attribute}'"),
        };
    }

    private static VirtPoolException Error(VirErrorCode code, string detail) => new(code, detail, VirErrorDomain.Secret);
}
