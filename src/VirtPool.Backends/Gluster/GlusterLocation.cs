using System.Text;
using VirtPool.Core.Errors;
using VirtPool.Core.Model;

namespace VirtPool.Backends.Gluster;

/// <summary>
/// Where a gluster pool's volumes live, as libvirt's virStorageBackendGlusterOpen derives it from the
/// pool's source: the volfile server (first host, port 0 = the default 24007), the gluster volume
/// (&lt;name&gt;, no '/'), and the folder in it (&lt;dir path&gt;, always starting and ending in '/').
/// A volume's path and key are its URI, <c>gluster://HOST[:PORT]/VOLUME/DIR/NAME</c>.
/// </summary>
public sealed record GlusterLocation(string Host, int Port, string Volume, string Directory)
{
    /// <summary>The pool's location, with libvirt's refusals (VIR_ERR_XML_ERROR) of a bad name or folder.</summary>
    public static GlusterLocation Of(PoolDefinition pool)
    {
        ArgumentNullException.ThrowIfNull(pool);
        var source = pool.Source;
        if (source.Hosts.Count == 0)
        {
            throw VirtPoolException.Xml("missing storage pool source host name");
        }

        var name = source.Name ?? pool.Name;
        if (name.Contains('/', StringComparison.Ordinal))
        {
            throw VirtPoolException.Xml($"gluster pool name '{name}' must not contain /");
        }

        var dir = string.IsNullOrEmpty(source.Dir) ? "/" : source.Dir;
        if (dir[0] != '/')
        {
            throw VirtPoolException.Xml($"gluster pool path '{dir}' must start with /");
        }

        if (!dir.EndsWith('/'))
        {
            dir += "/";
        }

        return new GlusterLocation(source.Hosts[0].Name, source.Hosts[0].Port, name, dir);
    }

    /// <summary>The pool's folder as a URI (libvirt's "failed to connect to" names it).</summary>
    public string DirectoryUri => FormatUri($"/{Volume}{Directory}");

    /// <summary>A volume's path inside the gluster volume (what gfapi calls take).</summary>
    public string PathOf(string volumeName) => Directory + volumeName;

    /// <summary>A volume's target path and key: its gluster:// URI.</summary>
    public string UriOf(string volumeName) => FormatUri($"/{Volume}{Directory}{volumeName}");

    /// <summary>Who answers, for the connection's messages.</summary>
    public string Describe() => $"the gluster volume '{Volume}' at {ServerText}";

    /// <summary>The volume name a path of this pool names, or null when the path is not one of this pool's.</summary>
    public string? VolumeNameOf(string? uri)
    {
        var prefix = FormatUri($"/{Volume}{Directory}");
        if (uri is null || !uri.StartsWith(prefix, StringComparison.Ordinal))
        {
            return null;
        }

        var rest = uri[prefix.Length..];
        return rest.Length == 0 || rest.Contains('/', StringComparison.Ordinal) ? null : Unescape(rest);
    }

    private string ServerText => (Host.Contains(':', StringComparison.Ordinal) ? $"[{Host}]" : Host) + (Port > 0 ? $":{Port}" : string.Empty);

    /// <summary>virURIFormat: scheme, server (bracketed when IPv6), port when set, the path escaped as libxml2's xmlSaveUri does.</summary>
    private string FormatUri(string path) => $"gluster://{ServerText}{EscapePath(path)}";

    private static string EscapePath(string path)
    {
        var builder = new StringBuilder(path.Length);
        foreach (var b in Encoding.UTF8.GetBytes(path))
        {
            if (IsKept(b))
            {
                builder.Append((char)b);
            }
            else
            {
                builder.Append('%').Append(b.ToString("X2", System.Globalization.CultureInfo.InvariantCulture));
            }
        }

        return builder.ToString();
    }

    /// <summary>xmlSaveUri's path characters: unreserved (alphanumerics and "-_.!~*'()") and "/;@&amp;=+$,".</summary>
    private static bool IsKept(byte b)
        => b is (>= (byte)'a' and <= (byte)'z') or (>= (byte)'A' and <= (byte)'Z') or (>= (byte)'0' and <= (byte)'9')
            || "-_.!~*'()/;@&=+$,".Contains((char)b, StringComparison.Ordinal);

    private static string Unescape(string text)
    {
        if (!text.Contains('%', StringComparison.Ordinal))
        {
            return text;
        }

        var bytes = new List<byte>(text.Length);
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] == '%' && i + 2 < text.Length
                && byte.TryParse(text.AsSpan(i + 1, 2), System.Globalization.NumberStyles.HexNumber, null, out var value))
            {
                bytes.Add(value);
                i += 2;
            }
            else
            {
                bytes.AddRange(Encoding.UTF8.GetBytes(text[i].ToString()));
            }
        }

        return Encoding.UTF8.GetString([.. bytes]);
    }
}
