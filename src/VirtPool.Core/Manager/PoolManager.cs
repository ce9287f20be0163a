using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using VirtPool.Core.Backends;
using VirtPool.Core.Errors;
using VirtPool.Core.Model;
using VirtPool.Core.Secrets;
using VirtPool.Core.State;
using VirtPool.Core.Xml;

namespace VirtPool.Core.Manager;

/// <summary>
/// Owns the pool lifecycle for every pool type, as libvirt's storage_driver.c does: validation,
/// duplicate checks, locking, accounting and persistence. Backends only talk to storage.
/// Reads take no lock; each change is one transaction under its pool's lock, or the global lock for
/// what spans pools (<see cref="StateLocks"/>), shared with other processes. A read about a pool whose
/// lifecycle this process is changing waits for that change (<see cref="PoolTransitions"/>), as libvirt's
/// calls wait for the pool's lock. Volume data I/O runs outside any lock, under a job that keeps every
/// other change of that volume out; refreshes requested while one waits are coalesced into it.
/// Changes that succeed are logged at Information; storage that fails at Warning (a request storage
/// refuses only at Debug: the caller is told); the backends get the logger through <see cref="PoolContext"/>.
/// </summary>
public sealed partial class PoolManager : IDisposable, IStorageApi
{
    private readonly StateStore _store;
    private readonly BackendRegistry _backends;
    private readonly PoolBackends _poolBackends;
    private readonly StateLocks _locks;
    private readonly VolumeJobs _jobs;
    private readonly PoolTransitions _transitions = new();
    private readonly ILogger _log;
    private bool _reconciled;

    public PoolManager(StateStore store, BackendRegistry backends, ILogger? logger = null)
    {
        _log = logger ?? NullLogger.Instance;
        _jobs = new VolumeJobs(store.JobsDir, store);
        _store = store;
        _backends = backends;
        _poolBackends = new PoolBackends(backends, name => File.Exists(_store.ConfigPath(name)) || File.Exists(_store.StatusPath(name)));
        // A pool this process is creating exists for its lock already: a call on it waits for the create.
        _locks = new StateLocks(store, name => LoadPool(name) is not null || !_transitions.WhenSettled(name).IsCompleted);
        Secrets = new SecretStore(store.Root, store.StatusDir);
    }

    public StateStore Store => _store;

    /// <summary>The secrets kept beside this state (libvirt's secret driver), where encrypted volumes find their passphrase.</summary>
    public SecretStore Secrets { get; }

    public void Dispose()
    {
        _locks.Dispose();
        _poolBackends.Dispose();
    }

    public BackendRegistry Backends => _backends;

    /// <summary>How many pools have their backend loaded in this process.</summary>
    public int LoadedBackends => _poolBackends.Count;

    /// <summary>
    /// virConnectGetStoragePoolCapabilities: every type libvirt knows, supported='yes' for those this
    /// process has a backend for (the registry, not a table: a type VirtPool cannot start is not shown
    /// as supported, where libvirtd shows every type it was built with).
    /// </summary>
    public Task<string> GetPoolCapabilitiesXmlAsync(CancellationToken ct = default)
        => Task.FromResult(PoolCapabilitiesXml.Format(_backends.Types));

    /// <summary>Pool types libvirt 9.0 has a storage backend for: these can be defined.</summary>
    public static bool IsKnownToDriver(PoolType type) => PoolXml.HasBackend(type);

    // ----- pools: listing and lookup -------------------------------------------------------------

    public Task<IReadOnlyList<PoolSummary>> ListPoolsAsync(PoolListFilter filter = PoolListFilter.None, CancellationToken ct = default) => ReadState<IReadOnlyList<PoolSummary>>(AnyPool, () =>
    {
        var result = new List<PoolSummary>();
        var existing = new HashSet<string>(StringComparer.Ordinal);
        foreach (var name in AllNames())
        {
            var pool = LoadPool(name);
            if (pool is null)
            {
                continue;
            }

            existing.Add(name);
            var summary = Summarize(pool);
            if (Matches(summary, filter))
            {
                result.Add(summary);
            }
        }

        // A listing sees every pool: the backends of pools another process removed go now.
        _poolBackends.Prune(existing);
        return result;
    }, ct);

    public Task<PoolRef> LookupPoolByNameAsync(string name, CancellationToken ct = default) => ReadState(name, () => RequirePool(name).Ref, ct);

