using System.Globalization;
using System.Text;

namespace VirtPool.Formats;

/// <summary>
/// A parsed VMDK text descriptor file ("# Disk DescriptorFile", as in monolithicFlat or
/// twoGbMaxExtentSparse images).
/// </summary>
/// <remarks>
/// libvirt 9.0 does NOT recognise descriptor files: <see cref="ImageProbe"/> reports them as raw, with the
/// descriptor's own size as capacity, as libvirt does. This parser is what qemu-img uses instead, for callers
/// that want it; it is not part of libvirt's behaviour.
/// </remarks>
/// <param name="CreateType">The createType value, or null.</param>
/// <param name="ParentFileNameHint">The backing file name (parentFileNameHint), or null when absent or empty.</param>
/// <param name="Capacity">The sum of the extents' sizes (sectors × 512).</param>
/// <param name="Extents">The extent file names in order.</param>
public sealed record VmdkDescriptor(string? CreateType, string? ParentFileNameHint, ulong Capacity, IReadOnlyList<string> Extents)
{
    /// <summary>Descriptor files are small; qemu refuses ones over 1 MiB, this refuses them too.</summary>
    public const int MaxDescriptorBytes = 1024 * 1024;

    private static ReadOnlySpan<byte> Signature => "# Disk DescriptorFile"u8;

    /// <summary>Parses <paramref name="content"/>, the start of the file; false when it is not a descriptor. Never throws.</summary>
    public static bool TryParse(ReadOnlySpan<byte> content, out VmdkDescriptor? descriptor)
    {
        descriptor = null;
        if (!content.StartsWith(Signature) || content.Length > MaxDescriptorBytes)
        {
            return false;
        }

        var nul = content.IndexOf((byte)0);
        if (nul >= 0)
        {
            content = content[..nul];
        }

        string? createType = null;
        string? parent = null;
        ulong capacity = 0;
        var extents = new List<string>();
        var text = Encoding.UTF8.GetString(content);
        foreach (var rawLine in text.Split('\n'))
        {
            var line = rawLine.Trim();
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }

            if (TryValue(line, "createType", out var value))
            {
                createType = value;
            }
            else if (TryValue(line, "parentFileNameHint", out value))
            {
                parent = value.Length == 0 ? null : value;
            }
            else if (TryExtent(line, out var sectors, out var file))
            {
                // Saturate rather than wrap on absurd sizes.
                capacity = sectors > (ulong.MaxValue - capacity) / 512 ? ulong.MaxValue : capacity + (sectors * 512);
                extents.Add(file);
            }
        }

        descriptor = new VmdkDescriptor(createType, parent, capacity, extents);
        return true;
    }

    /// <summary>key="value" or key=value.</summary>
    private static bool TryValue(string line, string key, out string value)
    {
        value = string.Empty;
        if (!line.StartsWith(key, StringComparison.Ordinal))
        {
            return false;
        }

        var rest = line.AsSpan(key.Length).TrimStart();
        if (rest.IsEmpty || rest[0] != '=')
        {
            return false;
        }

        rest = rest[1..].Trim();
        if (rest.Length >= 2 && rest[0] == '"')
        {
            var close = rest[1..].IndexOf('"');
            rest = close < 0 ? rest[1..] : rest.Slice(1, close);
        }

        value = rest.ToString();
        return true;
    }

    /// <summary>An extent line: ACCESS SECTORS TYPE "FILE" [OFFSET], ACCESS one of RW, RDONLY, NOACCESS.</summary>
    private static bool TryExtent(string line, out ulong sectors, out string file)
    {
        sectors = 0;
        file = string.Empty;
        if (!(line.StartsWith("RW ", StringComparison.Ordinal) ||
              line.StartsWith("RDONLY ", StringComparison.Ordinal) ||
              line.StartsWith("NOACCESS ", StringComparison.Ordinal)))
        {
            return false;
        }

        var parts = line.Split(' ', 4, StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length < 3 || !ulong.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out sectors))
        {
            return false;
        }

        if (parts.Length == 4)
        {
            var name = parts[3];
            var open = name.IndexOf('"', StringComparison.Ordinal);
            var close = open < 0 ? -1 : name.IndexOf('"', open + 1);
            file = open >= 0 && close > open ? name[(open + 1)..close] : name;
        }

        return true;
    }
}
