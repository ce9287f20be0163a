using VirtPool.Core.Errors;
using VirtPool.Core.Secrets;
using VirtPool.Daemon.Storage;
using VirtPool.Rpc;
using VirtPool.Rpc.Xdr;

namespace VirtPool.Daemon.Secrets;

/// <summary><c>remote_nonnull_secret</c> = { uuid, usageType, usageID } (spec 10.1).</summary>
internal readonly record struct SecretHandle(Guid Uuid, int UsageType, string UsageId)
{
    public static SecretHandle Read(ref XdrReader reader)
    {
        var uuid = reader.ReadUuid();
        var usageType = reader.ReadInt32();
        var usageId = reader.ReadString();
        return new SecretHandle(uuid, usageType, usageId);
    }

    /// <summary>Replies and events carry the current definition's usage; no usage is type 0 and "".</summary>
    public static void Write(XdrWriter writer, SecretDefinition secret)
    {
        writer.WriteUuid(secret.Uuid);
        writer.WriteInt32((int)secret.UsageType);
        writer.WriteString(secret.UsageId ?? string.Empty);
    }
}

/// <summary>
/// The secret procedures of spec 10.3 on the secret store, in libvirtd's check order (read-only, then
/// flags, then the lookup by UUID; usage fields of a handle are ignored). A private secret's value
/// never leaves the daemon. Event (de)registration (380/381) belongs to the connection's event plumbing.
/// </summary>
public static class SecretProcedures
{
    /// <summary>virSecretEventLifecycleType.</summary>
    internal const int EventDefined = 0;
    internal const int EventUndefined = 1;

    /// <summary>VIR_SECRET_DEFINE_VALIDATE.</summary>
    private const uint DefineValidate = 1;

    public static void Register(ProcedureTable<DaemonCallContext> table)
    {
        ArgumentNullException.ThrowIfNull(table);
        table.Register(RemoteProcedure.ConnectNumOfSecrets, NumOfSecrets);
        table.Register(RemoteProcedure.ConnectListSecrets, ListSecrets);
        table.Register(RemoteProcedure.ConnectListAllSecrets, ListAllSecrets);
        table.Register(RemoteProcedure.SecretLookupByUuid, LookupByUuid);
        table.Register(RemoteProcedure.SecretLookupByUsage, LookupByUsage);
        table.Register(RemoteProcedure.SecretDefineXml, DefineXml);
        table.Register(RemoteProcedure.SecretGetXmlDesc, GetXmlDesc);
        table.Register(RemoteProcedure.SecretSetValue, SetValue);
        table.Register(RemoteProcedure.SecretGetValue, GetValue);
        table.Register(RemoteProcedure.SecretUndefine, Undefine);
    }

    private static SecretStore Store(DaemonCallContext ctx) => ctx.Services.Secrets;

    private static void RequireWritable(DaemonCallContext ctx, string api) => CallGuards.RequireWritable(ctx, api, VirErrorDomain.Secret);

    private static void CheckFlags(uint flags, uint allowed, string function) => CallGuards.CheckFlags(flags, allowed, function, VirErrorDomain.Secret);

    private static SecretHandle ReadHandle(ReadOnlyMemory<byte> args) => XdrArgs.Read(args, static (ref XdrReader r) => SecretHandle.Read(ref r));

    private static (SecretHandle Secret, uint Flags) ReadHandleFlags(ReadOnlyMemory<byte> args)
        => XdrArgs.Read(args, static (ref XdrReader r) => (SecretHandle.Read(ref r), r.ReadUInt32()));

    // The store works on local files under a lock and returns quickly, so these handlers run synchronously.

    private static ValueTask NumOfSecrets(DaemonCallContext ctx, ReadOnlyMemory<byte> args)
    {
        ctx.ReplyWriter.WriteInt32(Store(ctx).Count());
        return ValueTask.CompletedTask;
    }

    /// <summary>CONNECT_LIST_SECRETS: textual UUIDs, at most maxuuids (checked by libvirtd's dispatcher).</summary>
    private static ValueTask ListSecrets(DaemonCallContext ctx, ReadOnlyMemory<byte> args)
    {
        var maxuuids = XdrArgs.Read(args, static (ref XdrReader r) => r.ReadInt32());
        CallGuards.CheckListMax(maxuuids, RpcLimits.SecretListMax, "maxuuids", "REMOTE_SECRET_LIST_MAX");
        var uuids = Store(ctx).List().Take(maxuuids).Select(s => s.UuidString).ToList();
        CallGuards.WriteNames(ctx.ReplyWriter, uuids, RpcLimits.SecretListMax);
        return ValueTask.CompletedTask;
    }

    private static ValueTask ListAllSecrets(DaemonCallContext ctx, ReadOnlyMemory<byte> args)
    {
        var (needResults, flags) = XdrArgs.Read(args, static (ref XdrReader r) => (r.ReadInt32(), r.ReadUInt32()));

        // The store rejects unknown bits with libvirt's secretConnectListAllSecrets message.
        var secrets = Store(ctx).List((SecretListFlags)flags);
        var writer = ctx.ReplyWriter;
        var shown = needResults != 0 ? secrets.ToArray() : [];
        writer.WriteArray<SecretDefinition>(shown, RpcLimits.SecretListMax, SecretHandle.Write);
        writer.WriteUInt32((uint)secrets.Count);
        return ValueTask.CompletedTask;
    }

