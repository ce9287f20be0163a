namespace VirtPool.Formats.Qcow2;

/// <summary>
/// A set of cluster indices kept as sorted, disjoint, non-adjacent half-open runs. A new image's
/// allocations are almost all contiguous, so this stays a handful of runs however large the image.
/// </summary>
internal sealed class ClusterSet
{
    private readonly List<(long Start, long End)> runs = [];

    public IReadOnlyList<(long Start, long End)> Runs => runs;

    public bool Contains(long cluster) => IndexOfRunContaining(cluster) >= 0;

    /// <summary>The first member in [start, end), or -1.</summary>
    public long FirstIn(long start, long end)
    {
        var i = FirstRunEndingAfter(start);
        if (i >= runs.Count || runs[i].Start >= end)
        {
            return -1;
        }

        return Math.Max(runs[i].Start, start);
    }

    public void Add(long start, long count)
    {
        if (count <= 0)
        {
            return;
        }

        var end = start + count;
        // Runs that overlap or touch [start, end) merge into one.
        var i = FirstRunEndingAfter(start - 1);
        var j = i;
        while (j < runs.Count && runs[j].Start <= end)
        {
            start = Math.Min(start, runs[j].Start);
            end = Math.Max(end, runs[j].End);
            j++;
        }

        runs.RemoveRange(i, j - i);
        runs.Insert(i, (start, end));
    }

    public void Remove(long start, long count)
    {
        if (count <= 0)
        {
            return;
        }

        var end = start + count;
        var i = FirstRunEndingAfter(start);
        var pieces = new List<(long, long)>(2);
        var j = i;
        while (j < runs.Count && runs[j].Start < end)
        {
            if (runs[j].Start < start)
            {
                pieces.Add((runs[j].Start, start));
            }

            if (runs[j].End > end)
            {
                pieces.Add((end, runs[j].End));
            }

            j++;
        }

        runs.RemoveRange(i, j - i);
        runs.InsertRange(i, pieces);
    }

    private int IndexOfRunContaining(long cluster)
    {
        var i = FirstRunEndingAfter(cluster);
        return i < runs.Count && runs[i].Start <= cluster ? i : -1;
    }

    /// <summary>Index of the first run whose End is greater than <paramref name="value"/>.</summary>
    private int FirstRunEndingAfter(long value)
    {
        int lo = 0, hi = runs.Count;
        while (lo < hi)
        {
            var mid = (lo + hi) >>> 1;
            if (runs[mid].End > value)
            {
                hi = mid;
            }
            else
            {
                lo = mid + 1;
            }
        }

        return lo;
    }
}
