using VirtPool.Core.Model;
using VirtPool.Core.Xml;

namespace VirtPool.Core.Tests;

/// <summary>
/// Property: for any definition made of what the XML carries, parsing the formatted text gives a
/// definition that formats to the same bytes (seeded, so failures reproduce).
/// </summary>
public class VolumeXmlRoundTripTests
{
    /// <summary>Element text keeps tabs and newlines.</summary>
    private const string TextChars = "abcXYZ019 ._-/:<>&'\"\t\né日";

    /// <summary>XML normalizes tabs and newlines in attribute values to spaces (libvirt's output included).</summary>
    private const string AttributeChars = "abcXYZ019 ._-/:<>&'\"é日";

    public static TheoryData<int> Seeds()
    {
        var data = new TheoryData<int>();
        for (var seed = 1; seed <= 40; seed++)
        {
            data.Add(seed);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Seeds))]
    public void Format_then_parse_is_lossless_for_what_xml_carries(int seed)
    {
        var random = new Random(seed);
        for (var i = 0; i < 25; i++)
        {
            var pool = (PoolType)random.Next(PoolTypeNames.All.Count);
            var vol = RandomVolume(random, VolumeFormats.ForPool(pool));
            var text = VolumeXml.Format(pool, vol);
            var parsed = VolumeXml.Parse(text, pool);
            Assert.Equal(text, VolumeXml.Format(pool, parsed));
            Assert.Equal(vol.Name, parsed.Name);
            Assert.Equal(vol.Capacity, parsed.Capacity);
            Assert.Equal(vol.EffectiveAllocation, parsed.Allocation);
            Assert.Equal(vol.Target.Permissions, parsed.Target.Permissions);
        }
    }

    private static VolumeDefinition RandomVolume(Random r, VolumeFormatTable? table)
    {
        var vol = new VolumeDefinition
        {
            Name = Text(r),
            Key = Maybe(r, () => Text(r)),
            Type = (VolumeType)r.Next(VolumeTypeNames.All.Count),
            Capacity = Size(r),
            Allocation = r.Next(2) == 0 ? null : Size(r),
        };
        FillSource(r, vol.Target, table);
        if (table is null)
        {
            vol.Target.Format = null;
        }

        vol.Target.Encryption = Maybe(r, () => RandomEncryption(r));
        vol.Target.ClusterSize = r.Next(3) == 0 ? (ulong)r.NextInt64(1, long.MaxValue) : null;
        vol.Target.Features = new VolumeFeatures { Present = r.Next(2) == 0, LazyRefcounts = r.Next(3) == 0, ExtendedL2 = r.Next(3) == 0 };
        vol.Target.Compat = vol.Target.Features.IsPresent || r.Next(2) == 0 ? $"{r.Next(3)}.{r.Next(20)}" : null;

        if (r.Next(2) == 0)
        {
            vol.BackingStore = new VolumeBackingStore();
            FillSource(r, vol.BackingStore, table);
            vol.BackingStore.Path = Text(r);
        }

        return vol;
    }

    private static void FillSource(Random r, VolumeStorageSource source, VolumeFormatTable? table)
    {
        source.Path = Maybe(r, () => Text(r));
        if (table is not null)
        {
            // File tables refuse "none" (number 0) on input; partition tables accept it.
            var first = table.TryParse(table.Names[0], out _) ? 0 : 1;
            source.Format = table.Names[r.Next(first, table.Names.Count)];
        }

        source.Permissions = new Permissions
        {
            Mode = r.Next(2) == 0 ? (uint)r.Next(0x200) : null,
            Owner = r.Next(2) == 0 ? (uint)r.Next() : null,
            Group = r.Next(2) == 0 ? (uint)r.Next() : null,
            Label = Maybe(r, () => Text(r)),
        };
    }

    private static EncryptionDefinition RandomEncryption(Random r)
    {
        var format = (EncryptionFormat)r.Next(4);
        var secrets = new List<EncryptionSecret>();
        for (var i = r.Next(3); i > 0; i--)
        {
            secrets.Add(r.Next(2) == 0
                ? new EncryptionSecret { Uuid = new Guid([.. Enumerable.Range(0, 16).Select(_ => (byte)r.Next(256))]) }
                : new EncryptionSecret { Usage = r.Next(4) == 0 ? string.Empty : Attribute(r) });
        }

        var encryption = new EncryptionDefinition { Format = format, Engine = (EncryptionEngine)r.Next(3), Secrets = secrets };
        if (format == EncryptionFormat.Luks && r.Next(2) == 0)
        {
            encryption.Cipher = new EncryptionCipher { Name = Attribute(r), Size = (uint)r.NextInt64(uint.MaxValue + 1L), Mode = Maybe(r, () => Attribute(r)), Hash = Maybe(r, () => Attribute(r)) };
            encryption.Ivgen = Maybe(r, () => new EncryptionIvgen { Name = Attribute(r), Hash = Maybe(r, () => Attribute(r)) });
        }

        return encryption;
    }

    private static ulong Size(Random r) => r.Next(3) switch
    {
        0 => (ulong)r.Next(4096),
        1 => long.MaxValue,
        _ => (ulong)r.NextInt64(long.MaxValue),
    };

    private static string Text(Random r) => Chars(r, TextChars);

    private static string Attribute(Random r) => Chars(r, AttributeChars);

    private static string Chars(Random r, string set)
    {
        var chars = new char[r.Next(1, 12)];
        for (var i = 0; i < chars.Length; i++)
        {
            chars[i] = set[r.Next(set.Length)];
        }

        return new string(chars);
    }

    private static T? Maybe<T>(Random r, Func<T> make)
        where T : class
        => r.Next(2) == 0 ? make() : null;
}
