using System.Collections.Concurrent;

namespace VirtPool.Daemon.Events;

/// <summary>Which event API a callback was registered through (the procedure pairs 368/369 and 380/381).</summary>
public enum EventFamily
{
    StoragePool,
    Secret,
}

/// <summary>One server-side callback: the event id and, optionally, the one object it is limited to.</summary>
public sealed record EventRegistration(EventFamily Family, int EventId, Guid? Filter)
{
    public bool Matches(EventFamily family, int eventId, Guid uuid)
        => Family == family && EventId == eventId && (Filter is null || Filter == uuid);
}

/// <summary>A connection's callbacks (spec 4.7), keyed by the callbackID returned to the client.</summary>
public sealed class EventRegistrations
{
    private readonly ConcurrentDictionary<int, EventRegistration> _byId = new();
    private int _nextId = -1;

    public bool IsEmpty => _byId.IsEmpty;

    /// <summary>Adds a callback; ids start at 0 (as libvirtd's did) and are never reused on the connection.</summary>
    public int Add(EventRegistration registration)
    {
        int id = Interlocked.Increment(ref _nextId);
        _byId[id] = registration;
        return id;
    }

    /// <summary>Removes a callback of <paramref name="family"/>; false when no such id was registered through it.</summary>
    public bool Remove(EventFamily family, int callbackId)
        => _byId.TryGetValue(callbackId, out var reg) && reg.Family == family
            && _byId.TryRemove(new KeyValuePair<int, EventRegistration>(callbackId, reg));

    public void Clear() => _byId.Clear();

    /// <summary>Callback ids (ascending) whose registration matches the event.</summary>
    public List<int> Matching(EventFamily family, int eventId, Guid uuid)
    {
        var ids = new List<int>();
        foreach (var (id, reg) in _byId)
        {
            if (reg.Matches(family, eventId, uuid))
            {
                ids.Add(id);
            }
        }

        ids.Sort();
        return ids;
    }
}