    public Task<PoolRef> LookupPoolByUuidAsync(Guid uuid, CancellationToken ct = default) => ReadState(AnyPool, () =>
    {
        foreach (var name in AllNames())
        {
            var pool = LoadPool(name);
            if (pool is not null && pool.Definition.Uuid == uuid)
            {
                return pool.Ref;
            }
        }

        throw new VirtPoolException(VirErrorCode.NoStoragePool, $"no storage pool with matching uuid '{uuid:D}'");
    }, ct);

    /// <summary>By name, else by UUID: what virsh does with a pool argument.</summary>
    public async Task<PoolRef> LookupPoolAsync(string nameOrUuid, CancellationToken ct = default)
    {
        ct.ThrowIfCancellationRequested();
        await _transitions.WhenSettled(nameOrUuid).WaitAsync(ct).ConfigureAwait(false);
        var byName = LoadPool(nameOrUuid);
        if (byName is not null)
        {
            return byName.Ref;
        }

        if (Guid.TryParse(nameOrUuid, out var uuid))
        {
            try
            {
                return await LookupPoolByUuidAsync(uuid, ct).ConfigureAwait(false);
            }
            catch (VirtPoolException)
            {
                // virsh reports the by-name failure below.
            }
        }

        throw new VirtPoolException(VirErrorCode.NoStoragePool, $"no storage pool with matching name '{nameOrUuid}'");
    }

    public Task<PoolSummary> GetPoolSummaryAsync(string name, CancellationToken ct = default) => ReadState(name, () =>
    {
        return Summarize(RequirePool(name));
    }, ct);

    public Task<PoolInfo> GetPoolInfoAsync(string name, CancellationToken ct = default) => ReadState(name, () =>
    {
        var pool = RequirePool(name);
        if (!pool.Active)
        {
            return new PoolInfo(PoolState.Inactive, 0, 0, 0);
        }

        var sizes = _store.ReadPoolSizes(name);
        var state = _poolBackends.LoadedFor(name) is IConnectionHealth { IsReachable: false } ? PoolState.Inaccessible : PoolState.Running;
        return new PoolInfo(state, sizes.Capacity, sizes.Allocation, sizes.Available);
    }, ct);

    /// <summary>pool-dumpxml: the live definition of an active pool unless <paramref name="inactive"/>.</summary>
    /// <summary>
    /// pool-dumpxml, as libvirt answers it: the live definition with sizes while the pool runs (also
    /// for --inactive, unless a new definition was saved meanwhile); for a stopped pool, the last
    /// live definition until it is redefined or started, else the persistent one.
    /// </summary>
    public Task<string> GetPoolXmlAsync(string name, bool inactive, CancellationToken ct = default) => ReadState(name, () =>
    {
        var pool = RequirePool(name);
        if (pool.Active)
        {
            return inactive && pool.Persistent && _store.HasNewDefinition(name)
                ? PoolXml.Format(pool.Config!)
                : PoolXml.Format(pool.Definition, _store.ReadPoolSizes(name));
        }

        return _store.ReadLastLive(name) ?? PoolXml.Format(pool.Definition);
    }, ct);

    public Task<bool> GetAutostartAsync(string name, CancellationToken ct = default) => ReadState(name, () =>
    {
        return RequirePool(name).Autostart;
    }, ct);

    // ----- pools: lifecycle ----------------------------------------------------------------------

    /// <summary>storagePoolDefineXML: a persistent pool, or a new inactive definition for an existing one.</summary>
    public async Task<PoolRef> DefinePoolAsync(string xml, CancellationToken ct = default)
    {
        var def = PoolXml.Parse(xml);
        using var global = await _locks.GlobalAsync(ct).ConfigureAwait(false);
        PoolXml.ValidateForDefine(def);
        CheckDuplicates(def, allowActiveSame: true);
        using var held = await _locks.NewPoolAsync(def.Name, ct).ConfigureAwait(false);
        using var transition = _transitions.Begin(def.Name);
        var existing = LoadPool(def.Name);
        if (existing is not { Persistent: true })
        {
            // A new persistent pool starts without autostart, even if a killed undefine left a mark.
            _store.SetAutostart(def.Name, false);
        }

        _store.WriteConfig(def.Name, PoolXml.Format(def));
        if (existing is { Active: true })
        {
            _store.MarkNewDefinition(def.Name);
        }
        else
        {
            _store.WriteLastLive(def.Name, null);
        }

        _log.PoolDefined(def.Name);
        return new PoolRef(def.Name, def.Uuid);
    }

