using System.Globalization;
using System.Xml.Linq;
using VirtPool.Core.Model;

namespace VirtPool.Core.Xml;

/// <summary>
/// libvirt's virStorageDefParsePerms and the &lt;permissions&gt; block of the pool and volume formatters.
/// The rules are the same for pool targets, volume targets and volume backing stores; defaults (such as a
/// volume's mode) are the caller's business: unset fields stay null.
/// </summary>
public static class PermissionsXml
{
    /// <summary>
    /// Parses a &lt;permissions&gt; element; null (no element) gives empty permissions.
    /// mode: octal, at most 0777 ("malformed octal mode"); owner/group: a decimal in 0..4294967295 or -1
    /// ("malformed owner element" / "malformed group element"), -1 and 4294967295 meaning unset; label: text.
    /// Empty &lt;mode/&gt; and &lt;label/&gt; count as absent; an empty &lt;owner/&gt; or &lt;group/&gt; is malformed.
    /// </summary>
    public static Permissions Parse(XElement? permissions)
    {
        if (permissions is null)
        {
            return new Permissions();
        }

        uint? mode = null;
        var modeText = PoolXmlReading.XString(permissions, "./mode");
        if (modeText is not null)
        {
            if (!CNumbers.TryInt(modeText, 8, out var value) || (value & ~0x1FF) != 0)
            {
                throw PoolXmlErrors.Xml("malformed octal mode");
            }

            mode = (uint)value;
        }

        return new Permissions
        {
            Mode = mode,
            Owner = ParseId(permissions, "owner"),
            Group = ParseId(permissions, "group"),
            Label = PoolXmlReading.XString(permissions, "./label"),
        };
    }

    /// <summary>Appends the &lt;permissions&gt; block, or nothing when every field is unset.</summary>
    public static void Format(XmlBuffer buf, Permissions perms)
    {
        if (perms.IsEmpty)
        {
            return;
        }

        buf.Open("permissions");
        if (perms.Mode is { } mode)
        {
            buf.Line("<mode>0" + Convert.ToString(mode, 8) + "</mode>");
        }

        // libvirt prints uid_t/gid_t through an (int) cast.
        if (perms.Owner is { } owner)
        {
            buf.Line("<owner>" + unchecked((int)owner).ToString(CultureInfo.InvariantCulture) + "</owner>");
        }

        if (perms.Group is { } group)
        {
            buf.Line("<group>" + unchecked((int)group).ToString(CultureInfo.InvariantCulture) + "</group>");
        }

        buf.Element("label", perms.Label);
        buf.Close("permissions");
    }

    private static uint? ParseId(XElement permissions, string element)
    {
        if (PoolXmlReading.XNode(permissions, "./" + element) is null)
        {
            return null;
        }

        var text = PoolXmlReading.XString(permissions, "./" + element);
        if (text is null || !CNumbers.TryLong(text, 10, out var value) || ((value < 0 || value > uint.MaxValue) && value != -1))
        {
            throw PoolXmlErrors.Xml($"malformed {element} element");
        }

        // -1 is how libvirt once printed "unset"; (uid_t)-1 is the unset value itself.
        return value is -1 or uint.MaxValue ? null : (uint)value;
    }
}
