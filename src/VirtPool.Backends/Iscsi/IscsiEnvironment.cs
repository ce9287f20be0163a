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

    /// <summary>
    /// The most one iscsiadm run may take before it is killed (a backstop: libvirt waits for ever; iscsiadm's
    /// own login and discovery timeouts, 15 s per attempt by default, normally end it first).
    /// </summary>
    public TimeSpan CommandTimeout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>The iscsiadm steps with this environment's tool, iface names and time limit.</summary>
    public IscsiInitiator Initiator(Core.Process.IProcessRunner runner)
        => new(runner, new IscsiCommands(Iscsiadm ?? throw ChildProcessErrors.NotFound("iscsiadm")), IfaceNames, CommandTimeout);

    /// <summary>This machine.</summary>
    public static IscsiEnvironment Host() => new()
    {
        Iscsiadm = ExternalTools.Locate(IscsiCommands.LibvirtPath),
        Udevadm = ExternalTools.Locate("/bin/udevadm"),
        ScsiId = ExternalTools.Locate("/lib/udev/scsi_id"),
    };
}
