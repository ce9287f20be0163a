namespace VirtPool.Core.Model;

/// <summary>libvirt's virStorageAdapterType.</summary>
public enum PoolAdapterType
{
    /// <summary>An &lt;adapter&gt; without type or name: scsi pools reject it.</summary>
    Default = 0,
    ScsiHost = 1,
    FcHost = 2,
}

/// <summary>
/// libvirt's virStorageAdapter: the SCSI host (by name or by parent PCI address) or the Fibre Channel
/// vHBA (by wwnn/wwpn) a scsi pool scans.
/// </summary>
public sealed record PoolAdapter
{
    public PoolAdapterType Type { get; init; }

    /// <summary>scsi_host: name='scsi_hostN' (or legacy 'hostN').</summary>
    public string? Name { get; init; }

    /// <summary>scsi_host: &lt;parentaddr&gt;&lt;address .../&gt;, or null.</summary>
    public PoolPciAddress? ParentAddress { get; init; }

    /// <summary>scsi_host: &lt;parentaddr unique_id='N'&gt; (meaningful with <see cref="ParentAddress"/>).</summary>
    public int UniqueId { get; init; }

    public string? Parent { get; init; }

    public string? ParentWwnn { get; init; }

    public string? ParentWwpn { get; init; }

    public string? ParentFabricWwn { get; init; }

    public string? Wwnn { get; init; }

    public string? Wwpn { get; init; }

    /// <summary>fc_host managed='yes|no'; null when absent.</summary>
    public bool? Managed { get; init; }
}

/// <summary>A PCI address (domain:bus:slot.function) as libvirt's virPCIDeviceAddress keeps it.</summary>
public readonly record struct PoolPciAddress(uint Domain, uint Bus, uint Slot, uint Function);

public static class PoolAdapterTypeNames
{
    public static string ToName(this PoolAdapterType type) => type switch
    {
        PoolAdapterType.ScsiHost => "scsi_host",
        PoolAdapterType.FcHost => "fc_host",
        _ => "default",
    };
}
