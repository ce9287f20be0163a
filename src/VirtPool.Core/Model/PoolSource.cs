namespace VirtPool.Core.Model;

/// <summary>
/// libvirt's virStoragePoolSource: where a pool's storage comes from. Which members a pool type uses is
/// given by <see cref="PoolTypeInfo.Flags"/>; the formatter prints only those (plus auth, protocol, vendor
/// and product, which libvirt prints for every type when set).
/// </summary>
public sealed record PoolSource
{
    public IReadOnlyList<PoolSourceHost> Hosts { get; init; } = [];

    public IReadOnlyList<PoolSourceDevice> Devices { get; init; } = [];

    /// <summary>&lt;dir path='...'/&gt;, sanitized; gluster defaults it to "/".</summary>
    public string? Dir { get; init; }

    /// <summary>&lt;adapter&gt; (scsi pools); null when the element is absent.</summary>
    public PoolAdapter? Adapter { get; init; }

    /// <summary>&lt;name&gt;: volume group, RBD pool, gluster volume, zfs pool...; defaults to the pool name for types that use it.</summary>
    public string? Name { get; init; }

    /// <summary>
    /// libvirt's source->format number, interpreted per pool type (see the typed accessors and
    /// <see cref="PoolTypeInfo.SourceFormats"/>); 0 for types without a source format.
    /// </summary>
    public int Format { get; init; }

    /// <summary>&lt;initiator&gt;&lt;iqn name='...'/&gt; (iscsi, iscsi-direct).</summary>
    public string? InitiatorIqn { get; init; }

    public PoolAuth? Auth { get; init; }

    /// <summary>&lt;protocol ver='...'/&gt;: libvirt 9.0 keeps the attribute text as given (NFS version).</summary>
    public string? ProtocolVersion { get; init; }

    /// <summary>&lt;vendor name='...'/&gt;.</summary>
    public string? Vendor { get; init; }

    /// <summary>&lt;product name='...'/&gt;.</summary>
    public string? Product { get; init; }

    public PoolFsFormat FsFormat => (PoolFsFormat)Format;

    public PoolNetfsFormat NetfsFormat => (PoolNetfsFormat)Format;

    public PoolDiskFormat DiskFormat => (PoolDiskFormat)Format;

    public PoolLogicalFormat LogicalFormat => (PoolLogicalFormat)Format;
}

/// <summary>&lt;host name='...' port='...'/&gt;; port 0 means "not given" (libvirt prints no port then).</summary>
public readonly record struct PoolSourceHost(string Name, int Port = 0);

/// <summary>&lt;device path='...' part_separator='yes|no'/&gt;; PartSeparator null when absent.</summary>
public sealed record PoolSourceDevice(string Path, bool? PartSeparator = null)
{
    /// <summary>
    /// The unused byte ranges a refresh found on the device (a disk pool's live source); never parsed
    /// from a definition, as libvirt ignores them there, only from VirtPool's own status files.
    /// </summary>
    public IReadOnlyList<PoolFreeExtent> FreeExtents { get; init; } = [];
}

/// <summary>&lt;freeExtent start='…' end='…'/&gt;: bytes [Start, End) of a device no partition uses.</summary>
public readonly record struct PoolFreeExtent(ulong Start, ulong End);
