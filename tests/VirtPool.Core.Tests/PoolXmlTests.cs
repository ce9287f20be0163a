using System.Xml.Linq;
using VirtPool.Core.Errors;
using VirtPool.Core.Model;
using VirtPool.Core.Xml;

namespace VirtPool.Core.Tests;

public class PoolXmlTests
{
    private const string DirPool = "<pool type='dir'><name>px-unit</name><uuid>5d1c0e7a-2b3f-4c8d-9e0a-1b2c3d4e5f60</uuid><target><path>/srv/px/unit</path></target></pool>";

    [Fact]
    public void Parse_fills_the_model()
    {
        var def = PoolXml.Parse("""
            <pool type='netfs' xmlns:fs='http://libvirt.org/schemas/storagepool/fs/1.0'>
              <name>px-model</name>
              <uuid>5D1C0E7A-2B3F-4C8D-9E0A-1B2C3D4E5F61</uuid>
              <source>
                <host name='nfs.px.example' port='2049'/>
                <dir path='/exports//px/'/>
                <format type='nfs'/>
                <protocol ver='4'/>
              </source>
              <target><path>/mnt/px//model/</path><permissions><mode>0711</mode><owner>10</owner></permissions></target>
              <refresh><volume allocation='capacity'/></refresh>
              <fs:mount_opts><fs:option name='noatime'/></fs:mount_opts>
            </pool>
            """);

        Assert.Equal(PoolType.Netfs, def.Type);
        Assert.Equal("px-model", def.Name);
        Assert.Equal(Guid.Parse("5d1c0e7a-2b3f-4c8d-9e0a-1b2c3d4e5f61"), def.Uuid);
        Assert.Equal(new[] { new PoolSourceHost("nfs.px.example", 2049) }, def.Source.Hosts);
        Assert.Equal("/exports/px", def.Source.Dir);
        Assert.Equal(PoolNetfsFormat.Nfs, def.Source.NetfsFormat);
        Assert.Equal("4", def.Source.ProtocolVersion);
        Assert.Equal("/mnt/px/model", def.Target.Path);
        Assert.Equal(new Permissions { Mode = 0x1C9, Owner = 10 }, def.Target.Permissions);
        Assert.Equal(PoolRefreshAllocation.Capacity, def.RefreshVolumeAllocation);
        Assert.Equal(new[] { "noatime" }, def.FsMountOptions!);
        Assert.Null(def.RbdConfigOptions);
        Assert.Null(def.Cow);
    }

    [Fact]
    public void Missing_uuid_gets_a_random_one()
    {
        const string xml = "<pool type='dir'><name>px-nouuid</name><target><path>/srv/px/nouuid</path></target></pool>";
        var a = PoolXml.Parse(xml);
        var b = PoolXml.Parse(xml);
        Assert.NotEqual(Guid.Empty, a.Uuid);
        Assert.NotEqual(a.Uuid, b.Uuid);
        Assert.Contains("<uuid>" + a.Uuid.ToString("D") + "</uuid>\n", PoolXml.Format(a), StringComparison.Ordinal);
    }

    [Fact]
    public void Format_prints_the_sizes_in_bytes()
    {
        var xml = PoolXml.Format(PoolXml.Parse(DirPool), new PoolSizes(107374182400, 1073741824, 106300440576));
        Assert.Equal(
            """
            <pool type='dir'>
              <name>px-unit</name>
              <uuid>5d1c0e7a-2b3f-4c8d-9e0a-1b2c3d4e5f60</uuid>
              <capacity unit='bytes'>107374182400</capacity>
              <allocation unit='bytes'>1073741824</allocation>
              <available unit='bytes'>106300440576</available>
              <source>
              </source>
              <target>
                <path>/srv/px/unit</path>
              </target>
            </pool>

            """,
            xml);
    }

    [Fact]
    public void Format_of_a_built_definition()
    {
        var def = new PoolDefinition
        {
            Type = PoolType.Rbd,
            Name = "px-built",
            Uuid = Guid.Parse("5d1c0e7a-2b3f-4c8d-9e0a-1b2c3d4e5f62"),
            Source = new PoolSource
            {
                Name = "px-rbd",
                Hosts = [new PoolSourceHost("mon.px.example", 6789)],
                Auth = new PoolAuth { Type = PoolAuthType.Ceph, Username = "px", SecretUsage = "px-key" },
            },
            RbdConfigOptions = [new PoolRbdConfigOption("rbd_cache", "false")],
            FsMountOptions = ["ignored-for-rbd"],
        };

        Assert.Equal(
            """
            <pool type='rbd' xmlns:rbd='http://libvirt.org/schemas/storagepool/rbd/1.0'>
              <name>px-built</name>
              <uuid>5d1c0e7a-2b3f-4c8d-9e0a-1b2c3d4e5f62</uuid>
              <capacity unit='bytes'>0</capacity>
              <allocation unit='bytes'>0</allocation>
              <available unit='bytes'>0</available>
              <source>
                <host name='mon.px.example' port='6789'/>
                <name>px-rbd</name>
                <auth type='ceph' username='px'>
                  <secret usage='px-key'/>
                </auth>
              </source>
              <rbd:config_opts>
                <rbd:option name='rbd_cache' value='false'/>
              </rbd:config_opts>
            </pool>

            """,
            PoolXml.Format(def));
    }

