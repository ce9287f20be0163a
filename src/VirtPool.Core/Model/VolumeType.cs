namespace VirtPool.Core.Model;

/// <summary>libvirt's virStorageVolType, in libvirt's order (the numbers are on the wire).</summary>
public enum VolumeType
{
    File = 0,
    Block = 1,
    Dir = 2,
    Network = 3,
    NetDir = 4,
    Ploop = 5,
}

public static class VolumeTypeNames
{
    private static readonly string[] Names = ["file", "block", "dir", "network", "netdir", "ploop"];

    public static IReadOnlyList<string> All => Names;

    public static string ToName(this VolumeType type)
        => (uint)type < (uint)Names.Length
            ? Names[(int)type]
            : throw new ArgumentOutOfRangeException(nameof(type), type, "not a volume type");

    public static bool TryParse(string? name, out VolumeType type)
    {
        var index = name is null ? -1 : Array.IndexOf(Names, name);
        type = index < 0 ? default : (VolumeType)index;
        return index >= 0;
    }
}
