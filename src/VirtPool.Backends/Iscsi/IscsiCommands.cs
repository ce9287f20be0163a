using System.Globalization;
using VirtPool.Core.Model;

namespace VirtPool.Backends.Iscsi;

/// <summary>
/// The iscsiadm command lines, word for word those of libvirt 9.0's viriscsi.c (checked against
/// libvirtd's debug log where this machine lets it get that far: Golden/libvirtd), plus the few
/// VirtPool adds to undo what a failed start made (<see cref="NodeShow"/>, <see cref="NodeDelete"/>,
/// <see cref="IfaceDelete"/>).
/// </summary>
public sealed class IscsiCommands(string program)
{
    /// <summary>libvirt's ISCSIADM, the path its debug log shows.</summary>
    public const string LibvirtPath = "/usr/bin/iscsiadm";

    /// <summary>iSCSI's well-known port, libvirt's ISCSI_DEFAULT_TARGET_PORT.</summary>
    public const int DefaultPort = 3260;

    public string Program { get; } = program;

    /// <summary>
    /// virStorageBackendISCSIPortal: <c>HOST:PORT,1</c>, an IPv6 address in brackets, port 3260 when
    /// the pool gives none.
    /// </summary>
    public static string Portal(PoolSourceHost host)
    {
        var port = host.Port == 0 ? DefaultPort : host.Port;
        return host.Name.Contains(':', StringComparison.Ordinal)
            ? string.Create(CultureInfo.InvariantCulture, $"[{host.Name}]:{port},1")
            : string.Create(CultureInfo.InvariantCulture, $"{host.Name}:{port},1");
    }

    /// <summary>virISCSIGetSession: the sessions, to find the target's.</summary>
    public string[] Sessions() => [Program, "--mode", "session"];

    /// <summary>virISCSIRescanLUNs.</summary>
    public string[] Rescan(string session) => [Program, "--mode", "session", "-r", session, "-R"];

    /// <summary>virStorageBackendIQNFound: the ifaces and their initiator names.</summary>
    public string[] Ifaces() => [Program, "--mode", "iface"];

    /// <summary>virStorageBackendCreateIfaceIQN, first step.</summary>
    public string[] IfaceNew(string iface) => [Program, "--mode", "iface", "--interface", iface, "--op", "new"];

    /// <summary>virStorageBackendCreateIfaceIQN, second step: the iface's initiator name.</summary>
    public string[] IfaceSetInitiator(string iface, string initiatorIqn)
        => [Program, "--mode", "iface", "--interface", iface, "--op", "update", "--name", "iface.initiatorname", "--value", initiatorIqn];

    /// <summary>VirtPool's: removes an iface a failed start created (libvirt leaves it).</summary>
    public string[] IfaceDelete(string iface) => [Program, "--mode", "iface", "--interface", iface, "--op", "delete"];

    /// <summary>
    /// virISCSIScanTargetsInternal: sendtargets discovery; <c>--op nonpersistent</c> unless the targets are
    /// to be recorded (the login through a new iface needs them), <c>--interface</c> for an initiator's iface.
    /// </summary>
    public string[] Discovery(string portal, string? iface, bool persist)
    {
        var argv = new List<string> { Program, "--mode", "discovery", "--type", "sendtargets", "--portal", portal };
        if (!persist)
        {
            argv.AddRange(["--op", "nonpersistent"]);
        }

        if (iface is not null)
        {
            argv.AddRange(["--interface", iface]);
        }

        return [.. argv];
    }

    /// <summary>VirtPool's: shows the node record, to know whether <see cref="NodeNew"/> will make it (exit 0: it exists).</summary>
    public string[] NodeShow(string portal, string target) => [Program, "--mode", "node", "--portal", portal, "--targetname", target];

    /// <summary>virISCSINodeNew: the static node record login needs.</summary>
    public string[] NodeNew(string portal, string target) => [Program, "--mode", "node", "--portal", portal, "--targetname", target, "--op", "new"];

    /// <summary>virISCSINodeUpdate (libvirt spells this one <c>--target</c>).</summary>
    public string[] NodeUpdate(string portal, string target, string name, string value)
        => [Program, "--mode", "node", "--portal", portal, "--target", target, "--op", "update", "--name", name, "--value", value];

    /// <summary>VirtPool's: removes the node record a failed start made (libvirt leaves it).</summary>
    public string[] NodeDelete(string portal, string target) => [Program, "--mode", "node", "--portal", portal, "--targetname", target, "--op", "delete"];

    /// <summary>virISCSIConnectionLogin.</summary>
    public string[] Login(string portal, string target, string? iface) => Connection(portal, target, "--login", iface);

    /// <summary>virISCSIConnectionLogout.</summary>
    public string[] Logout(string portal, string target, string? iface) => Connection(portal, target, "--logout", iface);

    private string[] Connection(string portal, string target, string action, string? iface)
        => iface is null
            ? [Program, "--mode", "node", "--portal", portal, "--targetname", target, action]
            : [Program, "--mode", "node", "--portal", portal, "--targetname", target, action, "--interface", iface];
}
