namespace VirtPool.Core.Model;

/// <summary>libvirt's virStorageEncryptionFormatType, in libvirt's order.</summary>
public enum EncryptionFormat
{
    Default = 0,
    Qcow,
    Luks,
    Luks2,
}

/// <summary>libvirt's virStorageEncryptionEngine: which layer decrypts (Default prints no attribute).</summary>
public enum EncryptionEngine
{
    Default = 0,
    Qemu,
    Librbd,
}

/// <summary>libvirt's virStorageEncryptionSecretType.</summary>
public enum EncryptionSecretType
{
    Passphrase = 0,
}

public static class EncryptionNames
{
    private static readonly string[] Formats = ["default", "qcow", "luks", "luks2"];
    private static readonly string[] Engines = ["default", "qemu", "librbd"];
    private static readonly string[] SecretTypes = ["passphrase"];

    public static string ToName(this EncryptionFormat format) => Formats[(int)format];

    public static string ToName(this EncryptionEngine engine) => Engines[(int)engine];

    public static string ToName(this EncryptionSecretType type) => SecretTypes[(int)type];

    public static bool TryParse(string? name, out EncryptionFormat format) => TryParse(Formats, name, out format);

    public static bool TryParse(string? name, out EncryptionEngine engine) => TryParse(Engines, name, out engine);

    public static bool TryParse(string? name, out EncryptionSecretType type) => TryParse(SecretTypes, name, out type);

    private static bool TryParse<T>(string[] names, string? name, out T value)
        where T : struct, Enum
    {
        var index = name is null ? -1 : Array.IndexOf(names, name);
        value = index < 0 ? default : (T)(object)index;
        return index >= 0;
    }
}

/// <summary>
/// A &lt;secret&gt; of an encryption (virStorageEncryptionSecret): looked up by UUID or by usage, exactly one.
/// </summary>
public sealed record EncryptionSecret
{
    public EncryptionSecretType Type { get; set; }

    public Guid? Uuid { get; set; }

    public string? Usage { get; set; }
}

/// <summary>&lt;cipher&gt; of a LUKS encryption.</summary>
public sealed record EncryptionCipher
{
    public required string Name { get; set; }

    public uint Size { get; set; }

    public string? Mode { get; set; }

    public string? Hash { get; set; }
}

/// <summary>&lt;ivgen&gt; of a LUKS encryption (only with a cipher).</summary>
public sealed record EncryptionIvgen
{
    public required string Name { get; set; }

    public string? Hash { get; set; }
}

/// <summary>libvirt's virStorageEncryption: a volume's &lt;encryption&gt;.</summary>
public sealed record EncryptionDefinition
{
    public EncryptionFormat Format { get; set; }

    public EncryptionEngine Engine { get; set; }

    public IReadOnlyList<EncryptionSecret> Secrets { get; set; } = [];

    /// <summary>Only kept (and printed) for <see cref="EncryptionFormat.Luks"/>.</summary>
    public EncryptionCipher? Cipher { get; set; }

    /// <summary>Printed with the cipher.</summary>
    public EncryptionIvgen? Ivgen { get; set; }

    public EncryptionDefinition DeepClone() => this with
    {
        Secrets = [.. Secrets.Select(s => s with { })],
        Cipher = Cipher is null ? null : Cipher with { },
        Ivgen = Ivgen is null ? null : Ivgen with { },
    };
}
