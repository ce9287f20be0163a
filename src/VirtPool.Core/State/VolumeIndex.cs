using System.Globalization;
using System.Text;
using System.Xml.Linq;
using VirtPool.Core.Model;
using VirtPool.Core.Xml;
using static VirtPool.Core.State.FieldEscaping;

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

    /// <summary>The &lt;encryption&gt; the volume was created with, or the one a refresh found in its header.</summary>
    public EncryptionDefinition? Encryption { get; init; }

    /// <summary>The backend's own note about the volume (<see cref="VolumeDefinition.BackendData"/>), kept as given.</summary>
    public string? BackendData { get; init; }

    /// <summary>
    /// Which volume of this name this is: new for every volume made, kept by refreshes and wipes. A read
    /// that probed the file compares it afterwards, so a volume deleted (and perhaps made again under the
    /// same name) meanwhile is reported gone instead of described by the new, half-made file. 0: unknown
    /// (an index written before ids existed).
    /// </summary>
    public ulong Id { get; init; }

    /// <summary>A fresh, non-zero <see cref="Id"/>.</summary>
    public static ulong NewId()
    {
        ulong id;
        do
        {
            id = (ulong)Random.Shared.NextInt64(long.MinValue, long.MaxValue);
        }
        while (id == 0);

        return id;
    }
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
        // A fresh generation on every rewrite: a reader that cached an earlier file (whose inode
        // number may be reused) sees the header change and parses again.
        sb.Append("# virtpool volume index v1 ").Append(Guid.NewGuid().ToString("N")).Append('\n');
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

    /// <summary>The line that records allocation taken (positive) or given back in place.</summary>
    public static string AccountRecord(long allocationDelta)
        => string.Create(CultureInfo.InvariantCulture, $"account\t{allocationDelta}\n");

    /// <summary>The line that records a deleted volume and the allocation it gave back.</summary>
    public static string DeleteRecord(string name, long allocationDelta)
        => string.Create(CultureInfo.InvariantCulture, $"del\t{Escape(name)}\naccount\t{allocationDelta}\n");

    /// <summary>Applies the complete lines of <paramref name="utf8"/>; returns the bytes consumed (a torn last line is left).</summary>
    public int ApplyLines(ReadOnlySpan<byte> utf8)
    {
        var end = utf8.LastIndexOf((byte)'\n') + 1;
        if (end == 0)
        {
            return 0;
        }

        var rest = Encoding.UTF8.GetString(utf8[..end]).AsSpan();
        while (rest.Length > 0)
        {
            var nl = rest.IndexOf('\n');
            Apply(rest[..nl]);
            rest = rest[(nl + 1)..];
        }

        return end;
    }

    /// <summary>Bytes of the header line that identify one version of the file.</summary>
    public const int GenerationBytes = 60;

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

    private void Apply(ReadOnlySpan<char> line)
    {
        // One range more than the fields read: what follows the 14th field lands there, unread.
        Span<Range> f = stackalloc Range[15];
        var n = line.Split(f, '\t');
        var kind = line[f[0]];
        // Fields past the 14th (a later version's, or a hand edit) are ignored, never the volume.
        if (kind.SequenceEqual("vol") && n >= 11
            && int.TryParse(line[f[4]], NumberStyles.None, CultureInfo.InvariantCulture, out var type)
            && int.TryParse(line[f[10]], NumberStyles.None, CultureInfo.InvariantCulture, out var flags))
        {
            var clusterSize = line[f[9]];

            // Field 11 is the id (16 hex digits); an older record may have its encryption there instead.
            ulong id = 0;
            var hasId = n >= 12 && line[f[11]].Length == 16 && ulong.TryParse(line[f[11]], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out id);
            // Field 12 (after the id) is the encryption, empty when there is none but backend data
            // follows in field 13.
            var encryptionField = hasId ? (n >= 13 && !line[f[12]].IsEmpty ? 12 : -1) : (n == 12 ? 11 : -1);
            // File pools have key == path: one string for both (a daemon holds every volume of every pool).
            var key = Unescape(line[f[2]]);
            var path = line[f[3]].SequenceEqual(line[f[2]]) ? key : Unescape(line[f[3]]);
            Add(new VolumeIndexEntry(Unescape(line[f[1]]), key, path, (VolumeType)type, Format(line[f[5]]))
            {
                BackingPath = Optional(line[f[6]]),
                BackingFormat = Optional(line[f[7]]),
                Compat = Optional(line[f[8]]),
                ClusterSize = ulong.TryParse(clusterSize, NumberStyles.None, CultureInfo.InvariantCulture, out var cs) ? cs : null,
                Flags = (VolumeEntryFlags)flags,
                Encryption = encryptionField > 0 ? ParseEncryption(Unescape(line[f[encryptionField]])) : null,
                BackendData = hasId && n >= 14 ? Unescape(line[f[13]]) : null,
                Id = id,
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
             .Append('\t').Append((int)v.Flags).Append('\t').Append(v.Id.ToString("x16", CultureInfo.InvariantCulture))
             .Append(v.Encryption is null && v.BackendData is null ? string.Empty : "\t" + (v.Encryption is null ? string.Empty : Escape(FormatEncryption(v.Encryption))))
             .Append(v.BackendData is null ? string.Empty : "\t" + Escape(v.BackendData)).Append('\n');

    /// <summary>An encryption as libvirt's XML (one field of a record; encrypted volumes are few).</summary>
    private static string FormatEncryption(EncryptionDefinition encryption)
    {
        var buf = new XmlBuffer();
        EncryptionXml.Format(buf, encryption);
        return buf.ToString();
    }

    private static EncryptionDefinition? ParseEncryption(string xml)
    {
        try
        {
            return EncryptionXml.Parse(XElement.Parse(xml));
        }
        catch (Exception ex) when (ex is System.Xml.XmlException or Errors.VirtPoolException)
        {
            // A field this version cannot read: the volume is shown without it, as after a refresh of an unknown header.
            return null;
        }
    }

    private static string? Optional(ReadOnlySpan<char> field) => field.IsEmpty ? null : Unescape(field);

    /// <summary>The few format names, shared instead of one copy per volume.</summary>
    private static string? Format(ReadOnlySpan<char> field) => field switch
    {
        "raw" => "raw",
        "qcow2" => "qcow2",
        "dir" => "dir",
        _ => Optional(field),
    };
}
