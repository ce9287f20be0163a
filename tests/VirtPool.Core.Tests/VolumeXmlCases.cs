using System.Globalization;
using System.Xml.Linq;
using VirtPool.Core.Model;
using VirtPool.Core.Xml;

namespace VirtPool.Core.Tests;

/// <summary>One row of Data/vols/cases.tsv and its files.</summary>
public sealed record VolumeXmlCase(string Name, PoolType Pool, string KeyPrefix, VolumeParseFlags Flags, string Origin)
{
    public static string Root => Path.Combine(AppContext.BaseDirectory, "Data", "vols");

    public string Directory => Path.Combine(Root, Origin == "libvirtd-dir" ? "probed" : "cases");

    public string Input => File.ReadAllText(Path.Combine(Directory, Name + ".xml"));

    public string? ExpectedXml => ReadOrNull(Name + ".out.xml");

    /// <summary>The error message, without the final newline of the file.</summary>
    public string? ExpectedError => ReadOrNull(Name + ".err") is { } e ? e[..^1] : null;

    public static IReadOnlyList<VolumeXmlCase> All { get; } = Load();

    public static TheoryData<string> Names(Func<VolumeXmlCase, bool> filter)
    {
        var data = new TheoryData<string>();
        foreach (var c in All.Where(filter))
        {
            data.Add(c.Name);
        }

        return data;
    }

    public static VolumeXmlCase Get(string name) => All.Single(c => c.Name == name);

    public override string ToString() => Name;

    private string? ReadOrNull(string file)
    {
        var path = Path.Combine(Directory, file);
        return File.Exists(path) ? File.ReadAllText(path) : null;
    }

    private static List<VolumeXmlCase> Load()
    {
        var list = new List<VolumeXmlCase>();
        foreach (var line in File.ReadAllLines(Path.Combine(Root, "cases.tsv")))
        {
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }

            var f = line.Split('\t');
            if (!PoolTypeNames.TryParse(f[1], out var pool))
            {
                throw new InvalidDataException($"unknown pool type in cases.tsv: {line}");
            }

            var flags = f[3] == "-" ? VolumeParseFlags.None : Enum.Parse<VolumeParseFlags>(f[3]);
            list.Add(new VolumeXmlCase(f[0], pool, f[2], flags, f[4]));
        }

        return list;
    }
}

/// <summary>Reads the values a real refresh probed from an expected vol-dumpxml (test support only).</summary>
internal static class ProbedValues
{
    public static void Apply(VolumeDefinition vol, string expectedXml, string keyPrefix)
    {
        var root = XElement.Parse(expectedXml);
        vol.Key = vol.Target.Path = keyPrefix + "/" + vol.Name;
        Assert.True(VolumeTypeNames.TryParse((string?)root.Attribute("type"), out var type));
        vol.Type = type;
        vol.Capacity = ULong(root.Element("capacity"));
        vol.Allocation = ULong(root.Element("allocation"));
        vol.Physical = root.Element("physical") is { } physical ? ULong(physical) : 0;
        ApplySource(vol.Target, root.Element("target")!);
        if (vol.BackingStore is not null)
        {
            ApplySource(vol.BackingStore, root.Element("backingStore")!);
        }
    }

    private static void ApplySource(VolumeStorageSource source, XElement element)
    {
        var perms = element.Element("permissions");
        source.Permissions = perms is null
            ? new Permissions()
            : new Permissions
            {
                Mode = perms.Element("mode") is { } m ? Convert.ToUInt32(m.Value, 8) : null,
                Owner = perms.Element("owner") is { } o ? uint.Parse(o.Value, CultureInfo.InvariantCulture) : null,
                Group = perms.Element("group") is { } g ? uint.Parse(g.Value, CultureInfo.InvariantCulture) : null,
                Label = perms.Element("label")?.Value,
            };
        var ts = element.Element("timestamps");
        source.Timestamps = ts is null
            ? null
            : new VolumeTimestamps(Time(ts, "atime"), Time(ts, "mtime"), Time(ts, "ctime"), Time(ts, "btime"));
    }

    private static TimeSpec Time(XElement timestamps, string name)
    {
        if (timestamps.Element(name) is not { } e)
        {
            return TimeSpec.Absent;
        }

        var parts = e.Value.Split('.');
        return new TimeSpec(
            long.Parse(parts[0], CultureInfo.InvariantCulture),
            parts.Length > 1 ? long.Parse(parts[1], CultureInfo.InvariantCulture) : 0);
    }

    private static ulong ULong(XElement? e) => ulong.Parse(e!.Value, CultureInfo.InvariantCulture);
}
