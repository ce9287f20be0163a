using System.Xml;
using System.Xml.Linq;
using VirtPool.Core.Errors;
using VirtPool.Core.Model;
using static VirtPool.Core.Xml.PoolXmlReading;

namespace VirtPool.Core.Xml;

/// <summary>
/// libvirt 9.0's virStoragePoolDefParseXML and helpers (storage_conf.c, storage_adapter_conf.c,
/// storage_source_conf.c, virsecret.c, device_conf.c, the fs/rbd namespace parsers), checks in libvirt's order.
/// </summary>
internal static class PoolXmlParser
{
    public const string FsNamespace = "http://libvirt.org/schemas/storagepool/fs/1.0";
    public const string RbdNamespace = "http://libvirt.org/schemas/storagepool/rbd/1.0";

    private static readonly string[] AdapterTypes = ["default", "scsi_host", "fc_host"];

    /// <param name="status">
    /// A status file VirtPool wrote for an active pool: the live parts libvirt never parses from a
    /// definition (a device's free extents) are read too.
    /// </param>
    public static PoolDefinition ParseRoot(XElement root, bool status = false)
    {
        var type = (PoolType)PropEnum(root, "type", PoolTypeNames.All, required: true)!.Value;
        var info = PoolTypeInfo.For(type);

        var sourceNode = XNode(root, "./source");
        var source = sourceNode is not null
            ? ParseSource(sourceNode, type, status)
            : new PoolSource { Format = info.SourceFormats is not null ? info.DefaultSourceFormat : 0 };

        var name = XString(root, "./name");
        if (name is null && (info.Flags & PoolSourceFlags.Name) != 0)
        {
            name = source.Name;
        }

        if (name is null)
        {
            throw PoolXmlErrors.Xml("missing pool source name element");
        }

        if (name.Contains('/', StringComparison.Ordinal))
        {
            throw PoolXmlErrors.Xml($"name {name} cannot contain '/'");
        }

        var uuidText = XString(root, "./uuid");
        Guid uuid;
        if (uuidText is null)
        {
            uuid = Guid.NewGuid();
        }
        else if (!LibvirtUuid.TryParse(uuidText, out uuid))
        {
            throw PoolXmlErrors.Xml("malformed uuid element");
        }

        var cow = PropTristateBool(XNode(root, "./features/cow"), "state");
        if (cow is not null && type is not (PoolType.Fs or PoolType.Dir))
        {
            throw new VirtPoolException(VirErrorCode.NoSupport, "cow feature may only be used for 'fs' and 'dir' pools");
        }

        if ((info.Flags & PoolSourceFlags.Host) != 0 && source.Hosts.Count == 0)
        {
            throw PoolXmlErrors.Xml("missing storage pool source host name");
        }

        if ((info.Flags & PoolSourceFlags.Dir) != 0 && source.Dir is null)
        {
            throw PoolXmlErrors.Xml("missing storage pool source path");
        }

        if ((info.Flags & PoolSourceFlags.Name) != 0 && source.Name is null)
        {
            source = source with { Name = name };
        }

        if ((info.Flags & PoolSourceFlags.Adapter) != 0)
        {
            ValidateAdapter(source.Adapter);
        }

        // When the device is the only source element a type uses, it is required.
        if (info.Flags == PoolSourceFlags.Device && source.Devices.Count == 0)
        {
            throw PoolXmlErrors.Xml("missing storage pool source device name");
        }

        var target = new PoolTarget();
        if (!info.IsNetwork)
        {
            string targetPath;
            if (type == PoolType.Logical)
            {
                targetPath = "/dev/" + source.Name;
            }
            else if (type == PoolType.Zfs)
            {
                targetPath = "/dev/zvol/" + source.Name;
            }
            else
            {
                targetPath = XString(root, "./target/path") ?? throw PoolXmlErrors.Xml("missing storage pool target path");
            }

            target = new PoolTarget
            {
                Path = PoolXml.SanitizePath(targetPath),
                Permissions = PermissionsXml.Parse(XNode(root, "./target/permissions")),
            };
        }

        if (type == PoolType.IscsiDirect && source.InitiatorIqn is null)
        {
            throw PoolXmlErrors.Unsupported("missing initiator IQN");
        }

        PoolRefreshAllocation? refresh = null;
        var allocation = XString(root, "./refresh/volume/@allocation");
        if (allocation is not null)
        {
            refresh = PoolRefreshAllocationNames.TryParse(allocation, out var value)
                ? value
                : throw PoolXmlErrors.Unsupported($"unknown storage pool volume refresh allocation type {allocation}");
        }

        IReadOnlyList<string>? mountOptions = null;
        IReadOnlyList<PoolRbdConfigOption>? rbdOptions = null;
        if (type is PoolType.Fs or PoolType.Netfs)
        {
            mountOptions = ParseFsNamespace(root);
        }
        else if (type == PoolType.Rbd)
        {
            rbdOptions = ParseRbdNamespace(root);
        }

        return new PoolDefinition
        {
            Type = type,
            Name = name,
            Uuid = uuid,
            Cow = cow,
            Source = source,
            Target = target,
            RefreshVolumeAllocation = refresh,
            FsMountOptions = mountOptions,
            RbdConfigOptions = rbdOptions,
        };
    }

