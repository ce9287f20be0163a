using VirtPool.Core.Model;

namespace VirtPool.Core.Backends;

/// <summary>
/// What a backend can do, declared as data so the manager (and later `pool-capabilities`, the RPC
/// daemon and the docs) can answer without calling it.
/// </summary>
public sealed record BackendCapabilities
{
    /// <summary>Volume formats this pool type creates; empty when volumes have no format (logical).</summary>
    public IReadOnlyList<string> VolumeFormats { get; init; } = [];

    /// <summary>The format a volume gets when the XML names none.</summary>
    public string? DefaultVolumeFormat { get; init; }

    public bool CanBuild { get; init; }

    public bool CanDeletePool { get; init; }

    public bool CanCreateVolume { get; init; } = true;

    public bool CanDeleteVolume { get; init; } = true;

    public bool CanResizeVolume { get; init; }

    public bool CanUploadDownload { get; init; }

    public bool CanWipe { get; init; }

    public bool CanCloneVolume { get; init; }

    public bool Snapshots { get; init; }
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
