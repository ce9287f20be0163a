using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using VirtPool.Core.Manager;
using VirtPool.Daemon.Connections;
using VirtPool.Rpc;
using VirtPool.Rpc.Xdr;

namespace VirtPool.Daemon.Events;

/// <summary>
/// Fans pool and secret events out as MESSAGE packets (serial 0, spec 1.5) to every connection with a
/// matching registration. Sending only queues the packet, so a handler reporting an event never waits for a
/// slow client.
/// </summary>
public sealed class EventHub(ILogger<EventHub> log) : IEventHub
{
    /// <summary>virStoragePoolEventID / virSecretEventID values.</summary>
    public const int PoolLifecycleEvent = 0;
    public const int PoolRefreshEvent = 1;
    public const int SecretLifecycleEvent = 0;
    public const int SecretValueChangedEvent = 1;

    private readonly ConcurrentDictionary<ClientConnection, byte> _connections = new();

    internal void Attach(ClientConnection connection) => _connections[connection] = 0;

    internal void Detach(ClientConnection connection) => _connections.TryRemove(connection, out _);

    public void PoolLifecycle(PoolRef pool, int lifecycleEvent, int detail)
    {
        ArgumentNullException.ThrowIfNull(pool);
        Publish(EventFamily.StoragePool, PoolLifecycleEvent, pool.Uuid, RemoteProcedure.StoragePoolEventLifecycle, (w, id) =>
        {
            w.WriteInt32(id);
            WritePool(w, pool);
            w.WriteInt32(lifecycleEvent);
            w.WriteInt32(detail);
        });
    }

    public void PoolRefresh(PoolRef pool)
    {
        ArgumentNullException.ThrowIfNull(pool);
        Publish(EventFamily.StoragePool, PoolRefreshEvent, pool.Uuid, RemoteProcedure.StoragePoolEventRefresh, (w, id) =>
        {
            w.WriteInt32(id);
            WritePool(w, pool);
        });
    }

    public void SecretLifecycle(Guid uuid, int usageType, string usageId, int lifecycleEvent, int detail)
        => Publish(EventFamily.Secret, SecretLifecycleEvent, uuid, RemoteProcedure.SecretEventLifecycle, (w, id) =>
        {
            w.WriteInt32(id);
            WriteSecret(w, uuid, usageType, usageId);
            w.WriteInt32(lifecycleEvent);
            w.WriteInt32(detail);
        });

    /// <summary>SECRET_EVENT_VALUE_CHANGED (383). Not part of IEventHub; secret handlers reach it by casting.</summary>
    public void SecretValueChanged(Guid uuid, int usageType, string usageId)
        => Publish(EventFamily.Secret, SecretValueChangedEvent, uuid, RemoteProcedure.SecretEventValueChanged, (w, id) =>
        {
            w.WriteInt32(id);
            WriteSecret(w, uuid, usageType, usageId);
        });

    private void Publish(EventFamily family, int eventId, Guid uuid, RemoteProcedure procedure, Action<XdrWriter, int> writeBody)
    {
        foreach (var connection in _connections.Keys)
        {
            foreach (int callbackId in connection.Events.Matching(family, eventId, uuid))
            {
                var packet = new PooledBufferWriter();
                try
                {
                    int start = RpcFrame.BeginPacket(packet, RpcHeader.Event(procedure));
                    writeBody(new XdrWriter(packet), callbackId);
                    RpcFrame.EndPacket(packet, start);
                }
                catch (Exception ex) when (ex is XdrEncodeException or InvalidOperationException or ArgumentException or XdrFormatException)
                {
                    packet.Dispose();
                    log.LogWarning(ex, "Could not encode event {Procedure}", procedure);
                    return;
                }

                connection.SendEvent(packet);
            }
        }
    }

    private static void WritePool(XdrWriter w, PoolRef pool)
    {
        w.WriteString(pool.Name);
        w.WriteUuid(pool.Uuid);
    }

    private static void WriteSecret(XdrWriter w, Guid uuid, int usageType, string usageId)
    {
        w.WriteUuid(uuid);
        w.WriteInt32(usageType);
        w.WriteString(usageId);
    }
}