    /// <summary>Free extents as the formatter writes them; one that is not two numbers is left out.</summary>
    private static PoolFreeExtent[] ParseFreeExtents(XElement device)
    {
        var extents = new List<PoolFreeExtent>();
        foreach (var extent in XNodes(device, "./freeExtent"))
        {
            if (ulong.TryParse(Prop(extent, "start"), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var start)
                && ulong.TryParse(Prop(extent, "end"), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var end))
            {
                extents.Add(new PoolFreeExtent(start, end));
            }
        }

        return [.. extents];
    }

    /// <summary>virStoragePoolDefParseSource.</summary>
    public static PoolSource ParseSource(XElement node, PoolType type, bool status = false)
    {
        var info = PoolTypeInfo.For(type);
        var name = XString(node, "./name");
        if (type == PoolType.Rbd && name is null)
        {
            throw PoolXmlErrors.Xml("element 'name' is mandatory for RBD pool");
        }

        var format = 0;
        if (info.SourceFormats is not null)
        {
            var formatName = XString(node, "./format/@type");
            format = formatName is null ? info.DefaultSourceFormat : info.ParseSourceFormat(formatName);
            if (format < 0)
            {
                throw PoolXmlErrors.Unsupported($"unknown pool format type {formatName}");
            }
        }

        var hosts = new List<PoolSourceHost>();
        foreach (var host in XNodes(node, "./host"))
        {
            var hostName = Prop(host, "name") ?? throw PoolXmlErrors.Xml("missing storage pool host name");
            hosts.Add(new PoolSourceHost(hostName, PropInt(host, "port", 10)));
        }

        var iqn = XString(node, "./initiator/iqn/@name");

        var devices = new List<PoolSourceDevice>();
        foreach (var device in XNodes(node, "./device"))
        {
            var path = Prop(device, "path") ?? throw PoolXmlErrors.Xml("missing storage pool source device path");
            devices.Add(new PoolSourceDevice(path, PropTristateBool(device, "part_separator"))
            {
                FreeExtents = status ? ParseFreeExtents(device) : [],
            });
        }

        var dir = XString(node, "./dir/@path");
        if (dir is not null)
        {
            dir = PoolXml.SanitizePath(dir);
        }
        else if (type == PoolType.Gluster)
        {
            // In gluster, a missing dir defaults to "/".
            dir = "/";
        }

        var adapterNode = XNode(node, "./adapter");
        var adapter = adapterNode is null ? null : ParseAdapter(adapterNode);

        PoolAuth? auth = null;
        var authNode = XNode(node, "./auth");
        if (authNode is not null)
        {
            auth = ParseAuth(authNode);
            if (auth.Type == PoolAuthType.None)
            {
                throw PoolXmlErrors.Unsupported("storage pool missing auth type");
            }
        }

        // libvirt 9.0 keeps the NFS protocol version as text; it only checks the format allows one
        // (comparing the raw format number with netfs's "nfs" and "auto", whatever the pool type).
        var protocol = XString(node, "./protocol/@ver");
        if (protocol is not null && format != (int)PoolNetfsFormat.Nfs && format != (int)PoolNetfsFormat.Auto)
        {
            var formatName = format >= 0 && format < PoolFormatNames.Netfs.Count ? PoolFormatNames.Netfs[format] : "(null)";
            throw PoolXmlErrors.Unsupported($"storage pool protocol ver unsupported for pool type '{formatName}'");
        }

        return new PoolSource
        {
            Hosts = hosts,
            Devices = devices,
            Dir = dir,
            Adapter = adapter,
            Name = name,
            Format = format,
            InitiatorIqn = iqn,
            Auth = auth,
            ProtocolVersion = protocol,
            Vendor = XString(node, "./vendor/@name"),
            Product = XString(node, "./product/@name"),
        };
    }

