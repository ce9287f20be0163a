using System.Globalization;
using VirtPool.Core.Model;

namespace VirtPool.Core.Xml;

/// <summary>libvirt 9.0's virStoragePoolDefFormat, virStoragePoolSourceFormat and the helpers they call.</summary>
internal static class PoolXmlFormatter
{
    public static string Format(PoolDefinition def, PoolSizes sizes)
    {
        var buf = new XmlBuffer();
        FormatInto(buf, def, sizes);
        return buf.ToString();
    }

    public static void FormatInto(XmlBuffer buf, PoolDefinition def, PoolSizes sizes)
    {
        var info = def.Info;
        var fsOptions = def.Type is PoolType.Fs or PoolType.Netfs ? def.FsMountOptions : null;
        var rbdOptions = def.Type == PoolType.Rbd ? def.RbdConfigOptions : null;

        var open = "pool type='" + def.Type.ToName() + "'";
        if (fsOptions is not null)
        {
            open += " xmlns:fs='" + PoolXmlParser.FsNamespace + "'";
        }
        else if (rbdOptions is not null)
        {
            open += " xmlns:rbd='" + PoolXmlParser.RbdNamespace + "'";
        }

        buf.Open(open);
        buf.Element("name", def.Name);
        buf.Line("<uuid>" + LibvirtUuid.Format(def.Uuid) + "</uuid>");
        buf.Line(string.Create(CultureInfo.InvariantCulture, $"<capacity unit='bytes'>{sizes.Capacity}</capacity>"));
        buf.Line(string.Create(CultureInfo.InvariantCulture, $"<allocation unit='bytes'>{sizes.Allocation}</allocation>"));
        buf.Line(string.Create(CultureInfo.InvariantCulture, $"<available unit='bytes'>{sizes.Available}</available>"));

        if (def.Cow is { } cow)
        {
            buf.Open("features");
            buf.Line("<cow state='" + YesNo(cow) + "'/>");
            buf.Close("features");
        }

        FormatSource(buf, info, def.Source);

        // RBD, Sheepdog, Gluster and iSCSI-direct pools are not local: they have no target.
        if (!info.IsNetwork)
        {
            buf.Open("target");
            buf.Element("path", def.Target.Path);
            PermissionsXml.Format(buf, def.Target.Permissions);
            buf.Close("target");
        }

        if (def.RefreshVolumeAllocation is { } refresh)
        {
            buf.Open("refresh");
            buf.Line("<volume allocation='" + refresh.ToName() + "'/>");
            buf.Close("refresh");
        }

        if (fsOptions is not null)
        {
            buf.Open("fs:mount_opts");
            foreach (var option in fsOptions)
            {
                buf.Line("<fs:option name='" + XmlBuffer.Escape(option) + "'/>");
            }

            buf.Close("fs:mount_opts");
        }
        else if (rbdOptions is not null)
        {
            buf.Open("rbd:config_opts");
            foreach (var option in rbdOptions)
            {
                buf.Line("<rbd:option name='" + XmlBuffer.Escape(option.Name) + "' value='" + XmlBuffer.Escape(option.Value) + "'/>");
            }

            buf.Close("rbd:config_opts");
        }

        buf.Close("pool");
    }

