using VirtPool.Core.Errors;
using VirtPool.Daemon.Connections;
using VirtPool.Rpc;
using VirtPool.Rpc.Xdr;

namespace VirtPool.Daemon.Events;

/// <summary>Storage pool and secret event (de)registration, procedures 368/369 and 380/381 (spec 5.5, 10.5).</summary>
public static class EventProcedures
{
    public static void Register(ProcedureTable<DaemonCallContext> table)
    {
        ArgumentNullException.ThrowIfNull(table);
        table.Register(RemoteProcedure.ConnectStoragePoolEventRegisterAny, RegisterPool);
        table.Register(RemoteProcedure.ConnectStoragePoolEventDeregisterAny,
            (ctx, args) => Deregister(ctx, args, EventFamily.StoragePool, "storage pool"));
        table.Register(RemoteProcedure.ConnectSecretEventRegisterAny, RegisterSecret);
        table.Register(RemoteProcedure.ConnectSecretEventDeregisterAny,
            (ctx, args) => Deregister(ctx, args, EventFamily.Secret, "secret"));
    }

    private static ValueTask RegisterPool(DaemonCallContext ctx, ReadOnlyMemory<byte> args)
    {
        var r = new XdrReader(args.Span);
        int eventId = r.ReadInt32();
        Guid? filter = null;
        if (r.ReadBool())
        {
            r.ReadString();
            filter = r.ReadUuid();
        }

        if (eventId is not (EventHub.PoolLifecycleEvent or EventHub.PoolRefreshEvent))
        {
            throw new VirtPoolException(VirErrorCode.InternalError, $"unsupported storage pool event ID {eventId}", VirErrorDomain.Rpc);
        }

        ctx.ReplyWriter.WriteInt32(Registrations(ctx).Add(new EventRegistration(EventFamily.StoragePool, eventId, filter)));
        return ValueTask.CompletedTask;
    }

    private static ValueTask RegisterSecret(DaemonCallContext ctx, ReadOnlyMemory<byte> args)
    {
        var r = new XdrReader(args.Span);
        int eventId = r.ReadInt32();
        Guid? filter = null;
        if (r.ReadBool())
        {
            filter = r.ReadUuid();
            r.ReadInt32();
            r.ReadString();
        }

        if (eventId is not (EventHub.SecretLifecycleEvent or EventHub.SecretValueChangedEvent))
        {
            throw new VirtPoolException(VirErrorCode.InternalError, $"unsupported secret event ID {eventId}", VirErrorDomain.Rpc);
        }

        ctx.ReplyWriter.WriteInt32(Registrations(ctx).Add(new EventRegistration(EventFamily.Secret, eventId, filter)));
        return ValueTask.CompletedTask;
    }

    private static ValueTask Deregister(DaemonCallContext ctx, ReadOnlyMemory<byte> args, EventFamily family, string what)
    {
        var r = new XdrReader(args.Span);
        int callbackId = r.ReadInt32();
        if (!Registrations(ctx).Remove(family, callbackId))
        {
            throw new VirtPoolException(VirErrorCode.InternalError, $"{what} event callback {callbackId} not registered", VirErrorDomain.Rpc);
        }

        return ValueTask.CompletedTask;
    }

    private static EventRegistrations Registrations(DaemonCallContext ctx)
        => (ctx.Connection as ClientConnection)?.Events
            ?? throw VirtPoolException.Internal("events need a daemon connection");
}
