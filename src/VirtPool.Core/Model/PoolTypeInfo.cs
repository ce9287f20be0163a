namespace VirtPool.Core.Model;

/// <summary>
/// libvirt's source flags (VIR_STORAGE_POOL_SOURCE_*): which source elements a pool type uses.
/// They decide what the parser requires and what the formatter prints.
/// </summary>
[Flags]
public enum PoolSourceFlags
{
    None = 0,
    Host = 1 << 0,
    Device = 1 << 1,
    Dir = 1 << 2,
    Adapter = 1 << 3,
    Name = 1 << 4,
    InitiatorIqn = 1 << 5,
    Network = 1 << 6,
}

/// <summary>
/// One row of libvirt's poolTypeInfo table (storage_conf.c): the pool options (source flags, the source
/// format table and its default) and the volume options (volume format table and its default).
/// </summary>
public sealed class PoolTypeInfo
{
    private static readonly IReadOnlyList<string> FileFormats =
        ["none", "raw", "dir", "bochs", "cloop", "dmg", "iso", "vpc", "vdi", "fat", "vhd", "ploop", "cow", "qcow", "qcow2", "qed", "vmdk"];

    private static readonly PoolTypeInfo[] Table = Build();

    private PoolTypeInfo(PoolType type, PoolSourceFlags flags)
    {
        Type = type;
        Flags = flags;
    }

    public PoolType Type { get; }

    public PoolSourceFlags Flags { get; }

    /// <summary>Source format names (index = libvirt's format number), or null when the type has no source format.</summary>
    public IReadOnlyList<string>? SourceFormats { get; private init; }

    /// <summary>The source formats pool-capabilities lists: libvirt's table, which for fs lacks VirtPool's btrfs.</summary>
    public IReadOnlyList<string>? AdvertisedSourceFormats { get => field ?? SourceFormats; private init; }

    /// <summary>libvirt's defaultFormat of the pool options (0 when the type has no source format).</summary>
    public int DefaultSourceFormat { get; private init; }

    /// <summary>Volume format names listed by pool-capabilities (libvirt's lastFormat entries), or null when none.</summary>
    public IReadOnlyList<string>? VolumeFormats { get; private init; }

    /// <summary>Name of the default volume format, or null when the type has no volume format table.</summary>
    public string? DefaultVolumeFormat { get; private init; }

    /// <summary>True when the volume formats are file formats (virStorageFileFormat), false for disk partitions.</summary>
    public bool VolumeFormatsAreFileFormats { get; private init; }

    /// <summary>
    /// False for the types libvirtd 9.0 (as built here) has no backend for: sheepdog and vstorage. The XML
    /// parser accepts them; defining or creating such a pool fails with
    /// "internal error: missing backend for pool type N (name)" (see <see cref="MissingBackendMessage"/>).
    /// </summary>
    public bool HasBackend => Type is not (PoolType.Sheepdog or PoolType.Vstorage);

    /// <summary>Network pools (rbd, sheepdog, gluster, iscsi-direct) have no target path and print no &lt;target&gt;.</summary>
    public bool IsNetwork => (Flags & PoolSourceFlags.Network) != 0;

    public static PoolTypeInfo For(PoolType type) => Table[(int)type];

    /// <summary>virStorageBackendForType's message for a type without a backend.</summary>
    public static string MissingBackendMessage(PoolType type) => $"missing backend for pool type {(int)type} ({type.ToName()})";

    /// <summary>The source format name for <paramref name="format"/>, or null when out of range (libvirt's ToString).</summary>
    public string? SourceFormatName(int format)
        => SourceFormats is not null && format >= 0 && format < SourceFormats.Count ? SourceFormats[format] : null;

    /// <summary>libvirt's FromString: the format number for <paramref name="name"/>, or -1.</summary>
    public int ParseSourceFormat(string name)
    {
        if (SourceFormats is null)
        {
            return -1;
        }

        for (var i = 0; i < SourceFormats.Count; i++)
        {
            if (string.Equals(SourceFormats[i], name, StringComparison.Ordinal))
            {
                return i;
            }
        }

        return -1;
    }

    private static PoolTypeInfo[] Build()
    {
        const PoolSourceFlags H = PoolSourceFlags.Host;
        const PoolSourceFlags D = PoolSourceFlags.Device;
        const PoolSourceFlags Dir = PoolSourceFlags.Dir;
        const PoolSourceFlags A = PoolSourceFlags.Adapter;
        const PoolSourceFlags N = PoolSourceFlags.Name;
        const PoolSourceFlags I = PoolSourceFlags.InitiatorIqn;
        const PoolSourceFlags Net = PoolSourceFlags.Network;

        var table = new PoolTypeInfo[PoolTypeNames.All.Count];
        table[(int)PoolType.Dir] = new(PoolType.Dir, PoolSourceFlags.None) { VolumeFormats = FileFormats, DefaultVolumeFormat = "raw", VolumeFormatsAreFileFormats = true };
        table[(int)PoolType.Fs] = new(PoolType.Fs, D)
        {
            SourceFormats = PoolFormatNames.Fs,
            AdvertisedSourceFormats = PoolFormatNames.FsInLibvirt,
            DefaultSourceFormat = (int)PoolFsFormat.Auto,
            VolumeFormats = FileFormats,
            DefaultVolumeFormat = "raw",
            VolumeFormatsAreFileFormats = true,
        };
        table[(int)PoolType.Netfs] = new(PoolType.Netfs, H | Dir)
        {
            SourceFormats = PoolFormatNames.Netfs,
            DefaultSourceFormat = (int)PoolNetfsFormat.Auto,
            VolumeFormats = FileFormats,
            DefaultVolumeFormat = "raw",
            VolumeFormatsAreFileFormats = true,
        };
        table[(int)PoolType.Logical] = new(PoolType.Logical, N | D)
        {
            SourceFormats = PoolFormatNames.Logical,
            DefaultSourceFormat = (int)PoolLogicalFormat.Lvm2,
        };
        table[(int)PoolType.Disk] = new(PoolType.Disk, D)
        {
            SourceFormats = PoolFormatNames.Disk,
            DefaultSourceFormat = (int)PoolDiskFormat.Unknown,
            VolumeFormats = PoolFormatNames.DiskVolume,
            DefaultVolumeFormat = "none",
        };
        table[(int)PoolType.Iscsi] = new(PoolType.Iscsi, H | D | I);
        table[(int)PoolType.IscsiDirect] = new(PoolType.IscsiDirect, H | D | Net | I);
        table[(int)PoolType.Scsi] = new(PoolType.Scsi, A);
        table[(int)PoolType.Mpath] = new(PoolType.Mpath, PoolSourceFlags.None);

        // libvirt gives rbd a default volume format but no lastFormat, so its format list is empty.
        table[(int)PoolType.Rbd] = new(PoolType.Rbd, H | Net | N) { VolumeFormats = [], DefaultVolumeFormat = "raw", VolumeFormatsAreFileFormats = true };
        table[(int)PoolType.Sheepdog] = new(PoolType.Sheepdog, H | Net | N);
        table[(int)PoolType.Gluster] = new(PoolType.Gluster, H | Net | N | Dir)
        {
            VolumeFormats = FileFormats,
            DefaultVolumeFormat = "raw",
            VolumeFormatsAreFileFormats = true,
        };
        table[(int)PoolType.Zfs] = new(PoolType.Zfs, N | D);
        table[(int)PoolType.Vstorage] = new(PoolType.Vstorage, N) { VolumeFormats = FileFormats, DefaultVolumeFormat = "raw", VolumeFormatsAreFileFormats = true };
        return table;
    }
}
