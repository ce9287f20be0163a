namespace VirtPool.Core.Model;

/// <summary>
/// libvirt's virStoragePoolDef: one storage pool definition as parsed from, and formatted to, pool XML.
/// Build it with <see cref="Xml.PoolXml.Parse"/>; instances are immutable (change them with <c>with</c>).
/// </summary>
public sealed record PoolDefinition
{
    public required PoolType Type { get; init; }

    public required string Name { get; init; }

    public Guid Uuid { get; init; }

    /// <summary>&lt;features&gt;&lt;cow state='yes|no'/&gt;: null when absent (only fs and dir pools accept it).</summary>
    public bool? Cow { get; init; }

    public PoolSource Source { get; init; } = new();

    public PoolTarget Target { get; init; } = new();

    /// <summary>&lt;refresh&gt;&lt;volume allocation='...'/&gt;: null when absent.</summary>
    public PoolRefreshAllocation? RefreshVolumeAllocation { get; init; }

    /// <summary>
    /// fs/netfs namespace data (&lt;fs:mount_opts&gt;&lt;fs:option name='...'/&gt;): extra mount -o options,
    /// or null when the pool has none. Ignored for other pool types.
    /// </summary>
    public IReadOnlyList<string>? FsMountOptions { get; init; }

    /// <summary>
    /// rbd namespace data (&lt;rbd:config_opts&gt;&lt;rbd:option name='...' value='...'/&gt;): extra RADOS
    /// options, or null when the pool has none. Ignored for other pool types.
    /// </summary>
    public IReadOnlyList<PoolRbdConfigOption>? RbdConfigOptions { get; init; }

    /// <summary>The pool type's options (libvirt's poolTypeInfo row).</summary>
    public PoolTypeInfo Info => PoolTypeInfo.For(Type);
}

/// <summary>The pool's &lt;target&gt;: the local path where volumes appear, and its permissions.</summary>
public sealed record PoolTarget
{
    /// <summary>The sanitized target path; null for network pools (rbd, sheepdog, gluster, iscsi-direct).</summary>
    public string? Path { get; init; }

    public Permissions Permissions { get; init; } = new();
}

/// <summary>libvirt's virStorageVolDefRefreshAllocation: how a refresh computes volume allocation.</summary>
public enum PoolRefreshAllocation
{
    Default = 0,
    Capacity = 1,
}

public static class PoolRefreshAllocationNames
{
    public static string ToName(this PoolRefreshAllocation value) => value == PoolRefreshAllocation.Capacity ? "capacity" : "default";

    public static bool TryParse(string? name, out PoolRefreshAllocation value)
    {
        switch (name)
        {
            case "default":
                value = PoolRefreshAllocation.Default;
                return true;
            case "capacity":
                value = PoolRefreshAllocation.Capacity;
                return true;
            default:
                value = default;
                return false;
        }
    }
}

/// <summary>One &lt;rbd:option name='...' value='...'/&gt;.</summary>
public readonly record struct PoolRbdConfigOption(string Name, string Value);

/// <summary>The pool's capacity, allocation and available bytes, as pool-dumpxml and pool-info print them.</summary>
public readonly record struct PoolSizes(ulong Capacity, ulong Allocation, ulong Available);
