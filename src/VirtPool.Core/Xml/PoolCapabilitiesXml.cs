using VirtPool.Core.Model;

namespace VirtPool.Core.Xml;

/// <summary>libvirt's virStoragePoolCapsFormat: the document <c>virsh pool-capabilities</c> shows.</summary>
public static class PoolCapabilitiesXml
{
    /// <summary>
    /// Lists every pool type libvirt 9.0 knows, in libvirt's order, with supported='yes' for those in
    /// <paramref name="supported"/>, and each type's source and volume format tables. Returns what the
    /// API returns (ending with "&lt;/storagepoolCapabilities&gt;\n"); virsh prints it followed by "\n"
    /// (and one more newline unless run with -q).
    /// </summary>
    public static string Format(IReadOnlyCollection<PoolType> supported)
    {
        var buf = new XmlBuffer();
        buf.Open("storagepoolCapabilities");
        foreach (PoolType type in Enum.GetValues<PoolType>())
        {
            var info = PoolTypeInfo.For(type);
            buf.Open("pool type='" + type.ToName() + "' supported='" + (supported.Contains(type) ? "yes" : "no") + "'");

            if (info.AdvertisedSourceFormats is { } sourceFormats)
            {
                buf.Open("poolOptions");
                buf.Line("<defaultFormat type='" + sourceFormats[info.DefaultSourceFormat] + "'/>");
                FormatEnum(buf, "sourceFormatType", sourceFormats);
                buf.Close("poolOptions");
            }

            if (info.VolumeFormats is not null)
            {
                buf.Open("volOptions");
                buf.Line("<defaultFormat type='" + info.DefaultVolumeFormat + "'/>");
                FormatEnum(buf, "targetFormatType", info.VolumeFormats);
                buf.Close("volOptions");
            }

            buf.Close("pool");
        }

        buf.Close("storagepoolCapabilities");
        return buf.ToString();
    }

    private static void FormatEnum(XmlBuffer buf, string name, IReadOnlyList<string> values)
    {
        buf.Open("enum name='" + name + "'");
        foreach (var value in values)
        {
            buf.Line("<value>" + value + "</value>");
        }

        buf.Close("enum");
    }
}
