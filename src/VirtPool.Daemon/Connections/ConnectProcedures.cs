using System.Net;
using VirtPool.Core.Errors;
using VirtPool.Core.Interop;
using VirtPool.Rpc;
using VirtPool.Rpc.Xdr;

namespace VirtPool.Daemon.Connections;

/// <summary>Connection set-up and the non-storage procedures virsh and libvirt-python use (spec 4 and 7).</summary>
public static class ConnectProcedures
{
    /// <summary>libvirt 9.0.0, the level whose protocol this daemon speaks (major * 1e6 + minor * 1e3 + micro).</summary>
    public const ulong LibVersion = 9_000_000;

    /// <summary>VIR_CONNECT_RO.</summary>
    private const uint ConnectReadOnly = 1;

    private const int FeatureProgramKeepalive = 10;

    public static void Register(ProcedureTable<DaemonCallContext> table)
    {
        ArgumentNullException.ThrowIfNull(table);
        table.Register(RemoteProcedure.AuthList, AuthList);
        table.Register(RemoteProcedure.ConnectOpen, Open);
        table.Register(RemoteProcedure.ConnectClose, (_, _) => ValueTask.CompletedTask); // the connection closes after this REPLY
        table.Register(RemoteProcedure.ConnectSupportsFeature, SupportsFeature);
        table.Register(RemoteProcedure.ConnectRegisterCloseCallback, (ctx, _) => SetCloseCallback(ctx, true));
        table.Register(RemoteProcedure.ConnectUnregisterCloseCallback, (ctx, _) => SetCloseCallback(ctx, false));
        table.Register(RemoteProcedure.ConnectGetUri, (ctx, _) => ReturnString(ctx, ctx.Connection.OpenedUri ?? string.Empty));
        table.Register(RemoteProcedure.ConnectGetType, (ctx, _) => ReturnString(ctx, DriverType(ctx.Connection.OpenedUri)));
        table.Register(RemoteProcedure.ConnectGetVersion, GetVersion);
        table.Register(RemoteProcedure.ConnectGetLibVersion, (ctx, _) => ReturnUInt64(ctx, LibVersion));
        table.Register(RemoteProcedure.ConnectGetHostname, (ctx, _) => ReturnString(ctx, Hostname()));
        table.Register(RemoteProcedure.ConnectIsSecure, (ctx, _) => ReturnInt32(ctx, 1));
        table.Register(RemoteProcedure.ConnectNumOfDomains, (ctx, _) => ReturnInt32(ctx, 0));
        table.Register(RemoteProcedure.ConnectListAllDomains, ListAllDomains);
    }

    /// <summary>Auth "none" only: SASL and polkit are not offered (spec 4.1).</summary>
    private static ValueTask AuthList(DaemonCallContext ctx, ReadOnlyMemory<byte> args)
    {
        var w = ctx.ReplyWriter;
        w.WriteUInt32(1);
        w.WriteInt32(0);
        return ValueTask.CompletedTask;
    }

    private static ValueTask Open(DaemonCallContext ctx, ReadOnlyMemory<byte> args)
    {
        var r = new XdrReader(args.Span);
        string? name = r.ReadOptionalString();
        uint flags = r.ReadUInt32();
        string uri = CanonicalUri(name)
            ?? throw new VirtPoolException(VirErrorCode.NoConnect, name, VirErrorDomain.None);
        if (ctx.Connection is not ClientConnection connection || !connection.TryOpen(uri, (flags & ConnectReadOnly) != 0))
        {
            throw new VirtPoolException(VirErrorCode.InternalError, "connection already open", VirErrorDomain.Rpc);
        }

        return ValueTask.CompletedTask;
    }

