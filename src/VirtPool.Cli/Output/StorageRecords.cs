using VirtPool.Core.Manager;
using VirtPool.Core.Model;

namespace VirtPool.Cli.Output;

/// <summary>One pool as <c>pool-list</c> shows it.</summary>
/// <param name="Name">The pool's name.</param>
/// <param name="State">virStoragePoolGetInfo's state (shown by <c>--details</c>).</param>
/// <param name="Autostart">The autostart flag, or null when it cannot be read (virsh shows "no autostart").</param>
/// <param name="Persistent">Whether the pool has a persistent definition, or null when unknown (shown by <c>--details</c>).</param>
/// <param name="Capacity">Bytes; shown by <c>--details</c> for running and degraded pools, else "-".</param>
/// <param name="Allocation">Bytes, like <paramref name="Capacity"/>.</param>
/// <param name="Available">Bytes, like <paramref name="Capacity"/>.</param>
public sealed record PoolListEntry(
    string Name, PoolState State, bool? Autostart, bool? Persistent, ulong Capacity, ulong Allocation, ulong Available)
{
    /// <summary>The UUID (for <c>--uuid</c>).</summary>
    public string Uuid { get; init; } = string.Empty;

    /// <summary>
    /// virStoragePoolIsActive, shown as active/inactive without <c>--details</c>; null means "not
    /// <see cref="PoolState.Inactive"/>" (set it for a pool being built while inactive).
    /// </summary>
    public bool? Active { get; init; }

    /// <summary>virStoragePoolGetInfo failed: the state and sizes show as "unknown" (virsh also reports an error).</summary>
    public bool InfoUnavailable { get; init; }

    internal bool IsActive => Active ?? State != PoolState.Inactive;
}

/// <summary>What <c>pool-info</c> shows.</summary>
/// <param name="Name">The pool's name.</param>
/// <param name="Uuid">Its UUID.</param>
/// <param name="State">Its state; the sizes are shown only for running and degraded pools.</param>
/// <param name="Persistent">Null when unknown.</param>
/// <param name="Autostart">Null when it cannot be read ("no autostart").</param>
/// <param name="Capacity">Bytes.</param>
/// <param name="Allocation">Bytes.</param>
/// <param name="Available">Bytes.</param>
public sealed record PoolInfo(
    string Name, string Uuid, PoolState State, bool? Persistent, bool? Autostart, ulong Capacity, ulong Allocation, ulong Available);

/// <summary>One volume as <c>vol-list</c> shows it.</summary>
/// <param name="Name">The volume's name.</param>
/// <param name="Path">Its path, or null when it cannot be read ("unknown").</param>
/// <param name="Type">Its type (shown by <c>--details</c>).</param>
/// <param name="Capacity">Bytes (shown by <c>--details</c>).</param>
/// <param name="Allocation">Bytes (shown by <c>--details</c>).</param>
public sealed record VolumeListEntry(string Name, string? Path, VolumeType Type, ulong Capacity, ulong Allocation)
{
    /// <summary>virStorageVolGetInfo failed: type and sizes show as "unknown".</summary>
    public bool InfoUnavailable { get; init; }
}

/// <summary>What <c>vol-info</c> shows.</summary>
/// <param name="Name">The volume's name.</param>
/// <param name="Type">Its type.</param>
/// <param name="Capacity">Bytes.</param>
/// <param name="Allocation">Bytes: the allocation, or with <c>--physical</c> the physical size.</param>
public sealed record VolumeInfo(string Name, VolumeType Type, ulong Capacity, ulong Allocation)
{
    /// <summary>With <c>--details</c>: VirtPool's labels as "k=v,k2=v2" (shown even when empty).</summary>
    public string? Labels { get; init; }
}
