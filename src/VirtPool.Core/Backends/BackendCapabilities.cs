using VirtPool.Core.Model;

namespace VirtPool.Core.Backends;

/// <summary>
/// What a backend can do, declared as data so the manager (and later the RPC daemon and the docs)
/// can answer without calling it. Volume format tables are the pool type's (PoolTypeInfo), not the
/// backend's. Later operations (clone, wipe, upload) add their flag when they arrive.
/// </summary>
public sealed record BackendCapabilities
{
    public bool CanBuild { get; init; }

    public bool CanDeletePool { get; init; }

    public bool CanCreateVolume { get; init; } = true;

    public bool CanDeleteVolume { get; init; } = true;

    public bool CanResizeVolume { get; init; }

}

/// <summary>The backends this process knows, by pool type.</summary>
public sealed class BackendRegistry
{
    private readonly Dictionary<PoolType, IStorageBackend> _backends = [];

    public BackendRegistry(IEnumerable<IStorageBackend> backends)
    {
        foreach (var backend in backends)
        {
            _backends[backend.Type] = backend;
        }
    }

    public IReadOnlyCollection<PoolType> Types => _backends.Keys;

    public bool TryGet(PoolType type, out IStorageBackend backend) => _backends.TryGetValue(type, out backend!);
}
