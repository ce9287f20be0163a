using VirtPool.Core.Model;

namespace VirtPool.Core.Manager;

/// <summary>A pool as clients name it (libvirt's virStoragePoolPtr: name + uuid).</summary>
public sealed record PoolRef(string Name, Guid Uuid);

/// <summary>A volume as clients name it (virStorageVolPtr: pool, name, key).</summary>
public sealed record VolumeRef(string Pool, string Name, string Key);

/// <summary>libvirt's virStoragePoolState.</summary>
public enum PoolState
{
    Inactive = 0,
    Building = 1,
    Running = 2,
    Degraded = 3,
    Inaccessible = 4,
}

/// <summary>virStoragePoolInfo.</summary>
public sealed record PoolInfo(PoolState State, ulong Capacity, ulong Allocation, ulong Available);

/// <summary>virStorageVolInfo.</summary>
public sealed record VolumeInfo(VolumeType Type, ulong Capacity, ulong Allocation);

/// <summary>One pool as a listing shows it.</summary>
public sealed record PoolSummary(PoolRef Pool, PoolType Type, bool Active, bool Persistent, bool Autostart, PoolSizes Sizes);

/// <summary>virConnectListAllStoragePools flags (libvirt's numbering).</summary>
[Flags]
public enum PoolListFilter
{
    None = 0,
    Inactive = 1 << 0,
    Active = 1 << 1,
    Persistent = 1 << 2,
    Transient = 1 << 3,
    Autostart = 1 << 4,
    NoAutostart = 1 << 5,
    Dir = 1 << 6,
    Fs = 1 << 7,
    Netfs = 1 << 8,
    Logical = 1 << 9,
    Disk = 1 << 10,
    Iscsi = 1 << 11,
    Scsi = 1 << 12,
    Mpath = 1 << 13,
    Rbd = 1 << 14,
    Sheepdog = 1 << 15,
    Gluster = 1 << 16,
    Zfs = 1 << 17,
    Vstorage = 1 << 18,
    IscsiDirect = 1 << 19,
}