    private static ValueTask LookupByUuid(DaemonCallContext ctx, ReadOnlyMemory<byte> args)
    {
        var uuid = XdrArgs.Read(args, static (ref XdrReader r) => r.ReadUuid());
        SecretHandle.Write(ctx.ReplyWriter, Store(ctx).LookupByUuid(uuid));
        return ValueTask.CompletedTask;
    }

    private static ValueTask LookupByUsage(DaemonCallContext ctx, ReadOnlyMemory<byte> args)
    {
        var (usageType, usageId) = XdrArgs.Read(args, static (ref XdrReader r) => (r.ReadInt32(), r.ReadString()));
        SecretHandle.Write(ctx.ReplyWriter, Store(ctx).LookupByUsage(usageType, usageId));
        return ValueTask.CompletedTask;
    }

    private static ValueTask DefineXml(DaemonCallContext ctx, ReadOnlyMemory<byte> args)
    {
        var (xml, flags) = XdrArgs.Read(args, static (ref XdrReader r) => (r.ReadString(), r.ReadUInt32()));
        RequireWritable(ctx, "virSecretDefineXML");
        CheckFlags(flags, DefineValidate, "secretDefineXML");
        StorageProcedures.RefuseValidate(flags & DefineValidate, VirErrorDomain.Secret);
        var secret = Store(ctx).Define(xml);
        SecretHandle.Write(ctx.ReplyWriter, secret);

        // DEFINED also for a redefinition, as libvirtd sends it.
        ctx.Services.Events.SecretLifecycle(secret.Uuid, (int)secret.UsageType, secret.UsageId ?? string.Empty, EventDefined, 0);
        return ValueTask.CompletedTask;
    }

    /// <summary>Allowed read-only and for private secrets: the XML never holds the value.</summary>
    private static ValueTask GetXmlDesc(DaemonCallContext ctx, ReadOnlyMemory<byte> args)
    {
        var (secret, flags) = ReadHandleFlags(args);
        CheckFlags(flags, 0, "secretGetXMLDesc");
        ctx.ReplyWriter.WriteString(SecretXml.Format(Store(ctx).LookupByUuid(secret.Uuid)));
        return ValueTask.CompletedTask;
    }

    /// <summary>
    /// Order per spec 10.4: read-only, empty value, flags, lookup. (The value-changed event has no place in
    /// the event hub's contract yet, so none is sent.)
    /// </summary>
    private static ValueTask SetValue(DaemonCallContext ctx, ReadOnlyMemory<byte> args)
    {
        var (secret, value, flags) = XdrArgs.Read(
            args,
            static (ref XdrReader r) => (SecretHandle.Read(ref r), r.ReadVariableOpaque(RpcLimits.SecretValueMax).ToArray(), r.ReadUInt32()));
        RequireWritable(ctx, "virSecretSetValue");
        if (value.Length == 0)
        {
            // libvirtd decodes an empty opaque as NULL and its argument check words it so.
            throw VirtPoolException.Verbatim(VirErrorCode.InvalidArg, "value in virSecretSetValue must not be NULL", VirErrorDomain.Secret);
        }

        CheckFlags(flags, 0, "secretSetValue");
        try
        {
            Store(ctx).SetValue(secret.Uuid, value);
        }
        finally
        {
            Array.Clear(value);
        }

        ctx.Services.Events.SecretValueChanged(secret.Uuid, (int)secret.UsageType, secret.UsageId ?? string.Empty);
        return ValueTask.CompletedTask;
    }

    /// <summary>The store refuses a private secret's value (code 65) before looking for it.</summary>
    private static ValueTask GetValue(DaemonCallContext ctx, ReadOnlyMemory<byte> args)
    {
        var (secret, flags) = ReadHandleFlags(args);
        RequireWritable(ctx, "virSecretGetValue");
        CheckFlags(flags, 0, "secretGetValue");
        var value = Store(ctx).GetValue(secret.Uuid, internalCall: false);
        try
        {
            ctx.ReplyWriter.WriteVariableOpaque(value, RpcLimits.SecretValueMax);
        }
        finally
        {
            Array.Clear(value);
        }

        return ValueTask.CompletedTask;
    }

    private static ValueTask Undefine(DaemonCallContext ctx, ReadOnlyMemory<byte> args)
    {
        var handle = ReadHandle(args);
        RequireWritable(ctx, "virSecretUndefine");
        var store = Store(ctx);

        // The event names the secret as it was defined.
        var secret = store.LookupByUuid(handle.Uuid);
        store.Undefine(handle.Uuid);
        ctx.Services.Events.SecretLifecycle(secret.Uuid, (int)secret.UsageType, secret.UsageId ?? string.Empty, EventUndefined, 0);
        return ValueTask.CompletedTask;
    }
}
