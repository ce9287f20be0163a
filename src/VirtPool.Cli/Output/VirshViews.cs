using VirtPool.Core.Manager;
using VirtPool.Core.Model;
using System.Text;

namespace VirtPool.Cli.Output;

/// <summary>
/// The text virsh 9.0's storage commands print on stdout for given data. Each method returns exactly the
/// command's own output; the blank line virsh adds after every command is not included (see
/// <see cref="VirshConsole.EndCommand"/>). Lists are sorted the way virsh sorts them.
/// </summary>
public static class VirshViews
{
    /// <summary>virsh's words for a pool state (virshStoragePoolStateToString).</summary>
    public static string PoolStateName(PoolState state) => state switch
    {
        PoolState.Inactive => "inactive",
        PoolState.Building => "building",
        PoolState.Running => "running",
        PoolState.Degraded => "degraded",
        PoolState.Inaccessible => "inaccessible",
        _ => "unknown",
    };

    /// <summary>virsh's words for a volume type (virshVolumeTypeToString).</summary>
    public static string VolumeTypeName(VolumeType type) => type switch
    {
        VolumeType.File => "file",
        VolumeType.Block => "block",
        VolumeType.Dir => "dir",
        VolumeType.Network => "network",
        VolumeType.NetDir => "netdir",
        VolumeType.Ploop => "ploop",
        _ => "unknown",
    };

    /// <summary>
    /// <c>pool-list</c>. Without <paramref name="details"/>: a Name/State/Autostart table with the state
    /// as active/inactive, or — with <paramref name="uuid"/> and/or <paramref name="name"/> — bare lines
    /// ("%-36s" UUID, then ' ' or newline; "%-20s" name). With <paramref name="details"/>: seven columns,
    /// sizes only for running and degraded pools. The caller enforces --details' exclusions first.
    /// </summary>
    /// <param name="pools">The pools that passed the filters, in any order.</param>
    /// <param name="details">--details.</param>
    /// <param name="uuid">--uuid.</param>
    /// <param name="name">--name.</param>
    /// <param name="style">-q and the locale.</param>
    public static string PoolList(IEnumerable<PoolListEntry> pools, bool details, bool uuid, bool name, VirshStyle style)
    {
        var sorted = SortByName(pools, p => p.Name);
        if (!details && (uuid || name))
        {
            var lines = new StringBuilder();
            foreach (var pool in sorted)
            {
                if (uuid)
                {
                    lines.Append(CFormat.PadRight(pool.Uuid, 36)).Append(name ? ' ' : '\n');
                }

                if (name)
                {
                    lines.Append(CFormat.PadRight(pool.Name, 20)).Append('\n');
                }
            }

            return lines.ToString();
        }

        VirshTable table;
        if (!details)
        {
            table = new VirshTable("Name", "State", "Autostart");
            foreach (var pool in sorted)
            {
                var state = pool.InfoUnavailable ? "unknown" : pool.IsActive ? "active" : "inactive";
                table.AddRow(pool.Name, state, AutostartText(pool.Autostart));
            }
        }
        else
        {
            table = new VirshTable("Name", "State", "Autostart", "Persistent", "Capacity", "Allocation", "Available");
            foreach (var pool in sorted)
            {
                string state, capacity, allocation, available;
                if (pool.InfoUnavailable)
                {
                    state = capacity = allocation = available = "unknown";
                }
                else
                {
                    state = PoolStateName(pool.State);
                    if (pool.State is PoolState.Running or PoolState.Degraded)
                    {
                        capacity = VirshSize.Pretty(pool.Capacity);
                        allocation = VirshSize.Pretty(pool.Allocation);
                        available = VirshSize.Pretty(pool.Available);
                    }
                    else
                    {
                        capacity = allocation = available = "-";
                    }
                }

                table.AddRow(pool.Name, state, AutostartText(pool.Autostart), YesNoUnknown(pool.Persistent), capacity, allocation, available);
            }
        }

        return table.Render(!style.Quiet, style.Utf8Locale);
    }

    /// <summary><c>vol-list</c>: Name/Path, or with <paramref name="details"/> also Type, Capacity and Allocation.</summary>
    public static string VolumeList(IEnumerable<VolumeListEntry> volumes, bool details, VirshStyle style)
    {
        var sorted = SortByName(volumes, v => v.Name);

        // Always virsh's table, byte for byte (scripts parse it): VirtPool's labels show in vol-info --details.
        var table = details
            ? new VirshTable("Name", "Path", "Type", "Capacity", "Allocation")
            : new VirshTable("Name", "Path");
        foreach (var volume in sorted)
        {
            var path = volume.Path ?? "unknown";
            string[] row;
            if (!details)
            {
                row = [volume.Name, path];
            }
            else if (volume.InfoUnavailable)
            {
                row = [volume.Name, path, "unknown", "unknown", "unknown"];
            }
            else
            {
                row = [volume.Name, path, VolumeTypeName(volume.Type), VirshSize.Pretty(volume.Capacity), VirshSize.Pretty(volume.Allocation)];
            }

            table.AddRow(row);
        }

        return table.Render(!style.Quiet, style.Utf8Locale);
    }

