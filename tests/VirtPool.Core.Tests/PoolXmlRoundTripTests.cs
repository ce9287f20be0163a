using System.Text;
using VirtPool.Core.Model;
using VirtPool.Core.Xml;

namespace VirtPool.Core.Tests;

/// <summary>
/// Property: for generated definitions of every pool type, x = Parse(Format(generated)) is a fixed point:
/// Format(Parse(Format(x))) == Format(x), and Parse keeps every field Format printed.
/// </summary>
public class PoolXmlRoundTripTests
{
    private const string Alphabet = "abcXYZ019 -_.:/&<>'\"é日";

    public static TheoryData<int> Seeds()
    {
        var data = new TheoryData<int>();
        for (var seed = 1; seed <= 300; seed++)
        {
            data.Add(seed);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Seeds))]
    public void Format_parse_format_is_a_fixed_point(int seed)
    {
        var random = new Random(seed);
        var generated = Generate(random, (PoolType)(seed % PoolTypeNames.All.Count));

        var x = PoolXml.Parse(PoolXml.Format(generated));
        var sizes = new PoolSizes((ulong)random.NextInt64(), (ulong)random.NextInt64(), (ulong)random.NextInt64());
        var once = PoolXml.Format(x, sizes);
        var reparsed = PoolXml.Parse(once);
        Assert.Equal(once, PoolXml.Format(reparsed, sizes));

        Assert.Equal(x.Type, reparsed.Type);
        Assert.Equal(x.Name, reparsed.Name);
        Assert.Equal(x.Uuid, reparsed.Uuid);
        Assert.Equal(x.Target, reparsed.Target);
        Assert.Equal(x.Source.Hosts, reparsed.Source.Hosts);
        Assert.Equal(x.Source.Devices, reparsed.Source.Devices);
        Assert.Equal(x.Source.Auth, reparsed.Source.Auth);
    }

    private static string Text(Random random, int min = 1, int max = 12)
    {
        var length = random.Next(min, max + 1);
        var sb = new StringBuilder(length);
        for (var i = 0; i < length; i++)
        {
            sb.Append(Alphabet[random.Next(Alphabet.Length)]);
        }

        // Keep the value free of what XML or libvirt would change: surrounding spaces are fine, but a
        // leading/trailing '/' gets sanitized in paths, so paths are built separately.
        return sb.ToString();
    }

    private static string Name(Random random) => "px-" + Text(random).Replace('/', '_');

    private static string AbsolutePath(Random random)
    {
        var parts = random.Next(1, 4);
        var sb = new StringBuilder();
        for (var i = 0; i < parts; i++)
        {
            sb.Append('/').Append(Text(random, 1, 6).Replace('/', '-'));
        }

        return sb.ToString();
    }

    private static string Wwn(Random random)
    {
        var sb = new StringBuilder(random.Next(2) == 0 ? "0x" : string.Empty);
        for (var i = 0; i < 16; i++)
        {
            sb.Append("0123456789abcdefABCDEF"[random.Next(22)]);
        }

        return sb.ToString();
    }

    private static Permissions Perms(Random random) => random.Next(3) switch
    {
        0 => new Permissions(),
        1 => new Permissions { Mode = (uint)random.Next(0, 512) },
        _ => new Permissions
        {
            Mode = random.Next(2) == 0 ? null : (uint)random.Next(0, 512),
            // libvirt prints ids through an (int) cast, so ids above int.MaxValue cannot round-trip.
            Owner = random.Next(2) == 0 ? null : (uint)random.Next(0, int.MaxValue),
            Group = random.Next(2) == 0 ? null : (uint)random.Next(0, 100000),
            Label = random.Next(2) == 0 ? null : Text(random),
        },
    };

    private static List<PoolSourceHost> Hosts(Random random)
    {
        var hosts = new List<PoolSourceHost>();
        for (var i = random.Next(1, 4); i > 0; i--)
        {
            hosts.Add(new PoolSourceHost(Text(random), random.Next(3) == 0 ? 0 : random.Next(-5, 65536)));
        }

        return hosts;
    }

    private static List<PoolSourceDevice> Devices(Random random, int min = 1)
    {
        var devices = new List<PoolSourceDevice>();
        for (var i = random.Next(min, 4); i > 0; i--)
        {
            bool? separator = random.Next(3) switch { 0 => null, 1 => true, _ => false };
            devices.Add(new PoolSourceDevice(Text(random, 0, 12), separator));
        }

        return devices;
    }

    private static PoolAuth? Auth(Random random, PoolAuthType type)
    {
        if (random.Next(2) == 0)
        {
            return null;
        }

        var byUuid = random.Next(2) == 0;
        return new PoolAuth
        {
            Type = type,
            Username = Text(random),
            SecretType = random.Next(3) == 0 ? "iscsi" : null,
            SecretUuid = byUuid ? Guid.NewGuid() : null,
            SecretUsage = byUuid ? null : Text(random, 0, 10),
        };
    }

    private static PoolAdapter Adapter(Random random)
    {
        var adapter = AdapterWithoutParentWwpn(random);
        return adapter.ParentWwnn is null ? adapter : adapter with { ParentWwpn = Wwn(random) };
    }

    private static PoolAdapter AdapterWithoutParentWwpn(Random random) => random.Next(3) switch
    {
        0 => new PoolAdapter { Type = PoolAdapterType.ScsiHost, Name = "scsi_host" + random.Next(100) },
        1 => new PoolAdapter
        {
            Type = PoolAdapterType.ScsiHost,
            ParentAddress = new PoolPciAddress((uint)random.Next(0, 0x10000), (uint)random.Next(1, 256), (uint)random.Next(0, 32), (uint)random.Next(0, 8)),
            UniqueId = random.Next(0, 1000),
        },
        _ => new PoolAdapter
        {
            Type = PoolAdapterType.FcHost,
            Wwnn = Wwn(random),
            Wwpn = Wwn(random),
            Parent = random.Next(2) == 0 ? null : Text(random),
            ParentWwnn = random.Next(2) == 0 ? null : Wwn(random),
            ParentWwpn = null,
            ParentFabricWwn = random.Next(2) == 0 ? null : Wwn(random),
            Managed = random.Next(3) switch { 0 => null, 1 => true, _ => false },
        },
    };

    private static PoolDefinition Generate(Random random, PoolType type)
    {
        var info = PoolTypeInfo.For(type);
        var source = new PoolSource
        {
            Vendor = random.Next(4) == 0 ? Text(random) : null,
            Product = random.Next(4) == 0 ? Text(random) : null,
            Format = info.SourceFormats is null ? 0 : random.Next(info.SourceFormats.Count),
        };

        if ((info.Flags & PoolSourceFlags.Host) != 0)
        {
            source = source with { Hosts = Hosts(random) };
        }

        if ((info.Flags & PoolSourceFlags.Device) != 0)
        {
            source = source with { Devices = Devices(random, info.Flags == PoolSourceFlags.Device || type is PoolType.Iscsi ? 1 : 0) };
        }

        if ((info.Flags & PoolSourceFlags.Dir) != 0)
        {
            source = source with { Dir = AbsolutePath(random) };
        }

        if ((info.Flags & PoolSourceFlags.Name) != 0 && random.Next(3) != 0)
        {
            source = source with { Name = Text(random) };
        }

        if ((info.Flags & PoolSourceFlags.InitiatorIqn) != 0 && (type == PoolType.IscsiDirect || random.Next(2) == 0))
        {
            source = source with { InitiatorIqn = "iqn.2024-04.example.px:" + Text(random) };
        }

        if (type == PoolType.Scsi)
        {
            source = source with { Adapter = Adapter(random) };
        }

        if (type is PoolType.Iscsi or PoolType.IscsiDirect or PoolType.Rbd)
        {
            source = source with { Auth = Auth(random, type == PoolType.Rbd ? PoolAuthType.Ceph : PoolAuthType.Chap) };
        }

        if (source.Format is 0 or 1 && random.Next(3) == 0)
        {
            source = source with { ProtocolVersion = Text(random) };
        }

        var name = Name(random);
        if (type == PoolType.Rbd && source.Name is null)
        {
            source = source with { Name = name };
        }

        return new PoolDefinition
        {
            Type = type,
            Name = name,
            Uuid = Guid.NewGuid(),
            Cow = type is PoolType.Dir or PoolType.Fs && random.Next(2) == 0 ? random.Next(2) == 0 : null,
            Source = source,
            Target = info.IsNetwork ? new PoolTarget() : new PoolTarget { Path = AbsolutePath(random), Permissions = Perms(random) },
            RefreshVolumeAllocation = random.Next(3) switch { 0 => null, 1 => PoolRefreshAllocation.Default, _ => PoolRefreshAllocation.Capacity },
            FsMountOptions = type is PoolType.Fs or PoolType.Netfs && random.Next(2) == 0 ? [Text(random, 0, 8), Text(random)] : null,
            RbdConfigOptions = type == PoolType.Rbd && random.Next(2) == 0 ? [new PoolRbdConfigOption(Text(random), Text(random))] : null,
        };
    }
}
