using VirtPool.Core.Model;

namespace VirtPool.Core.Backends;

/// <summary>
/// What a pool type's backend can do, as data (for <c>pool-capabilities</c>, the daemon and the docs).
/// Never declared by hand: derived from the optional interfaces the backend class implements
/// (<see cref="Of"/>), so a flag and an interface cannot disagree. The manager itself asks the loaded
/// backend for the interface it needs and refuses, in one place, what it lacks.
/// </summary>
public sealed record BackendCapabilities
{
    /// <summary>pool-build (<see cref="IPoolBuilder"/>); without it a build succeeds doing nothing, as libvirt's.</summary>
    public bool CanBuild { get; init; }

    /// <summary>pool-delete (<see cref="IPoolDeleter"/>).</summary>
    public bool CanDeletePool { get; init; }

    /// <summary>vol-create (<see cref="IVolumeCreator"/>).</summary>
    public bool CanCreateVolume { get; init; }

    /// <summary>New volumes built from their definition alone (<see cref="IVolumeBuilder"/>): only these may have capacity 0.</summary>
    public bool CanBuildVolume { get; init; }

    /// <summary>vol-delete (<see cref="IVolumeDeleter"/>).</summary>
    public bool CanDeleteVolume { get; init; }

    /// <summary>vol-resize (<see cref="IVolumeResizer"/>).</summary>
    public bool CanResizeVolume { get; init; }

    /// <summary>vol-clone / vol-create-from (<see cref="IVolumeCloner"/>).</summary>
    public bool CanCreateVolumeFrom { get; init; }

    /// <summary>vol-wipe (<see cref="IVolumeWiper"/>).</summary>
    public bool CanWipeVolume { get; init; }

    /// <summary>vol-upload, vol-download and checksums (<see cref="IVolumeTransfer"/>).</summary>
    public bool CanTransferVolume { get; init; }

    /// <summary>find-storage-pool-sources (<see cref="IPoolSourceFinder"/>, per type, not per pool).</summary>
    public bool CanFindSources { get; init; }

    /// <summary>The capabilities of a backend class, from the interfaces it implements.</summary>
    public static BackendCapabilities Of(Type backend, bool findsSources) => new()
    {
        CanBuild = typeof(IPoolBuilder).IsAssignableFrom(backend),
        CanDeletePool = typeof(IPoolDeleter).IsAssignableFrom(backend),
        CanCreateVolume = typeof(IVolumeCreator).IsAssignableFrom(backend),
        CanBuildVolume = typeof(IVolumeBuilder).IsAssignableFrom(backend),
        CanDeleteVolume = typeof(IVolumeDeleter).IsAssignableFrom(backend),
        CanResizeVolume = typeof(IVolumeResizer).IsAssignableFrom(backend),
        CanCreateVolumeFrom = typeof(IVolumeCloner).IsAssignableFrom(backend),
        CanWipeVolume = typeof(IVolumeWiper).IsAssignableFrom(backend),
        CanTransferVolume = typeof(IVolumeTransfer).IsAssignableFrom(backend),
        CanFindSources = findsSources,
    };
}

/// <summary>
/// One pool type this process serves: how a pool's backend is loaded, what such a backend can do, and
/// the type's source discovery. Shared by every pool of the type; the backends it loads are per pool.
/// </summary>
public sealed class BackendType
{
    private readonly Func<PoolContext, IStorageBackend> _load;
    private readonly Type _backendClass;

    private BackendType(PoolType type, Type backendClass, Func<PoolContext, IStorageBackend> load, IPoolSourceFinder? finder)
    {
        Type = type;
        _backendClass = backendClass;
        _load = load;
        SourceFinder = finder;
        Capabilities = BackendCapabilities.Of(backendClass, finder is not null);
    }

    public PoolType Type { get; }

    public BackendCapabilities Capabilities { get; }

    public IPoolSourceFinder? SourceFinder { get; }

    /// <summary>
    /// A type whose pools get a <typeparamref name="TBackend"/> each. <typeparamref name="TBackend"/> is
    /// a sealed class, so the capabilities derived from it are exactly those of every backend loaded.
    /// </summary>
    public static BackendType Of<TBackend>(PoolType type, Func<PoolContext, TBackend> load, IPoolSourceFinder? finder = null)
        where TBackend : class, IStorageBackend
    {
        if (!typeof(TBackend).IsSealed)
        {
            throw new ArgumentException($"{typeof(TBackend).Name} must be sealed: its capabilities are derived from its interfaces", nameof(load));
        }

        return new BackendType(type, typeof(TBackend), load, finder);
    }

    /// <summary>A type with source discovery only (its pools have no backend yet).</summary>
    public static BackendType FinderOnly(PoolType type, IPoolSourceFinder finder) => new(type, typeof(object), _ => throw new InvalidOperationException("no backend"), finder) { HasBackend = false };

    /// <summary>Whether pools of this type can be loaded (built, started…): false for a discovery-only type.</summary>
    public bool HasBackend { get; private init; } = true;

    /// <summary>
    /// The backend of one pool, made from its definition. Cheap and without I/O that changes anything:
    /// a backend finds its tools here and fails later, in the operation that needs a missing one.
    /// </summary>
    public IStorageBackend Load(PoolContext pool)
    {
        var backend = _load(pool);
        if (backend.GetType() != _backendClass)
        {
            throw new InvalidOperationException($"the {Type.ToName()} type loaded a {backend.GetType().Name}, not the {_backendClass.Name} its capabilities describe");
        }

        return backend;
    }
}

/// <summary>The pool types this process serves.</summary>
public sealed class BackendRegistry
{
    private readonly Dictionary<PoolType, BackendType> _types = [];

    public BackendRegistry(IEnumerable<BackendType> types)
    {
        foreach (var type in types)
        {
            _types[type.Type] = type;
        }
    }

    /// <summary>The types whose pools have a backend: what <c>pool-capabilities</c> reports as supported.</summary>
    public IReadOnlyCollection<PoolType> Types => [.. _types.Values.Where(t => t.HasBackend).Select(t => t.Type)];

    /// <summary>The type's entry when its pools have a backend.</summary>
    public bool TryGet(PoolType type, out BackendType backendType)
        => _types.TryGetValue(type, out backendType!) && backendType.HasBackend;

    /// <summary>The pool type's source discovery, or null where the type has none (libvirt: "not supported").</summary>
    public IPoolSourceFinder? SourceFinderFor(PoolType type) => _types.GetValueOrDefault(type)?.SourceFinder;
}
