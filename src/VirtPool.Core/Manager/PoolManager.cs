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
/// what spans pools (<see cref="StateLocks"/>), shared with other processes. Volume data I/O runs
/// outside any lock; refreshes requested while one waits are coalesced into it.
/// </summary>
public sealed partial class PoolManager : IDisposable, IStorageApi
{
    private readonly StateStore _store;
    private readonly BackendRegistry _backends;
    private readonly StateLocks _locks;
    private readonly VolumeJobs _jobs;
    private bool _reconciled;

    public PoolManager(StateStore store, BackendRegistry backends)
    {
        _jobs = new VolumeJobs(Path.Combine(store.StatusDir, "jobs"));
        _store = store;
        _backends = backends;
        _locks = new StateLocks(store);
        Secrets = new SecretStore(store.Root, store.StatusDir);
    }

    public StateStore Store => _store;

    /// <summary>The secrets kept beside this state (libvirt's secret driver), where encrypted volumes find their passphrase.</summary>
    public SecretStore Secrets { get; }

    public void Dispose() => _locks.Dispose();

    public BackendRegistry Backends => _backends;

    /// <summary>Pool types libvirt 9.0 has a storage backend for: these can be defined.</summary>
    public static bool IsKnownToDriver(PoolType type) => PoolXml.HasBackend(type);

    // ----- pools: listing and lookup -------------------------------------------------------------

    public Task<IReadOnlyList<PoolSummary>> ListPoolsAsync(PoolListFilter filter = PoolListFilter.None, CancellationToken ct = default) => ReadState<IReadOnlyList<PoolSummary>>(() =>
    {
        var result = new List<PoolSummary>();
        foreach (var name in AllNames())
        {
            var pool = LoadPool(name);
            if (pool is null)
            {
                continue;
            }

            var summary = Summarize(pool);
            if (Matches(summary, filter))
            {
                result.Add(summary);
            }
        }

        return result;
    }, ct);

    public Task<PoolRef> LookupPoolByNameAsync(string name, CancellationToken ct = default) => ReadState(() => RequirePool(name).Ref, ct);

