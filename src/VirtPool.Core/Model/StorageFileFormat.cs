namespace VirtPool.Core.Model;

/// <summary>libvirt's virStorageFileFormat: the formats of file-backed volumes, in libvirt's order.</summary>
public enum StorageFileFormat
{
    None = 0,
    Raw,
    Dir,
    Bochs,
    Cloop,
    Dmg,
    Iso,
    Vpc,
    Vdi,
    Fat,
    Vhd,
    Ploop,
    Cow,
    Qcow,
    Qcow2,
    Qed,
    Vmdk,
}

public static class StorageFileFormatNames
{
    private static readonly string[] Names =
        ["none", "raw", "dir", "bochs", "cloop", "dmg", "iso", "vpc", "vdi", "fat", "vhd", "ploop", "cow", "qcow", "qcow2", "qed", "vmdk"];

    public static string ToName(this StorageFileFormat format) => Names[(int)format];

    public static bool TryParse(string? name, out StorageFileFormat format)
    {
        var index = name is null ? -1 : Array.IndexOf(Names, name);
        format = index < 0 ? default : (StorageFileFormat)index;
        return index >= 0;
    }
}
