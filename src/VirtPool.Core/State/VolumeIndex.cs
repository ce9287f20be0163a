using System.Globalization;
using System.Text;
using VirtPool.Core.Model;

namespace VirtPool.Core.State;

/// <summary>One volume as an active pool remembers it between refreshes (libvirt keeps this in memory).</summary>
public sealed record VolumeIndexEntry(string Name, string Key, string Path, VolumeType Type, string? Format);

/// <summary>
/// An active pool's remembered sizes and volumes. libvirt only learns about files added behind its
/// back on pool-refresh; keeping this index gives the embedded CLI the same behaviour without a
/// daemon, and saves a directory scan per command. A line per volume, tab-separated, escaped.
/// </summary>
public sealed class VolumeIndex
{
    public PoolSizes Sizes { get; set; }

    public List<VolumeIndexEntry> Volumes { get; } = [];

    public string Serialize()
    {
        var sb = new StringBuilder();
        sb.Append("# virtpool volume index v1\n");
        sb.Append(CultureInfo.InvariantCulture, $"sizes\t{Sizes.Capacity}\t{Sizes.Allocation}\t{Sizes.Available}\n");
        foreach (var v in Volumes)
        {
            sb.Append("vol\t").Append(Escape(v.Name)).Append('\t').Append(Escape(v.Key)).Append('\t').Append(Escape(v.Path))
              .Append('\t').Append((int)v.Type).Append('\t').Append(Escape(v.Format ?? string.Empty)).Append('\n');
        }

        return sb.ToString();
    }

    public static VolumeIndex Parse(string text)
    {
        var index = new VolumeIndex();
        foreach (var line in text.Split('\n'))
        {
            var f = line.Split('\t');
            if (f[0] == "sizes" && f.Length == 4)
            {
                index.Sizes = new PoolSizes(ulong.Parse(f[1], CultureInfo.InvariantCulture), ulong.Parse(f[2], CultureInfo.InvariantCulture), ulong.Parse(f[3], CultureInfo.InvariantCulture));
            }
            else if (f[0] == "vol" && f.Length == 6)
            {
                var format = Unescape(f[5]);
                index.Volumes.Add(new VolumeIndexEntry(Unescape(f[1]), Unescape(f[2]), Unescape(f[3]), (VolumeType)int.Parse(f[4], CultureInfo.InvariantCulture), format.Length == 0 ? null : format));
            }
        }

        return index;
    }

    private static string Escape(string s)
        => s.AsSpan().IndexOfAny("\\\t\n") < 0 ? s : s.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\t", "\\t", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);

    private static string Unescape(string s)
    {
        if (!s.Contains('\\', StringComparison.Ordinal))
        {
            return s;
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
