using VirtPool.Core.Process;

namespace VirtPool.Backends.Iscsi;

/// <summary>
/// Where the iscsi backend finds its tools and the kernel's view of SCSI devices. <see cref="Host"/> is
/// this machine's (libvirt's tool paths where they exist, /sys and /dev); tests give a folder with a
/// sysfs and /dev shaped as a logged-in session would make them, and a fixed iface name.
/// </summary>
public sealed record IscsiEnvironment
{
    /// <summary>iscsiadm (open-iscsi); null when not installed (every operation then says so).</summary>
    public string? Iscsiadm { get; init; }

    /// <summary>udevadm, for libvirt's "udevadm settle" before it reads sysfs; null: not run.</summary>
    public string? Udevadm { get; init; }

    /// <summary>udev's scsi_id, for a LUN's key (its serial); null: the key is the path, as libvirt's fallback.</summary>
    public string? ScsiId { get; init; }

    /// <summary>Where sysfs is mounted (class/iscsi_session, bus/scsi/devices).</summary>
    public string SysRoot { get; init; } = "/sys";

    /// <summary>The device folder (a LUN's node is DEVROOT/sdX; a stable target path lies under it).</summary>
    public string DevRoot { get; init; } = "/dev";

    /// <summary>Names an iface made for an initiator IQN; null: libvirt's random <c>libvirt-iface-XXXXXXXX</c>.</summary>
    public Func<string>? IfaceNames { get; init; }

    /// <summary>
    /// How long a refresh waits for udev to make a LUN's link in the pool's target folder (libvirt waits
    /// up to 10 s; VirtPool re-reads the folder meanwhile, where libvirt reads it once and sleeps).
    /// </summary>
    public TimeSpan StablePathWait { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>This machine.</summary>
    public static IscsiEnvironment Host() => new()
    {
        Iscsiadm = ExternalTools.Locate(IscsiCommands.LibvirtPath),
        Udevadm = ExternalTools.Locate("/bin/udevadm"),
        ScsiId = ExternalTools.Locate("/lib/udev/scsi_id"),
    };
}
