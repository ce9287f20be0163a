using System.Globalization;
using VirtPool.Core.Errors;
using VirtPool.Core.Model;

namespace VirtPool.Backends.Logical;

/// <summary>
/// One segment row of libvirt's <c>lvs --separator '#' ... --options
/// lv_name,origin,uuid,devices,segtype,stripes,seg_size,vg_extent_size,size,lv_attr VG</c>: ten fields
/// as they stand (numbers are checked when the row becomes part of a volume, as libvirt does).
/// </summary>
public sealed record LvsRow(string Name, string Origin, string Uuid, string Devices, string SegmentType, string Stripes, string SegmentSize, string ExtentSize, string Size, string Attributes)
{
    /// <summary>lv_attr's state character (5th): 'a' active; 'X' unknown (no device-mapper, activation off).</summary>
    public char State => Attributes.Length > 4 ? Attributes[4] : '\0';

    /// <summary>lv_attr's type character (1st): 't' thin pool, 's' snapshot (libvirt's sparse LV), 'o' origin…</summary>
    public char Kind => Attributes.Length > 0 ? Attributes[0] : '\0';
}

/// <summary>One logical volume as libvirt's refresh assembles it from its segment rows.</summary>
/// <param name="Origin">The origin LV's name for a snapshot, null otherwise (and for --virtualsize's hidden "[x_vorigin]").</param>
/// <param name="Sparse">A snapshot LV ('s'): libvirt's sparse volume, the one it refuses to wipe.</param>
public sealed record LogicalVolumeInfo(string Name, string Uuid, string? Origin, ulong Size, bool Active, bool Sparse, IReadOnlyList<VolumeExtent> Extents);

/// <summary>
/// Reads libvirt's lvs listing the way virStorageBackendLogicalFindLVs does: each line matched against
/// <c>^\s*(\S+)#(\S*)#(\S+)#(\S+)#(\S+)#([0-9]+)#(\S+)#([0-9]+)#([0-9]+)#(\S+)#?\s*$</c> (after an optional
/// "lvs" prefix); lines that do not match are skipped; rows of one LV (segments) add extents to it.
/// </summary>
/// <remarks>
/// libvirt's rules for which LVs are volumes: an LV whose state is not active ('a') is skipped (so a
/// metadata-only LV on a host without device-mapper is never listed), and so is a thin pool ('t'). A
/// thin LV has no devices, so its row never matches. Extents: "dev(N)" per stripe for striped, mirror
/// and raid* segments (stripes of them), one otherwise; each runs from N × extent size for the whole
/// seg_size (libvirt does not divide a striped segment by its stripes). A malformed number fails the
/// whole listing with libvirt's message.
/// </remarks>
public static class LvsOutput
{
    private const string IgnoredPrefix = "lvs";

    /// <summary>POSIX [[:space:]] in the C locale (libvirt's \s).</summary>
    private static readonly System.Buffers.SearchValues<char> Space = System.Buffers.SearchValues.Create(" \t\n\v\f\r");

    /// <summary>One line; true with its ten fields when it has libvirt's shape.</summary>
    public static bool TryParseLine(string line, out LvsRow row)
    {
        ArgumentNullException.ThrowIfNull(line);
        row = null!;
        var text = line.AsSpan();
        if (text.StartsWith(IgnoredPrefix, StringComparison.Ordinal))
        {
            text = text[IgnoredPrefix.Length..];
        }

        text = text.TrimStart(" \t\n\v\f\r").TrimEnd(" \t\n\v\f\r");
        if (!text.IsEmpty && text[^1] == '#' && Count(text, '#') == 10)
        {
            text = text[..^1];
        }

        Span<Range> fields = stackalloc Range[11];
        if (text.Split(fields, '#') != 10)
        {
            return false;
        }

        foreach (var field in fields[..10])
        {
            if (text[field].ContainsAny(Space))
            {
                return false;
            }
        }

        // Every field but origin needs a character; stripes, extent size and size are digits.
        for (var i = 0; i < 10; i++)
        {
            var value = text[fields[i]];
            if (i != 1 && value.IsEmpty)
            {
                return false;
            }

            if (i is 5 or 7 or 8 && !IsDigits(value))
            {
                return false;
            }
        }

        var values = new string[10];
        for (var i = 0; i < 10; i++)
        {
            values[i] = text[fields[i]].ToString();
        }

        row = new LvsRow(values[0], values[1], values[2], values[3], values[4], values[5], values[6], values[7], values[8], values[9]);
        return true;
    }

