using VirtPool.Core.Backends;
using VirtPool.Core.Errors;
using VirtPool.Core.Model;
using VirtPool.Core.Secrets;
using VirtPool.Core.State;
using VirtPool.Core.Xml;

namespace VirtPool.Core.Manager;

/// <summary>
/// Volumes: listing, lookups, create, resize, delete and description. A volume being made is listed and
/// found from the start, as libvirt's is; every change of a volume runs under its pool's lock or under a
/// job registered there, so no two changes (and no tool such as qemu-img) ever touch one volume at once.
/// </summary>
public sealed partial class PoolManager
{
    // ----- volumes: listing and lookup ------------------------------------------------------------

    /// <summary>
    /// The pool's volumes, those being made included: libvirt adds a volume to its pool before building
    /// it, so listings and lookups show it from the start (its changes are refused until it is made).
    /// </summary>
    public Task<IReadOnlyList<VolumeRef>> ListVolumesAsync(string poolName, CancellationToken ct = default) => ReadState<IReadOnlyList<VolumeRef>>(poolName, () =>
    {
        var pool = RequirePool(poolName);
        RequireActive(pool);
        var volumes = _store.ListVolumes(poolName) ?? [];
        var result = new List<VolumeRef>(volumes.Length);
        foreach (var volume in volumes)
        {
            result.Add(new VolumeRef(poolName, volume.Name, volume.Key));
        }

        var building = _jobs.BuildingVolumesIn(poolName);
        if (building.Count > 0)
        {
            var listed = volumes.Select(v => v.Name).ToHashSet(StringComparer.Ordinal);
            result.AddRange(building.Where(b => !listed.Contains(b.Name)).Select(b => new VolumeRef(poolName, b.Name, b.Key)));
        }

        return result;
    }, ct);

    public Task<VolumeRef> LookupVolumeByNameAsync(string poolName, string volName, CancellationToken ct = default) => ReadState(poolName, () =>
    {
        var pool = RequirePool(poolName);
        RequireActive(pool);
        return FindVolumeOrBuilding(poolName, volName) switch
        {
            ({ } entry, _) => new VolumeRef(poolName, entry.Name, entry.Key),
            (_, { } building) => new VolumeRef(poolName, building.Name, building.Key),
            _ => throw NoVolumeNamed(volName),
        };
    }, ct);

    public Task<VolumeRef> LookupVolumeByKeyAsync(string key, CancellationToken ct = default) => ReadState(AnyPool, () =>
    {
        return FindAcrossPools(entry => entry.Key == key, building => building.Key == key)
               ?? throw new VirtPoolException(VirErrorCode.NoStorageVol, $"no storage vol with matching key {key}");
    }, ct);

    /// <summary>storageVolLookupByPath: the path as libvirt cleans it (duplicate and trailing slashes).</summary>
    public Task<VolumeRef> LookupVolumeByPathAsync(string path, CancellationToken ct = default) => ReadState(AnyPool, () =>
    {
        // libvirt reads the path as a C string: it ends at a NUL. An empty path matches no volume.
        var nul = path.IndexOf('\0', StringComparison.Ordinal);
        if (nul >= 0)
        {
            path = path[..nul];
        }

        var clean = PoolXml.SanitizePath(path);
        var resolved = CanonicalPath(clean);
        return FindAcrossPools(entry => entry.Path == clean || entry.Path == resolved, building => building.Path == clean || building.Path == resolved)
               ?? throw new VirtPoolException(
                   VirErrorCode.NoStorageVol,
                   path == clean ? $"no storage vol with matching path '{path}'" : $"no storage vol with matching path '{path}' ({clean})");
    }, ct);

