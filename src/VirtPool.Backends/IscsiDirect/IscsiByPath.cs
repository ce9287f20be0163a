using System.Globalization;
using VirtPool.Core.Model;

namespace VirtPool.Backends.IscsiDirect;

/// <summary>
/// How libvirt names iSCSI portals and LUNs: the portal string it connects to, the volume name
/// <c>unit:0:0:N</c> and the udev by-path form <c>ip-PORTAL-iscsi-IQN-lun-N</c> (the kernel initiator's
/// /dev/disk/by-path name, which iscsi-direct uses as its volumes' key and path).
/// </summary>
public static class IscsiByPath
{
    /// <summary>The iSCSI port a host without one uses.</summary>
    public const int DefaultPort = 3260;

    /// <summary>iscsi-direct's volume name prefix (bus 0, target 0).</summary>
    public const string VolumeNamePrefix = "unit:0:0:";

    /// <summary>
    /// libvirt's virStorageBackendISCSIDirectPortal: HOST:PORT, an IPv6 address in brackets when a port
    /// was given (libvirt 9.0 leaves it bare with the default port, as here).
    /// </summary>
    public static string Portal(PoolSourceHost host)
        => host.Port == 0 ? $"{host.Name}:{DefaultPort}"
            : host.Name.Contains(':', StringComparison.Ordinal) ? $"[{host.Name}]:{host.Port}"
            : $"{host.Name}:{host.Port}";

    /// <summary><c>ip-PORTAL-iscsi-IQN-lun-N</c>.</summary>
    public static string LunPath(string portal, string targetIqn, int lun)
        => string.Create(CultureInfo.InvariantCulture, $"ip-{portal}-iscsi-{targetIqn}-lun-{lun}");

    /// <summary><c>unit:0:0:N</c>.</summary>
    public static string VolumeName(int lun) => VolumeNamePrefix + lun.ToString(CultureInfo.InvariantCulture);

    /// <summary>The LUN of a <c>unit:0:0:N</c> name (libvirt's virStorageBackendISCSIDirectGetLun: strtol, base 10).</summary>
    public static bool TryParseLun(string name, out int lun)
    {
        lun = 0;
        return name.StartsWith(VolumeNamePrefix, StringComparison.Ordinal)
            && int.TryParse(name.AsSpan(VolumeNamePrefix.Length), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out lun);
    }
}
