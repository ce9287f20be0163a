using System.Globalization;
using System.Xml.Linq;
using VirtPool.Core.Errors;
using VirtPool.Core.Model;

namespace VirtPool.Core.Xml;

/// <summary>libvirt 9.0's &lt;encryption&gt; of a storage volume (storage_encryption_conf.c).</summary>
public static class EncryptionXml
{
    /// <summary>virStorageEncryptionParseNode: <paramref name="node"/> is the &lt;encryption&gt; element.</summary>
    public static EncryptionDefinition Parse(XElement node)
    {
        var formatName = VolumeXmlNodes.AttributeString(node, "format")
                         ?? throw VirtPoolException.Xml("unknown volume encryption format");
        if (!EncryptionNames.TryParse(formatName, out EncryptionFormat format))
        {
            throw VirtPoolException.Unsupported($"unknown volume encryption format type {formatName}");
        }

        var encryption = new EncryptionDefinition { Format = format };

        // virXMLPropEnum(..., VIR_XML_PROP_NONZERO): "default" is as invalid as an unknown name.
        var engineName = PoolXmlReading.Prop(node, "engine");
        if (engineName is not null)
        {
            if (!EncryptionNames.TryParse(engineName, out EncryptionEngine engine) || engine == EncryptionEngine.Default)
            {
                throw VirtPoolException.Xml(
                    $"Invalid value for attribute 'engine' in element '{VolumeXmlNodes.NodeName(node)}': '{engineName}'.");
            }

            encryption.Engine = engine;
        }

        var secrets = new List<EncryptionSecret>();
        foreach (var secretNode in VolumeXmlNodes.Select(node, "secret"))
        {
            secrets.Add(ParseSecret(secretNode));
        }

        encryption.Secrets = secrets;

        if (format == EncryptionFormat.Luks)
        {
            var cipherNode = VolumeXmlNodes.Node(node, "cipher");
            if (cipherNode is not null)
            {
                encryption.Cipher = ParseCipher(cipherNode);
            }

            var ivgenNode = VolumeXmlNodes.Node(node, "ivgen");
            if (ivgenNode is not null)
            {
                if (encryption.Cipher is null)
                {
                    throw VirtPoolException.Xml("ivgen element found, but cipher is missing");
                }

                encryption.Ivgen = new EncryptionIvgen
                {
                    Name = PoolXmlReading.Prop(ivgenNode, "name") ?? throw VirtPoolException.Xml("missing ivgen info name string"),
                    Hash = PoolXmlReading.Prop(ivgenNode, "hash"),
                };
            }
        }

        return encryption;
    }

    /// <summary>virStorageEncryptionFormat, at the buffer's current indentation.</summary>
    public static void Format(XmlBuffer buf, EncryptionDefinition encryption)
    {
        var format = encryption.Format.ToName();
        buf.Open(encryption.Engine == EncryptionEngine.Default
            ? $"encryption format='{format}'"
            : $"encryption format='{format}' engine='{encryption.Engine.ToName()}'");

        foreach (var secret in encryption.Secrets)
        {
            var line = $"<secret type='{secret.Type.ToName()}'";
            if (secret.Uuid is { } uuid)
            {
                line += $" uuid='{LibvirtUuid.Format(uuid)}'";
            }
            else if (secret.Usage is not null)
            {
                line += XmlBuffer.Attr("usage", secret.Usage);
            }

            buf.Line(line + "/>");
        }

        if (encryption.Format == EncryptionFormat.Luks && encryption.Cipher is { } cipher)
        {
            buf.Line($"<cipher{XmlBuffer.Attr("name", cipher.Name)} size='{cipher.Size.ToString(CultureInfo.InvariantCulture)}'"
                     + XmlBuffer.Attr("mode", cipher.Mode) + XmlBuffer.Attr("hash", cipher.Hash) + "/>");
            if (encryption.Ivgen is { } ivgen)
            {
                buf.Line($"<ivgen{XmlBuffer.Attr("name", ivgen.Name)}{XmlBuffer.Attr("hash", ivgen.Hash)}/>");
            }
        }

        buf.Close("encryption");
    }

    private static EncryptionSecret ParseSecret(XElement node)
    {
        var typeName = VolumeXmlNodes.AttributeString(node, "type")
                       ?? throw VirtPoolException.Xml("unknown volume encryption secret type");
        if (!EncryptionNames.TryParse(typeName, out EncryptionSecretType type))
        {
            throw VirtPoolException.Unsupported($"unknown volume encryption secret type {typeName}");
        }

        var (uuid, usage) = SecretLookupXml.Parse(node);
        return new EncryptionSecret { Type = type, Uuid = uuid, Usage = usage };
    }

    private static EncryptionCipher ParseCipher(XElement node)
    {
        var name = PoolXmlReading.Prop(node, "name") ?? throw VirtPoolException.Xml("cipher info missing 'name' attribute");

        // virXMLPropUInt(node, "size", 10, VIR_XML_PROP_REQUIRED, ...): errors from the XML domain.
        var size = PoolXmlReading.Prop(node, "size") is null
            ? throw PoolXmlReading.MissingAttribute(node, "size")
            : PoolXmlReading.PropUInt(node, "size", 10);

        return new EncryptionCipher
        {
            Name = name,
            Size = size,
            Mode = PoolXmlReading.Prop(node, "mode"),
            Hash = PoolXmlReading.Prop(node, "hash"),
        };
    }
}
