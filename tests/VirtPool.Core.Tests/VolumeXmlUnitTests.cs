using VirtPool.Core.Errors;
using VirtPool.Core.Model;
using VirtPool.Core.Xml;

namespace VirtPool.Core.Tests;

/// <summary>Formatter rules for values only refresh sets, the format tables, and the API's edges.</summary>
public class VolumeXmlUnitTests
{
    private static VolumeDefinition Minimal() => new()
    {
        Name = "v",
        Key = "/p/v",
        Capacity = 10,
        Allocation = 4,
        Target = new VolumeTarget { Path = "/p/v", Format = "raw" },
    };

    [Fact]
    public void Timestamps_print_seconds_and_nine_digit_nanoseconds()
    {
        var vol = Minimal();
        vol.Target.Timestamps = new VolumeTimestamps(new TimeSpec(1700000000, 5), new TimeSpec(1700000001, 0), TimeSpec.Absent);
        var xml = VolumeXml.Format(PoolType.Dir, vol);
        Assert.Contains(
            "    <timestamps>\n"
            + "      <atime>1700000000.000000005</atime>\n"
            + "      <mtime>1700000001</mtime>\n"
            + "      <btime>0</btime>\n"
            + "    </timestamps>\n"
            + "  </target>\n",
            xml,
            StringComparison.Ordinal);
    }

    [Fact]
    public void Timestamps_before_the_epoch_print_as_unsigned_like_llu()
    {
        var vol = Minimal();
        vol.Target.Timestamps = new VolumeTimestamps(new TimeSpec(-1, 1), TimeSpec.Absent, TimeSpec.Absent, TimeSpec.Absent);
        Assert.Contains("<atime>18446744073709551615.000000001</atime>", VolumeXml.Format(PoolType.Dir, vol), StringComparison.Ordinal);
    }

    [Fact]
    public void Timestamps_are_never_parsed()
    {
        const string xml = "<volume><name>v</name><capacity>1</capacity><target><timestamps><atime>5</atime></timestamps></target></volume>";
        Assert.Null(VolumeXml.Parse(xml, PoolType.Dir).Target.Timestamps);
    }

    [Fact]
    public void Extents_group_consecutive_runs_on_one_device()
    {
        var vol = Minimal();
        vol.Type = VolumeType.Block;
        vol.Source = new VolumeSource
        {
            Extents =
            [
                new VolumeExtent("/dev/sda2", 0, 4096),
                new VolumeExtent("/dev/sda2", 8192, 12288),
                new VolumeExtent("/dev/sdb'1", 1, 2),
                new VolumeExtent("/dev/sda2", 20480, 24576),
            ],
        };
        var expected =
            "<volume type='block'>\n"
            + "  <name>v</name>\n"
            + "  <key>/p/v</key>\n"
            + "  <source>\n"
            + "    <device path='/dev/sda2'>\n"
            + "      <extent start='0' end='4096'/>\n"
            + "      <extent start='8192' end='12288'/>\n"
            + "    </device>\n"
            + "    <device path='/dev/sdb&apos;1'>\n"
            + "      <extent start='1' end='2'/>\n"
            + "    </device>\n"
            + "    <device path='/dev/sda2'>\n"
            + "      <extent start='20480' end='24576'/>\n"
            + "    </device>\n"
            + "  </source>\n"
            + "  <capacity unit='bytes'>10</capacity>\n"
            + "  <allocation unit='bytes'>4</allocation>\n"
            + "  <target>\n"
            + "    <path>/p/v</path>\n"
            + "  </target>\n"
            + "</volume>\n";
        Assert.Equal(expected, VolumeXml.Format(PoolType.Logical, vol));
    }

    [Fact]
    public void Physical_prints_only_when_set_and_missing_allocation_prints_the_capacity()
    {
        var vol = Minimal();
        vol.Allocation = null;
        var xml = VolumeXml.Format(PoolType.Dir, vol);
        Assert.Contains("  <allocation unit='bytes'>10</allocation>\n  <target>\n", xml, StringComparison.Ordinal);
        vol.Physical = 7;
        Assert.Contains("  <allocation unit='bytes'>10</allocation>\n  <physical unit='bytes'>7</physical>\n", VolumeXml.Format(PoolType.Dir, vol), StringComparison.Ordinal);
    }

