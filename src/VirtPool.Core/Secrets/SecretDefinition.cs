namespace VirtPool.Core.Secrets;

/// <summary>libvirt's virSecretUsageType; the numbers travel on the wire (remote_nonnull_secret.usageType).</summary>
public enum SecretUsageType
{
    None = 0,
    Volume = 1,
    Ceph = 2,
    Iscsi = 3,
    Tls = 4,
    Vtpm = 5,
}

/// <summary>virConnectListAllSecretsFlags: two groups (storage, privacy), OR within a group, AND between.</summary>
[Flags]
public enum SecretListFlags : uint
{
    None = 0,
    Ephemeral = 1,
    NoEphemeral = 2,
    Private = 4,
    NoPrivate = 8,
}

/// <summary>
/// A secret's definition (libvirt's virSecretDef): everything but the value, which the store keeps
/// apart and never puts in the XML.
/// </summary>
public sealed record SecretDefinition
{
    public Guid Uuid { get; init; }

    /// <summary>Free text; null when absent or empty (libvirt's virXPathString).</summary>
    public string? Description { get; init; }

    /// <summary>ephemeral='yes': never written to the persistent folder (see <see cref="SecretStore"/>).</summary>
    public bool Ephemeral { get; init; }

    /// <summary>private='yes': the value is never returned to a client.</summary>
    public bool Private { get; init; }

    public SecretUsageType UsageType { get; init; }

    /// <summary>The volume path, Ceph/TLS/vTPM name or iSCSI target; null for <see cref="SecretUsageType.None"/>.</summary>
    public string? UsageId { get; init; }

    /// <summary>The canonical text form: lower case with hyphens, as virUUIDFormat prints it.</summary>
    public string UuidString => Uuid.ToString("D");
}

/// <summary>The XML names of the usage types and the element that holds each usage ID.</summary>
public static class SecretUsageTypes
{
    private static readonly string[] Names = ["none", "volume", "ceph", "iscsi", "tls", "vtpm"];

    /// <summary>virSecretUsageTypeToString.</summary>
    public static string Name(SecretUsageType type) => Names[(int)type];

    /// <summary>virSecretUsageTypeFromString (exact, case-sensitive).</summary>
    public static bool TryParse(string text, out SecretUsageType type)
    {
        var index = Array.IndexOf(Names, text);
        type = index < 0 ? SecretUsageType.None : (SecretUsageType)index;
        return index >= 0;
    }

    /// <summary>The child of &lt;usage&gt; holding the ID; null for none.</summary>
    public static string? IdElement(SecretUsageType type) => type switch
    {
        SecretUsageType.Volume => "volume",
        SecretUsageType.Ceph or SecretUsageType.Tls or SecretUsageType.Vtpm => "name",
        SecretUsageType.Iscsi => "target",
        _ => null,
    };
}
