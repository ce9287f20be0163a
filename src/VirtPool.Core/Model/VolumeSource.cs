namespace VirtPool.Core.Model;

/// <summary>One physical extent of a volume on a device (virStorageVolSourceExtent), in bytes.</summary>
public sealed record VolumeExtent(string Path, ulong Start, ulong End);

/// <summary>libvirt's virStorageVolTypeDisk: what kind of partition a disk-pool volume is.</summary>
public enum VolumePartitionType
{
    None = 0,
    Primary,
    Logical,
    Extended,
}

/// <summary>
/// libvirt's virStorageVolSource: never parsed from XML (libvirt ignores &lt;source&gt; in input);
/// logical and disk backends fill the extents on refresh, and the formatter prints them.
/// </summary>
public sealed record VolumeSource
{
    public IReadOnlyList<VolumeExtent> Extents { get; set; } = [];

    /// <summary>The partition type of a disk-pool volume; not part of the XML.</summary>
    public VolumePartitionType PartitionType { get; set; }
}
