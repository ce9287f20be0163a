using VirtPool.Core.Backends;
using VirtPool.Core.Errors;
using VirtPool.Core.Model;
using VirtPool.Core.Xml;

namespace VirtPool.Core.Manager;

/// <summary>
/// The backend of each pool this process has worked on, loaded once per pool (as Incus' drivers are
/// loaded per pool) and kept while the pool's storage is described the same way: a network backend
/// keeps its connection, any backend the tools it found. A pool defined anew (another source, target
/// or option) gets a new backend and the old one is disposed (after, and outside the table's lock, so
/// a slow dispose holds up no other pool); so is the backend of a pool that goes (undefined, or a
/// transient pool stopped).
/// <para>
/// Reads take no lock, so a read may still be using a backend this class disposes (a lookup racing
/// an undefine): a backend's Dispose releases only what it can open again on the next call.
/// </para>
/// </summary>
/// <param name="registry">The pool types this process serves.</param>
/// <param name="exists">Whether a pool of this name exists now (in any process's view of the state folder).</param>
internal sealed class PoolBackends(BackendRegistry registry, Func<string, bool> exists) : IDisposable
{
    private readonly Dictionary<string, Loaded> _loaded = new(StringComparer.Ordinal);

    /// <summary>The pool's backend for this definition: the loaded one, or one loaded now.</summary>
    public IStorageBackend For(PoolContext context)
    {
        var def = context.Definition;
        List<IStorageBackend> stale = [];
        try
        {
            lock (_loaded)
            {
                string? identity = null;
                if (_loaded.TryGetValue(def.Name, out var loaded))
                {
                    if (ReferenceEquals(loaded.Definition, def))
                    {
                        return loaded.Backend;
                    }

                    identity = Identity(def);
                    if (identity == loaded.Identity)
                    {
                        _loaded[def.Name] = loaded with { Definition = def };
                        return loaded.Backend;
                    }

                    _loaded.Remove(def.Name);
                    stale.Add(loaded.Backend);
                }

                if (!registry.TryGet(def.Type, out var type))
                {
                    throw VirtPoolException.NoSupport($"VirtPool has no '{def.Type.ToName()}' backend yet");
                }

                // A new entry: first drop those of pools that went meanwhile (another process undefined
                // them), so the table holds at most the pools that exist and the one being made.
                RemoveGone(stale, exists);
                var backend = type.Load(context);
                _loaded[def.Name] = new Loaded(def, identity ?? Identity(def), backend);
                return backend;
            }
        }
        finally
        {
            DisposeAll(stale);
        }
    }

    /// <summary>
    /// The pool's live definition after a start or refresh (what the storage reported added to it): the
    /// backend that produced it is the one for it, so the next call with that definition keeps it.
    /// </summary>
    public void Adopt(IStorageBackend backend, PoolDefinition live)
    {
        var identity = Identity(live);
        lock (_loaded)
        {
            if (_loaded.TryGetValue(live.Name, out var loaded) && ReferenceEquals(loaded.Backend, backend))
            {
                _loaded[live.Name] = new Loaded(live, identity, backend);
            }
        }
    }

    /// <summary>
    /// Disposes the backends of pools not among <paramref name="existing"/>: a listing of every pool
    /// passes the names it just found, so this costs no look at the state folder.
    /// </summary>
    public void Prune(IReadOnlySet<string> existing)
    {
        List<IStorageBackend> gone = [];
        lock (_loaded)
        {
            RemoveGone(gone, existing.Contains);
        }

        DisposeAll(gone);
    }

    /// <summary>The pool's backend if one is loaded, without loading one (state a loaded backend keeps, such as a connection's health).</summary>
    public IStorageBackend? LoadedFor(string pool)
    {
        lock (_loaded)
        {
            return _loaded.TryGetValue(pool, out var loaded) ? loaded.Backend : null;
        }
    }

    /// <summary>The pool is gone: its backend is disposed.</summary>
    public void Forget(string pool)
    {
        Loaded? loaded;
        lock (_loaded)
        {
            _loaded.Remove(pool, out loaded);
        }

        (loaded?.Backend as IDisposable)?.Dispose();
    }

    private void RemoveGone(List<IStorageBackend> gone, Func<string, bool> stillThere)
    {
        foreach (var name in _loaded.Keys.ToArray())
        {
            if (!stillThere(name))
            {
                gone.Add(_loaded[name].Backend);
                _loaded.Remove(name);
            }
        }
    }

    private static void DisposeAll(List<IStorageBackend> backends)
    {
        foreach (var backend in backends)
        {
            (backend as IDisposable)?.Dispose();
        }
    }

    /// <summary>How many pools have a loaded backend (for tests and the daemon's bounds).</summary>
    public int Count
    {
        get
        {
            lock (_loaded)
            {
                return _loaded.Count;
            }
        }
    }

    public void Dispose()
    {
        List<Loaded> all;
        lock (_loaded)
        {
            all = [.. _loaded.Values];
            _loaded.Clear();
        }

        foreach (var loaded in all)
        {
            (loaded.Backend as IDisposable)?.Dispose();
        }
    }

    /// <summary>
    /// What the backend was made from: the definition without what a start or refresh adds to the live
    /// one (the target's mode and owner as found, a device's free extents), so starting a pool or
    /// refreshing it keeps its backend.
    /// </summary>
    private static string Identity(PoolDefinition def)
    {
        var devices = def.Source.Devices.Select(d => d.FreeExtents.Count == 0 ? d : d with { FreeExtents = [] }).ToArray();
        var stable = def with
        {
            Source = def.Source with { Devices = devices },
            Target = def.Target with { Permissions = new Permissions() },
        };
        return PoolXml.Format(stable);
    }

    private sealed record Loaded(PoolDefinition Definition, string Identity, IStorageBackend Backend);
}