    /// <summary>storagePoolCreateXML: a transient pool, built (optionally) and started at once.</summary>
    public async Task<PoolRef> CreatePoolAsync(string xml, PoolBuildFlags build, bool doBuild, CancellationToken ct = default)
    {
        var def = PoolXml.Parse(xml);
        using var global = await _locks.GlobalAsync(ct).ConfigureAwait(false);
        PoolXml.ValidateForDefine(def);
        CheckDuplicates(def, allowActiveSame: false);
        using var held = await _locks.NewPoolAsync(def.Name, ct).ConfigureAwait(false);
        using var transition = _transitions.Begin(def.Name);
        var context = ContextFor(def);
        int volumes;
        try
        {
            var backend = BackendFor(context);
            if (doBuild)
            {
                await BuildWithAsync(backend, context, build, ct).ConfigureAwait(false);
            }

            volumes = await StartWithAsync(backend, context, def, StartFlags(build, doBuild), ct).ConfigureAwait(false);
        }
        catch
        {
            // The transient pool never came to be: neither does its backend stay.
            _poolBackends.Forget(def.Name);
            throw;
        }

        _log.PoolCreated(def.Name, volumes);
        return new PoolRef(def.Name, def.Uuid);
    }

    public async Task BuildPoolAsync(string name, PoolBuildFlags flags, CancellationToken ct = default)
    {
        using var held = await _locks.PoolAsync(name, ct).ConfigureAwait(false);
        using var transition = _transitions.Begin(name);
        var pool = RequirePool(name);
        if (pool.Active)
        {
            throw VirtPoolException.InvalidOperation($"storage pool '{name}' is already active");
        }

        var context = ContextFor(pool.Definition);
        await BuildWithAsync(BackendFor(context), context, flags, ct).ConfigureAwait(false);
    }

    public async Task StartPoolAsync(string name, PoolBuildFlags build, bool doBuild, CancellationToken ct = default)
    {
        using var held = await _locks.PoolAsync(name, ct).ConfigureAwait(false);
        using var transition = _transitions.Begin(name);
        var pool = RequirePool(name);
        if (pool.Active)
        {
            throw VirtPoolException.InvalidOperation($"storage pool '{name}' is already active");
        }

        var context = ContextFor(pool.Definition);
        var backend = BackendFor(context);
        if (doBuild)
        {
            await BuildWithAsync(backend, context, build, ct).ConfigureAwait(false);
        }

        var volumes = await StartWithAsync(backend, context, pool.Definition, StartFlags(build, doBuild), ct).ConfigureAwait(false);
        _log.PoolStarted(name, volumes);
    }

    public async Task DestroyPoolAsync(string name, CancellationToken ct = default)
    {
        using var held = await _locks.PoolAsync(name, ct).ConfigureAwait(false);
        using var transition = _transitions.Begin(name);
        var pool = RequirePool(name);
        RequireActive(pool);
        RequireNoJobs(name);
        var context = ContextFor(pool.Definition);
        var backend = BackendFor(context);
        try
        {
            await backend.StopPoolAsync(context, ct).ConfigureAwait(false);
        }
        catch (Exception ex) when (LogFailure(ex, "destroy", name))
        {
            throw;
        }

        RecordStopped(pool);
        _log.PoolDestroyed(name);
    }

    public async Task DeletePoolAsync(string name, PoolDeleteFlags flags = PoolDeleteFlags.None, CancellationToken ct = default)
    {
        using var held = await _locks.PoolAsync(name, ct).ConfigureAwait(false);
        using var transition = _transitions.Begin(name);
        var pool = RequirePool(name);
        if (pool.Active)
        {
            throw VirtPoolException.InvalidOperation($"storage pool '{name}' is still active");
        }

        var context = ContextFor(pool.Definition);
        var deleter = Require<IPoolDeleter>(BackendFor(context), "pool does not support pool deletion");
        try
        {
            await deleter.DeletePoolAsync(context, flags, ct).ConfigureAwait(false);
        }
        catch (Exception ex) when (LogFailure(ex, "delete", name))
        {
            throw;
        }

        _log.PoolDeleted(name);
    }