    public Task<PoolRef> LookupPoolByUuidAsync(Guid uuid, CancellationToken ct = default) => ReadState(() =>
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

    public Task<PoolSummary> GetPoolSummaryAsync(string name, CancellationToken ct = default) => ReadState(() =>
    {
        return Summarize(RequirePool(name));
    }, ct);

    public Task<PoolInfo> GetPoolInfoAsync(string name, CancellationToken ct = default) => ReadState(() =>
    {
        var pool = RequirePool(name);
        if (!pool.Active)
        {
            return new PoolInfo(PoolState.Inactive, 0, 0, 0);
        }

        var sizes = _store.ReadPoolSizes(name);
        return new PoolInfo(PoolState.Running, sizes.Capacity, sizes.Allocation, sizes.Available);
    }, ct);

    /// <summary>pool-dumpxml: the live definition of an active pool unless <paramref name="inactive"/>.</summary>
    /// <summary>
    /// pool-dumpxml, as libvirt answers it: the live definition with sizes while the pool runs (also
    /// for --inactive, unless a new definition was saved meanwhile); for a stopped pool, the last
    /// live definition until it is redefined or started, else the persistent one.
    /// </summary>
    public Task<string> GetPoolXmlAsync(string name, bool inactive, CancellationToken ct = default) => ReadState(() =>
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

    public Task<bool> GetAutostartAsync(string name, CancellationToken ct = default) => ReadState(() =>
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
        using var held = await _locks.PoolAsync(def.Name, ct).ConfigureAwait(false);
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
        return new PoolRef(def.Name, def.Uuid);
    }

    /// <summary>storagePoolCreateXML: a transient pool, built (optionally) and started at once.</summary>
    public async Task<PoolRef> CreatePoolAsync(string xml, PoolBuildFlags build, bool doBuild, CancellationToken ct = default)
    {
        var def = PoolXml.Parse(xml);
        using var global = await _locks.GlobalAsync(ct).ConfigureAwait(false);
        PoolXml.ValidateForDefine(def);
        CheckDuplicates(def, allowActiveSame: false);
        using var held = await _locks.PoolAsync(def.Name, ct).ConfigureAwait(false);
        var backend = BackendFor(def.Type);
        var context = new PoolContext(def);
        if (doBuild)
        {
            await BuildWithAsync(backend, context, build, ct).ConfigureAwait(false);
        }

        await StartWithAsync(backend, context, def, ct).ConfigureAwait(false);
        return new PoolRef(def.Name, def.Uuid);
    }

    public async Task BuildPoolAsync(string name, PoolBuildFlags flags, CancellationToken ct = default)
    {
        using var held = await _locks.PoolAsync(name, ct).ConfigureAwait(false);
        var pool = RequirePool(name);
        if (pool.Active)
        {
            throw VirtPoolException.InvalidOperation($"storage pool '{name}' is already active");
        }

        await BuildWithAsync(BackendFor(pool.Definition.Type), new PoolContext(pool.Definition), flags, ct).ConfigureAwait(false);
    }

    public async Task StartPoolAsync(string name, PoolBuildFlags build, bool doBuild, CancellationToken ct = default)
    {
        using var held = await _locks.PoolAsync(name, ct).ConfigureAwait(false);
        var pool = RequirePool(name);
        if (pool.Active)
        {
            throw VirtPoolException.InvalidOperation($"storage pool '{name}' is already active");
        }

        var backend = BackendFor(pool.Definition.Type);
        var context = new PoolContext(pool.Definition);
        if (doBuild)
        {
            await BuildWithAsync(backend, context, build, ct).ConfigureAwait(false);
        }

        await StartWithAsync(backend, context, pool.Definition, ct).ConfigureAwait(false);
    }

    public async Task DestroyPoolAsync(string name, CancellationToken ct = default)
    {
        using var held = await _locks.PoolAsync(name, ct).ConfigureAwait(false);
        var pool = RequirePool(name);
        RequireActive(pool);
        RequireNoJobs(name);
        var backend = BackendFor(pool.Definition.Type);
        await backend.StopPoolAsync(new PoolContext(pool.Definition), ct).ConfigureAwait(false);
        RecordStopped(pool);
    }

    public async Task DeletePoolAsync(string name, CancellationToken ct = default)
    {
        using var held = await _locks.PoolAsync(name, ct).ConfigureAwait(false);
        var pool = RequirePool(name);
        if (pool.Active)
        {
            throw VirtPoolException.InvalidOperation($"storage pool '{name}' is still active");
        }

        var backend = BackendFor(pool.Definition.Type);
        if (!backend.Capabilities.CanDeletePool || backend is not IPoolDeleter deleter)
        {
            throw VirtPoolException.NoSupport("pool does not support pool deletion");
        }

        await deleter.DeletePoolAsync(new PoolContext(pool.Definition), ct).ConfigureAwait(false);
    }

    public async Task UndefinePoolAsync(string name, CancellationToken ct = default)
    {
        using var global = await _locks.GlobalAsync(ct).ConfigureAwait(false);
        using var held = await _locks.PoolAsync(name, ct).ConfigureAwait(false);
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
        lock (_queuedRefreshes)
        {
            // Running now: later requests queue a new refresh, which sees what this one may miss.
            _queuedRefreshes.Remove(name);
        }

        Interlocked.Increment(ref _refreshScans);
        var pool = RequirePool(name);
        RequireActive(pool);
        var backend = BackendFor(pool.Definition.Type);
        var context = new PoolContext(pool.Definition);
        try
        {
            var live = await RefreshWithAsync(backend, context, ct).ConfigureAwait(false);
            _store.WriteStatus(name, PoolXml.Format(live));
        }
        catch (VirtPoolException)
        {
            // libvirt stops a pool whose refresh fails, then reports the error.
            // A transient pool disappears with its status file; a persistent one stays defined.
            await backend.StopPoolAsync(context, ct).ConfigureAwait(false);
            RecordStopped(pool);
            throw;
        }
    }

    public async Task SetAutostartAsync(string name, bool autostart, CancellationToken ct = default)
    {
        using var held = await _locks.PoolAsync(name, ct).ConfigureAwait(false);
        var pool = RequirePool(name);
        if (!pool.Persistent)
        {
            throw VirtPoolException.Internal("pool has no config file");
        }

        _store.SetAutostart(name, autostart);
    }

    // ----- volumes -------------------------------------------------------------------------------

    public Task<IReadOnlyList<VolumeRef>> ListVolumesAsync(string poolName, CancellationToken ct = default) => ReadState<IReadOnlyList<VolumeRef>>(() =>
    {
        var pool = RequirePool(poolName);
        RequireActive(pool);
        var volumes = _store.ListVolumes(poolName) ?? [];
        var result = new VolumeRef[volumes.Length];
        for (var i = 0; i < volumes.Length; i++)
        {
            result[i] = new VolumeRef(poolName, volumes[i].Name, volumes[i].Key);
        }

        return result;
    }, ct);

    public Task<VolumeRef> LookupVolumeByNameAsync(string poolName, string volName, CancellationToken ct = default) => ReadState(() =>
    {
        var pool = RequirePool(poolName);
        RequireActive(pool);
        var entry = FindVolume(poolName, volName)
                    ?? throw new VirtPoolException(VirErrorCode.NoStorageVol, $"no storage vol with matching name '{volName}'");
        return new VolumeRef(poolName, entry.Name, entry.Key);
    }, ct);

    public Task<VolumeRef> LookupVolumeByKeyAsync(string key, CancellationToken ct = default) => ReadState(() =>
    {
        foreach (var (pool, entry) in ActiveVolumes())
        {
            if (entry.Key == key)
            {
                return new VolumeRef(pool, entry.Name, entry.Key);
            }
        }

        throw new VirtPoolException(VirErrorCode.NoStorageVol, $"no storage vol with matching key {key}");
    }, ct);

    public Task<VolumeRef> LookupVolumeByPathAsync(string path, CancellationToken ct = default) => ReadState(() =>
    {
        var wanted = CanonicalPath(path);
        foreach (var (pool, entry) in ActiveVolumes())
        {
            if (entry.Path == path || entry.Path == wanted)
            {
                return new VolumeRef(pool, entry.Name, entry.Key);
            }
        }

        throw new VirtPoolException(VirErrorCode.NoStorageVol, $"no storage vol with matching path '{path}'");
    }, ct);

    /// <summary>Creates a volume from libvirt volume XML (storageVolCreateXML).</summary>
    public async Task<VolumeRef> CreateVolumeAsync(string poolName, string xml, VolumeCreateFlags flags = VolumeCreateFlags.None, IProgress<long>? progress = null, CancellationToken ct = default)
    {
        LoadedPool pool;
        IStorageBackend backend;
        VolumeDefinition prepared;
        VolumeJob job;
        using (var held = await _locks.PoolAsync(poolName, ct).ConfigureAwait(false))
        {
            pool = RequirePool(poolName);
            RequireActive(pool);
            // libvirt parses a new volume with optional capacity (a backing store may supply it).
            var def = VolumeXml.Parse(xml, pool.Definition.Type, VolumeParseFlags.OptCapacity);
            backend = BackendFor(pool.Definition.Type);
            if (!backend.Capabilities.CanCreateVolume)
            {
                throw VirtPoolException.NoSupport("storage pool does not support volume creation");
            }

            VolumeXml.ValidateNameForCreate(def.Name);
            if (FindVolume(poolName, def.Name) is not null || _jobs.StateOf(poolName, def.Name).Building)
            {
                throw new VirtPoolException(VirErrorCode.StorageVolExist, $"'{def.Name}'");
            }

            prepared = backend.PrepareVolume(new PoolContext(pool.Definition), def);
            job = _jobs.Begin(poolName, def.Name, VolumeJobKind.Building);
        }

        // The data is written without the state lock; the backend creates the volume exclusively
        // (O_EXCL), so a racing create of the same name fails cleanly instead of sharing a file.
        using (job)
        {
            var context = new PoolContext(pool.Definition) { Passphrases = Secrets.GetVolumePassphrase };
            var refreshed = await backend.CreateVolumeAsync(context, prepared, flags, progress, ct).ConfigureAwait(false);
            await AddToIndexAsync(poolName, refreshed).ConfigureAwait(false);
            return new VolumeRef(poolName, refreshed.Name, refreshed.Key ?? string.Empty);
        }
    }

    /// <summary>
    /// storageVolResize: a delta or absolute capacity, never below the allocation, smaller only with
    /// <see cref="VolumeResizeFlags.Shrink"/>, allocated space only if the pool has it; the data is
    /// changed without the state lock.
    /// </summary>
    public async Task ResizeVolumeAsync(VolumeRef vol, ulong capacity, VolumeResizeFlags flags, CancellationToken ct = default)
    {
        LoadedPool pool;
        IStorageBackend backend;
        VolumeDefinition current;
        ulong target;
        long delta;
        using (var held = await _locks.PoolAsync(vol.Pool, ct).ConfigureAwait(false))
        {
            pool = RequirePool(vol.Pool);
            RequireActive(pool);
            var entry = FindVolume(vol.Pool, vol.Name)
                        ?? throw new VirtPoolException(VirErrorCode.NoStorageVol, $"no storage vol with matching name '{vol.Name}'");
            RequireIdle(vol, allowReaders: false);
            backend = BackendFor(pool.Definition.Type);
            current = WithDefaultSecret(await backend.RefreshVolumeAsync(new PoolContext(pool.Definition), ToDefinition(entry), ct).ConfigureAwait(false));
            var allocation = current.Allocation ?? 0;
            if (flags.HasFlag(VolumeResizeFlags.Delta))
            {
                target = flags.HasFlag(VolumeResizeFlags.Shrink)
                    ? current.Capacity - Math.Min(capacity, current.Capacity)
                    : current.Capacity + capacity;
            }
            else
            {
                target = capacity;
            }

            if (target < allocation)
            {
                throw VirtPoolException.InvalidArg("can't shrink capacity below existing allocation");
            }

            if (target < current.Capacity && !flags.HasFlag(VolumeResizeFlags.Shrink))
            {
                throw VirtPoolException.InvalidArg("Can't shrink capacity below current capacity unless shrink flag explicitly specified");
            }

            delta = flags.HasFlag(VolumeResizeFlags.Allocate) ? (long)(target - allocation) : 0;
            if (delta > 0 && (ulong)delta > _store.ReadPoolSizes(vol.Pool).Available)
            {
                throw VirtPoolException.Failed("Not enough space left in storage pool");
            }

            if (!backend.Capabilities.CanResizeVolume || backend is not IVolumeResizer)
            {
                throw VirtPoolException.NoSupport("storage pool does not support changing of volume capacity");
            }
        }

        var context = new PoolContext(pool.Definition) { Passphrases = Secrets.GetVolumePassphrase };
        await ((IVolumeResizer)backend).ResizeVolumeAsync(context, current, target, flags.HasFlag(VolumeResizeFlags.Allocate), ct).ConfigureAwait(false);
        if (delta != 0)
        {
            using var held = await _locks.PoolAsync(vol.Pool, ct).ConfigureAwait(false);
            _store.AppendVolumeIndex(vol.Pool, VolumeIndex.AccountRecord(delta));
        }
    }

    /// <summary>storageVolDelete: refused while a job uses the volume; its labels go with it.</summary>
    public async Task DeleteVolumeAsync(VolumeRef vol, VolumeDeleteFlags flags = VolumeDeleteFlags.None, CancellationToken ct = default)
    {
        using var held = await _locks.PoolAsync(vol.Pool, ct).ConfigureAwait(false);
        var pool = RequirePool(vol.Pool);
        RequireActive(pool);
        var entry = FindVolume(vol.Pool, vol.Name)
                    ?? throw new VirtPoolException(VirErrorCode.NoStorageVol, $"no storage vol with matching name '{vol.Name}'");
        RequireIdle(vol, allowReaders: false);
        var backend = BackendFor(pool.Definition.Type);
        if (!backend.Capabilities.CanDeleteVolume)
        {
            throw VirtPoolException.NoSupport("storage pool does not support vol deletion");
        }

        var def = ToDefinition(entry);
        var withSnapshots = def.Target.Format is { } f && backend.Capabilities.DeleteWithSnapshotsFormats.Contains(f);
        var unsupported = flags & ~(withSnapshots ? VolumeDeleteFlags.WithSnapshots : VolumeDeleteFlags.None);
        if (unsupported != VolumeDeleteFlags.None)
        {
            // virCheckFlags reports VIR_ERR_INVALID_ARG with its own text, without the usual prefix.
            throw VirtPoolException.Verbatim(VirErrorCode.InvalidArg, $"unsupported flags (0x{(int)unsupported:x}) in function virStorageBackendVolDeleteLocal");
        }

        var context = new PoolContext(pool.Definition);
        ulong allocation = 0;
        try
        {
            allocation = (await backend.RefreshVolumeAsync(context, def, ct).ConfigureAwait(false)).Allocation ?? 0;
        }
        catch (VirtPoolException)
        {
            // A volume that vanished behind our back can still be deleted from the index.
        }

        await backend.DeleteVolumeAsync(context, def, ct).ConfigureAwait(false);
        var (count, dead) = _store.IndexStats(vol.Pool);
        if (dead > count + 1024)
        {
            // Many deletes made the log long: rewrite it compacted.
            var index = _store.ReadVolumeIndexForUpdate(vol.Pool)!;
            index.Remove(vol.Name);
            index.Account(-(long)allocation);
            _store.WriteVolumeIndex(vol.Pool, index);
        }
        else
        {
            _store.AppendVolumeIndex(vol.Pool, VolumeIndex.DeleteRecord(vol.Name, -(long)allocation));
        }

        VolumeLabels.WriteVolume(_store, vol.Pool, vol.Name, new Dictionary<string, string>());
    }

    public async Task<VolumeDefinition> GetVolumeAsync(VolumeRef vol, CancellationToken ct = default)
        => (await LoadVolumeAsync(vol, ct).ConfigureAwait(false)).Volume;

    public async Task<VolumeInfo> GetVolumeInfoAsync(VolumeRef vol, CancellationToken ct = default)
    {
        var def = await GetVolumeAsync(vol, ct).ConfigureAwait(false);
        return new VolumeInfo(def.Type, def.Capacity, def.Allocation ?? 0);
    }

    public async Task<string> GetVolumeXmlAsync(VolumeRef vol, CancellationToken ct = default)
    {
        var (type, def) = await LoadVolumeAsync(vol, ct).ConfigureAwait(false);
        return VolumeXml.Format(type, def);
    }

    /// <summary>The volume as storage has it now: libvirt refreshes a volume before reporting its info or XML.</summary>
    private async Task<(PoolType PoolType, VolumeDefinition Volume)> LoadVolumeAsync(VolumeRef vol, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        var pool = RequirePool(vol.Pool);
        RequireActive(pool);
        var entry = FindVolume(vol.Pool, vol.Name)
                    ?? throw new VirtPoolException(VirErrorCode.NoStorageVol, $"no storage vol with matching name '{vol.Name}'");

        var backend = BackendFor(pool.Definition.Type);
        var def = await backend.RefreshVolumeAsync(new PoolContext(pool.Definition), ToDefinition(entry), ct).ConfigureAwait(false);
        return (pool.Definition.Type, WithDefaultSecret(def));
    }

    /// <summary>
    /// libvirt's storageBackendLoadDefaultSecrets on a volume refresh: an encrypted volume known without
    /// its secret (a pool refresh found it) shows the volume-usage secret named by its path, if any.
    /// </summary>
    private VolumeDefinition WithDefaultSecret(VolumeDefinition def)
    {
        if (def.Target.Encryption is not { Secrets.Count: 0 } encryption || def.Target.Path is not { } path
            || Secrets.FindByUsage(SecretUsageType.Volume, path) is not { } secret)
        {
            return def;
        }

        var found = encryption with { Secrets = [new EncryptionSecret { Uuid = secret.Uuid }] };
        return def with { Target = def.Target with { Encryption = found } };
    }

    public Task<string> GetVolumePathAsync(VolumeRef vol, CancellationToken ct = default) => ReadState(() =>
    {
        var entry = FindVolume(vol.Pool, vol.Name)
                    ?? throw new VirtPoolException(VirErrorCode.NoStorageVol, $"no storage vol with matching name '{vol.Name}'");
        return entry.Path;
    }, ct);

    // ----- start-up reconciliation ---------------------------------------------------------------

    /// <summary>
    /// What libvirtd does when it starts: drop runtime state from an earlier boot, mark active pools
    /// whose storage vanished as inactive (checkPool), and start autostart pools after a boot.
    /// Failures of one pool never stop the others.
    /// </summary>
    public async Task<IReadOnlyList<string>> ReconcileAsync(CancellationToken ct = default)
    {
        if (_reconciled)
        {
            return [];
        }

        _reconciled = true;
        var problems = new List<string>();
        using var global = await _locks.GlobalAsync(ct).ConfigureAwait(false);
        var newBoot = _store.BeginBootIfNew();
        foreach (var name in _store.StatusNames().ToList())
        {
            using var held = await _locks.PoolAsync(name, ct).ConfigureAwait(false);
            var pool = LoadPool(name);
            if (pool is null || !pool.Active)
            {
                continue;
            }

            var ok = false;
            if (_backends.TryGet(pool.Definition.Type, out var backend))
            {
                try
                {
                    ok = await backend.CheckPoolAsync(new PoolContext(pool.Definition), ct).ConfigureAwait(false);
                }
                catch (VirtPoolException ex)
                {
                    problems.Add($"pool '{name}': {ex.Message}");
                }
            }

            if (!ok)
            {
                _store.DeleteStatus(name);
            }
        }

        if (newBoot)
        {
            foreach (var name in _store.ConfigNames())
            {
                using var held = await _locks.PoolAsync(name, ct).ConfigureAwait(false);
                var pool = LoadPool(name);
                if (pool is null || pool.Active || !pool.Autostart || !_backends.TryGet(pool.Definition.Type, out var backend))
                {
                    continue;
                }

                try
                {
                    await StartWithAsync(backend, new PoolContext(pool.Definition), pool.Definition, ct).ConfigureAwait(false);
                }
                catch (VirtPoolException ex)
                {
                    problems.Add($"Failed to autostart storage pool '{name}': {ex.Message}");
                }
            }
        }

        return problems;
    }

    // ----- internals -----------------------------------------------------------------------------

    private sealed record LoadedPool(PoolDefinition Definition, PoolDefinition? Config, bool Active, StateStore Store)
    {
        /// <summary>Asked only by the calls that report it: one stat fewer for every other call.</summary>
        public bool Autostart => Config is not null && Store.IsAutostart(Definition.Name);

        public bool Persistent => Config is not null;

        public PoolRef Ref => new(Definition.Name, Definition.Uuid);
    }

    /// <summary>
    /// A read: no state lock. Every state file is replaced atomically and each transaction writes its
    /// files in an order whose every prefix is a valid state (for crash safety), so a reader sees
    /// some valid state without waiting for writers, in this process or another.
    /// </summary>
    private Task<T> ReadState<T>(Func<T> read, CancellationToken ct)
    {
        if (ct.IsCancellationRequested)
        {
            return Task.FromCanceled<T>(ct);
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

    private IEnumerable<string> AllNames() => _store.ConfigNames().Union(_store.StatusNames()).Order(StringComparer.Ordinal);

    private LoadedPool? LoadPool(string name)
    {
        // "." and ".." are valid pool names (their files are "..xml" and "...xml"); '/' never is.
        if (name.Length == 0 || name.Contains('/', StringComparison.Ordinal))
        {
            return null;
        }

        var config = _store.ReadParsed(_store.ConfigPath(name), PoolXml.Parse);
        var live = _store.ReadParsed(_store.StatusPath(name), PoolXml.Parse);
        if (config is null && live is null)
        {
            return null;
        }

        return new LoadedPool(live ?? config!, config, live is not null, _store);
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

    private IStorageBackend BackendFor(PoolType type)
        => _backends.TryGet(type, out var backend)
            ? backend
            : throw VirtPoolException.NoSupport($"VirtPool has no '{type.ToName()}' backend yet");

    /// <summary>virStoragePoolObjIsDuplicate + virStoragePoolObjSourceFindDuplicate.</summary>
    /// <summary>virStoragePoolObjListAdd's checks: the source, then uuid and name, then (create) activity.</summary>
    private void CheckDuplicates(PoolDefinition def, bool allowActiveSame)
    {
        var pools = AllNames().Select(LoadPool).OfType<LoadedPool>().ToList();
        var active = pools.Where(p => p.Active).Select(p => p.Definition.Name).ToHashSet(StringComparer.Ordinal);
        PoolSourceDuplicates.Check(def, pools.Select(p => p.Definition), allowActiveSame ? null : d => active.Contains(d.Name));
    }

    private static async Task BuildWithAsync(IStorageBackend backend, PoolContext context, PoolBuildFlags flags, CancellationToken ct)
    {
        if ((flags & (PoolBuildFlags.Overwrite | PoolBuildFlags.NoOverwrite)) == (PoolBuildFlags.Overwrite | PoolBuildFlags.NoOverwrite))
        {
            throw VirtPoolException.Verbatim(VirErrorCode.InvalidArg, "Flags 'VIR_STORAGE_POOL_BUILD_OVERWRITE' and 'VIR_STORAGE_POOL_BUILD_NO_OVERWRITE' are mutually exclusive");
        }

        // libvirt treats a backend without buildPool as already built.
        if (backend.Capabilities.CanBuild && backend is IPoolBuilder builder)
        {
            await builder.BuildPoolAsync(context, flags, ct).ConfigureAwait(false);
        }
    }

    /// <summary>Starts, refreshes and records an active pool; stops it again if the refresh fails.</summary>
    private async Task StartWithAsync(IStorageBackend backend, PoolContext context, PoolDefinition def, CancellationToken ct)
    {
        await backend.StartPoolAsync(context, ct).ConfigureAwait(false);
        try
        {
            // The index first, the status (which makes the pool active) last: a process killed in
            // between leaves an inactive pool, never an active one without its volumes.
            var live = await RefreshWithAsync(backend, context, ct).ConfigureAwait(false);
            _store.WriteStatus(def.Name, PoolXml.Format(live));
            _store.WriteLastLive(def.Name, null);
        }
        catch
        {
            _store.DeleteStatus(def.Name);
            await backend.StopPoolAsync(context, CancellationToken.None).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Scans the pool, records its volumes and sizes, and returns the live definition to keep.</summary>
    private async Task<PoolDefinition> RefreshWithAsync(IStorageBackend backend, PoolContext context, CancellationToken ct)
    {
        var scan = await backend.RefreshPoolAsync(context, ct).ConfigureAwait(false);
        var index = new VolumeIndex { Sizes = scan.Sizes };

        // Volumes half-made by a running clone or create join the index when their job ends, not now
        // (libvirt refuses the whole refresh while jobs run; leaving them out is enough).
        var building = _jobs.BuildingIn(context.Name);
        foreach (var vol in scan.Volumes.Where(v => !building.Contains(v.Name)).OrderBy(v => v.Name, StringComparer.Ordinal))
        {
            index.Add(ToEntry(vol));
        }

        _store.WriteVolumeIndex(context.Name, index);
        var def = context.Definition;
        return scan.TargetPermissions is { } found
            ? def with { Target = def.Target with { Permissions = found with { Label = def.Target.Permissions.Label } } }
            : def;
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
    }

    private VolumeIndexEntry? FindVolume(string poolName, string volName)
        => _store.FindVolume(poolName, volName);

    private IEnumerable<(string Pool, VolumeIndexEntry Entry)> ActiveVolumes()
    {
        foreach (var name in _store.StatusNames())
        {
            var volumes = _store.ListVolumes(name);
            if (volumes is null)
            {
                continue;
            }

            foreach (var v in volumes)
            {
                yield return (name, v);
            }
        }
    }

    private static string CanonicalPath(string path)
    {
        try
        {
            var full = Path.GetFullPath(path);
            var info = new FileInfo(full);
            return info.LinkTarget is null ? full : info.ResolveLinkTarget(true)?.FullName ?? full;
        }
        catch (IOException)
        {
            return path;
        }
        catch (UnauthorizedAccessException)
        {
            return path;
        }
        catch (ArgumentException)
        {
            // A path no file can have (a NUL inside): it matches no volume, as given.
            return path;
        }
    }

    private static VolumeIndexEntry ToEntry(VolumeDefinition v)
    {
        var t = v.Target;
        var flags = (t.Features.LazyRefcounts ? VolumeEntryFlags.LazyRefcounts : 0)
                    | (t.Features.ExtendedL2 ? VolumeEntryFlags.ExtendedL2 : 0)
                    | (t.Features.Present ? VolumeEntryFlags.FeaturesPresent : 0)
                    | (t.NoCow ? VolumeEntryFlags.NoCow : 0);
        return new VolumeIndexEntry(v.Name, v.Key ?? t.Path ?? v.Name, t.Path ?? string.Empty, v.Type, t.Format)
        {
            BackingPath = v.BackingStore?.Path,
            BackingFormat = v.BackingStore?.Format,
            Compat = t.Compat,
            ClusterSize = t.ClusterSize,
            Flags = flags,
            Encryption = t.Encryption,
        };
    }

    private static VolumeDefinition ToDefinition(VolumeIndexEntry e) => new()
    {
        Name = e.Name,
        Key = e.Key,
        Type = e.Type,
        Target = new VolumeTarget
        {
            Path = e.Path,
            Format = e.Format,
            Compat = e.Compat,
            ClusterSize = e.ClusterSize,
            NoCow = e.Flags.HasFlag(VolumeEntryFlags.NoCow),
            Encryption = e.Encryption,
            Features = new VolumeFeatures
            {
                LazyRefcounts = e.Flags.HasFlag(VolumeEntryFlags.LazyRefcounts),
                ExtendedL2 = e.Flags.HasFlag(VolumeEntryFlags.ExtendedL2),
                Present = e.Flags.HasFlag(VolumeEntryFlags.FeaturesPresent),
            },
        },
        BackingStore = e.BackingPath is null ? null : new VolumeBackingStore { Path = e.BackingPath, Format = e.BackingFormat },
    };

}
