using System.Xml;
using System.Xml.Linq;
using VirtPool.Core.Errors;
using VirtPool.Core.Process;

namespace VirtPool.Backends.Netfs;

/// <summary>
/// <c>gluster --xml volume info all --remote-host=HOST</c> (libvirt's virStorageBackendFindGlusterPoolSources,
/// shared by netfs and gluster source discovery) and its answer: the names of the volumes (libvirt's
/// <c>//volumes/volume</c>, <c>string(./name)</c>), in the order gluster lists them.
/// </summary>
public static class GlusterVolumeInfo
{
    /// <summary>
    /// How long gluster may take. libvirt waits forever; a host that does not answer fails the call
    /// after this long with the runner's timeout error (the gluster CLI itself gives up sooner).
    /// </summary>
    public static readonly TimeSpan ToolTimeout = TimeSpan.FromSeconds(60);

    /// <summary><c>gluster --xml --log-file=/dev/null volume info all --remote-host=HOST</c> (storage_util.c).</summary>
    public static IReadOnlyList<string> Argv(string gluster, string host) => [gluster, "--xml", "--log-file=/dev/null", "volume", "info", "all", "--remote-host=" + host];

    /// <summary>
    /// The volumes gluster lists on <paramref name="host"/>: null when the gluster tool is not installed;
    /// empty when it fails (no glusterd there: libvirt counts that as nothing found, not an error);
    /// throws when it succeeds with output that is not gluster's volume XML.
    /// </summary>
    public static async Task<IReadOnlyList<string>?> QueryAsync(IProcessRunner runner, string host, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(runner);
        var gluster = ExternalTools.Find("gluster");
        if (gluster is null)
        {
            return null;
        }

        var argv = Argv(gluster, host);
        var result = await runner.RunAsync(new ProcessRequest(argv) { Timeout = ToolTimeout }, cancellationToken).ConfigureAwait(false);
        if (!result.Succeeded)
        {
            return [];
        }

        if (!TryParseVolumeNames(result.StandardOutput, out var names))
        {
            throw VirtPoolException.Internal($"failed to read the gluster volume list of '{host}' ({ChildProcessErrors.CommandText(argv)})");
        }

        return names;
    }

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
