using VirtPool.Core.Errors;
using VirtPool.Core.Interop;
using VirtPool.Core.Model;

namespace VirtPool.Backends.Local;

/// <summary>
/// A volume's owner and mode as its XML asks, on a file made here, on one a tool (qemu-img) wrote, or on
/// a device node a pool type's tool made (lvcreate, parted): the node is what a VM opens, so it carries
/// the volume's permissions as libvirt gives them.
/// </summary>
internal static class VolumeOwnership
{
    /// <summary>libvirt's default volume mode (VIR_STORAGE_DEFAULT_VOL_PERM_MODE).</summary>
    public const uint DefaultVolumeMode = 0x180; // 0600

    /// <summary>
    /// What libvirt reports of st_mode (S_IRWXUGO): setuid, setgid and sticky bits are dropped, and its
    /// own parser refuses them ("malformed octal mode"), so a pool on /tmp must not record 01777.
    /// </summary>
    public const uint PermissionBits = 0x1FF;

    /// <summary>The process umask, read once (umask() can only be read by setting it).</summary>
    private static readonly uint ProcessUmask = ReadUmask();

    public static uint ModeOf(Permissions perms) => perms.Mode ?? DefaultVolumeMode;

    /// <summary>On a file this process just created with <paramref name="mode"/>: owner if asked, and the exact mode.</summary>
    public static void Apply(int fd, Permissions perms, uint mode, string path)
    {
        if (perms.Owner is not null || perms.Group is not null)
        {
            var owner = perms.Owner is { } o ? (int)o : -1;
            var group = perms.Group is { } g ? (int)g : -1;
            if (LibC.FChown(fd, owner, group) < 0)
            {
                throw VirtPoolException.System($"cannot chown '{path}' to ({owner}, {group})", LibC.Errno);
            }
        }

        // open() applies the umask; the volume gets exactly the mode its XML asks for (one syscall
        // saved on the hot create path when the umask took nothing away).
        if ((mode & ProcessUmask) != 0 && LibC.FChmod(fd, mode) < 0)
        {
            throw VirtPoolException.System($"cannot set mode of '{path}' to {Convert.ToString(mode, 8)}", LibC.Errno);
        }
    }

    /// <summary>
    /// The owner and mode the volume asks for, on a file qemu-img wrote. qemu-img may have made the file
    /// anew with a mode of its own (it does for LUKS): as libvirt, compare with what is there.
    /// </summary>
    public static void ApplyAfterTool(string path, Permissions perms, uint mode)
    {
        var fd = LibC.Open(path, LibC.O_RDONLY | LibC.O_CLOEXEC, 0);
        if (fd < 0)
        {
            return;
        }

        try
        {
            if (FileStat.TryFStat(fd, out var st, out _) && (st.Mode & PermissionBits) != mode && LibC.FChmod(fd, mode) < 0)
            {
                throw VirtPoolException.System($"cannot set mode of '{path}' to {Convert.ToString(mode, 8)}", LibC.Errno);
            }

            Apply(fd, perms, mode, path);
        }
        finally
        {
            LibC.Close(fd);
        }
    }

    /// <summary>
    /// libvirt's storageBackendCreateBlockFrom (and the logical pool's createVol): on a device node, the
    /// owner and group the XML gives where they differ from the node's, and always the mode (0600 when
    /// the XML has none): a node udev or devtmpfs made is 0660 root:disk, wider than a volume should be.
    /// </summary>
    public static void ApplyToDevice(int fd, Permissions perms, string path)
    {
        if (!FileStat.TryFStat(fd, out var st, out var errno))
        {
            throw VirtPoolException.System($"stat of '{path}' failed", errno);
        }

        var owner = perms.Owner is { } o && o != st.Uid ? (int)o : -1;
        var group = perms.Group is { } g && g != st.Gid ? (int)g : -1;
        if ((owner != -1 || group != -1) && LibC.FChown(fd, owner, group) < 0)
        {
            throw VirtPoolException.System($"cannot chown '{path}' to ({owner}, {group})", LibC.Errno);
        }

        var mode = ModeOf(perms);
        if (LibC.FChmod(fd, mode) < 0)
        {
            throw VirtPoolException.System($"cannot set mode of '{path}' to {Convert.ToString(mode, 8).PadLeft(4, '0')}", LibC.Errno);
        }
    }

    /// <summary><see cref="ApplyToDevice(int, Permissions, string)"/> by path.</summary>
    public static void ApplyToDevice(string path, Permissions perms)
    {
        var fd = LibC.Open(path, LibC.O_RDONLY | LibC.O_CLOEXEC | LibC.O_NOCTTY, 0);
        if (fd < 0)
        {
            throw VirtPoolException.System($"cannot open volume '{path}'", LibC.Errno);
        }

        try
        {
            ApplyToDevice(fd, perms, path);
        }
        finally
        {
            LibC.Close(fd);
        }
    }

    private static uint ReadUmask()
    {
        var old = LibC.Umask(0x12);
        _ = LibC.Umask(old);
        return old;
    }
}
