using System.Globalization;
using VirtPool.Core.Model;

namespace VirtPool.Backends.Logical;

/// <summary>
/// Reads libvirt's <c>vgs --separator : --noheadings --units b --unbuffered --nosuffix --options
/// vg_size,vg_free VG</c> as virStorageBackendLogicalRefreshPool does: lines matching
/// <c>^\s*(\S+):([0-9]+):?\s*$</c> (after an optional "vgs" prefix) give capacity and free space, the
/// last such line wins, allocation is capacity minus free.
/// </summary>
public static class VgsOutput
{
    private const string IgnoredPrefix = "vgs";

    private static readonly System.Buffers.SearchValues<char> Space = System.Buffers.SearchValues.Create(" \t\n\v\f\r");

    /// <summary>One line: true with size and free bytes when it has libvirt's shape and both are numbers.</summary>
    public static bool TryParseLine(string line, out ulong size, out ulong free)
    {
        ArgumentNullException.ThrowIfNull(line);
        size = free = 0;
        var text = line.AsSpan();
        if (text.StartsWith(IgnoredPrefix, StringComparison.Ordinal))
        {
            text = text[IgnoredPrefix.Length..];
        }

        text = text.TrimStart(" \t\n\v\f\r").TrimEnd(" \t\n\v\f\r");
        if (text.Length > 1 && text[^1] == ':' && text[..^1].Contains(':'))
        {
            text = text[..^1];
        }

        var colon = text.LastIndexOf(':');
        if (colon < 1 || text[..colon].ContainsAny(Space))
        {
            return false;
        }

        if (ulong.TryParse(text[..colon], NumberStyles.None, CultureInfo.InvariantCulture, out var s)
            && ulong.TryParse(text[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var f))
        {
            (size, free) = (s, f);
            return true;
        }

        return false;
    }

    /// <summary>The volume group's sizes, or false when no line had them.</summary>
    public static bool TryParse(string output, out PoolSizes sizes)
    {
        ArgumentNullException.ThrowIfNull(output);
        sizes = new PoolSizes(0, 0, 0);
        var found = false;
        foreach (var line in output.Split('\n'))
        {
            if (TryParseLine(line, out var size, out var free))
            {
                sizes = Sizes(size, free);
                found = true;
            }
        }

        return found;
    }

    /// <summary>A group's size and free space as libvirt's refresh makes them the pool's sizes.</summary>
    internal static PoolSizes Sizes(ulong size, ulong free)
        => new(size, unchecked(size - free), free); // libvirt subtracts unsigned values as they come
}
