namespace VirtPool.Core.Model;

/// <summary>
/// libvirt's virStorageVolDef. Parsed by <c>VolumeXml.Parse</c>, printed by <c>VolumeXml.Format</c>;
/// backends set probed values (format, capacity, allocation, backing store, compat, features, timestamps)
/// through the settable properties or <c>with</c>.
/// </summary>
public sealed record VolumeDefinition
{
    public required string Name { get; set; }

    public string? Key { get; set; }

    public VolumeType Type { get; set; }

    /// <summary>Bytes; 0 when the XML had no &lt;capacity&gt; (allowed by the parse flags).</summary>
    public ulong Capacity { get; set; }

    /// <summary>Whether the XML had a &lt;capacity&gt; element.</summary>
    public bool HasCapacity { get; set; }

    /// <summary>
    /// Bytes; null when the XML had no &lt;allocation&gt;: libvirt then uses the capacity
    /// (the formatter prints <see cref="Capacity"/> in its place).
    /// </summary>
    public ulong? Allocation { get; set; }

    /// <summary>Bytes on disk; display only, printed when not 0.</summary>
    public ulong Physical { get; set; }

    public VolumeTarget Target { get; set; } = new();

    public VolumeBackingStore? BackingStore { get; set; }

    public VolumeSource Source { get; set; } = new();

    /// <summary>
    /// What the pool's backend keeps about the volume for itself (an LV's UUID and extents, a
    /// partition's number, a zvol's name), so describing a volume of an active pool needs no tool run:
    /// opaque to everything else, kept in the volume index, handed back with every operation, never in XML.
    /// </summary>
    public string? BackendData { get; set; }

    /// <summary>The allocation libvirt reports: the parsed or probed one, else the capacity.</summary>
    public ulong EffectiveAllocation => Allocation ?? Capacity;

    /// <summary>A copy that shares nothing mutable with this one.</summary>
    public VolumeDefinition DeepClone() => this with
    {
        Target = CloneSource(Target),
        BackingStore = BackingStore is null ? null : CloneSource(BackingStore),
        Source = Source with { Extents = [.. Source.Extents] },
    };

    private static T CloneSource<T>(T source)
        where T : VolumeStorageSource
        => source with
        {
            Permissions = source.Permissions with { },
            Features = source.Features with { },
            Encryption = source.Encryption?.DeepClone(),
        };
}
