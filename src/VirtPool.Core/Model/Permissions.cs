namespace VirtPool.Core.Model;

/// <summary>
/// libvirt's virStoragePerms: unset values are null (libvirt's -1), as they print nothing.
/// </summary>
public sealed record Permissions
{
    public uint? Mode { get; init; }

    public uint? Owner { get; init; }

    public uint? Group { get; init; }

    public string? Label { get; init; }

    public bool IsEmpty => Mode is null && Owner is null && Group is null && Label is null;
}
