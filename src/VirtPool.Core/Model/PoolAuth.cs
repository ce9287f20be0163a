namespace VirtPool.Core.Model;

/// <summary>libvirt's virStorageAuthType.</summary>
public enum PoolAuthType
{
    None = 0,
    Chap = 1,
    Ceph = 2,
}

/// <summary>
/// libvirt's virStorageAuthDef as pools use it: &lt;auth type='chap|ceph' username='...'&gt;&lt;secret
/// uuid='...'|usage='...'/&gt;&lt;/auth&gt;. Exactly one of <see cref="SecretUuid"/> and
/// <see cref="SecretUsage"/> is set.
/// </summary>
public sealed record PoolAuth
{
    public PoolAuthType Type { get; init; }

    public required string Username { get; init; }

    /// <summary>The &lt;secret type='...'&gt; attribute, kept and printed verbatim when present.</summary>
    public string? SecretType { get; init; }

    public Guid? SecretUuid { get; init; }

    public string? SecretUsage { get; init; }
}

public static class PoolAuthTypeNames
{
    public static string ToName(this PoolAuthType type) => type switch
    {
        PoolAuthType.Chap => "chap",
        PoolAuthType.Ceph => "ceph",
        _ => "none",
    };

    public static bool TryParse(string? name, out PoolAuthType type)
    {
        switch (name)
        {
            case "none":
                type = PoolAuthType.None;
                return true;
            case "chap":
                type = PoolAuthType.Chap;
                return true;
            case "ceph":
                type = PoolAuthType.Ceph;
                return true;
            default:
                type = default;
                return false;
        }
    }
}