    public async Task UndefinePoolAsync(string name, CancellationToken ct = default)
    {
        using var global = await _locks.GlobalAsync(ct).ConfigureAwait(false);
        using var held = await _locks.PoolAsync(name, ct).ConfigureAwait(false);
        using var transition = _transitions.Begin(name);
        var pool = RequirePool(name);
        if (pool.Active)
        {
            throw VirtPoolException.InvalidOperation($"storage pool '{name}' is still active");
        }

        if (!pool.Persistent)
        {
            throw VirtPoolException.InvalidOperation($"storage pool '{name}' is not persistent");
        }

        // The config file is the commit point (libvirt's order too): a process killed after it leaves
        // at most a stray autostart mark, which is ignored without a config and replaced on redefine.
        _store.DeleteConfig(name);
        _store.SetAutostart(name, false);
        _store.WriteLastLive(name, null);
        VolumeLabels.DeletePool(_store, name);
        _poolBackends.Forget(name);
        _log.PoolUndefined(name);
    }

    /// <summary>
    /// storagePoolRefresh. Refreshes are queued and coalesced per pool: a request that arrives while
    /// another waits for the pool's lock joins it and gets its outcome, so a burst of refreshes (one
    /// per finished upload, say) scans the pool once more, not once each. It is never refused while
    /// jobs run (libvirt's "has asynchronous jobs running"): half-made volumes are left out instead.
    /// </summary>
    public async Task RefreshPoolAsync(string name, CancellationToken ct = default)
    {
        RefreshRequest request;
        bool mine;
        lock (_queuedRefreshes)
        {
            mine = !_queuedRefreshes.TryGetValue(name, out request!);
            if (mine)
            {
                request = new RefreshRequest();
                _queuedRefreshes[name] = request;
            }
        }

        if (!mine)
        {
            await request.Done.Task.WaitAsync(ct).ConfigureAwait(false);
            return;
        }

        try
        {
            // Not cancelled by this caller alone: others may have joined.
            await RefreshQueuedAsync(name).ConfigureAwait(false);
            request.Done.TrySetResult();
        }
        catch (Exception ex)
        {
            lock (_queuedRefreshes)
            {
                if (_queuedRefreshes.TryGetValue(name, out var queued) && queued == request)
                {
                    _queuedRefreshes.Remove(name);
                }
            }

            request.Done.TrySetException(ex);
            throw;
        }
    }

    /// <summary>How many pool scans refreshes have run (coalesced requests share one).</summary>
    public long RefreshScans => Interlocked.Read(ref _refreshScans);

    private readonly Dictionary<string, RefreshRequest> _queuedRefreshes = new(StringComparer.Ordinal);
    private long _refreshScans;

    private sealed class RefreshRequest
    {
        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private async Task RefreshQueuedAsync(string name)
    {
        var ct = CancellationToken.None;
        using var held = await _locks.PoolAsync(name, ct).ConfigureAwait(false);
        using var transition = _transitions.Begin(name);
        lock (_queuedRefreshes)
        {
            // Running now: later requests queue a new refresh, which sees what this one may miss.
            _queuedRefreshes.Remove(name);
        }

        Interlocked.Increment(ref _refreshScans);
        var pool = RequirePool(name);
        RequireActive(pool);
        var context = ContextFor(pool.Definition);
        var backend = BackendFor(context);
        try
        {
            var (live, volumes) = await RefreshWithAsync(backend, context, ct).ConfigureAwait(false);
            _store.WriteStatus(name, PoolXml.Format(live));
            _log.PoolRefreshed(name, volumes);
        }
        catch (VirtPoolException ex) when (backend is IConnectionHealth { IsReachable: false })
        {
            // A deliberate difference: libvirt stops a network pool whose server did not answer, so it
            // stays down after the server returns. Such a pool stays active, reported inaccessible,
            // with what it last knew; the next refresh that reaches the server recovers it.
            _log.RefreshUnreachable(name, ex.Message);
            throw;
        }
        catch (VirtPoolException ex)
        {
            // libvirt stops a pool whose refresh fails, then reports the error.
            // A transient pool disappears with its status file; a persistent one stays defined.
            await backend.StopPoolAsync(context, ct).ConfigureAwait(false);
            RecordStopped(pool);
            _log.RefreshStoppedPool(name, ex.Message);
            throw;
        }
    }

