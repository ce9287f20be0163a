using System.Text;
using VirtPool.Core.Errors;
using VirtPool.Core.Model;

namespace VirtPool.Core.Xml;

/// <summary>
/// libvirt 9.0's storage pool XML: parsing (virStoragePoolDefParseString) and formatting
/// (virStoragePoolDefFormat), byte for byte, with libvirt's error codes and messages.
/// </summary>
/// <remarks>
/// Define/create in libvirtd runs, after parsing: the name check for '\n' and the backend lookup
/// (<see cref="ValidateForDefine"/>), then the source/name/uuid clash checks
/// (<see cref="PoolSourceDuplicates.Check"/>). sheepdog and vstorage parse fine but have no backend in
/// libvirtd 9.0, so define/create refuse them with "internal error: missing backend for pool type 10
/// (sheepdog)" / "13 (vstorage)" (<see cref="HasBackend"/>, <see cref="EnsureBackend"/>).
/// </remarks>
public static class PoolXml
{
    /// <summary>libvirt's name for the document in XML syntax errors.</summary>
    public const string DocumentName = "(storage_pool_definition)";

    /// <summary>
    /// virStoragePoolDefParseString: parses and validates a &lt;pool&gt; document. A missing &lt;uuid&gt;
    /// gets a random one. Throws <see cref="VirtPoolException"/> with libvirt's code and message.
    /// </summary>
    public static PoolDefinition Parse(string xml)
        => PoolXmlParser.ParseRoot(XmlInput.Parse(xml, DocumentName, "pool"));

    /// <summary>
    /// An active pool's status file, which VirtPool wrote with <see cref="Format"/>: as <see cref="Parse"/>,
    /// and the live source a refresh found (free extents) is kept.
    /// </summary>
    public static PoolDefinition ParseStatus(string xml)
        => PoolXmlParser.ParseRoot(XmlInput.Parse(xml, DocumentName, "pool"), status: true);

    /// <summary>
    /// virStoragePoolDefFormat: the XML libvirt returns for pool-dumpxml, ending with "&lt;/pool&gt;\n".
    /// (virsh prints it followed by one more newline unless run with -q.)
    /// </summary>
    public static string Format(PoolDefinition def, PoolSizes sizes = default)
        => PoolXmlFormatter.Format(def, sizes);

    /// <summary>
    /// virStoragePoolDefParseSourceString: a &lt;source&gt; document (find-storage-pool-sources' srcSpec)
    /// parsed with the rules of <paramref name="type"/>.
    /// </summary>
    public static PoolSource ParseSource(string xml, PoolType type)
        => PoolXmlParser.ParseSource(XmlInput.Parse(xml, "(storage_source_specification)", "source"), type);

    /// <summary>virStoragePoolSourceListFormat: &lt;sources&gt; with one &lt;source&gt; per entry.</summary>
    public static string FormatSourceList(PoolType type, IEnumerable<PoolSource> sources)
    {
        var buf = new XmlBuffer();
        buf.Open("sources");
        foreach (var source in sources)
        {
            PoolXmlFormatter.FormatSource(buf, PoolTypeInfo.For(type), source);
        }

        buf.Close("sources");
        return buf.ToString();
    }

    /// <summary>False for sheepdog and vstorage, which libvirtd 9.0 parses but has no backend for.</summary>
    public static bool HasBackend(PoolType type) => PoolTypeInfo.For(type).HasBackend;

    /// <summary>virStorageBackendForType: throws "internal error: missing backend for pool type N (name)".</summary>
    public static void EnsureBackend(PoolType type)
    {
        if (!HasBackend(type))
        {
            throw VirtPoolException.Internal(PoolTypeInfo.MissingBackendMessage(type));
        }
    }

    /// <summary>
    /// The checks storagePoolDefineXML/CreateXML make between parsing and the duplicate checks:
    /// virXMLCheckIllegalChars("name", name, "\n") ("invalid char in name: \n", VIR_ERR_XML_DETAIL),
    /// then <see cref="EnsureBackend"/>.
    /// </summary>
    public static void ValidateForDefine(PoolDefinition def)
    {
        if (def.Name.Contains('\n', StringComparison.Ordinal))
        {
            throw new VirtPoolException(VirErrorCode.XmlDetail, "invalid char in name: \n");
        }

        EnsureBackend(def.Type);
    }

    /// <summary>
    /// virFileSanitizePath: collapses repeated '/', drops a trailing '/', keeps a leading "//" (POSIX),
    /// and leaves URIs ("scheme://" before the first '/') alone.
    /// </summary>
    public static string SanitizePath(string path)
    {
        var uri = path.IndexOf("://", StringComparison.Ordinal);
        if (uri >= 0 && path.IndexOf('/', StringComparison.Ordinal) > uri)
        {
            return path;
        }

        var clean = new StringBuilder(path.Length);
        var cur = 0;
        if (path.Length >= 2 && path[0] == '/' && path[1] == '/' && (path.Length == 2 || path[2] != '/'))
        {
            clean.Append("//");
            cur = 2;
        }

        while (cur < path.Length)
        {
            if (path[cur] != '/')
            {
                clean.Append(path[cur++]);
                continue;
            }

            while (++cur < path.Length && path[cur] == '/')
            {
            }

            if (clean.Length != 0 && cur == path.Length)
            {
                break;
            }

            clean.Append('/');
        }

        return clean.ToString();
    }

}