    /// <summary>
    /// Splits the output of <see cref="LvmCommands.LvsWithGroupSizesArgv"/>: every line without its last
    /// two fields (vg_size, vg_free), which is libvirt's lvs listing again, and the group's sizes as
    /// libvirt reads them from vgs (allocation is size minus free); null sizes when no row had them
    /// (an empty group prints none).
    /// </summary>
    public static string SplitGroupSizes(string output, out PoolSizes? sizes)
    {
        ArgumentNullException.ThrowIfNull(output);
        sizes = null;
        var listing = new System.Text.StringBuilder(output.Length);
        foreach (var line in output.Split('\n'))
        {
            var text = line.AsSpan().TrimEnd(" \t\n\v\f\r");
            if (!text.IsEmpty && text[^1] == '#')
            {
                text = text[..^1];
            }

            var last = text.LastIndexOf('#');
            var before = last > 0 ? text[..last].LastIndexOf('#') : -1;
            if (before > 0
                && ulong.TryParse(text[(before + 1)..last], NumberStyles.None, CultureInfo.InvariantCulture, out var size)
                && ulong.TryParse(text[(last + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var free))
            {
                sizes = VgsOutput.Sizes(size, free);
                listing.Append(text[..before]).Append('\n');
            }
            else
            {
                listing.Append(line).Append('\n');
            }
        }

        return listing.ToString();
    }

    /// <summary>Every row of the listing that has libvirt's shape, in output order.</summary>
    public static IReadOnlyList<LvsRow> ParseRows(string output)
    {
        ArgumentNullException.ThrowIfNull(output);
        var rows = new List<LvsRow>();
        foreach (var line in output.Split('\n'))
        {
            if (TryParseLine(line, out var row))
            {
                rows.Add(row);
            }
        }

        return rows;
    }

    /// <summary>
    /// The volumes libvirt's refresh makes of the listing, in first-row order. <paramref name="includeInactive"/>
    /// also takes LVs that are not active (LVM with activation off: metadata only); thin pools never.
    /// </summary>
    /// <exception cref="VirtPoolException">A row of a volume has a malformed number or devices field (libvirt's message).</exception>
    public static IReadOnlyList<LogicalVolumeInfo> ParseVolumes(string output, bool includeInactive = false, string? only = null)
    {
        var volumes = new List<(LogicalVolumeInfo Info, List<VolumeExtent> Extents)>();
        foreach (var row in ParseRows(output))
        {
            if ((row.State != 'a' && !includeInactive) || row.Kind == 't' || (only is not null && row.Name != only))
            {
                continue;
            }

            var index = volumes.FindIndex(v => v.Info.Name == row.Name);
            if (index < 0)
            {
                var origin = row.Origin.Length > 0 && row.Origin[0] != '[' ? row.Origin : null;
                var size = ulong.TryParse(row.Size, NumberStyles.None, CultureInfo.InvariantCulture, out var s)
                    ? s
                    : throw VirtPoolException.Internal("malformed volume allocation value");
                volumes.Add((new LogicalVolumeInfo(row.Name, row.Uuid, origin, size, row.State == 'a', row.Kind == 's', []), []));
                index = volumes.Count - 1;
            }

            volumes[index].Extents.AddRange(Extents(row));
        }

        return [.. volumes.Select(v => v.Info with { Extents = v.Extents })];
    }

    /// <summary>libvirt's virStorageBackendLogicalParseVolExtents for one row.</summary>
    public static IReadOnlyList<VolumeExtent> Extents(LvsRow row)
    {
        ArgumentNullException.ThrowIfNull(row);
        var count = 1;
        if (row.SegmentType is "striped" or "mirror" || row.SegmentType.StartsWith("raid", StringComparison.Ordinal))
        {
            if (!int.TryParse(row.Stripes, NumberStyles.None, CultureInfo.InvariantCulture, out count))
            {
                throw VirtPoolException.Internal("malformed volume extent stripes value");
            }
        }

        if (!ulong.TryParse(row.SegmentSize, NumberStyles.None, CultureInfo.InvariantCulture, out var length))
        {
            throw VirtPoolException.Internal("malformed volume extent length value");
        }

        if (!ulong.TryParse(row.ExtentSize, NumberStyles.None, CultureInfo.InvariantCulture, out var extentSize))
        {
            throw VirtPoolException.Internal("malformed volume extent size value");
        }

        // One unit is the whole field up to its last "(N)" (libvirt's greedy (\S+)\((\S+)\)); more are
        // separated by commas.
        var units = count == 1 ? [row.Devices] : row.Devices.Split(',');
        if (count < 1 || units.Length < count)
        {
            throw VirtPoolException.Internal("malformed volume extent devices value");
        }

        var extents = new List<VolumeExtent>(count);
        for (var i = 0; i < count; i++)
        {
            var unit = units[i];
            var open = unit.LastIndexOf('(');
            if (open < 1 || !unit.EndsWith(')') || open == unit.Length - 2)
            {
                throw VirtPoolException.Internal("malformed volume extent devices value");
            }

            if (!ulong.TryParse(unit.AsSpan(open + 1, unit.Length - open - 2), NumberStyles.None, CultureInfo.InvariantCulture, out var offset))
            {
                throw VirtPoolException.Internal("malformed volume extent offset value");
            }

            var start = offset * extentSize;
            extents.Add(new VolumeExtent(unit[..open], start, start + length));
        }

        return extents;
    }

    private static int Count(ReadOnlySpan<char> text, char c)
    {
        var n = 0;
        foreach (var x in text)
        {
            n += x == c ? 1 : 0;
        }

        return n;
    }

    private static bool IsDigits(ReadOnlySpan<char> text)
    {
        foreach (var c in text)
        {
            if (c is < '0' or > '9')
            {
                return false;
            }
        }

        return !text.IsEmpty;
    }
}