    [Fact]
    public void Format_refuses_an_out_of_range_source_format()
    {
        var def = PoolXml.Parse("<pool type='disk'><name>px-d</name><source><device path='/dev/px-d'/></source><target><path>/dev</path></target></pool>");
        var ex = Assert.Throws<VirtPoolException>(() => PoolXml.Format(def with { Source = def.Source with { Format = 42 } }));
        Assert.Equal("internal error: unknown pool format number 42", ex.Message);
    }

    [Theory]
    [InlineData("<pool type='dir'><name>px</name>", VirErrorCode.XmlDetail, VirErrorDomain.Storage)]
    [InlineData("<volume><name>px</name></volume>", VirErrorCode.XmlError, VirErrorDomain.Xml)]
    [InlineData("<pool type='zfs2'><name>px</name></pool>", VirErrorCode.XmlError, VirErrorDomain.Xml)]
    [InlineData("<pool type='dir'><name>px/x</name></pool>", VirErrorCode.XmlError, VirErrorDomain.Storage)]
    [InlineData("<pool type='fs'><name>px</name><source><device path='/d'/><format type='zfs'/></source></pool>", VirErrorCode.ConfigUnsupported, VirErrorDomain.Storage)]
    [InlineData("<pool type='netfs'><name>px</name><features><cow state='yes'/></features></pool>", VirErrorCode.NoSupport, VirErrorDomain.Storage)]
    [InlineData("<pool type='scsi'><name>px</name><source><adapter type='fc_host' wwnn='1' wwpn='2'/></source></pool>", VirErrorCode.InternalError, VirErrorDomain.Storage)]
    [InlineData("<pool type='rbd'><name>px</name><source><name>x</name><host name='h'/><auth username='u' type='ceph'><secret uuid='zz'/></auth></source></pool>", VirErrorCode.XmlError, VirErrorDomain.None)]
    [InlineData("<pool type='rbd'><name>px</name><source><name>x</name><host name='h'/><auth username='u' type='ceph'><secret/></auth></source></pool>", VirErrorCode.XmlError, VirErrorDomain.None)]
    public void Errors_carry_libvirts_code_and_domain(string xml, VirErrorCode code, VirErrorDomain domain)
    {
        var ex = Assert.Throws<VirtPoolException>(() => PoolXml.Parse(xml));
        Assert.Equal(code, ex.Code);
        Assert.Equal(domain, ex.Domain);
    }

    [Fact]
    public void Malformed_xml_is_reported_with_libvirts_framing()
    {
        var ex = Assert.Throws<VirtPoolException>(() => PoolXml.Parse("<pool type='dir'>\n  <name>px</name>\n</poo>\n"));
        Assert.Equal(VirErrorCode.XmlDetail, ex.Code);
        Assert.Equal("(storage_pool_definition):3: Opening and ending tag mismatch: pool line 1 and poo\n</poo>\n------^", ex.Message);
        Assert.Equal(ex.Detail, ex.Message);
    }

    /// <summary>libxml2's depth limit (256 open elements) holds for any depth, without exhausting the stack.</summary>
    [Theory]
    [InlineData(257)]
    [InlineData(100_000)]
    public void Documents_nested_deeper_than_libxml2_allows_are_refused(int depth)
    {
        var xml = "<volume>" + string.Concat(Enumerable.Repeat("<a>", depth)) + string.Concat(Enumerable.Repeat("</a>", depth)) + "</volume>";
        var ex = Assert.Throws<VirtPoolException>(() => XmlInput.Parse(xml, "(storage_volume_definition)", "volume"));
        Assert.Equal(VirErrorCode.XmlDetail, ex.Code);
        var lines = ex.Message.Split('\n');
        Assert.Equal("(storage_volume_definition):1: Excessive depth in document: 256 use XML_PARSE_HUGE option", lines[0]);
        Assert.Equal(new string('-', "<volume>".Length + (256 * 3)) + "^", lines[2]);

        var deepest = "<volume>" + string.Concat(Enumerable.Repeat("<a>", 256)) + string.Concat(Enumerable.Repeat("</a>", 256)) + "</volume>";
        Assert.Equal("volume", XmlInput.Parse(deepest, "(storage_volume_definition)", "volume").Name.LocalName);
    }