    /// <summary>virStoragePoolSourceFormat.</summary>
    public static void FormatSource(XmlBuffer buf, PoolTypeInfo info, PoolSource src)
    {
        var flags = info.Flags;
        buf.Open("source");

        if ((flags & PoolSourceFlags.Host) != 0)
        {
            foreach (var host in src.Hosts)
            {
                var line = "<host name='" + XmlBuffer.Escape(host.Name) + "'";
                if (host.Port != 0)
                {
                    line += string.Create(CultureInfo.InvariantCulture, $" port='{host.Port}'");
                }

                buf.Line(line + "/>");
            }
        }

        if ((flags & PoolSourceFlags.Device) != 0)
        {
            foreach (var device in src.Devices)
            {
                var line = "<device path='" + XmlBuffer.Escape(device.Path) + "'";
                if (device.PartSeparator is { } separator)
                {
                    line += " part_separator='" + YesNo(separator) + "'";
                }

                if (device.FreeExtents.Count == 0)
                {
                    buf.Line(line + "/>");
                    continue;
                }

                buf.Open(line[1..]);
                foreach (var extent in device.FreeExtents)
                {
                    buf.Line(string.Create(CultureInfo.InvariantCulture, $"<freeExtent start='{extent.Start}' end='{extent.End}'/>"));
                }

                buf.Close("device");
            }
        }

        if ((flags & PoolSourceFlags.Dir) != 0 && src.Dir is not null)
        {
            buf.Line("<dir path='" + XmlBuffer.Escape(src.Dir) + "'/>");
        }

        if ((flags & PoolSourceFlags.Adapter) != 0 && src.Adapter is { Type: PoolAdapterType.ScsiHost or PoolAdapterType.FcHost } adapter)
        {
            FormatAdapter(buf, adapter);
        }

        if ((flags & PoolSourceFlags.Name) != 0)
        {
            buf.Element("name", src.Name);
        }

        if ((flags & PoolSourceFlags.InitiatorIqn) != 0 && src.InitiatorIqn is not null)
        {
            buf.Open("initiator");
            buf.Line("<iqn name='" + XmlBuffer.Escape(src.InitiatorIqn) + "'/>");
            buf.Close("initiator");
        }

        if (info.SourceFormats is not null)
        {
            var format = info.SourceFormatName(src.Format)
                ?? throw PoolXmlErrors.Internal(string.Create(CultureInfo.InvariantCulture, $"unknown pool format number {src.Format}"));
            buf.Line("<format type='" + format + "'/>");
        }

        if (src.Auth is not null)
        {
            FormatAuth(buf, src.Auth);
        }

        if (src.ProtocolVersion is not null)
        {
            buf.Line("<protocol ver='" + XmlBuffer.Escape(src.ProtocolVersion) + "'/>");
        }

        if (src.Vendor is not null)
        {
            buf.Line("<vendor name='" + XmlBuffer.Escape(src.Vendor) + "'/>");
        }

        if (src.Product is not null)
        {
            buf.Line("<product name='" + XmlBuffer.Escape(src.Product) + "'/>");
        }

        buf.Close("source");
    }

    /// <summary>virStorageAdapterFormat. libvirt prints the scsi_host name, wwnn and wwpn unescaped.</summary>
    private static void FormatAdapter(XmlBuffer buf, PoolAdapter adapter)
    {
        var line = "<adapter type='" + adapter.Type.ToName() + "'";
        if (adapter.Type == PoolAdapterType.FcHost)
        {
            line += XmlBuffer.Attr("parent", adapter.Parent)
                + XmlBuffer.Attr("parent_wwnn", adapter.ParentWwnn)
                + XmlBuffer.Attr("parent_wwpn", adapter.ParentWwpn)
                + XmlBuffer.Attr("parent_fabric_wwn", adapter.ParentFabricWwn);
            if (adapter.Managed is { } managed)
            {
                line += " managed='" + YesNo(managed) + "'";
            }

            buf.Line(line + " wwnn='" + NullText(adapter.Wwnn) + "' wwpn='" + NullText(adapter.Wwpn) + "'/>");
            return;
        }

        if (adapter.Name is not null || adapter.ParentAddress is null)
        {
            buf.Line(line + " name='" + NullText(adapter.Name) + "'/>");
            return;
        }

        var address = adapter.ParentAddress.Value;
        buf.Open(line.TrimStart('<'));
        buf.Open(string.Create(CultureInfo.InvariantCulture, $"parentaddr unique_id='{adapter.UniqueId}'"));
        buf.Line(string.Create(
            CultureInfo.InvariantCulture,
            $"<address domain='0x{address.Domain:x4}' bus='0x{address.Bus:x2}' slot='0x{address.Slot:x2}' function='0x{address.Function}'/>"));
        buf.Close("parentaddr");
        buf.Close("adapter");
    }

    /// <summary>virStorageAuthDefFormat + virSecretLookupFormatSecret (the secret type is printed unescaped).</summary>
    private static void FormatAuth(XmlBuffer buf, PoolAuth auth)
    {
        buf.Open(auth.Type == PoolAuthType.None
            ? "auth username='" + XmlBuffer.Escape(auth.Username) + "'"
            : "auth type='" + auth.Type.ToName() + "' username='" + XmlBuffer.Escape(auth.Username) + "'");

        var secret = auth.SecretType is null ? "<secret" : "<secret type='" + auth.SecretType + "'";
        if (auth.SecretUuid is { } uuid)
        {
            secret += " uuid='" + LibvirtUuid.Format(uuid) + "'/>";
        }
        else if (auth.SecretUsage is not null)
        {
            secret += " usage='" + XmlBuffer.Escape(auth.SecretUsage) + "'/>";
        }
        else
        {
            secret += "/>";
        }

        buf.Line(secret);
        buf.Close("auth");
    }

    private static string YesNo(bool value) => value ? "yes" : "no";

    /// <summary>What glibc's printf("%s") shows for NULL.</summary>
    private static string NullText(string? value) => value ?? "(null)";
}