    /// <summary>virStorageAdapterParseXML.</summary>
    private static PoolAdapter ParseAdapter(XElement node)
    {
        var type = PropEnum(node, "type", AdapterTypes, nonZero: true);
        if (type is null)
        {
            // Legacy form: only 'name' (a scsi_host) is allowed without a type.
            if (Prop(node, "wwnn") is not null || Prop(node, "wwpn") is not null || Prop(node, "parent") is not null)
            {
                throw PoolXmlErrors.Xml("Use of 'wwnn', 'wwpn', and 'parent' attributes requires use of the adapter 'type'");
            }

            if (XNode(node, "./parentaddr") is not null)
            {
                throw PoolXmlErrors.Xml("Use of 'parentaddr' element requires use of the adapter 'type'");
            }

            var legacyName = Prop(node, "name");
            return legacyName is null
                ? new PoolAdapter { Type = PoolAdapterType.Default }
                : new PoolAdapter { Type = PoolAdapterType.ScsiHost, Name = legacyName };
        }

        if (type == (int)PoolAdapterType.FcHost)
        {
            return new PoolAdapter
            {
                Type = PoolAdapterType.FcHost,
                Managed = PropTristateBool(node, "managed"),
                Parent = Prop(node, "parent"),
                ParentWwnn = Prop(node, "parent_wwnn"),
                ParentWwpn = Prop(node, "parent_wwpn"),
                ParentFabricWwn = Prop(node, "parent_fabric_wwn"),
                Wwpn = Prop(node, "wwpn"),
                Wwnn = Prop(node, "wwnn"),
            };
        }

        var adapter = new PoolAdapter { Type = PoolAdapterType.ScsiHost, Name = Prop(node, "name") };
        if (XNode(node, "./parentaddr") is not null)
        {
            var address = XNode(node, "./parentaddr/address") ?? throw PoolXmlErrors.Xml("Missing scsi_host PCI address element");
            var pci = ParsePciAddress(address);
            var uniqueId = XString(node, "./parentaddr/@unique_id");
            if (uniqueId is null || !CNumbers.TryInt(uniqueId, 10, out var id) || id < 0)
            {
                throw PoolXmlErrors.Xml("Missing or invalid scsi adapter 'unique_id' value");
            }

            adapter = adapter with { ParentAddress = pci, UniqueId = id };
        }

        return adapter;
    }

    /// <summary>virPCIDeviceAddressParseXML (the storage adapter's parent address).</summary>
    private static PoolPciAddress ParsePciAddress(XElement node)
    {
        var domain = PropUInt(node, "domain", 0);
        var bus = PropUInt(node, "bus", 0);
        var slot = PropUInt(node, "slot", 0);
        var function = PropUInt(node, "function", 0);
        _ = PropTristateSwitch(node, "multifunction");

        if (domain != 0 || bus != 0 || slot != 0)
        {
            if (bus > 0xFF)
            {
                throw PoolXmlErrors.Xml($"Invalid PCI address bus='0x{bus:x}', must be <= 0xFF");
            }

            if (slot > 0x1F)
            {
                throw PoolXmlErrors.Xml($"Invalid PCI address slot='0x{slot:x}', must be <= 0x1F");
            }

            if (function > 7)
            {
                throw PoolXmlErrors.Xml($"Invalid PCI address function=0x{function:x}, must be <= 7");
            }
        }

        // zpci extension attributes are validated as libvirt does, then ignored (pools never print them).
        if (node.Element("zpci") is { } zpci)
        {
            _ = PropUInt(zpci, "uid", 0);
            _ = PropUInt(zpci, "fid", 0);
        }

        return new PoolPciAddress(domain, bus, slot, function);
    }

