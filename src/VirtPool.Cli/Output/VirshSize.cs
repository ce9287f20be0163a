namespace VirtPool.Cli.Output;

/// <summary>virsh's vshPrettyCapacity: sizes in binary units with two decimals.</summary>
public static class VirshSize
{
    private static readonly string[] Units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];

    /// <summary>
    /// The value and unit vshPrettyCapacity returns: the largest unit whose 1024-multiple exceeds
    /// <paramref name="bytes"/> (EiB at most), computed in double precision as virsh does.
    /// </summary>
    public static double Scale(ulong bytes, out string unit)
    {
        var limit = 1024.0;
        var index = 0;
        while (index < Units.Length - 1 && bytes >= limit)
        {
            limit *= 1024;
            index++;
        }

        unit = Units[index];
        return bytes / (limit / 1024);
    }

    /// <summary>"%.2lf %s" of <see cref="Scale"/>: <c>0.00 B</c>, <c>1023.00 B</c>, <c>68.00 KiB</c>, <c>1.12 KiB</c>, <c>1.00 GiB</c>.</summary>
    public static string Pretty(ulong bytes)
    {
        var value = Scale(bytes, out var unit);
        return CFormat.Fixed(value, 2) + " " + unit;
    }
}
