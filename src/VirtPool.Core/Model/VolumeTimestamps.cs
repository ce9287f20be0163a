namespace VirtPool.Core.Model;

/// <summary>
/// A struct timespec as libvirt keeps it for a volume: a negative <see cref="Nanoseconds"/> means
/// "unknown" and is not printed; <c>default</c> is the epoch (libvirt's zero-filled value, printed as 0).
/// </summary>
public readonly record struct TimeSpec(long Seconds, long Nanoseconds)
{
    /// <summary>A timestamp libvirt leaves out of the XML (tv_nsec == -1).</summary>
    public static TimeSpec Absent => new(0, -1);

    public bool IsAbsent => Nanoseconds < 0;
}

/// <summary>
/// libvirt's virStorageTimestamps: only ever filled from stat() on refresh, never parsed from XML.
/// A timestamp left at <c>default</c> prints as &lt;btime&gt;0&lt;/btime&gt;, as libvirt 9.0 does for btime.
/// </summary>
public sealed record VolumeTimestamps(TimeSpec Atime, TimeSpec Mtime, TimeSpec Ctime, TimeSpec Btime = default);
