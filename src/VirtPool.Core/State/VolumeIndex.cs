using System.Globalization;
using System.Text;
using VirtPool.Core.Model;

namespace VirtPool.Core.State;

/// <summary>
/// One volume as an active pool remembers it between refreshes (libvirt keeps this in memory): its
/// identity and the parts of its definition that a volume refresh does not re-probe (format, backing
/// store, compat, cluster size, features). Sizes, owner and timestamps are read from storage each time.
/// </summary>
public sealed record VolumeIndexEntry(string Name, string Key, string Path, VolumeType Type, string? Format)
{
    public string? BackingPath { get; init; }

    public string? BackingFormat { get; init; }

    public string? Compat { get; init; }

    public ulong? ClusterSize { get; init; }

    public VolumeEntryFlags Flags { get; init; }
}

[Flags]
public enum VolumeEntryFlags
{
    None = 0,
    LazyRefcounts = 1,
    ExtendedL2 = 2,
    FeaturesPresent = 4,
    NoCow = 8,
}

/// <summary>
/// An active pool's remembered sizes and volumes. libvirt only learns about files added behind its
/// back on pool-refresh; keeping this index gives the embedded CLI the same behaviour without a
/// daemon, and saves a directory scan per command.
/// <para>
/// The file is a log of tab-separated, escaped lines: a refresh rewrites it whole (<see cref="Serialize"/>),
/// a volume create or delete appends one record (<see cref="AddRecord"/>, <see cref="DeleteRecord"/>)
/// so that a create costs O(1) writes, not a rewrite of every entry. A line without its final newline
/// (a process killed mid-append) is ignored.
/// </para>
/// </summary>
public sealed class VolumeIndex
{
    private readonly Dictionary<string, int> _positions = new(StringComparer.Ordinal);
    private readonly List<VolumeIndexEntry?> _entries = [];

    public PoolSizes Sizes { get; set; }

    /// <summary>Records in the file beyond the live entries: when large, the next writer compacts.</summary>
    public int DeadRecords { get; private set; }

    public int Count => _positions.Count;

    public IEnumerable<VolumeIndexEntry> Volumes
    {
        get
        {
            foreach (var entry in _entries)
            {
                if (entry is not null)
                {
                    yield return entry;
                }
            }
        }
    }

    public VolumeIndexEntry? Find(string name) => _positions.TryGetValue(name, out var i) ? _entries[i] : null;

    public void Add(VolumeIndexEntry entry)
    {
        if (_positions.TryGetValue(entry.Name, out var i))
        {
            _entries[i] = entry;
            DeadRecords++;
            return;
        }

        _positions[entry.Name] = _entries.Count;
        _entries.Add(entry);
    }

    public bool Remove(string name)
    {
        if (!_positions.Remove(name, out var i))
        {
            return false;
        }

        _entries[i] = null;
        DeadRecords += 2;
        return true;
    }

    /// <summary>Adds <paramref name="delta"/> to the allocation and takes it from what is available.</summary>
    public void Account(long delta)
    {
        var s = Sizes;
        var allocation = delta >= 0 ? s.Allocation + (ulong)delta : s.Allocation - Math.Min(s.Allocation, (ulong)-delta);
        var available = delta >= 0 ? s.Available - Math.Min(s.Available, (ulong)delta) : s.Available + (ulong)-delta;
        Sizes = s with { Allocation = allocation, Available = available };
    }

    /// <summary>The whole index, compacted.</summary>
    public string Serialize()
    {
        var sb = new StringBuilder();
        sb.Append("# virtpool volume index v1\n");
        sb.Append(CultureInfo.InvariantCulture, $"sizes\t{Sizes.Capacity}\t{Sizes.Allocation}\t{Sizes.Available}\n");
        foreach (var v in Volumes)
        {
            AppendEntry(sb, v);
        }

        return sb.ToString();
    }

    /// <summary>The line that records a new (or replaced) volume and the allocation it took.</summary>
    public static string AddRecord(VolumeIndexEntry entry, long allocationDelta)
    {
        var sb = new StringBuilder();
        AppendEntry(sb, entry);
        sb.Append(CultureInfo.InvariantCulture, $"account\t{allocationDelta}\n");
        return sb.ToString();
    }

    /// <summary>The line that records a deleted volume and the allocation it gave back.</summary>
    public static string DeleteRecord(string name, long allocationDelta)
        => string.Create(CultureInfo.InvariantCulture, $"del\t{Escape(name)}\naccount\t{allocationDelta}\n");

    public static VolumeIndex Parse(string text)
    {
        var index = new VolumeIndex();
        var rest = text.AsSpan();
        while (true)
        {
            var nl = rest.IndexOf('\n');
            if (nl < 0)
            {
                break; // no line, or a torn last line
            }

            index.Apply(rest[..nl]);
            rest = rest[(nl + 1)..];
        }

        return index;
    }