    public async Task SetAutostartAsync(string name, bool autostart, CancellationToken ct = default)
    {
        using var held = await _locks.PoolAsync(name, ct).ConfigureAwait(false);
        using var transition = _transitions.Begin(name);
        var pool = RequirePool(name);
        if (!pool.Persistent)
        {
            throw VirtPoolException.Internal("pool has no config file");
        }

        _store.SetAutostart(name, autostart);
        _log.PoolAutostartSet(name, autostart ? "enabled" : "disabled");
    }

    // ----- internals -----------------------------------------------------------------------------

    private sealed record LoadedPool(PoolDefinition Definition, PoolDefinition? Config, bool Active, StateStore Store)
    {
        /// <summary>Asked only by the calls that report it: one stat fewer for every other call.</summary>
        public bool Autostart => Config is not null && Store.IsAutostart(Definition.Name);

        public bool Persistent => Config is not null;

        public PoolRef Ref => new(Definition.Name, Definition.Uuid);
    }

    /// <summary>For <see cref="ReadState{T}"/>: the read is about every pool (listings, lookups by UUID, key or path).</summary>
    private const string? AnyPool = null;

    /// <summary>
    /// A read: no state lock. Every state file is replaced atomically and each transaction writes its
    /// files in an order whose every prefix is a valid state (for crash safety), so a reader sees
    /// some valid state without waiting for writers in another process. A read about a pool this
    /// process is changing the lifecycle of waits for that change first (<see cref="PoolTransitions"/>).
    /// </summary>
    /// <param name="pool">The pool the read is about, or <see cref="AnyPool"/>.</param>
    private Task<T> ReadState<T>(string? pool, Func<T> read, CancellationToken ct)
    {
        if (ct.IsCancellationRequested)
        {
            return Task.FromCanceled<T>(ct);
        }

        var settled = _transitions.WhenSettled(pool);
        if (!settled.IsCompleted)
        {
            return ReadAfterAsync(settled, read, ct);
        }

        try
        {
            using var scope = _store.BeginRead();
            return Task.FromResult(read());
        }
        catch (Exception ex)
        {
            return Task.FromException<T>(ex);
        }
    }

    private async Task<T> ReadAfterAsync<T>(Task settled, Func<T> read, CancellationToken ct)
    {
        await settled.WaitAsync(ct).ConfigureAwait(false);
        using var scope = _store.BeginRead();
        return read();
    }

    private IEnumerable<string> AllNames() => _store.ConfigNames().Union(_store.StatusNames()).Order(StringComparer.Ordinal);

    private LoadedPool? LoadPool(string name)
    {
        // "." and ".." are valid pool names (their files are "..xml" and "...xml"); '/' never is.
        if (name.Length == 0 || name.Contains('/', StringComparison.Ordinal))
        {
            return null;
        }

        var config = ReadDefinition(name, _store.ConfigPath(name), PoolXml.Parse);
        var live = ReadDefinition(name, _store.StatusPath(name), PoolXml.ParseStatus);
        if (config is null && live is null)
        {
            return null;
        }

        return new LoadedPool(live ?? config!, config, live is not null, _store);
    }

    /// <summary>
    /// A state file's definition, or null. One that cannot be parsed (edited by hand, written by another
    /// version) is skipped with a warning, as libvirtd skips a state file it cannot load: a bad status
    /// file leaves its pool inactive, a bad config leaves no pool, and every other pool is unaffected.
    /// </summary>
    private PoolDefinition? ReadDefinition(string name, string path, Func<string, PoolDefinition> parse)
    {
        try
        {
            return _store.ReadParsed(path, parse);
        }
        catch (VirtPoolException ex)
        {
            _log.StateFileUnreadable(name, path, ex.Message);
            return null;
        }
    }

    private LoadedPool RequirePool(string name)
        => LoadPool(name) ?? throw new VirtPoolException(VirErrorCode.NoStoragePool, $"no storage pool with matching name '{name}'");

    private static void RequireActive(LoadedPool pool)
    {
        if (!pool.Active)
        {
            throw VirtPoolException.InvalidOperation($"storage pool '{pool.Definition.Name}' is not active");
        }
    }

    private PoolSummary Summarize(LoadedPool pool)
    {
        var sizes = pool.Active ? _store.ReadPoolSizes(pool.Definition.Name) : default;
        return new PoolSummary(pool.Ref, pool.Definition.Type, pool.Active, pool.Persistent, pool.Autostart, sizes);
    }

