using System.Xml.Linq;
using VirtPool.Core.Errors;

namespace VirtPool.Core.Xml;

/// <summary>
/// virSecretLookupParseSecret: a &lt;secret&gt; reference names its secret by uuid or by usage, never
/// both. Its errors carry no domain (virsecret.c reports from VIR_FROM_NONE).
/// </summary>
internal static class SecretLookupXml
{
    /// <summary>The uuid, or else the usage, of <paramref name="secret"/>; libvirt's error when it has neither, both, or a bad uuid.</summary>
    public static (Guid? Uuid, string? Usage) Parse(XElement secret)
    {
        var uuidText = PoolXmlReading.Prop(secret, "uuid");
        var usage = PoolXmlReading.Prop(secret, "usage");
        if (uuidText is null && usage is null)
        {
            throw Error("missing secret uuid or usage attribute");
        }

        if (uuidText is not null && usage is not null)
        {
            throw Error("either secret uuid or usage expected");
        }

        if (uuidText is null)
        {
            return (null, usage);
        }

        return LibvirtUuid.TryParse(uuidText, out var uuid)
            ? (uuid, null)
            : throw Error($"invalid secret uuid '{uuidText}'");
    }

    private static VirtPoolException Error(string detail) => new(VirErrorCode.XmlError, detail, VirErrorDomain.None);
}