    /// <summary>
    /// One volume by name without building the whole index: the hot path of every volume command
    /// (a create's duplicate check, a lookup) stays cheap in pools of many thousands of volumes.
    /// </summary>
    public static VolumeIndexEntry? FindIn(ReadOnlySpan<byte> utf8, string name)
    {
        ReadOnlySpan<byte> escaped = Encoding.UTF8.GetBytes(Escape(name));
        ReadOnlySpan<byte> found = default;
        var rest = utf8;
        while (true)
        {
            var nl = rest.IndexOf((byte)'\n');
            if (nl < 0)
            {
                break;
            }

            var line = rest[..nl];
            rest = rest[(nl + 1)..];
            if (line.StartsWith("vol\t"u8) && line[4..].StartsWith(escaped) && line.Length > 4 + escaped.Length && line[4 + escaped.Length] == (byte)'\t')
            {
                found = line;
            }
            else if (line.StartsWith("del\t"u8) && line[4..].SequenceEqual(escaped))
            {
                found = default;
            }
        }

        if (found.IsEmpty)
        {
            return null;
        }

        var one = new VolumeIndex();
        one.Apply(Encoding.UTF8.GetString(found));
        return one.Find(name);
    }

    /// <summary>Only the sizes (what pool-list and pool-info need), without building the volume entries.</summary>
    public static PoolSizes ParseSizes(string text)
    {
        var index = new VolumeIndex();
        var rest = text.AsSpan();
        while (true)
        {
            var nl = rest.IndexOf('\n');
            if (nl < 0)
            {
                break;
            }

            var line = rest[..nl];
            if (line.StartsWith("sizes\t") || line.StartsWith("account\t"))
            {
                index.Apply(line);
            }

            rest = rest[(nl + 1)..];
        }

        return index.Sizes;
    }

    private void Apply(ReadOnlySpan<char> line)
    {
        Span<Range> f = stackalloc Range[12];
        var n = line.Split(f, '\t');
        var kind = line[f[0]];
        if (kind.SequenceEqual("vol") && n == 11
            && int.TryParse(line[f[4]], NumberStyles.None, CultureInfo.InvariantCulture, out var type)
            && int.TryParse(line[f[10]], NumberStyles.None, CultureInfo.InvariantCulture, out var flags))
        {
            var clusterSize = line[f[9]];
            Add(new VolumeIndexEntry(Unescape(line[f[1]]), Unescape(line[f[2]]), Unescape(line[f[3]]), (VolumeType)type, Optional(line[f[5]]))
            {
                BackingPath = Optional(line[f[6]]),
                BackingFormat = Optional(line[f[7]]),
                Compat = Optional(line[f[8]]),
                ClusterSize = ulong.TryParse(clusterSize, NumberStyles.None, CultureInfo.InvariantCulture, out var cs) ? cs : null,
                Flags = (VolumeEntryFlags)flags,
            });
        }
        else if (kind.SequenceEqual("del") && n == 2)
        {
            Remove(Unescape(line[f[1]]));
        }
        else if (kind.SequenceEqual("account") && n == 2
                 && long.TryParse(line[f[1]], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var delta))
        {
            Account(delta);
        }
        else if (kind.SequenceEqual("sizes") && n == 4
                 && ulong.TryParse(line[f[1]], NumberStyles.None, CultureInfo.InvariantCulture, out var capacity)
                 && ulong.TryParse(line[f[2]], NumberStyles.None, CultureInfo.InvariantCulture, out var allocation)
                 && ulong.TryParse(line[f[3]], NumberStyles.None, CultureInfo.InvariantCulture, out var available))
        {
            Sizes = new PoolSizes(capacity, allocation, available);
        }
    }

    private static void AppendEntry(StringBuilder sb, VolumeIndexEntry v)
        => sb.Append("vol\t").Append(Escape(v.Name)).Append('\t').Append(Escape(v.Key)).Append('\t').Append(Escape(v.Path))
             .Append('\t').Append((int)v.Type).Append('\t').Append(Escape(v.Format ?? string.Empty))
             .Append('\t').Append(Escape(v.BackingPath ?? string.Empty)).Append('\t').Append(Escape(v.BackingFormat ?? string.Empty))
             .Append('\t').Append(Escape(v.Compat ?? string.Empty)).Append('\t').Append(v.ClusterSize?.ToString(CultureInfo.InvariantCulture) ?? string.Empty)
             .Append('\t').Append((int)v.Flags).Append('\n');

    private static string? Optional(ReadOnlySpan<char> field) => field.IsEmpty ? null : Unescape(field);

    private static string Escape(string s)
        => s.AsSpan().IndexOfAny("\\\t\n") < 0 ? s : s.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\t", "\\t", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);

    private static string Unescape(ReadOnlySpan<char> s)
    {
        if (s.IndexOf('\\') < 0)
        {
            return s.ToString();
        }

        var sb = new StringBuilder(s.Length);
        for (var i = 0; i < s.Length; i++)
        {
            if (s[i] == '\\' && i + 1 < s.Length)
            {
                i++;
                sb.Append(s[i] switch { 't' => '\t', 'n' => '\n', _ => s[i] });
            }
            else
            {
                sb.Append(s[i]);
            }
        }

        return sb.ToString();
    }
}
