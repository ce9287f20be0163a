using VirtPool.Core.Backends;
using VirtPool.Core.Errors;
using VirtPool.Core.Model;
using VirtPool.Core.Secrets;
using VirtPool.Core.State;
using VirtPool.Core.Xml;

namespace VirtPool.Core.Manager;

/// <summary>
/// Volumes: listing, lookups, create, resize, delete and description.
/// </summary>
public sealed partial class PoolManager
{
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