    /// <summary><c>pool-info</c> (labels "%-15s"); sizes only for running and degraded pools, raw numbers with <paramref name="bytes"/>.</summary>
    public static string PoolInfo(PoolInfo info, bool bytes)
    {
        var text = new StringBuilder();
        Line(text, "Name:", info.Name);
        Line(text, "UUID:", info.Uuid);
        Line(text, "State:", PoolStateName(info.State));
        Line(text, "Persistent:", YesNoUnknown(info.Persistent));
        Line(text, "Autostart:", AutostartText(info.Autostart));
        if (info.State is PoolState.Running or PoolState.Degraded)
        {
            Line(text, "Capacity:", Size(info.Capacity, bytes, string.Empty));
            Line(text, "Allocation:", Size(info.Allocation, bytes, string.Empty));
            Line(text, "Available:", Size(info.Available, bytes, string.Empty));
        }

        return text.ToString();
    }

    /// <summary>
    /// <c>vol-info</c>; <paramref name="bytes"/> prints "N bytes", <paramref name="physical"/> labels the second size "Physical:".
    /// </summary>
    public static string VolumeInfo(VolumeInfo info, bool bytes, bool physical)
    {
        var text = new StringBuilder();
        Line(text, "Name:", info.Name);
        Line(text, "Type:", VolumeTypeName(info.Type));
        Line(text, "Capacity:", Size(info.Capacity, bytes, " bytes"));
        Line(text, physical ? "Physical:" : "Allocation:", Size(info.Allocation, bytes, " bytes"));
        if (info.Labels is not null)
        {
            Line(text, "Labels:", info.Labels);
        }

        return text.ToString();
    }

    /// <summary>
    /// The order virsh lists pools and volumes in: strcasecmp of the names' bytes (ASCII letters folded),
    /// stable for names that compare equal.
    /// </summary>
    public static IReadOnlyList<T> SortByName<T>(IEnumerable<T> items, Func<T, string> name)
    {
        var keyed = items.Select((item, index) => (Item: item, Key: Encoding.UTF8.GetBytes(name(item)), Index: index)).ToList();
        keyed.Sort((a, b) =>
        {
            var byName = CaseInsensitiveCompare(a.Key, b.Key);
            return byName != 0 ? byName : a.Index.CompareTo(b.Index);
        });
        return keyed.ConvertAll(k => k.Item);
    }

    private static int CaseInsensitiveCompare(byte[] a, byte[] b)
    {
        var length = Math.Min(a.Length, b.Length);
        for (var i = 0; i < length; i++)
        {
            var x = ToLowerAscii(a[i]);
            var y = ToLowerAscii(b[i]);
            if (x != y)
            {
                return x - y;
            }
        }

        return a.Length - b.Length;
    }

    private static int ToLowerAscii(byte value) => value is >= (byte)'A' and <= (byte)'Z' ? value + 32 : value;

    private static void Line(StringBuilder text, string label, string value)
        => text.Append(CFormat.PadRight(label, 15)).Append(' ').Append(value).Append('\n');

    private static string Size(ulong value, bool bytes, string bytesSuffix)
        => bytes ? value.ToString(System.Globalization.CultureInfo.InvariantCulture) + bytesSuffix : VirshSize.Pretty(value);

    private static string AutostartText(bool? autostart) => autostart switch
    {
        true => "yes",
        false => "no",
        null => "no autostart",
    };

    private static string YesNoUnknown(bool? value) => value switch
    {
        true => "yes",
        false => "no",
        null => "unknown",
    };
}

/// <summary>How output is shaped: virsh's -q, and whether the locale is UTF-8 (table cell widths).</summary>
/// <param name="Quiet">-q: tables lose their header; informational messages and the blank line after commands vanish.</param>
/// <param name="Utf8Locale">Non-ASCII table cells are measured as UTF-8 text (else printed as "\xff" per byte).</param>
public readonly record struct VirshStyle(bool Quiet, bool Utf8Locale)
{
    /// <summary>Not quiet, in this process's locale.</summary>
    public static VirshStyle Default => new(false, VirshLocale.IsUtf8FromEnvironment);

    /// <summary>The given quietness in this process's locale.</summary>
    public static VirshStyle ForQuiet(bool quiet) => new(quiet, VirshLocale.IsUtf8FromEnvironment);
}