    /// <summary>Creates a volume from libvirt volume XML (storageVolCreateXML).</summary>
    public async Task<VolumeRef> CreateVolumeAsync(string poolName, string xml, VolumeCreateFlags flags = VolumeCreateFlags.None, IProgress<long>? progress = null, CancellationToken ct = default)
    {
        LoadedPool pool;
        IVolumeCreator creator;
        VolumeDefinition prepared;
        VolumeJob job;
        using (var held = await _locks.PoolAsync(poolName, ct).ConfigureAwait(false))
        {
            pool = RequirePool(poolName);
            RequireActive(pool);
            // libvirt parses a new volume with optional capacity (a backing store may supply it).
            var def = VolumeXml.Parse(xml, pool.Definition.Type, VolumeParseFlags.OptCapacity);
            var backend = BackendFor(pool.Definition);
            if (def.Capacity == 0 && backend is not IVolumeBuilder)
            {
                // libvirt checks this right after parsing, before the name and before createVol.
                throw VirtPoolException.NoSupport("volume capacity required for this storage pool");
            }

            creator = Require<IVolumeCreator>(backend, "storage pool does not support volume creation");

            VolumeXml.ValidateNameForCreate(def.Name);
            if (FindVolume(poolName, def.Name) is not null || _jobs.StateOf(poolName, def.Name).Building)
            {
                throw new VirtPoolException(VirErrorCode.StorageVolExist, $"'{def.Name}'");
            }

            prepared = creator.PrepareVolume(ContextFor(pool.Definition), def);
            job = _jobs.Begin(poolName, def.Name, VolumeJobKind.Building, BuildingOf(poolName, prepared));
        }

        // The data is written without the state lock; the backend creates the volume exclusively
        // (O_EXCL), so a racing create of the same name fails cleanly instead of sharing a file. The
        // job ends under the pool's lock, together with the index record, so a lock holder sees the
        // name either being made or made, never neither.
        VolumeDefinition refreshed;
        try
        {
            var context = ContextFor(pool.Definition, Secrets.GetVolumePassphrase);
            refreshed = await creator.CreateVolumeAsync(context, prepared, flags, progress, ct).ConfigureAwait(false);
        }
        catch (Exception ex) when (LogFailure(ex, "create", poolName, prepared.Name))
        {
            throw;
        }
        catch
        {
            await EndJobsAsync(poolName, job).ConfigureAwait(false);
            throw;
        }

        await AddToIndexAsync(poolName, refreshed, job).ConfigureAwait(false);
        if (creator is IRescanOnVolumeChange)
        {
            using var rescan = await _locks.PoolAsync(poolName, ct).ConfigureAwait(false);
            await RescanAsync(RequirePool(poolName), ct, keepEncryption: true).ConfigureAwait(false);
        }

        _log.VolumeCreated(refreshed.Name, poolName, refreshed.Target.Format, refreshed.Capacity);
        return new VolumeRef(poolName, refreshed.Name, refreshed.Key ?? string.Empty);
    }

