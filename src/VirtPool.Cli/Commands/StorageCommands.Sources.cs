using System.Text;

namespace VirtPool.Cli.Commands;

/// <summary>
/// find-storage-pool-sources and find-storage-pool-sources-as (cmdPoolDiscoverSources[As]): the
/// &lt;sources&gt; document the connection returns, printed as it came.
/// </summary>
public sealed partial class StorageCommands
{
    private async Task<bool> FindPoolSourcesAsync()
    {
        var type = _cmd.GetStringReq("type")!;
        var file = _cmd.GetStringReq("srcSpec");

        // A srcSpec file that cannot be read fails the command with that error alone.
        var sourceSpec = file is null ? null : ReadXmlFile(file);
        return await PrintPoolSourcesAsync(type, sourceSpec).ConfigureAwait(false);
    }

    private async Task<bool> FindPoolSourcesAsAsync()
    {
        var type = _cmd.GetStringReq("type")!;
        var host = _cmd.GetStringReq("host");
        var initiator = _cmd.GetStringReq("initiator");
        string? sourceSpec = null;
        if (host is not null)
        {
            sourceSpec = SourceSpec(host, _cmd.GetStringReq("port"), initiator);
        }

        return await PrintPoolSourcesAsync(type, sourceSpec).ConfigureAwait(false);
    }

    private async Task<bool> PrintPoolSourcesAsync(string type, string? sourceSpec)
    {
        var sources = await Wrap(() => _mgr.FindPoolSourcesAsync(type, sourceSpec, 0, _ct), $"Failed to find any {type} pool sources").ConfigureAwait(false);
        _out.Print(sources);
        return true;
    }

    /// <summary>
    /// The srcSpec virsh writes for find-storage-pool-sources-as: a host (with a port when given) and an
    /// initiator, each value as typed (virsh escapes nothing); port and initiator count only with a host.
    /// </summary>
    internal static string SourceSpec(string host, string? port, string? initiator)
    {
        var xml = new StringBuilder("<source>\n");
        xml.Append("  <host name='").Append(host).Append('\'');
        if (port is not null)
        {
            xml.Append(" port='").Append(port).Append('\'');
        }

        xml.Append("/>\n");
        if (initiator is not null)
        {
            xml.Append("  <initiator>\n    <iqn name='").Append(initiator).Append("'/>\n  </initiator>\n");
        }

        return xml.Append("</source>\n").ToString();
    }
}