    /// <summary>
    /// The URI a CONNECT_OPEN name selects, or null for one we do not serve. Empty or absent asks the server to
    /// pick (libvirtd answers qemu:///system as root); query parameters the client forwards are ignored.
    /// </summary>
    public static string? CanonicalUri(string? name)
    {
        if (string.IsNullOrEmpty(name))
        {
            return LibC.GetEuid() == 0 ? "qemu:///system" : "qemu:///session";
        }

        int query = name.IndexOf('?', StringComparison.Ordinal);
        string bare = query >= 0 ? name[..query] : name;
        return bare switch
        {
            "qemu:///system" or "qemu:///session" or "storage:///system" => bare,
            _ => null,
        };
    }

    private static ValueTask SupportsFeature(DaemonCallContext ctx, ReadOnlyMemory<byte> args)
    {
        var r = new XdrReader(args.Span);
        int feature = r.ReadInt32();
        if (feature == FeatureProgramKeepalive)
        {
            // Also the sign that this client answers PINGs: only now may the server send them (spec 1.8).
            (ctx.Connection as ClientConnection)?.EnableKeepalive();
        }
        else if (ctx.Connection.OpenedUri is null)
        {
            throw new VirtPoolException(VirErrorCode.InternalError, "hypervisor connection not open", VirErrorDomain.Rpc);
        }

        // 10 PROGRAM_KEEPALIVE, 14 REMOTE_EVENT_CALLBACK, 15 REMOTE_CLOSE_CALLBACK (spec 4.3); nothing else.
        int supported = feature is FeatureProgramKeepalive or 14 or 15 ? 1 : 0;
        ctx.ReplyWriter.WriteInt32(supported);
        return ValueTask.CompletedTask;
    }

    private static ValueTask SetCloseCallback(DaemonCallContext ctx, bool registered)
    {
        if (ctx.Connection is ClientConnection connection)
        {
            connection.CloseCallbackRegistered = registered;
        }

        return ValueTask.CompletedTask;
    }

    /// <summary>
    /// There is no hypervisor behind this daemon: 0 is libvirt's "version unknown" (virsh prints
    /// "Cannot extract running QEMU hypervisor version" and still succeeds).
    /// </summary>
    private static ValueTask GetVersion(DaemonCallContext ctx, ReadOnlyMemory<byte> args) => ReturnUInt64(ctx, 0);

    /// <summary>CONNECT_LIST_ALL_DOMAINS: always empty, so "virsh list --all" prints an empty table (spec 7).</summary>
    private static ValueTask ListAllDomains(DaemonCallContext ctx, ReadOnlyMemory<byte> args)
    {
        var w = ctx.ReplyWriter;
        w.WriteUInt32(0);
        w.WriteUInt32(0);
        return ValueTask.CompletedTask;
    }

    /// <summary>"QEMU" for qemu:/// (what libvirtd answers), "storage" for libvirt's storage driver URI.</summary>
    public static string DriverType(string? uri)
        => uri is not null && uri.StartsWith("storage:", StringComparison.Ordinal) ? "storage" : "QEMU";

    /// <summary>Like virGetHostname: the canonical name when the short one resolves, else gethostname.</summary>
    public static string Hostname()
    {
        string name = Dns.GetHostName();
        if (name.Contains('.', StringComparison.Ordinal) || name is "localhost")
        {
            return name;
        }

        try
        {
            string canonical = Dns.GetHostEntry(name).HostName;
            return string.IsNullOrEmpty(canonical) || canonical.StartsWith("localhost", StringComparison.Ordinal) ? name : canonical;
        }
        catch (System.Net.Sockets.SocketException)
        {
            return name;
        }
    }

    private static ValueTask ReturnString(DaemonCallContext ctx, string value)
    {
        ctx.ReplyWriter.WriteString(value);
        return ValueTask.CompletedTask;
    }

    private static ValueTask ReturnInt32(DaemonCallContext ctx, int value)
    {
        ctx.ReplyWriter.WriteInt32(value);
        return ValueTask.CompletedTask;
    }

    private static ValueTask ReturnUInt64(DaemonCallContext ctx, ulong value)
    {
        ctx.ReplyWriter.WriteUInt64(value);
        return ValueTask.CompletedTask;
    }
}
