namespace VirtPool.Core.Model;

/// <summary>libvirt's virStorageVolFormatDisk: the partition types of disk-pool volumes, in libvirt's order.</summary>
public enum DiskPartitionFormat
{
    None = 0,
    Linux,
    Fat16,
    Fat32,
    LinuxSwap,
    LinuxLvm,
    LinuxRaid,
    Extended,
}

/// <summary>
/// One pool type's volume format table (libvirt's virStorageVolOptions): the names in enum order,
/// the default, which names XML may use, and how many the pool capabilities list.
/// </summary>
public sealed class VolumeFormatTable
{
    private readonly string[] _names;
    private readonly bool _noneParses;

    internal VolumeFormatTable(string[] names, int defaultFormat, int lastFormat, bool noneParses)
    {
        _names = names;
        DefaultFormat = defaultFormat;
        LastFormat = lastFormat;
        _noneParses = noneParses;
    }

    /// <summary>Names in enum order: index = libvirt's format number.</summary>
    public IReadOnlyList<string> Names => _names;

    public int DefaultFormat { get; }

    public string DefaultName => _names[DefaultFormat];

    /// <summary>How many values the capabilities' targetFormatType enum lists (0 for rbd).</summary>
    public int LastFormat { get; }

    /// <summary>The format number for a name as the XML parser accepts it; false when libvirt rejects it.</summary>
    public bool TryParse(string? name, out int format)
    {
        format = name is null ? -1 : Array.IndexOf(_names, name);
        if (format == 0 && !_noneParses)
        {
            // virStorageVolumeFormatFromString: a file volume cannot ask for format "none".
            format = -1;
        }

        return format >= 0;
    }

    /// <summary>The name of a format number, or null when out of range.</summary>
    public string? ToName(int format) => (uint)format < (uint)_names.Length ? _names[format] : null;

    public bool Contains(string? name) => name is not null && Array.IndexOf(_names, name) >= 0;
}

/// <summary>libvirt's poolTypeInfo[].volOptions: which format table each pool type parses and prints.</summary>
public static class VolumeFormats
{
    private static readonly string[] FileNames =
        [.. Enum.GetValues<StorageFileFormat>().Select(f => f.ToName())];

    private static readonly string[] DiskNames =
        ["none", "linux", "fat16", "fat32", "linux-swap", "linux-lvm", "linux-raid", "extended"];

    /// <summary>File formats (dir, fs, netfs, gluster, vstorage): default raw, "none" refused on input.</summary>
    public static VolumeFormatTable File { get; } = new(FileNames, (int)StorageFileFormat.Raw, FileNames.Length, noneParses: false);

    /// <summary>rbd: the file table, but the capabilities list no value (libvirt leaves lastFormat 0).</summary>
    public static VolumeFormatTable Rbd { get; } = new(FileNames, (int)StorageFileFormat.Raw, 0, noneParses: false);

    /// <summary>Partition types of disk pools: default none.</summary>
    public static VolumeFormatTable Disk { get; } = new(DiskNames, (int)DiskPartitionFormat.None, DiskNames.Length, noneParses: true);

    /// <summary>The table of a pool type, or null for pool types whose volumes have no format (logical, iscsi, ...).</summary>
    public static VolumeFormatTable? ForPool(PoolType type) => type switch
    {
        PoolType.Dir or PoolType.Fs or PoolType.Netfs or PoolType.Gluster or PoolType.Vstorage => File,
        PoolType.Rbd => Rbd,
        PoolType.Disk => Disk,
        _ => null,
    };

    public static string ToName(this DiskPartitionFormat format) => DiskNames[(int)format];

    public static bool TryParse(string? name, out DiskPartitionFormat format)
    {
        var index = name is null ? -1 : Array.IndexOf(DiskNames, name);
        format = index < 0 ? default : (DiskPartitionFormat)index;
        return index >= 0;
    }
}