    [Fact]
    public void XmlInput_uses_the_callers_document_name_and_root()
    {
        var ex = Assert.Throws<VirtPoolException>(() => XmlInput.Parse("<volume>", "(storage_volume_definition)", "volume"));
        Assert.Equal("(storage_volume_definition):1: Premature end of data in tag volume line 1\n<volume>\n--------^", ex.Message);

        var root = XmlInput.Parse("<v:volume xmlns:v='urn:x'/>", "(x)", "volume");
        Assert.Equal(XName.Get("volume", "urn:x"), root.Name);

        var other = Assert.Throws<VirtPoolException>(() => XmlInput.Parse("<pool/>", "(x)", "volume"));
        Assert.Equal("XML error: expecting root element of 'volume', not 'pool'", other.Message);
        Assert.Equal("pool", XmlInput.Parse("<pool/>", "(x)", null).Name.LocalName);
    }

    [Fact]
    public void Nothing_after_a_nul_character_is_parsed()
    {
        Assert.Equal("px-unit", PoolXml.Parse(DirPool + "\0garbage <<<").Name);
    }

    [Theory]
    [InlineData(PoolType.Sheepdog, "internal error: missing backend for pool type 10 (sheepdog)")]
    [InlineData(PoolType.Vstorage, "internal error: missing backend for pool type 13 (vstorage)")]
    public void Sheepdog_and_vstorage_parse_but_have_no_backend(PoolType type, string message)
    {
        Assert.False(PoolXml.HasBackend(type));
        Assert.False(PoolTypeInfo.For(type).HasBackend);
        var ex = Assert.Throws<VirtPoolException>(() => PoolXml.EnsureBackend(type));
        Assert.Equal(VirErrorCode.InternalError, ex.Code);
        Assert.Equal(message, ex.Message);
    }

    [Fact]
    public void Every_other_type_has_a_backend()
    {
        foreach (var type in Enum.GetValues<PoolType>().Where(t => t is not (PoolType.Sheepdog or PoolType.Vstorage)))
        {
            Assert.True(PoolXml.HasBackend(type), type.ToName());
            PoolXml.EnsureBackend(type);
        }
    }

    [Fact]
    public void ValidateForDefine_refuses_a_newline_in_the_name_first()
    {
        var def = PoolXml.Parse("<pool type='sheepdog'><name>px\nx</name><source><host name='h'/></source></pool>");
        var ex = Assert.Throws<VirtPoolException>(() => PoolXml.ValidateForDefine(def));
        Assert.Equal(VirErrorCode.XmlDetail, ex.Code);
        Assert.Equal("invalid char in name: \n", ex.Message);
    }

    [Theory]
    [InlineData("/", "/")]
    [InlineData("//", "//")]
    [InlineData("///", "/")]
    [InlineData("//a//b/", "//a/b")]
    [InlineData("///a", "/a")]
    [InlineData("a//b//", "a/b")]
    [InlineData("/../foo", "/../foo")]
    [InlineData("gluster://host//vol", "gluster://host//vol")]
    [InlineData("/x/gluster://a//b", "/x/gluster:/a/b")]
    [InlineData("", "")]
    public void SanitizePath_matches_virFileSanitizePath(string input, string expected)
        => Assert.Equal(expected, PoolXml.SanitizePath(input));

    [Theory]
    [InlineData("5d1c0e7a-2b3f-4c8d-9e0a-1b2c3d4e5f63", true)]
    [InlineData("5D1C0E7A2B3F4C8D9E0A1B2C3D4E5F63", true)]
    [InlineData("  5d 1c-0e7a2b3f4c8d9e0a1b2c3d4e5f63\t", true)]
    [InlineData("5d1c0e7a-2b3f-4c8d-9e0a-1b2c3d4e5f6", false)]
    [InlineData("5d1c0e7a-2b3f-4c8d-9e0a-1b2c3d4e5f630", false)]
    [InlineData("5-d1c0e7a2b3f4c8d9e0a1b2c3d4e5f63", false)]
    [InlineData("{5d1c0e7a-2b3f-4c8d-9e0a-1b2c3d4e5f63}", false)]
    [InlineData("", false)]
    [InlineData("\f\r\n5d1c0e7a-2b3f-4c8d-9e0a-1b2c3d4e5f63 ", true)]
    [InlineData("\v5d1c0e7a-2b3f-4c8d-9e0a-1b2c3d4e5f63", false)] // g_ascii_isspace, as virsh secret-dumpxml shows
    [InlineData("5d1c0e7a-2b3f-4c8d-9e0a-1b2c3d4e5f63\v", false)]
    public void TryParseUuid_matches_virUUIDParse(string text, bool valid)
    {
        Assert.Equal(valid, LibvirtUuid.TryParse(text, out var uuid));
        if (valid)
        {
            Assert.Equal("5d1c0e7a-2b3f-4c8d-9e0a-1b2c3d4e5f63", LibvirtUuid.Format(uuid));
        }
    }

