using VirtPool.Core.Model;

namespace VirtPool.Formats;

/// <summary>
/// What libvirt 9.0 learns about a volume from its header bytes: the result of
/// virStorageFileProbeGetMetadata as storageBackendProbeTarget folds it into the volume definition.
/// </summary>
public sealed record ImageInfo
{
    /// <summary>The detected format; <see cref="StorageFileFormat.Raw"/> when no magic matched.</summary>
    public StorageFileFormat Format { get; init; } = StorageFileFormat.Raw;

    /// <summary>
    /// The capacity libvirt reports: the header's virtual size where the format has one and it is not 0,
    /// otherwise the file size; for a LUKS-encrypted raw file, the file size less the LUKS payload offset.
    /// For ploop it is the file size: libvirt reads the header's size during a pool refresh, but every
    /// vol-info/vol-dumpxml refreshes a ploop volume from st_size (checked against libvirt 9.0).
    /// </summary>
    public ulong Capacity { get; init; }

    /// <summary>The backing store name exactly as the header holds it (possibly relative), or null.</summary>
    public string? BackingStore { get; init; }

    /// <summary>
    /// The backing store's format as libvirt records it from the header: the qcow2 backing-format
    /// extension, or raw for qed's "backing is raw" feature bit. Null is libvirt's AUTO: absent, or a name
    /// libvirt does not know; storageBackendProbeTarget then probes the backing file itself.
    /// <see cref="StorageFileFormat.None"/> when a qcow2 extension literally says "none" (libvirt keeps NONE and
    /// shows &lt;format type='none'/&gt;).
    /// </summary>
    public StorageFileFormat? BackingFormat { get; init; }

    /// <summary>
    /// True for a qed backing store without the "backing is raw" bit: libvirt records AUTO_SAFE (-2), does
    /// not probe it, and later fails vol-info/vol-dumpxml of the overlay with
    /// "unknown storage file meta->format -2: Invalid argument" (observed with libvirt 9.0).
    /// <see cref="BackingFormat"/> is null then.
    /// </summary>
    public bool BackingFormatAutoSafe { get; init; }

    /// <summary>"1.1" for a qcow2 v3 image whose feature bits were read; null otherwise (libvirt leaves v2 images without compat).</summary>
    public string? Compat { get; init; }

    /// <summary>qcow2 v3 compatible feature bit 0.</summary>
    public bool LazyRefcounts { get; init; }

    /// <summary>qcow2 v3 incompatible feature bit 4.</summary>
    public bool ExtendedL2 { get; init; }

    /// <summary>qcow2 cluster size (1 &lt;&lt; cluster_bits), null when not qcow2 or cluster_bits &lt;= 0.</summary>
    public ulong? ClusterSize { get; init; }

    /// <summary>True when the header says the data is encrypted.</summary>
    public bool Encrypted { get; init; }

    /// <summary>
    /// libvirt's encryption format name (virStorageEncryptionFormat): "qcow" for qcow/qcow2 AES
    /// (crypt_method 1), "luks" for qcow2 crypt_method 2 or a LUKS1 header on a raw file; null when not encrypted.
    /// </summary>
    public string? EncryptionFormat { get; init; }

    /// <summary>
    /// The version field of the header for the formats that carry one (qcow/qcow2 1..3, vmdk 1..3, cow 2, vdi, vpc), else null.
    /// Informational: libvirt does not report it, but it tells a qcow2 v2 ("0.10") image from a v3 one.
    /// </summary>
    public uint? HeaderVersion { get; init; }

    /// <summary>
    /// True when libvirt's metadata probe returns failure for this header (a qcow2 v3 header shorter than
    /// the 100 bytes libvirt requires before it reads the feature words): libvirt's pool refresh fails on
    /// such a file, without a specific error message. The other
    /// properties hold what was parsed before that point.
    /// </summary>
    public bool ProbeFailed { get; init; }

    /// <summary>
    /// Not libvirt: the format qemu would detect where libvirt 9.0 has none and reports raw. "vhdx" when the
    /// header starts with qemu's VHDX file signature "vhdxfile"; null otherwise. No other field depends on it.
    /// </summary>
    public string? DetectedQemuFormat { get; init; }
}
