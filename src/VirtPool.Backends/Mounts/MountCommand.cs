using VirtPool.Core.Process;

namespace VirtPool.Backends.Mounts;

/// <summary>
/// The mount and umount commands of libvirt's fs and netfs backends (storage_util.c's
/// virStorageBackendFileSystemMountCmd), with libvirt's build-time tool paths, which the recorded
/// argv of libvirtd 9.0 shows (<c>/bin/mount</c>, <c>/bin/umount</c>). netfs adds its own source
/// text (HOST:DIR, //HOST/DIR) and type-specific option (<c>nfsvers=</c>, <c>direct-io-mode=1</c>,
/// <c>guest</c>) through <see cref="MountArgv"/>'s parameters.
/// </summary>
public static class MountCommand
{
    /// <summary>libvirt's MOUNT.</summary>
    public const string LibvirtMountPath = "/bin/mount";

    /// <summary>libvirt's UMOUNT.</summary>
    public const string LibvirtUmountPath = "/bin/umount";

    /// <summary>libvirt's default_mount_opts on Linux: every pool mount gets them first.</summary>
    public const string DefaultOptions = "nodev,nosuid,noexec";

    /// <summary>
    /// How long a mount or umount may take before it is killed and the operation fails (libvirt waits
    /// forever, holding nothing but the caller). A local filesystem mounts in well under a second; an
    /// unreachable network server is what this stops.
    /// </summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(60);

    /// <summary>
    /// <c>MOUNT -o DEFAULTS[,PROVIDED][,NAMESPACE...] [-t TYPE] SOURCE TARGET</c>: the options in
    /// libvirt's order (its defaults, the type's own option, then the pool's &lt;fs:mount_opts&gt;), and
    /// no <c>-t</c> where <paramref name="fsType"/> is null (netfs "auto", which plain mount detects).
    /// </summary>
    public static IReadOnlyList<string> MountArgv(string mount, string? fsType, string source, string target, string? providedOption = null, IReadOnlyList<string>? namespaceOptions = null)
    {
        var options = new List<string> { DefaultOptions };
        if (!string.IsNullOrEmpty(providedOption))
        {
            options.Add(providedOption);
        }

        options.AddRange(namespaceOptions ?? []);
        var argv = new List<string> { mount, "-o", string.Join(',', options) };
        if (fsType is not null)
        {
            argv.Add("-t");
            argv.Add(fsType);
        }

        argv.Add(source);
        argv.Add(target);
        return argv;
    }

    /// <summary><c>UMOUNT TARGET</c>.</summary>
    public static IReadOnlyList<string> UmountArgv(string umount, string target) => [umount, target];
}