    [Fact]
    public void ParseSource_and_FormatSourceList_follow_the_pool_type()
    {
        var source = PoolXml.ParseSource("<source><host name='nfs.px.example'/><dir path='/exports/px'/><format type='nfs'/></source>", PoolType.Netfs);
        Assert.Equal("/exports/px", source.Dir);

        Assert.Equal(
            """
            <sources>
              <source>
                <host name='nfs.px.example'/>
                <dir path='/exports/px'/>
                <format type='nfs'/>
              </source>
            </sources>

            """,
            PoolXml.FormatSourceList(PoolType.Netfs, [source]));

        var ex = Assert.Throws<VirtPoolException>(() => PoolXml.ParseSource("<pool/>", PoolType.Netfs));
        Assert.Equal("XML error: expecting root element of 'source', not 'pool'", ex.Message);
    }

    [Fact]
    public void Permissions_round_trip_for_volumes_too()
    {
        var element = XElement.Parse("<permissions><mode>0640</mode><owner>107</owner><group>-1</group><label>virt_image_t</label></permissions>");
        var perms = PermissionsXml.Parse(element);
        Assert.Equal(new Permissions { Mode = 0x1A0, Owner = 107, Label = "virt_image_t" }, perms);

        var buf = new XmlBuffer();
        buf.Open("target");
        PermissionsXml.Format(buf, perms);
        buf.Close("target");
        Assert.Equal(
            "<target>\n  <permissions>\n    <mode>0640</mode>\n    <owner>107</owner>\n    <label>virt_image_t</label>\n  </permissions>\n</target>\n",
            buf.ToString());

        Assert.True(PermissionsXml.Parse(null).IsEmpty);
        var empty = new XmlBuffer();
        PermissionsXml.Format(empty, new Permissions());
        Assert.Equal(string.Empty, empty.ToString());
    }

    [Fact]
    public void Capabilities_match_libvirtd_for_its_backends()
    {
        var expected = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Data", "pools", "capabilities", "pool-capabilities.xml"));
        var supported = Enum.GetValues<PoolType>().Where(PoolXml.HasBackend).ToArray();
        Assert.Equal(expected, PoolCapabilitiesXml.Format(supported));
    }

    [Fact]
    public void Capabilities_mark_unsupported_types()
    {
        var xml = PoolCapabilitiesXml.Format([PoolType.Dir]);
        Assert.Contains("<pool type='dir' supported='yes'>", xml, StringComparison.Ordinal);
        Assert.Contains("<pool type='fs' supported='no'>", xml, StringComparison.Ordinal);
        Assert.Equal(14, xml.Split("<pool type=").Length - 1);
    }

    [Fact]
    public void Type_table_matches_libvirt()
    {
        Assert.Equal(PoolSourceFlags.Host | PoolSourceFlags.Dir, PoolTypeInfo.For(PoolType.Netfs).Flags);
        Assert.Equal("lvm2", PoolTypeInfo.For(PoolType.Logical).SourceFormatName(PoolTypeInfo.For(PoolType.Logical).DefaultSourceFormat));
        Assert.Equal(-1, PoolTypeInfo.For(PoolType.Fs).ParseSourceFormat("zfs"));

        // btrfs is an fs pool format here, an addition: appended after libvirt's numbers.
        Assert.Equal((int)PoolFsFormat.Btrfs, PoolTypeInfo.For(PoolType.Fs).ParseSourceFormat("btrfs"));
        Assert.Equal((int)PoolFsFormat.HfsPlus, PoolTypeInfo.For(PoolType.Fs).ParseSourceFormat("hfs+"));
        Assert.True(PoolTypeInfo.For(PoolType.Gluster).IsNetwork);
        Assert.False(PoolTypeInfo.For(PoolType.Vstorage).IsNetwork);
        Assert.Null(PoolTypeInfo.For(PoolType.Iscsi).SourceFormats);
        Assert.Equal("none", PoolTypeInfo.For(PoolType.Disk).DefaultVolumeFormat);
        Assert.Empty(PoolTypeInfo.For(PoolType.Rbd).VolumeFormats!);
    }
}
