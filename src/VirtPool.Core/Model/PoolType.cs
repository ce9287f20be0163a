namespace VirtPool.Core.Model;

/// <summary>libvirt's virStoragePoolType, in libvirt's order (the numbers appear in messages and on the wire).</summary>
public enum PoolType
{
    Dir = 0,
    Fs = 1,
    Netfs = 2,
    Logical = 3,
    Disk = 4,
    Iscsi = 5,
    IscsiDirect = 6,
    Scsi = 7,
    Mpath = 8,
    Rbd = 9,
    Sheepdog = 10,
    Gluster = 11,
    Zfs = 12,
    Vstorage = 13,
}

public static class PoolTypeNames
{
    private static readonly string[] Names =
        ["dir", "fs", "netfs", "logical", "disk", "iscsi", "iscsi-direct", "scsi", "mpath", "rbd", "sheepdog", "gluster", "zfs", "vstorage"];

    public static IReadOnlyList<string> All => Names;

    public static string ToName(this PoolType type) => Names[(int)type];

    public static bool TryParse(string? name, out PoolType type)
    {
        var index = name is null ? -1 : Array.IndexOf(Names, name);
        type = index < 0 ? default : (PoolType)index;
        return index >= 0;
    }
}