    private static bool Matches(PoolSummary p, PoolListFilter f)
    {
        if ((f & (PoolListFilter.Active | PoolListFilter.Inactive)) is var a && a != 0
            && !((a.HasFlag(PoolListFilter.Active) && p.Active) || (a.HasFlag(PoolListFilter.Inactive) && !p.Active)))
        {
            return false;
        }

        if ((f & (PoolListFilter.Persistent | PoolListFilter.Transient)) is var b && b != 0
            && !((b.HasFlag(PoolListFilter.Persistent) && p.Persistent) || (b.HasFlag(PoolListFilter.Transient) && !p.Persistent)))
        {
            return false;
        }

        if ((f & (PoolListFilter.Autostart | PoolListFilter.NoAutostart)) is var c && c != 0
            && !((c.HasFlag(PoolListFilter.Autostart) && p.Autostart) || (c.HasFlag(PoolListFilter.NoAutostart) && !p.Autostart)))
        {
            return false;
        }

        var typeBits = f & ~(PoolListFilter)0x3F;
        return typeBits == 0 || typeBits.HasFlag(TypeFlag(p.Type));
    }

    public static PoolListFilter TypeFlag(PoolType type) => type switch
    {
        PoolType.Dir => PoolListFilter.Dir,
        PoolType.Fs => PoolListFilter.Fs,
        PoolType.Netfs => PoolListFilter.Netfs,
        PoolType.Logical => PoolListFilter.Logical,
        PoolType.Disk => PoolListFilter.Disk,
        PoolType.Iscsi => PoolListFilter.Iscsi,
        PoolType.Scsi => PoolListFilter.Scsi,
        PoolType.Mpath => PoolListFilter.Mpath,
        PoolType.Rbd => PoolListFilter.Rbd,
        PoolType.Sheepdog => PoolListFilter.Sheepdog,
        PoolType.Gluster => PoolListFilter.Gluster,
        PoolType.Zfs => PoolListFilter.Zfs,
        PoolType.Vstorage => PoolListFilter.Vstorage,
        PoolType.IscsiDirect => PoolListFilter.IscsiDirect,
        _ => PoolListFilter.None,
    };

    /// <summary>The pool's backend, loaded once per pool (<see cref="PoolBackends"/>).</summary>
    private IStorageBackend BackendFor(PoolContext context) => _poolBackends.For(context);

    private IStorageBackend BackendFor(PoolDefinition def) => _poolBackends.For(ContextFor(def));

    /// <summary>
    /// The one place an operation a backend lacks is refused: libvirt's NO_SUPPORT with the words of
    /// the driver's check for the missing callback.
    /// </summary>
    private static T Require<T>(IStorageBackend backend, string refusal)
        where T : class
        => backend as T ?? throw VirtPoolException.NoSupport(refusal);

    /// <summary>virStoragePoolCreateFlags as pool-start and pool-create asked for them.</summary>
    private static PoolStartFlags StartFlags(PoolBuildFlags build, bool doBuild)
        => (doBuild ? PoolStartFlags.WithBuild : 0)
           | (build.HasFlag(PoolBuildFlags.Overwrite) ? PoolStartFlags.WithBuildOverwrite : 0)
           | (build.HasFlag(PoolBuildFlags.NoOverwrite) ? PoolStartFlags.WithBuildNoOverwrite : 0);

    /// <summary>virStoragePoolObjIsDuplicate + virStoragePoolObjSourceFindDuplicate.</summary>
    /// <summary>virStoragePoolObjListAdd's checks: the source, then uuid and name, then (create) activity.</summary>
    private void CheckDuplicates(PoolDefinition def, bool allowActiveSame)
    {
        var pools = AllNames().Select(LoadPool).OfType<LoadedPool>().ToList();
        var active = pools.Where(p => p.Active).Select(p => p.Definition.Name).ToHashSet(StringComparer.Ordinal);
        PoolSourceDuplicates.Check(def, pools.Select(p => p.Definition), allowActiveSame ? null : d => active.Contains(d.Name));
    }

    private async Task BuildWithAsync(IStorageBackend backend, PoolContext context, PoolBuildFlags flags, CancellationToken ct)
    {
        // libvirt treats a backend without buildPool as already built (its flags unchecked); one with
        // it checks the flags itself.
        if (backend is IPoolBuilder builder)
        {
            try
            {
                await builder.BuildPoolAsync(context, flags, ct).ConfigureAwait(false);
            }
            catch (Exception ex) when (LogFailure(ex, "build", context.Name))
            {
                throw;
            }
        }

        _log.PoolBuilt(context.Name);
    }