    [Fact]
    public void A_null_format_is_format_number_zero_where_the_pool_has_a_table()
    {
        var vol = Minimal();
        vol.Target.Format = null;
        vol.BackingStore = new VolumeBackingStore { Path = "/b" };
        var dir = VolumeXml.Format(PoolType.Dir, vol);
        Assert.Contains("    <path>/p/v</path>\n    <format type='none'/>\n", dir, StringComparison.Ordinal);
        Assert.Contains("    <path>/b</path>\n    <format type='none'/>\n", dir, StringComparison.Ordinal);
        Assert.DoesNotContain("<format", VolumeXml.Format(PoolType.Iscsi, vol), StringComparison.Ordinal);
    }

    [Fact]
    public void Features_print_when_present_or_set()
    {
        var vol = Minimal();
        Assert.DoesNotContain("features", VolumeXml.Format(PoolType.Dir, vol), StringComparison.Ordinal);
        vol.Target.Features = new VolumeFeatures { Present = true };
        Assert.Contains("    <features/>\n", VolumeXml.Format(PoolType.Dir, vol), StringComparison.Ordinal);
        vol.Target.Features = new VolumeFeatures { ExtendedL2 = true };
        Assert.Contains("    <features>\n      <extended_l2/>\n    </features>\n", VolumeXml.Format(PoolType.Dir, vol), StringComparison.Ordinal);
    }

    [Fact]
    public void Cluster_size_zero_and_nocow_print_nothing()
    {
        var vol = Minimal();
        vol.Target.ClusterSize = 0;
        vol.Target.NoCow = true;
        Assert.Equal(VolumeXml.Format(PoolType.Dir, Minimal()), VolumeXml.Format(PoolType.Dir, vol));
    }

    [Theory]
    [InlineData("plain.img")]
    [InlineData("..")]
    [InlineData("with space")]
    public void Names_without_a_slash_may_be_created(string name) => VolumeXml.ValidateNameForCreate(name);

    [Fact]
    public void Names_with_a_slash_are_refused_as_libvirts_local_backends_do()
    {
        var ex = Assert.Throws<VirtPoolException>(() => VolumeXml.ValidateNameForCreate("../escape"));
        Assert.Equal(VirErrorCode.OperationInvalid, ex.Code);
        Assert.Equal("Requested operation is not valid: volume name '../escape' cannot contain '/'", ex.Message);
    }

    [Fact]
    public void Unknown_pool_types_have_no_backend()
    {
        var ex = Assert.Throws<VirtPoolException>(() => VolumeXml.Parse("<volume><name>v</name></volume>", (PoolType)99));
        Assert.Equal("internal error: missing backend for pool type 99", ex.Message);
        Assert.Throws<VirtPoolException>(() => VolumeXml.Format((PoolType)99, Minimal()));
    }

    [Fact]
    public void Unknown_flags_are_refused()
    {
        var ex = Assert.Throws<VirtPoolException>(() => VolumeXml.Parse("<volume><name>v</name></volume>", PoolType.Dir, (VolumeParseFlags)4));
        Assert.Equal("invalid argument: unsupported flags (0x4) in function virStorageVolDefParseXML", ex.Message);
    }

    [Fact]
    public void Parse_reports_what_the_xml_said_about_capacity_and_allocation()
    {
        var given = VolumeXml.Parse("<volume><name>v</name><capacity>0</capacity></volume>", PoolType.Dir);
        Assert.True(given.HasCapacity);
        Assert.Null(given.Allocation);
        Assert.Equal(0UL, given.EffectiveAllocation);
        var missing = VolumeXml.Parse("<volume><name>v</name><allocation>3</allocation></volume>", PoolType.Dir, VolumeParseFlags.NoCapacity);
        Assert.False(missing.HasCapacity);
        Assert.Equal(3UL, missing.Allocation);
    }