    /// <summary>
    /// storageVolResize: a delta or absolute capacity, never below the allocation, smaller only with
    /// <see cref="VolumeResizeFlags.Shrink"/>, allocated space only if the pool has it. libvirt resizes
    /// under the pool's lock; here the data is changed under a job instead, which keeps every other
    /// change of the volume (delete, wipe, upload, clone, another resize) out without stopping the pool.
    /// </summary>
    public async Task ResizeVolumeAsync(VolumeRef vol, ulong capacity, VolumeResizeFlags flags, CancellationToken ct = default)
    {
        LoadedPool pool;
        IStorageBackend backend;
        VolumeDefinition current;
        ulong target;
        long delta;
        VolumeJob job;
        using (var held = await _locks.PoolAsync(vol.Pool, ct).ConfigureAwait(false))
        {
            pool = RequirePool(vol.Pool);
            RequireActive(pool);
            var entry = RequireMade(vol);
            RequireIdle(vol, allowReaders: false);
            backend = BackendFor(pool.Definition);
            current = WithDefaultSecret(await backend.RefreshVolumeAsync(ContextFor(pool.Definition), ToDefinition(entry), ct).ConfigureAwait(false));
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

            Require<IVolumeResizer>(backend, "storage pool does not support changing of volume capacity");

            job = _jobs.Begin(vol.Pool, vol.Name, VolumeJobKind.Resizing);
        }

        using (job)
        {
            var context = ContextFor(pool.Definition, Secrets.GetVolumePassphrase);
            try
            {
                await ((IVolumeResizer)backend).ResizeVolumeAsync(context, current, target, flags.HasFlag(VolumeResizeFlags.Allocate), ct).ConfigureAwait(false);
            }
            catch (Exception ex) when (LogFailure(ex, "resize", vol.Pool, vol.Name))
            {
                throw;
            }

            if (delta != 0)
            {
                // Done to the data: recorded even if the caller gave up meanwhile.
                using var held = await _locks.PoolAsync(vol.Pool, CancellationToken.None).ConfigureAwait(false);
                _store.AppendVolumeIndex(vol.Pool, VolumeIndex.AccountRecord(delta));
            }

            // A backend's note (an LV's or zvol's size) follows the resize, so every process reads the new
            // size from the index without asking the storage again.
            if (current.BackendData is not null)
            {
                var after = await backend.RefreshVolumeAsync(context, current, CancellationToken.None).ConfigureAwait(false);
                if (after.BackendData != current.BackendData)
                {
                    await ReplaceInIndexAsync(vol.Pool, current, after).ConfigureAwait(false);
                }
            }

            _log.VolumeResized(vol.Name, vol.Pool, current.Capacity, target);
        }
    }

    /// <summary>storageVolDelete: refused while a job uses the volume; its labels go with it.</summary>
    public async Task DeleteVolumeAsync(VolumeRef vol, VolumeDeleteFlags flags = VolumeDeleteFlags.None, CancellationToken ct = default)
    {
        using var held = await _locks.PoolAsync(vol.Pool, ct).ConfigureAwait(false);
        var pool = RequirePool(vol.Pool);
        RequireActive(pool);
        var entry = RequireMade(vol);
        RequireIdle(vol, allowReaders: false);
        var backend = BackendFor(pool.Definition);
        var deleter = Require<IVolumeDeleter>(backend, "storage pool does not support vol deletion");
        var def = ToDefinition(entry);
        deleter.CheckDeleteFlags(def, flags);
        var context = ContextFor(pool.Definition);
        ulong allocation = 0;
        try
        {
            allocation = await backend.GetAllocationAsync(context, def, ct).ConfigureAwait(false);
        }
        catch (VirtPoolException ex)
        {
            // A volume that vanished behind our back can still be deleted from the index.
            _log.VolumeUnreadableOnDelete(vol.Name, vol.Pool, ex.Message);
        }

        // The index first, storage second: a lock-free read that finds the file gone then finds the
        // volume gone too, and answers libvirt's "no storage vol with matching name" (the file missing
        // while the volume is still listed would mean it vanished behind the manager's back). If the
        // backend refuses, the entry comes back as it was; a process killed in between leaves a file no
        // volume names, which the next refresh finds again, as libvirtd finds it after a crash.
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

        try
        {
            await deleter.DeleteVolumeAsync(context, def, flags, ct).ConfigureAwait(false);
        }
        catch (Exception ex) when (LogFailure(ex, "delete", vol.Pool, vol.Name))
        {
            throw;
        }
        catch
        {
            _store.AppendVolumeIndex(vol.Pool, VolumeIndex.AddRecord(entry, (long)allocation));
            throw;
        }

        VolumeLabels.WriteVolume(_store, vol.Pool, vol.Name, new Dictionary<string, string>());
        _log.VolumeDeleted(vol.Name, vol.Pool);
        if (deleter is IRescanOnVolumeChange)
        {
            await RescanAsync(pool, ct).ConfigureAwait(false);
        }
    }