    /// <summary>
    /// Starts, refreshes and records an active pool; stops it again if the refresh fails. Returns how
    /// many volumes it found.
    /// </summary>
    private async Task<int> StartWithAsync(IStorageBackend backend, PoolContext context, PoolDefinition def, PoolStartFlags flags, CancellationToken ct)
    {
        try
        {
            await backend.StartPoolAsync(context, flags, ct).ConfigureAwait(false);
        }
        catch (Exception ex) when (LogFailure(ex, "start", def.Name))
        {
            throw;
        }

        try
        {
            // The index first, the status (which makes the pool active) last: a process killed in
            // between leaves an inactive pool, never an active one without its volumes.
            var (live, volumes) = await RefreshWithAsync(backend, context, ct).ConfigureAwait(false);
            _store.WriteStatus(def.Name, PoolXml.Format(live));
            _store.WriteLastLive(def.Name, null);
            return volumes;
        }
        catch (Exception ex) when (LogFailure(ex, "start", def.Name))
        {
            throw;
        }
        catch
        {
            _store.DeleteStatus(def.Name);
            await backend.StopPoolAsync(context, CancellationToken.None).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Scans the pool, records its volumes and sizes, and returns the live definition to keep and how many volumes it holds.</summary>
    /// <param name="keepEncryption">
    /// The manager's own rescan after a volume create (<see cref="IRescanOnVolumeChange"/>): volumes the
    /// scan finds at the same key keep the &lt;encryption&gt; they were made with, which a partition table
    /// does not record (libvirt's disk createVol re-reads no other volume, so it keeps theirs too).
    /// </param>
    private async Task<(PoolDefinition Live, int Volumes)> RefreshWithAsync(IStorageBackend backend, PoolContext context, CancellationToken ct, bool keepEncryption = false)
    {
        var scan = await backend.RefreshPoolAsync(context, ct).ConfigureAwait(false);
        var index = new VolumeIndex { Sizes = scan.Sizes };

        // Volumes half-made by a running clone or create join the index when their job ends, not now
        // (libvirt refuses the whole refresh while jobs run; leaving them out is enough). Read after
        // the scan, with the pool's lock held: a job whose file the scan saw ends under that lock.
        var building = _jobs.BuildingIn(context.Name);

        // Volumes already known keep their ids: a read that probed one meanwhile still finds it the same.
        var known = (_store.ListVolumes(context.Name) ?? []).ToDictionary(v => v.Name, StringComparer.Ordinal);
        foreach (var vol in scan.Volumes.Where(v => !building.Contains(v.Name)).OrderBy(v => v.Name, StringComparer.Ordinal))
        {
            var entry = ToEntry(vol);
            if (known.TryGetValue(vol.Name, out var was))
            {
                entry = was.Id != 0 ? entry with { Id = was.Id } : entry;
                if (keepEncryption && entry.Encryption is null && was.Key == entry.Key)
                {
                    entry = entry with { Encryption = was.Encryption };
                }
            }

            index.Add(entry);
        }

        _store.WriteVolumeIndex(context.Name, index);
        var def = context.Definition;
        var live = scan.TargetPermissions is { } found
            ? def with { Target = def.Target with { Permissions = found with { Label = def.Target.Permissions.Label } } }
            : def;
        if (scan.Source is { } source)
        {
            live = live with { Source = source };
        }

        _poolBackends.Adopt(backend, live);
        return (live, index.Count);
    }

    /// <summary>
    /// A pool stopped: its runtime state goes; a persistent pool keeps showing its last live
    /// definition and sizes (unless a new definition was saved while it ran), as libvirt's does.
    /// </summary>
    private void RecordStopped(LoadedPool pool)
    {
        var name = pool.Definition.Name;
        var keepLast = pool.Persistent && !_store.HasNewDefinition(name);
        var last = keepLast ? PoolXml.Format(pool.Definition, _store.ReadPoolSizes(name)) : null;
        _store.DeleteStatus(name);
        _store.WriteLastLive(name, last);
        if (!pool.Persistent)
        {
            _poolBackends.Forget(name);
        }
    }
}