    /// <summary>virStorageAdapterValidate (scsi pools only).</summary>
    private static void ValidateAdapter(PoolAdapter? adapter)
    {
        if (adapter is null || adapter.Type == PoolAdapterType.Default)
        {
            throw PoolXmlErrors.Xml("missing storage pool source adapter");
        }

        if (adapter.Type == PoolAdapterType.FcHost)
        {
            if (adapter.Wwnn is null || adapter.Wwpn is null)
            {
                throw PoolXmlErrors.Xml("'wwnn' and 'wwpn' must be specified for adapter type 'fchost'");
            }

            ValidateWwn(adapter.Wwnn);
            ValidateWwn(adapter.Wwpn);
            if (adapter.ParentWwnn is not null && adapter.ParentWwpn is null)
            {
                throw PoolXmlErrors.Xml($"when providing parent_wwnn='{adapter.ParentWwnn}', the parent_wwpn must also be provided");
            }

            if (adapter.ParentWwnn is null && adapter.ParentWwpn is not null)
            {
                throw PoolXmlErrors.Xml($"when providing parent_wwpn='{adapter.ParentWwpn}', the parent_wwnn must also be provided");
            }

            ValidateWwn(adapter.ParentWwnn);
            ValidateWwn(adapter.ParentWwpn);
            ValidateWwn(adapter.ParentFabricWwn);
            return;
        }

        if (adapter.Name is null && adapter.ParentAddress is null)
        {
            throw PoolXmlErrors.Xml("Either 'name' or 'parent' must be specified for the 'scsi_host' adapter");
        }

        if (adapter.Name is not null && adapter.ParentAddress is not null)
        {
            throw PoolXmlErrors.Xml("Both 'name' and 'parent' cannot be specified for the 'scsi_host' adapter");
        }
    }

    /// <summary>virValidateWWN: optional "0x" then exactly 16 hex digits.</summary>
    private static void ValidateWwn(string? wwn)
    {
        if (wwn is null)
        {
            return;
        }

        var digits = wwn.StartsWith("0x", StringComparison.Ordinal) ? wwn.AsSpan(2) : wwn.AsSpan();
        if (digits.Length != 16 || !AllHex(digits))
        {
            throw PoolXmlErrors.Internal($"Malformed wwn: {wwn}");
        }
    }

    private static bool AllHex(ReadOnlySpan<char> text)
    {
        foreach (var c in text)
        {
            if (!char.IsAsciiHexDigit(c))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>virStorageAuthDefParse + virSecretLookupParseSecret.</summary>
    private static PoolAuth ParseAuth(XElement node)
    {
        var username = XString(node, "./@username") ?? throw PoolXmlErrors.Xml("missing username for auth");

        var authType = PoolAuthType.None;
        var typeName = XString(node, "./@type");
        if (typeName is not null && !PoolAuthTypeNames.TryParse(typeName, out authType))
        {
            throw PoolXmlErrors.Unsupported($"unknown auth type '{typeName}'");
        }

        var secret = XNode(node, "./secret") ?? throw PoolXmlErrors.Xml("Missing <secret> element in auth");
        var (uuid, usage) = SecretLookupXml.Parse(secret);
        return new PoolAuth
        {
            Type = authType,
            Username = username,
            SecretType = Prop(secret, "type"),
            SecretUuid = uuid,
            SecretUsage = usage,
        };
    }

    /// <summary>virStoragePoolDefFSNamespaceParse: ./fs:mount_opts/fs:option/@name, null when none.</summary>
    private static List<string>? ParseFsNamespace(XElement root)
    {
        var namespaces = new XmlNamespaceManager(new NameTable());
        namespaces.AddNamespace("fs", FsNamespace);
        var nodes = XNodes(root, "./fs:mount_opts/fs:option", namespaces);
        if (nodes.Count == 0)
        {
            return null;
        }

        var options = new List<string>(nodes.Count);
        foreach (var node in nodes)
        {
            options.Add(Prop(node, "name") ?? throw PoolXmlErrors.Xml("no fs mount option name specified"));
        }

        return options;
    }

    /// <summary>virStoragePoolDefRBDNamespaceParse: ./rbd:config_opts/rbd:option name/value pairs, null when none.</summary>
    private static List<PoolRbdConfigOption>? ParseRbdNamespace(XElement root)
    {
        var namespaces = new XmlNamespaceManager(new NameTable());
        namespaces.AddNamespace("rbd", RbdNamespace);
        var nodes = XNodes(root, "./rbd:config_opts/rbd:option", namespaces);
        if (nodes.Count == 0)
        {
            return null;
        }

        var options = new List<PoolRbdConfigOption>(nodes.Count);
        foreach (var node in nodes)
        {
            var name = Prop(node, "name") ?? throw PoolXmlErrors.Xml("no rbd option name specified");
            if (name.Length == 0)
            {
                throw PoolXmlErrors.Xml("empty rbd option name specified");
            }

            var value = Prop(node, "value") ?? throw PoolXmlErrors.Xml($"no rbd option value specified for name '{name}'");
            if (value.Length == 0)
            {
                throw PoolXmlErrors.Xml($"empty rbd option value specified for name '{name}'");
            }

            options.Add(new PoolRbdConfigOption(name, value));
        }

        return options;
    }
}
