namespace VirtPool.Core.Model;

/// <summary>
/// libvirt's virStoragePoolFormatFileSystem: source formats of a <c>fs</c> pool, in libvirt's order,
/// and btrfs after them (libvirt 9.0 refuses it; appended so libvirt's numbers stay as they are).
/// </summary>
public enum PoolFsFormat
{
    Auto = 0,
    Ext2,
    Ext3,
    Ext4,
    Ufs,
    Iso9660,
    Udf,
    Gfs,
    Gfs2,
    Vfat,
    HfsPlus,
    Xfs,
    Ocfs2,
    Vmfs,

    /// <summary>VirtPool's addition: not in libvirt's table, not in pool-capabilities.</summary>
    Btrfs,
}

/// <summary>libvirt's virStoragePoolFormatFileSystemNet: source formats of a <c>netfs</c> pool.</summary>
public enum PoolNetfsFormat
{
    Auto = 0,
    Nfs,
    Glusterfs,
    Cifs,
}

/// <summary>libvirt's virStoragePoolFormatDisk: partition-table labels of a <c>disk</c> pool.</summary>
public enum PoolDiskFormat
{
    Unknown = 0,
    Dos,
    Dvh,
    Gpt,
    Mac,
    Bsd,
    Pc98,
    Sun,
    Lvm2,
}

/// <summary>libvirt's virStoragePoolFormatLogical: source formats of a <c>logical</c> pool.</summary>
public enum PoolLogicalFormat
{
    Unknown = 0,
    Lvm2,
}

/// <summary>The name tables of the source formats above (libvirt's VIR_ENUM_IMPL strings).</summary>
public static class PoolFormatNames
{
    /// <summary>Every name an fs pool's &lt;format&gt; takes: libvirt's, then VirtPool's btrfs.</summary>
    public static IReadOnlyList<string> Fs { get; } =
        ["auto", "ext2", "ext3", "ext4", "ufs", "iso9660", "udf", "gfs", "gfs2", "vfat", "hfs+", "xfs", "ocfs2", "vmfs", "btrfs"];

    /// <summary>
    /// libvirt 9.0's own fs table, without btrfs: what pool-capabilities lists, so that document stays
    /// libvirt's byte for byte (clients that read it build their choices from libvirt's list).
    /// </summary>
    public static IReadOnlyList<string> FsInLibvirt { get; } = [.. Fs.Take((int)PoolFsFormat.Btrfs)];

    public static IReadOnlyList<string> Netfs { get; } = ["auto", "nfs", "glusterfs", "cifs"];

    public static IReadOnlyList<string> Disk { get; } = ["unknown", "dos", "dvh", "gpt", "mac", "bsd", "pc98", "sun", "lvm2"];

    public static IReadOnlyList<string> Logical { get; } = ["unknown", "lvm2"];

    /// <summary>Volume formats of a disk pool's partitions (virStorageVolFormatDisk).</summary>
    public static IReadOnlyList<string> DiskVolume { get; } =
        ["none", "linux", "fat16", "fat32", "linux-swap", "linux-lvm", "linux-raid", "extended"];

    public static string ToName(this PoolFsFormat format) => Fs[(int)format];

    public static string ToName(this PoolNetfsFormat format) => Netfs[(int)format];

    public static string ToName(this PoolDiskFormat format) => Disk[(int)format];

    public static string ToName(this PoolLogicalFormat format) => Logical[(int)format];
}
