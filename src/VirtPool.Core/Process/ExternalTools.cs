using System.Collections.Frozen;

namespace VirtPool.Core.Process;

/// <summary>
/// The external tools the pool backends run, with the Debian package that provides each (checked with
/// <c>dpkg -S</c> on Debian 12), and the lookup the runner uses for a bare program name: PATH, then
/// /usr/sbin and /sbin, where root's tools live and a non-root PATH may not reach.
/// </summary>
public static class ExternalTools
{
    private const string Zfs = "zfsutils-linux (zfs-fuse on Debian 12)";

    /// <summary>Tool name to the package(s) to install for it.</summary>
    public static FrozenDictionary<string, string> Packages { get; } = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["mount"] = "mount",
        ["umount"] = "mount",
        ["losetup"] = "mount",
        ["blkid"] = "util-linux",
        ["wipefs"] = "util-linux",
        ["mkfs.ext2"] = "e2fsprogs",
        ["mkfs.ext3"] = "e2fsprogs",
        ["mkfs.ext4"] = "e2fsprogs",
        ["mkfs.xfs"] = "xfsprogs",
        ["mkfs.btrfs"] = "btrfs-progs",
        ["mkfs.vfat"] = "dosfstools",
        ["parted"] = "parted",
        ["pvcreate"] = "lvm2",
        ["pvremove"] = "lvm2",
        ["pvs"] = "lvm2",
        ["vgcreate"] = "lvm2",
        ["vgchange"] = "lvm2",
        ["vgremove"] = "lvm2",
        ["vgs"] = "lvm2",
        ["lvcreate"] = "lvm2",
        ["lvchange"] = "lvm2",
        ["lvremove"] = "lvm2",
        ["lvresize"] = "lvm2",
        ["lvs"] = "lvm2",
        ["zpool"] = Zfs,
        ["zfs"] = Zfs,
        ["showmount"] = "nfs-common",
        ["gluster"] = "glusterfs-cli",
        ["qemu-img"] = "qemu-utils",
        ["udevadm"] = "udev",
        ["iscsiadm"] = "open-iscsi",
    }.ToFrozenDictionary(StringComparer.Ordinal);

    /// <summary>Where root's tools live; searched after PATH.</summary>
    private static readonly string[] SystemDirectories = ["/usr/sbin", "/sbin"];

    /// <summary>The package(s) providing <paramref name="tool"/>, or null for a tool outside the table.</summary>
    public static string? PackageOf(string tool) => Packages.GetValueOrDefault(tool);

    /// <summary>
    /// The absolute path of <paramref name="tool"/>, or null when it is not installed. A name with a
    /// slash is taken as a path. Cheap (a few stat calls): a backend resolves its tools once when it is
    /// loaded and runs the paths it got.
    /// </summary>
    public static string? Find(string tool)
        => Find(tool, Environment.GetEnvironmentVariable("PATH") is { Length: > 0 } path ? path : DefaultPath);

    /// <summary>Where a process without PATH looks (as libvirt's virFindFileInPath does).</summary>
    private const string DefaultPath = "/bin:/usr/bin";

    /// <summary>
    /// The program to run for one of libvirt's build-time tool paths (<c>/bin/mount</c>, <c>/sbin/pvs</c>):
    /// that path where it exists, so argv reads as libvirtd's, else the tool found on PATH, /usr/sbin or
    /// /sbin, else null (the operation that needs it fails with <see cref="ChildProcessErrors.NotFound"/>).
    /// </summary>
    public static string? Locate(string libvirtPath)
        => Find(libvirtPath) is not null ? libvirtPath : Find(Path.GetFileName(libvirtPath));

    /// <summary>Whether <paramref name="tool"/> is installed.</summary>
    public static bool IsInstalled(string tool) => Find(tool) is not null;

    /// <summary>The absolute path of <paramref name="tool"/>; throws "internal error: 'mkfs.xfs' not found: install xfsprogs" when it is missing.</summary>
    public static string Resolve(string tool) => Find(tool) ?? throw ChildProcessErrors.NotFound(tool);

    /// <summary>As <see cref="Find(string)"/>, searching the given PATH value instead of this process's.</summary>
    internal static string? Find(string tool, string? pathVariable)
    {
        ArgumentException.ThrowIfNullOrEmpty(tool);
        if (tool.Contains('/', StringComparison.Ordinal))
        {
            return IsExecutableFile(tool) ? Path.GetFullPath(tool) : null;
        }

        var searched = (pathVariable ?? string.Empty).Split(':', StringSplitOptions.RemoveEmptyEntries).Concat(SystemDirectories);
        foreach (var directory in searched.Distinct(StringComparer.Ordinal))
        {
            var candidate = Path.Combine(directory, tool);
            if (IsExecutableFile(candidate))
            {
                return Path.GetFullPath(candidate);
            }
        }

        return null;
    }

    private static bool IsExecutableFile(string path)
    {
        const UnixFileMode anyExecute = UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;
        try
        {
            return File.Exists(path) && (File.GetUnixFileMode(path) & anyExecute) != 0;
        }
        catch (IOException)
        {
            return false;
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }
    }
}
