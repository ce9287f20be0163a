using System.Xml;
using System.Xml.Linq;

namespace VirtPool.Backends.Netfs;

/// <summary>
/// <c>gluster --xml volume info all</c>'s answer: the names of the volumes (libvirt's
/// <c>//volumes/volume</c>, <c>string(./name)</c>), in the order gluster lists them.
/// </summary>
public static class GlusterVolumeInfo
{
    /// <summary>
    /// The volume names; false when the text is not XML, or a volume has no name (libvirt's
    /// "failed to extract gluster volume name").
    /// </summary>
    public static bool TryParseVolumeNames(string xml, out IReadOnlyList<string> names)
    {
        ArgumentNullException.ThrowIfNull(xml);
        names = [];
        XDocument doc;
        try
        {
            doc = XDocument.Parse(xml);
        }
        catch (XmlException)
        {
            return false;
        }

        var found = new List<string>();
        foreach (var volume in doc.Descendants("volumes").Elements("volume"))
        {
            var name = volume.Element("name")?.Value;
            if (string.IsNullOrEmpty(name))
            {
                return false;
            }

            found.Add(name);
        }

        names = found;
        return true;
    }
}
