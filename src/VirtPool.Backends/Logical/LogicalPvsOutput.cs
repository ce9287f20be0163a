using VirtPool.Core.Model;

namespace VirtPool.Backends.Logical;

/// <summary>
/// Reads <c>pvs --noheadings -o pv_name,vg_name</c> as libvirt does (virCommandRunRegex with
/// <c>^\s*(\S+)\s+(\S+)\s*$</c> per line, the prefix "pvs" skipped): a line of exactly two words is a
/// physical volume and its volume group; any other line (a PV in no group, a blank line) is skipped.
/// </summary>
public static class LogicalPvsOutput
{
    /// <summary>The prefix libvirt skips at the start of a line (its cmd_to_ignore argument).</summary>
    private const string IgnoredPrefix = "pvs";

    /// <summary>
    /// The volume groups in the order pvs first names them, each with its physical volumes in output
    /// order (a repeated line repeats the device, as in libvirt), format lvm2.
    /// </summary>
    public static IReadOnlyList<PoolSource> Parse(string output)
    {
        ArgumentNullException.ThrowIfNull(output);
        var groups = new List<(string Name, List<PoolSourceDevice> Devices)>();
        foreach (var line in output.Split('\n'))
        {
            if (!TryParseLine(line, out var pv, out var vg))
            {
                continue;
            }

            var index = groups.FindIndex(g => string.Equals(g.Name, vg, StringComparison.Ordinal));
            if (index < 0)
            {
                groups.Add((vg, []));
                index = groups.Count - 1;
            }

            groups[index].Devices.Add(new PoolSourceDevice(pv));
        }

        return [.. groups.Select(g => new PoolSource { Name = g.Name, Devices = g.Devices, Format = (int)PoolLogicalFormat.Lvm2 })];
    }

    /// <summary>One line of the listing: true with the PV and VG when it is exactly two words.</summary>
    public static bool TryParseLine(string line, out string physicalVolume, out string volumeGroup)
    {
        ArgumentNullException.ThrowIfNull(line);
        physicalVolume = volumeGroup = string.Empty;
        var text = line.AsSpan();
        if (text.StartsWith(IgnoredPrefix, StringComparison.Ordinal))
        {
            text = text[IgnoredPrefix.Length..];
        }

        Span<Range> words = stackalloc Range[3];
        var count = 0;
        var i = 0;
        while (i < text.Length)
        {
            while (i < text.Length && IsSpace(text[i]))
            {
                i++;
            }

            if (i == text.Length)
            {
                break;
            }

            var start = i;
            while (i < text.Length && !IsSpace(text[i]))
            {
                i++;
            }

            if (count == words.Length)
            {
                return false;
            }

            words[count++] = start..i;
        }

        if (count != 2)
        {
            return false;
        }

        physicalVolume = text[words[0]].ToString();
        volumeGroup = text[words[1]].ToString();
        return true;
    }

    /// <summary>POSIX [[:space:]] in the C locale, which is what \s means to libvirt's regcomp.</summary>
    private static bool IsSpace(char c) => c is ' ' or '\t' or '\n' or '\v' or '\f' or '\r';
}
