namespace VirtPool.Core.Model;

/// <summary>
/// What libvirt prints for a volume's &lt;target&gt; and &lt;backingStore&gt; (both are a virStorageSource
/// formatted by virStorageVolTargetDefFormat). Values a backend probes on refresh are plain settable properties.
/// </summary>
public abstract record VolumeStorageSource
{
    public string? Path { get; set; }

    /// <summary>
    /// The format name from the pool type's table (<see cref="VolumeFormats.ForPool"/>); null stands for
    /// format number 0 ("none") in pools that have a table, and for "no format" in pools that do not.
    /// </summary>
    public string? Format { get; set; }

    /// <summary>Unset fields print nothing; never null.</summary>
    public Permissions Permissions { get; set; } = new();

    /// <summary>Filled by refresh from stat(); never parsed from XML.</summary>
    public VolumeTimestamps? Timestamps { get; set; }

    public EncryptionDefinition? Encryption { get; set; }

    /// <summary>qcow2 compat level ("0.10", "1.1"); libvirt only checks it has the form N.M.</summary>
    public string? Compat { get; set; }

    /// <summary>&lt;nocow/&gt;: a create-time hint, never printed.</summary>
    public bool NoCow { get; set; }

    /// <summary>The qcow2 features; printed when <see cref="VolumeFeatures.IsPresent"/>.</summary>
    public VolumeFeatures Features { get; set; } = new();

    /// <summary>qcow2 cluster size in bytes; null or 0 prints nothing.</summary>
    public ulong? ClusterSize { get; set; }

    /// <summary>The format as a file format (dir, fs, netfs, gluster, vstorage, rbd pools).</summary>
    public StorageFileFormat? FileFormat
    {
        get => StorageFileFormatNames.TryParse(Format ?? "none", out var f) ? f : null;
        set => Format = value?.ToName();
    }
}

/// <summary>The volume's own storage (&lt;target&gt;).</summary>
public sealed record VolumeTarget : VolumeStorageSource;

/// <summary>
/// The image a volume is layered on (&lt;backingStore&gt;). XML input gives path, format and permissions;
/// refresh adds what it probes (permissions, timestamps), which libvirt prints as for the target.
/// </summary>
public sealed record VolumeBackingStore : VolumeStorageSource;