    [Fact]
    public void Parse_keeps_create_hints_and_typed_formats()
    {
        const string xml = "<volume><name>v</name><capacity>1</capacity><target><format type='qcow2'/><nocow/>"
                           + "<encryption format='luks'><secret type='passphrase' uuid='0A1B2C3D4E5F6A7B8C9D0E1F2A3B4C5D'/></encryption>"
                           + "</target></volume>";
        var vol = VolumeXml.Parse(xml, PoolType.Fs);
        Assert.True(vol.Target.NoCow);
        Assert.Equal(StorageFileFormat.Qcow2, vol.Target.FileFormat);
        var secret = Assert.Single(vol.Target.Encryption!.Secrets);
        Assert.Equal(Guid.Parse("0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"), secret.Uuid);
    }

    [Theory]
    [InlineData(PoolType.Dir, "raw", 17)]
    [InlineData(PoolType.Fs, "raw", 17)]
    [InlineData(PoolType.Netfs, "raw", 17)]
    [InlineData(PoolType.Gluster, "raw", 17)]
    [InlineData(PoolType.Vstorage, "raw", 17)]
    [InlineData(PoolType.Rbd, "raw", 0)]
    [InlineData(PoolType.Disk, "none", 8)]
    public void Pool_types_with_a_volume_format_table(PoolType type, string defaultName, int listed)
    {
        var table = VolumeFormats.ForPool(type);
        Assert.NotNull(table);
        Assert.Equal(defaultName, table.DefaultName);
        Assert.Equal(listed, table.LastFormat);
    }

    [Theory]
    [InlineData(PoolType.Logical)]
    [InlineData(PoolType.Iscsi)]
    [InlineData(PoolType.IscsiDirect)]
    [InlineData(PoolType.Scsi)]
    [InlineData(PoolType.Mpath)]
    [InlineData(PoolType.Sheepdog)]
    [InlineData(PoolType.Zfs)]
    public void Pool_types_without_volume_formats(PoolType type) => Assert.Null(VolumeFormats.ForPool(type));

    [Fact]
    public void Only_the_partition_table_accepts_none_on_input()
    {
        Assert.False(VolumeFormats.File.TryParse("none", out _));
        Assert.True(VolumeFormats.File.TryParse("vmdk", out var vmdk));
        Assert.Equal((int)StorageFileFormat.Vmdk, vmdk);
        Assert.True(VolumeFormats.Disk.TryParse("none", out var none));
        Assert.Equal((int)DiskPartitionFormat.None, none);
        Assert.Equal("linux-swap", DiskPartitionFormat.LinuxSwap.ToName());
    }

    [Fact]
    public void Deep_clones_share_nothing_mutable()
    {
        const string xml = "<volume><name>v</name><capacity>1</capacity><target><format type='qcow2'/><features><lazy_refcounts/></features>"
                           + "<permissions><mode>0600</mode></permissions><encryption format='luks'><secret type='passphrase' usage='u'/></encryption></target>"
                           + "<backingStore><path>/b</path></backingStore></volume>";
        var original = VolumeXml.Parse(xml, PoolType.Dir);
        var before = VolumeXml.Format(PoolType.Dir, original);
        var copy = original.DeepClone();
        copy.Target.Features.LazyRefcounts = false;
        copy.Target.Encryption!.Secrets[0].Usage = "changed";
        copy.BackingStore!.Path = "/elsewhere";
        copy.Target.Permissions = copy.Target.Permissions with { Mode = 1 };
        Assert.Equal(before, VolumeXml.Format(PoolType.Dir, original));
        Assert.NotEqual(before, VolumeXml.Format(PoolType.Dir, copy));
    }

