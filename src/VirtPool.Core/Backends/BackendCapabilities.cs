using VirtPool.Core.Model;

namespace VirtPool.Core.Backends;

/// <summary>
/// What a backend can do, declared as data so the manager (and later the RPC daemon and the docs)
/// can answer without calling it. Volume format tables are the pool type's (PoolTypeInfo), not the
/// backend's.
/// </summary>
public sealed record BackendCapabilities
{
    public bool CanBuild { get; init; }

    public bool CanDeletePool { get; init; }

    public bool CanCreateVolume { get; init; } = true;

    public bool CanDeleteVolume { get; init; } = true;

    public bool CanResizeVolume { get; init; }

    /// <summary>vol-clone / vol-create-from (<see cref="IVolumeCloner"/>).</summary>
    public bool CanCreateVolumeFrom { get; init; }

    /// <summary>vol-clone --reflink: the storage can share extents instead of copying.</summary>
    public bool CanReflink { get; init; }

    /// <summary>vol-wipe (<see cref="IVolumeWiper"/>).</summary>
    public bool CanWipeVolume { get; init; }

    public bool CanUploadVolume { get; init; }

    public bool CanDownloadVolume { get; init; }

    /// <summary>
    /// vol-delete --delete-snapshots: the volume formats whose snapshots go with the volume; for other
    /// volumes the flag is refused, as libvirt refuses it.
    /// </summary>
    public IReadOnlySet<string> DeleteWithSnapshotsFormats { get; init; } = new HashSet<string>();

}

/// <summary>The backends this process knows, by pool type.</summary>
public sealed class BackendRegistry
{
    private readonly Dictionary<PoolType, IStorageBackend> _backends = [];
    private readonly Dictionary<PoolType, IPoolSourceFinder> _finders = [];

    public BackendRegistry(IEnumerable<IStorageBackend> backends, IEnumerable<(PoolType Type, IPoolSourceFinder Finder)>? finders = null)
    {
        foreach (var backend in backends)
        {
            _backends[backend.Type] = backend;
        }

        foreach (var (type, finder) in finders ?? [])
        {
            _finders[type] = finder;
        }
    }

    /// <summary>The pool type's source discovery, or null where the type has none (libvirt: "not supported").</summary>
    public IPoolSourceFinder? SourceFinderFor(PoolType type) => _finders.GetValueOrDefault(type);

    public IReadOnlyCollection<PoolType> Types => _backends.Keys;

    public bool TryGet(PoolType type, out IStorageBackend backend) => _backends.TryGetValue(type, out backend!);
}
