using System.Globalization;
using System.Text;
using VirtPool.Core.Model;

namespace VirtPool.Backends.Logical;

/// <summary>
/// An LV's backend note (VolumeDefinition.BackendData): UUID, size, whether it is a snapshot (libvirt's
/// sparse volume) and its extents, so vol-info and vol-dumpxml of an active pool need no lvs run.
/// Text: "UUID SIZE SPARSE" on the first line, then "START END PATH" per extent (paths may hold spaces).
/// </summary>
public sealed record LogicalVolumeData(string Uuid, ulong Size, bool Sparse, IReadOnlyList<VolumeExtent> Extents)
{
    public static LogicalVolumeData Of(LogicalVolumeInfo lv)
    {
        ArgumentNullException.ThrowIfNull(lv);
        return new LogicalVolumeData(lv.Uuid, lv.Size, lv.Sparse, lv.Extents);
    }

    public string Format()
    {
        var text = new StringBuilder().Append(CultureInfo.InvariantCulture, $"{Uuid} {Size} {(Sparse ? 1 : 0)}");
        foreach (var extent in Extents)
        {
            text.Append(CultureInfo.InvariantCulture, $"\n{extent.Start} {extent.End} {extent.Path}");
        }

        return text.ToString();
    }

    public static bool TryParse(string? text, out LogicalVolumeData data)
    {
        data = null!;
        if (text is null)
        {
            return false;
        }

        var lines = text.Split('\n');
        var head = lines[0].Split(' ');
        if (head.Length != 3
            || head[0].Length == 0
            || !ulong.TryParse(head[1], NumberStyles.None, CultureInfo.InvariantCulture, out var size)
            || head[2] is not ("0" or "1"))
        {
            return false;
        }

        var extents = new List<VolumeExtent>(lines.Length - 1);
        foreach (var line in lines.Skip(1))
        {
            var parts = line.Split(' ', 3);
            if (parts.Length != 3
                || !ulong.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var start)
                || !ulong.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var end)
                || parts[2].Length == 0)
            {
                return false;
            }

            extents.Add(new VolumeExtent(parts[2], start, end));
        }

        data = new LogicalVolumeData(head[0], size, head[2] == "1", extents);
        return true;
    }
}
