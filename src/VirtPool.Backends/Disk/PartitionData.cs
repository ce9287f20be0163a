using System.Globalization;

namespace VirtPool.Backends.Disk;

/// <summary>
/// A partition volume's backend note (VolumeDefinition.BackendData): number, kind, byte extent
/// [Start, End) and, for an extended partition, its logicals' allocation, so vol-info and vol-dumpxml
/// of an active pool need no table read. Text "N kind start end allocation".
/// </summary>
internal sealed record PartitionData(int Number, PartitionKind Kind, ulong Start, ulong End, ulong Allocation)
{
    public string Format() => string.Create(CultureInfo.InvariantCulture, $"{Number} {Kind.ToString().ToLowerInvariant()} {Start} {End} {Allocation}");

    public static PartitionData Parse(string text)
        => TryParse(text, out var data) ? data : throw new FormatException($"not a partition note: '{text}'");

    public static bool TryParse(string text, out PartitionData data)
    {
        data = null!;
        var parts = text.Split(' ');
        if (parts.Length != 5
            || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var number)
            || !Enum.TryParse<PartitionKind>(parts[1], ignoreCase: true, out var kind)
            || !ulong.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out var start)
            || !ulong.TryParse(parts[3], NumberStyles.None, CultureInfo.InvariantCulture, out var end)
            || !ulong.TryParse(parts[4], NumberStyles.None, CultureInfo.InvariantCulture, out var allocation))
        {
            return false;
        }

        data = new PartitionData(number, kind, start, end, allocation);
        return true;
    }
}
