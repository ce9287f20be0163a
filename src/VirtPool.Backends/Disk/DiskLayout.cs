namespace VirtPool.Backends.Disk;

/// <summary>
/// The free space of a table as libparted lists it (and libvirt_parthelper prints it), so the
/// &lt;freeExtent&gt;s and the placement of new partitions are libvirt's. libparted reserves, besides the
/// partitions: on dos, the first track (sectors 0..S-1, S = sectors per track) and the partial cylinder
/// at the end, and inside the extended partition its first track and each logical's EBR (touching the
/// previous logical); on gpt, everything outside the header's usable range.
/// </summary>
public static class DiskLayout
{
    /// <summary>
    /// The BIOS geometry libparted gives a device that does not answer HDIO_GETGEO (loop devices: seen
    /// as 255 heads × 2 sectors by libvirt_parthelper -g), used for dos cylinder alignment.
    /// </summary>
    public const int Heads = 255;

    public const int SectorsPerTrack = 2;

    public static long CylinderSectors => (long)Heads * SectorsPerTrack;

    public static IReadOnlyList<FreeRegion> FreeRegions(PartitionTable table)
    {
        var reserved = new List<(long Start, long End)>();
        var last = table.Sectors - 1;
        if (table.Label == DiskLabel.Gpt)
        {
            reserved.Add((0, table.FirstUsable - 1));
            if (table.LastUsable < last)
            {
                reserved.Add((table.LastUsable + 1, last));
            }

            reserved.AddRange(table.Partitions.Select(p => (p.Start, p.End)));
            return [.. Gaps(0, last, reserved, logical: false)];
        }

        var outer = table.Partitions.Where(p => p.Kind != PartitionKind.Logical).OrderBy(p => p.Start).ToList();
        var firstStart = outer.Count > 0 ? outer[0].Start : long.MaxValue;
        reserved.Add((0, Math.Min(SectorsPerTrack - 1, firstStart - 1)));
        var lastEnd = outer.Count > 0 ? outer.Max(p => p.End) : -1;
        var tailStart = Math.Max(lastEnd + 1, table.Sectors / CylinderSectors * CylinderSectors);
        if (tailStart <= last)
        {
            reserved.Add((tailStart, last));
        }

        reserved.AddRange(outer.Select(p => (p.Start, p.End)));
        var free = Gaps(0, last, reserved, logical: false).ToList();
        if (table.Extended is { } extended)
        {
            var logicals = table.Partitions.Where(p => p.Kind == PartitionKind.Logical).OrderBy(p => p.Start).ToList();
            var inner = new List<(long Start, long End)>();
            var headEnd = Math.Min(extended.Start + SectorsPerTrack - 1, logicals.Count > 0 ? logicals[0].Start - 1 : long.MaxValue);
            inner.Add((extended.Start, headEnd));
            var previousEnd = headEnd;
            foreach (var logical in logicals)
            {
                // The EBR sits just before its logical; libparted makes its metadata touch the previous one.
                var ebrStart = Math.Max(logical.Start - SectorsPerTrack, previousEnd + 1);
                if (ebrStart <= logical.Start - 1)
                {
                    inner.Add((ebrStart, logical.Start - 1));
                }

                inner.Add((logical.Start, logical.End));
                previousEnd = logical.End;
            }

            free.AddRange(Gaps(extended.Start, extended.End, inner, logical: true));
            free.Sort((a, b) => a.Start.CompareTo(b.Start));
        }

        return free;
    }

    /// <summary>
    /// The number parted gives a new partition there: gpt and dos primaries take the lowest free entry,
    /// a logical takes its place in the chain (5 + the logicals before it).
    /// </summary>
    public static int NextNumber(PartitionTable table, PartitionKind kind, long start)
    {
        if (kind == PartitionKind.Logical)
        {
            return 5 + table.Partitions.Count(p => p.Kind == PartitionKind.Logical && p.Start < start);
        }

        var used = table.Partitions.Select(p => p.Number).ToHashSet();
        var number = 1;
        while (used.Contains(number))
        {
            number++;
        }

        return number;
    }

    private static IEnumerable<FreeRegion> Gaps(long from, long to, List<(long Start, long End)> taken, bool logical)
    {
        var cursor = from;
        foreach (var (start, end) in taken.Where(r => r.End >= r.Start).OrderBy(r => r.Start))
        {
            if (start > cursor)
            {
                yield return new FreeRegion(cursor, Math.Min(start - 1, to), logical);
            }

            cursor = Math.Max(cursor, end + 1);
            if (cursor > to)
            {
                yield break;
            }
        }

        if (cursor <= to)
        {
            yield return new FreeRegion(cursor, to, logical);
        }
    }
}
