using System.Text;

namespace VirtPool.Cli.Commands;

/// <summary>
/// The XML virsh builds from command-line options (virshBuildPoolXML, cmdVolCreateAs). virsh
/// formats the values without escaping; so do we, so that the daemon sees the same document.
/// </summary>
public static class ArgumentXml
{
    /// <summary>pool-define-as / pool-create-as.</summary>
    public static string Pool(Func<string, string?> opt)
    {
        var name = opt("name");
        var type = opt("type");
        var srcHost = opt("source-host");
        var srcPath = opt("source-path");
        var srcDev = opt("source-dev");
        var srcName = opt("source-name");
        var srcFormat = opt("source-format");
        var target = opt("target");
        var authType = opt("auth-type");
        var authUsername = opt("auth-username");
        var secretUsage = opt("secret-usage");
        var secretUuid = opt("secret-uuid");
        var adapterName = opt("adapter-name");
        var adapterWwnn = opt("adapter-wwnn");
        var adapterWwpn = opt("adapter-wwpn");
        var adapterParent = opt("adapter-parent");
        var adapterParentWwnn = opt("adapter-parent-wwnn");
        var adapterParentWwpn = opt("adapter-parent-wwpn");
        var adapterParentFabricWwn = opt("adapter-parent-fabric-wwn");
        var protoVer = opt("source-protocol-ver");
        var srcInitiator = opt("source-initiator");

        var sb = new StringBuilder();
        sb.Append($"<pool type='{type}'>\n");
        sb.Append($"  <name>{name}</name>\n");
        if (srcHost is not null || srcPath is not null || srcDev is not null || srcInitiator is not null || srcFormat is not null
            || srcName is not null || (adapterWwnn is not null && adapterWwpn is not null) || adapterName is not null)
        {
            sb.Append("  <source>\n");
            if (srcHost is not null)
            {
                sb.Append($"    <host name='{srcHost}'/>\n");
            }

            if (srcPath is not null)
            {
                sb.Append($"    <dir path='{srcPath}'/>\n");
            }

            if (srcDev is not null)
            {
                sb.Append($"    <device path='{srcDev}'/>\n");
            }

            if (srcInitiator is not null)
            {
                sb.Append("    <initiator>\n");
                sb.Append($"      <iqn name='{srcInitiator}'/>\n");
                sb.Append("    </initiator>\n");
            }

            if (adapterWwnn is not null && adapterWwpn is not null)
            {
                sb.Append("    <adapter type='fc_host'");
                if (adapterParent is not null)
                {
                    sb.Append($" parent='{adapterParent}'");
                }
                else if (adapterParentWwnn is not null && adapterParentWwpn is not null)
                {
                    sb.Append($" parent_wwnn='{adapterParentWwnn}' parent_wwpn='{adapterParentWwpn}'");
                }
                else if (adapterParentFabricWwn is not null)
                {
                    sb.Append($" parent_fabric_wwn='{adapterParentFabricWwn}'");
                }

                sb.Append($" wwnn='{adapterWwnn}' wwpn='{adapterWwpn}'/>\n");
            }
            else if (adapterName is not null)
            {
                sb.Append($"    <adapter type='scsi_host' name='{adapterName}'/>\n");
            }

            if (authType is not null && authUsername is not null && (secretUsage is not null || secretUuid is not null))
            {
                sb.Append($"    <auth type='{authType}' username='{authUsername}'>\n");
                sb.Append(secretUsage is not null ? $"      <secret usage='{secretUsage}'/>\n" : $"      <secret uuid='{secretUuid}'/>\n");
                sb.Append("    </auth>\n");
            }

            if (srcFormat is not null)
            {
                sb.Append($"    <format type='{srcFormat}'/>\n");
            }

            if (srcName is not null)
            {
                sb.Append($"    <name>{srcName}</name>\n");
            }

            if (protoVer is not null)
            {
                sb.Append($"    <protocol ver='{protoVer}'/>\n");
            }

            sb.Append("  </source>\n");
        }

        if (target is not null)
        {
            sb.Append("  <target>\n");
            sb.Append($"    <path>{target}</path>\n");
            sb.Append("  </target>\n");
        }

        sb.Append("</pool>\n");
        return sb.ToString();
    }

    /// <summary>vol-create-as, after sizes are parsed and the backing volume's path is known.</summary>
    public static string Volume(string name, ulong capacity, ulong? allocation, string? format, string? backingPath, string? backingFormat)
    {
        var sb = new StringBuilder();
        sb.Append("<volume>\n");
        sb.Append($"  <name>{name}</name>\n");
        sb.Append($"  <capacity>{capacity}</capacity>\n");
        if (allocation is { } a)
        {
            sb.Append($"  <allocation>{a}</allocation>\n");
        }

        if (format is not null)
        {
            sb.Append("  <target>\n");
            sb.Append($"    <format type='{format}'/>\n");
            sb.Append("  </target>\n");
        }

        if (backingPath is not null)
        {
            sb.Append("  <backingStore>\n");
            sb.Append($"    <path>{backingPath}</path>\n");
            if (backingFormat is not null)
            {
                sb.Append($"    <format type='{backingFormat}'/>\n");
            }

            sb.Append("  </backingStore>\n");
        }

        sb.Append("</volume>\n");
        return sb.ToString();
    }
}