    [Theory]
    [InlineData("12", true, 12UL)]
    [InlineData(" \n\t+12", true, 12UL)]
    [InlineData("18446744073709551615", true, ulong.MaxValue)]
    [InlineData("18446744073709551616", false, 0UL)]
    [InlineData("-0", false, 0UL)]
    [InlineData("12 ", false, 0UL)]
    [InlineData("", false, 0UL)]
    [InlineData("+", false, 0UL)]
    public void Unsigned_numbers_follow_virStrToLong_ullp(string text, bool ok, ulong value)
    {
        Assert.Equal(ok, CNumbers.TryULongLongP(text, 10, out var parsed));
        Assert.Equal(value, parsed);
    }

    [Theory]
    [InlineData("-1", true, uint.MaxValue)]
    [InlineData("-4294967295", true, 1U)]
    [InlineData("-4294967296", false, 0U)]
    [InlineData("4294967295", true, uint.MaxValue)]
    public void Compat_parts_follow_virStrToLong_ui(string text, bool ok, uint value)
    {
        Assert.Equal(ok, CNumbers.TryUInt(text, 10, out var parsed));
        Assert.Equal(value, parsed);
    }

    [Theory]
    [InlineData("0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d", true)]
    [InlineData(" 0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d\t", true)]
    [InlineData("0a 1b 2c 3d 4e 5f 6a 7b 8c 9d 0e 1f 2a 3b 4c 5d", true)]
    [InlineData("--0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d", true)]
    [InlineData("0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5", false)]
    [InlineData("0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d-", false)]
    [InlineData("0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5g", false)]
    public void Secret_uuids_follow_virUUIDParse(string text, bool ok)
        => Assert.Equal(ok, LibvirtUuid.TryParse(text, out _));

    // Codes, domains and messages as python3-libvirt shows them for these documents against libvirt 9.0's
    // test:///default driver (storage_conf.c, virxml.c and virsecret.c each report from their own domain).
    [Theory]
    [InlineData("<secret type='passphrase' uuid='zz'/>", VirErrorCode.XmlError, VirErrorDomain.None, "XML error: invalid secret uuid 'zz'")]
    [InlineData("<secret type='passphrase'/>", VirErrorCode.XmlError, VirErrorDomain.None, "XML error: missing secret uuid or usage attribute")]
    [InlineData("<secret type='passphrase' uuid='5d1c0e7a-2b3f-4c8d-9e0a-1b2c3d4e5f63' usage='x'/>", VirErrorCode.XmlError, VirErrorDomain.None, "XML error: either secret uuid or usage expected")]
    [InlineData("<secret type='x' uuid='5d1c0e7a-2b3f-4c8d-9e0a-1b2c3d4e5f63'/>", VirErrorCode.ConfigUnsupported, VirErrorDomain.Storage, "unsupported configuration: unknown volume encryption secret type x")]
    [InlineData(Passphrase + "<cipher size='1'/>", VirErrorCode.XmlError, VirErrorDomain.Storage, "XML error: cipher info missing 'name' attribute")]
    [InlineData(Passphrase + "<cipher name='aes'/>", VirErrorCode.XmlError, VirErrorDomain.Xml, "XML error: Missing required attribute 'size' in element 'cipher'")]
    [InlineData(Passphrase + "<cipher name='aes' size='-1'/>", VirErrorCode.XmlError, VirErrorDomain.Xml, "XML error: Invalid value for attribute 'size' in element 'cipher': '-1'. Expected non-negative integer value")]
    public void Encryption_errors_carry_libvirts_code_and_domain(string encryption, VirErrorCode code, VirErrorDomain domain, string message)
    {
        var xml = $"<volume><name>v</name><capacity>1</capacity><target><format type='qcow2'/><encryption format='luks'>{encryption}</encryption></target></volume>";
        var ex = Assert.Throws<VirtPoolException>(() => VolumeXml.Parse(xml, PoolType.Dir));
        Assert.Equal((code, domain, message), (ex.Code, ex.Domain, ex.Message));
    }

    private const string Passphrase = "<secret type='passphrase' uuid='5d1c0e7a-2b3f-4c8d-9e0a-1b2c3d4e5f63'/>";
}