    /// <summary>The pool scanned again after a volume change (<see cref="IRescanOnVolumeChange"/>); the caller holds its lock.</summary>
    private async Task RescanAsync(LoadedPool pool, CancellationToken ct, bool keepEncryption = false)
    {
        var context = ContextFor(pool.Definition);
        var (live, _) = await RefreshWithAsync(BackendFor(context), context, ct, keepEncryption).ConfigureAwait(false);
        _store.WriteStatus(pool.Definition.Name, PoolXml.Format(live));
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

    /// <summary>
    /// The volume as storage has it now: libvirt refreshes a volume before reporting its info or XML.
    /// No lock is taken, so the volume may be deleted (and even made again under its name) while its
    /// file is probed: the index is asked again afterwards, and a volume no longer there (or another
    /// volume by now) is reported as not found, as libvirt's lookup would answer after the delete.
    /// </summary>
    private async Task<(PoolType PoolType, VolumeDefinition Volume)> LoadVolumeAsync(VolumeRef vol, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        await _transitions.WhenSettled(vol.Pool).WaitAsync(ct).ConfigureAwait(false);
        LoadedPool pool;
        VolumeIndexEntry? entry;
        BuildingVolume? building;
        using (_store.BeginRead())
        {
            pool = RequirePool(vol.Pool);
            RequireActive(pool);
            (entry, building) = FindVolumeOrBuilding(vol.Pool, vol.Name);
        }

        var context = ContextFor(pool.Definition);
        var backend = BackendFor(context);
        if (entry is null)
        {
            return building is null
                ? throw NoVolumeNamed(vol.Name)
                : (pool.Definition.Type, await DescribeBuildingAsync(backend, context, building, ct).ConfigureAwait(false));
        }

        VolumeDefinition def;
        try
        {
            def = await backend.RefreshVolumeAsync(context, ToDefinition(entry), ct).ConfigureAwait(false);
        }
        catch (VirtPoolException) when (!IsStillIndexed(vol.Pool, entry))
        {
            throw NoVolumeNamed(vol.Name);
        }

        if (!IsStillIndexed(vol.Pool, entry))
        {
            throw NoVolumeNamed(vol.Name);
        }

        return (pool.Definition.Type, WithDefaultSecret(def));
    }

    /// <summary>
    /// A volume being made, described as libvirt describes it meanwhile: the capacity it is being made
    /// with, and the allocation written so far (what a progress bar polls; nothing before its file exists).
    /// </summary>
    private static async Task<VolumeDefinition> DescribeBuildingAsync(IStorageBackend backend, PoolContext context, BuildingVolume building, CancellationToken ct)
    {
        var requested = new VolumeDefinition
        {
            Name = building.Name,
            Key = building.Key,
            Type = building.Type,
            Capacity = building.Capacity,
            Allocation = 0,
            Physical = 0,
            Target = new VolumeTarget { Path = building.Path, Format = building.Format },
        };

        try
        {
            var now = await backend.RefreshVolumeAsync(context, requested, ct).ConfigureAwait(false);
            return now with { Capacity = building.Capacity };
        }
        catch (VirtPoolException)
        {
            // Not written yet (or already removed by a create that failed).
            return requested;
        }
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

    public Task<string> GetVolumePathAsync(VolumeRef vol, CancellationToken ct = default) => ReadState(vol.Pool, () =>
    {
        return FindVolumeOrBuilding(vol.Pool, vol.Name) switch
        {
            ({ } entry, _) => entry.Path,
            (_, { } building) => building.Path,
            _ => throw NoVolumeNamed(vol.Name),
        };
    }, ct);

    // ----- volumes: identity ---------------------------------------------------------------------

    private VolumeIndexEntry? FindVolume(string poolName, string volName)
        => _store.FindVolume(poolName, volName);

    /// <summary>
    /// A volume by name as a lock-free read sees it: made (in the index) or being made (a building
    /// job). The index is asked again when neither was found, since a create that ended between the
    /// two looks has indexed its volume before ending its job.
    /// </summary>
    private (VolumeIndexEntry? Entry, BuildingVolume? Building) FindVolumeOrBuilding(string pool, string name)
    {
        if (FindVolume(pool, name) is { } entry)
        {
            return (entry, null);
        }

        if (_jobs.FindBuilding(pool, name) is { } building)
        {
            return (null, building);
        }

        return (FindVolume(pool, name), null);
    }

    /// <summary>A volume matching across active pools, made ones first, then ones being made.</summary>
    private VolumeRef? FindAcrossPools(Func<VolumeIndexEntry, bool> made, Func<BuildingVolume, bool> beingMade)
    {
        foreach (var (pool, entry) in ActiveVolumes())
        {
            if (made(entry))
            {
                return new VolumeRef(pool, entry.Name, entry.Key);
            }
        }

        var active = _store.StatusNames().ToHashSet(StringComparer.Ordinal);
        if (_jobs.AllBuilding().FirstOrDefault(b => active.Contains(b.Pool) && beingMade(b)) is { } building)
        {
            return new VolumeRef(building.Pool, building.Name, building.Key);
        }

        // As in FindVolumeOrBuilding: a create may have ended between the two looks.
        foreach (var (pool, entry) in ActiveVolumes())
        {
            if (made(entry))
            {
                return new VolumeRef(pool, entry.Name, entry.Key);
            }
        }

        return null;
    }

    /// <summary>
    /// For a change, with the pool's lock held (so the answer cannot change meanwhile): the made volume,
    /// else libvirt's refusal for one being made, else not found.
    /// </summary>
    private VolumeIndexEntry RequireMade(VolumeRef vol)
    {
        if (FindVolume(vol.Pool, vol.Name) is { } entry)
        {
            return entry;
        }

        throw _jobs.StateOf(vol.Pool, vol.Name).Building ? StillBeingAllocated(vol.Name) : NoVolumeNamed(vol.Name);
    }

    /// <summary>Whether the index still holds this very volume (not one deleted, nor one made again under its name).</summary>
    private bool IsStillIndexed(string pool, VolumeIndexEntry entry)
        => FindVolume(pool, entry.Name) is { } now && now.Id == entry.Id;

    private static VirtPoolException NoVolumeNamed(string name)
        => new(VirErrorCode.NoStorageVol, $"no storage vol with matching name '{name}'");

    private static VirtPoolException StillInUse(string name)
        => VirtPoolException.InvalidOperation($"volume '{name}' is still in use.");

    private static VirtPoolException StillBeingAllocated(string name)
        => VirtPoolException.InvalidOperation($"volume '{name}' is still being allocated.");

    /// <summary>What a building job records of the volume it makes.</summary>
    private static BuildingVolume BuildingOf(string pool, VolumeDefinition prepared)
        => new(pool, prepared.Name, prepared.Key ?? prepared.Target.Path ?? prepared.Name, prepared.Target.Path ?? string.Empty,
               prepared.Type, prepared.Target.Format, prepared.Capacity);

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

    /// <summary>The path with symlinks resolved (a VirtPool extra over libvirt's textual match); the path itself when it cannot be.</summary>
    private static string CanonicalPath(string path)
    {
        if (path.Length == 0 || !path.StartsWith('/'))
        {
            return path;
        }

        try
        {
            var full = Path.GetFullPath(path);
            var info = new FileInfo(full);
            return info.LinkTarget is null ? full : info.ResolveLinkTarget(true)?.FullName ?? full;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
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
            Id = VolumeIndexEntry.NewId(),
            BackingPath = v.BackingStore?.Path,
            BackingFormat = v.BackingStore?.Format,
            Compat = t.Compat,
            ClusterSize = t.ClusterSize,
            Flags = flags,
            Encryption = t.Encryption,
            BackendData = v.BackendData,
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
        BackendData = e.BackendData,
    };
}
