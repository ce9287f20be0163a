using VirtPool.Core.Backends;
using VirtPool.Core.Errors;
using VirtPool.Core.Model;
using VirtPool.Core.State;
using VirtPool.Core.Xml;

namespace VirtPool.Core.Manager;

/// <summary>
/// The long volume operations (clone, wipe, upload, download, checksum) and labels. Each checks
/// and registers its job under the pool's lock, then does its I/O without it (libvirt drops the
/// pool lock the same way, counting asyncjobs, building and in_use), then records the result.
/// </summary>
public sealed partial class PoolManager
{
    /// <summary>storageVolCreateXMLFrom (vol-clone, vol-create-from).</summary>
    public async Task<VolumeRef> CreateVolumeFromAsync(string poolName, string xml, VolumeRef source, VolumeCreateFlags flags = VolumeCreateFlags.None, IProgress<long>? progress = null, CancellationToken ct = default)
    {
        LoadedPool pool;
        LoadedPool sourcePool;
        IStorageBackend backend;
        IVolumeCloner cloner;
        VolumeDefinition prepared;
        VolumeDefinition original;
        VolumeJob building;
        VolumeJob reading;
        using (var held = await _locks.PoolsAsync([poolName, source.Pool], ct).ConfigureAwait(false))
        {
            pool = RequirePool(poolName);
            sourcePool = source.Pool == poolName
                ? pool
                : LoadPool(source.Pool) ?? throw new VirtPoolException(VirErrorCode.NoStoragePool, $"no storage pool with matching name '{source.Pool}'");
            RequireActive(pool);
            RequireActive(sourcePool);
            backend = BackendFor(pool.Definition);
            // libvirt finds a source being made too, and refuses it only after checking the new volume.
            var sourceEntry = FindVolume(source.Pool, source.Name);
            var sourceBuilding = sourceEntry is null && _jobs.StateOf(source.Pool, source.Name).Building;
            if (sourceEntry is null && !sourceBuilding)
            {
                throw NoVolumeNamed(source.Name);
            }

            var def = VolumeXml.Parse(xml, pool.Definition.Type, VolumeParseFlags.NoCapacity);
            if (FindVolume(poolName, def.Name) is not null || _jobs.StateOf(poolName, def.Name).Building)
            {
                throw VirtPoolException.Internal($"storage volume name '{def.Name}' already in use.");
            }

            if (sourceBuilding)
            {
                throw StillBeingAllocated(source.Name);
            }

            if (_jobs.StateOf(source.Pool, source.Name).Resizing)
            {
                // libvirt's clone would wait for the resize (it holds the pool's lock); its words for a busy volume.
                throw StillInUse(source.Name);
            }

            var sourceBackend = BackendFor(sourcePool.Definition);
            original = WithDefaultSecret(await sourceBackend.RefreshVolumeAsync(ContextFor(sourcePool.Definition), ToDefinition(sourceEntry!), ct).ConfigureAwait(false));

            // libvirt: never smaller than the original; no allocation given means fully allocated.
            var capacity = Math.Max(def.Capacity, original.Capacity);
            def = def with { Capacity = capacity, Allocation = def.Allocation ?? capacity, Key = null };
            cloner = Require<IVolumeCloner>(backend, "storage pool does not support volume creation from an existing volume");
            VolumeXml.ValidateNameForCreate(def.Name);
            prepared = cloner.PrepareVolume(ContextFor(pool.Definition), def);
            building = _jobs.Begin(poolName, def.Name, VolumeJobKind.Building, BuildingOf(poolName, prepared));
            reading = _jobs.Begin(source.Pool, source.Name, VolumeJobKind.InUse);
        }

        using (reading)
        {
            VolumeDefinition made;
            try
            {
                var context = ContextFor(pool.Definition, Secrets.GetVolumePassphrase);
                made = await cloner.CreateVolumeFromAsync(context, prepared, original, flags, progress, ct).ConfigureAwait(false);
            }
            catch (Exception ex) when (LogFailure(ex, "clone", poolName, prepared.Name))
            {
                throw;
            }
            catch
            {
                await EndJobsAsync(poolName, building).ConfigureAwait(false);
                throw;
            }

            await AddToIndexAsync(poolName, made, building).ConfigureAwait(false);
            _log.VolumeCloned(made.Name, poolName, source.Name, source.Pool, made.Target.Format, made.Capacity);
            return new VolumeRef(poolName, made.Name, made.Key ?? string.Empty);
        }
    }

    /// <summary>storageVolWipePattern: every algorithm; the volume is re-read afterwards.</summary>
    public async Task WipeVolumeAsync(VolumeRef vol, VolumeWipeAlgorithm algorithm, IProgress<long>? progress = null, CancellationToken ct = default)
    {
        if (algorithm is < VolumeWipeAlgorithm.Zero or > VolumeWipeAlgorithm.Trim)
        {
            throw VirtPoolException.InvalidArg($"wiping algorithm {(int)algorithm} not supported");
        }

        var (context, backend, current, job) = await BeginVolumeJobAsync(vol, allowReaders: false, ct).ConfigureAwait(false);
        using (job)
        {
            var wiper = Require<IVolumeWiper>(backend, "storage pool doesn't support volume wiping");

            VolumeDefinition after;
            try
            {
                after = await wiper.WipeVolumeAsync(context, current, algorithm, progress, ct).ConfigureAwait(false);
            }
            catch (Exception ex) when (LogFailure(ex, "wipe", vol.Pool, vol.Name))
            {
                throw;
            }

            await ReplaceInIndexAsync(context.Name, current, after).ConfigureAwait(false);
            _log.VolumeWiped(vol.Name, vol.Pool, algorithm);
        }
    }

    /// <summary>
    /// storageVolUpload, reading a local file or stream. Unlike libvirt, an upload that would run past
    /// the volume's capacity is refused before a byte is written: growing a raw file behind the
    /// manager's back silently changes the volume's size.
    /// </summary>
    public async Task<long> UploadVolumeAsync(VolumeRef vol, VolumeDataEndpoint source, ulong offset, ulong length, bool sparse, IProgress<long>? progress = null, CancellationToken ct = default)
    {
        var (context, backend, current, job) = await BeginVolumeJobAsync(vol, allowReaders: false, ct).ConfigureAwait(false);
        using (job)
        {
            var transfer = Require<IVolumeTransfer>(backend, "storage pool doesn't support volume upload");

            if (offset > current.Capacity || (length > 0 && length > current.Capacity - offset))
            {
                throw VirtPoolException.InvalidArg($"cannot upload {length} bytes at offset {offset} into volume '{vol.Name}' of capacity {current.Capacity}");
            }

            long written;
            try
            {
                // A length of 0 goes through as 0: the backend then refuses a source that brings more than
                // the volume holds (ENOSPC, as libvirt's stream overrun), where a length made up here
                // would silently cut it.
                written = await transfer.UploadAsync(context, current, source, offset, length, sparse, progress, ct).ConfigureAwait(false);
            }
            catch (Exception ex) when (LogFailure(ex, "upload", vol.Pool, vol.Name))
            {
                throw;
            }

            _log.VolumeUploaded(vol.Name, vol.Pool, written, offset);
            job.Dispose();
            await RefreshAfterUploadAsync(vol).ConfigureAwait(false);
            return written;
        }
    }

    /// <summary>storageVolDownload to a local file or stream; a length of 0 reads to the end of the volume.</summary>
    public async Task<long> DownloadVolumeAsync(VolumeRef vol, VolumeDataEndpoint target, ulong offset, ulong length, bool sparse, IProgress<long>? progress = null, CancellationToken ct = default)
    {
        var (context, backend, current, job) = await BeginVolumeJobAsync(vol, allowReaders: true, ct).ConfigureAwait(false);
        using (job)
        {
            var transfer = Require<IVolumeTransfer>(backend, "storage pool doesn't support volume download");

            try
            {
                var read = await transfer.DownloadAsync(context, current, target, offset, length, sparse, progress, ct).ConfigureAwait(false);
                _log.VolumeDownloaded(vol.Name, vol.Pool, read, offset);
                return read;
            }
            catch (Exception ex) when (LogFailure(ex, "download", vol.Pool, vol.Name))
            {
                throw;
            }
        }
    }

    /// <summary>SHA-256 of the volume's bytes, streamed; holes cost no reads.</summary>
    public async Task<byte[]> ChecksumVolumeAsync(VolumeRef vol, IProgress<long>? progress = null, CancellationToken ct = default)
    {
        var (context, backend, current, job) = await BeginVolumeJobAsync(vol, allowReaders: true, ct).ConfigureAwait(false);
        using (job)
        {
            var transfer = Require<IVolumeTransfer>(backend, "storage pool doesn't support volume download");

            try
            {
                return await transfer.Sha256Async(context, current, progress, ct).ConfigureAwait(false);
            }
            catch (Exception ex) when (LogFailure(ex, "checksum", vol.Pool, vol.Name))
            {
                throw;
            }
        }
    }

    public Task<IReadOnlyDictionary<string, string>> GetVolumeLabelsAsync(VolumeRef vol, CancellationToken ct = default) => ReadState(vol.Pool, () =>
    {
        return VolumeLabels.ReadVolume(_store, vol.Pool, vol.Name);
    }, ct);

    /// <summary>All labels of a pool's volumes (vol-list --details reads them once).</summary>
    public Task<IReadOnlyDictionary<string, SortedDictionary<string, string>>> GetPoolLabelsAsync(string pool, CancellationToken ct = default) => ReadState<IReadOnlyDictionary<string, SortedDictionary<string, string>>>(pool, () =>
    {
        return VolumeLabels.Read(_store, pool);
    }, ct);

    /// <summary>Sets and removes labels of an existing volume; returns the labels it has afterwards.</summary>
    public async Task<IReadOnlyDictionary<string, string>> UpdateVolumeLabelsAsync(VolumeRef vol, IReadOnlyDictionary<string, string> set, IReadOnlyCollection<string> remove, CancellationToken ct = default)
    {
        foreach (var (key, value) in set)
        {
            if (!VolumeLabels.IsValidKey(key))
            {
                throw VirtPoolException.InvalidArg($"invalid label key '{key}': 1-{VolumeLabels.MaxKeyLength} letters, digits, '.', '_', '-' or '/', starting with a letter or digit");
            }

            if (value.Length > VolumeLabels.MaxValueLength || value.Any(char.IsControl))
            {
                throw VirtPoolException.InvalidArg($"invalid value for label '{key}': at most {VolumeLabels.MaxValueLength} characters, no control characters");
            }
        }

        using var held = await _locks.PoolAsync(vol.Pool, ct).ConfigureAwait(false);
        var pool = RequirePool(vol.Pool);
        RequireActive(pool);
        _ = RequireMade(vol);
        var labels = new SortedDictionary<string, string>(VolumeLabels.ReadVolume(_store, vol.Pool, vol.Name).ToDictionary(), StringComparer.Ordinal);
        foreach (var key in remove)
        {
            labels.Remove(key);
        }

        foreach (var (key, value) in set)
        {
            labels[key] = value;
        }

        VolumeLabels.WriteVolume(_store, vol.Pool, vol.Name, labels);
        return labels;
    }

    // ----- job plumbing --------------------------------------------------------------------------

    /// <summary>
    /// The refusals a job on the volume would get now (not found, being made, in use; with
    /// <paramref name="reading"/> only the first two), without registering one: the daemon answers
    /// them in the CALL's reply, as libvirt does, before it opens a stream. The job checks again under
    /// the pool's lock when it begins.
    /// </summary>
    public Task CheckVolumeJobAsync(VolumeRef vol, bool reading, CancellationToken ct = default) => ReadState(vol.Pool, () =>
    {
        var pool = RequirePool(vol.Pool);
        RequireActive(pool);
        var (entry, building) = FindVolumeOrBuilding(vol.Pool, vol.Name);
        if (entry is null)
        {
            throw building is null ? NoVolumeNamed(vol.Name) : StillBeingAllocated(vol.Name);
        }

        RequireIdle(vol, reading);
        return true;
    }, ct);

    /// <summary>
    /// Under the state lock: the pool is active, the volume exists and no conflicting job runs; then
    /// registers an in-use job and returns the volume as storage has it now.
    /// </summary>
    private async Task<(PoolContext Context, IStorageBackend Backend, VolumeDefinition Volume, VolumeJob Job)> BeginVolumeJobAsync(VolumeRef vol, bool allowReaders, CancellationToken ct)
    {
        using var held = await _locks.PoolAsync(vol.Pool, ct).ConfigureAwait(false);
        var pool = RequirePool(vol.Pool);
        RequireActive(pool);
        var entry = RequireMade(vol);
        RequireIdle(vol, allowReaders);
        var context = ContextFor(pool.Definition);
        var backend = BackendFor(context);
        var current = await backend.RefreshVolumeAsync(context, ToDefinition(entry), ct).ConfigureAwait(false);
        return (context, backend, current, _jobs.Begin(vol.Pool, vol.Name, VolumeJobKind.InUse));
    }

    /// <summary>libvirt's in_use / building refusals.</summary>
    private void RequireIdle(VolumeRef vol, bool allowReaders)
    {
        var state = _jobs.StateOf(vol.Pool, vol.Name);
        if (state.InUse > 0 && (!allowReaders || state.Resizing))
        {
            throw StillInUse(vol.Name);
        }

        if (state.Building)
        {
            throw VirtPoolException.InvalidOperation($"volume '{vol.Name}' is still being allocated.");
        }
    }

    /// <summary>libvirt refuses to stop a pool while its asyncjobs count is non-zero.</summary>
    private void RequireNoJobs(string pool)
    {
        if (_jobs.CountForPool(pool) > 0)
        {
            throw VirtPoolException.InvalidOperation($"pool '{pool}' has asynchronous jobs running.");
        }
    }

    /// <summary>
    /// Records a volume made by a job and ends the job, both under the pool's lock; never cancelled, so
    /// a made volume is never left out of the index.
    /// </summary>
    private async Task AddToIndexAsync(string poolName, VolumeDefinition made, VolumeJob building)
    {
        using var held = await _locks.PoolAsync(poolName, CancellationToken.None).ConfigureAwait(false);
        try
        {
            _store.AppendVolumeIndex(poolName, VolumeIndex.AddRecord(ToEntry(made), (long)(made.Allocation ?? 0)));
        }
        finally
        {
            building.Dispose();
        }
    }

    /// <summary>
    /// Ends a building job whose volume was not made, under the pool's lock: a refresh (which holds
    /// it) then never sees the job gone while the half-made file it scanned is still being removed.
    /// </summary>
    private async Task EndJobsAsync(string poolName, VolumeJob building)
    {
        using var held = await _locks.PoolAsync(poolName, CancellationToken.None).ConfigureAwait(false);
        building.Dispose();
    }

    /// <summary>A job changed what a volume is (a wipe): its index entry follows.</summary>
    private async Task ReplaceInIndexAsync(string poolName, VolumeDefinition before, VolumeDefinition after)
    {
        using var held = await _locks.PoolAsync(poolName, CancellationToken.None).ConfigureAwait(false);
        if (FindVolume(poolName, before.Name) is not { } current)
        {
            return;
        }

        // The pool's allocation is left as it was, as libvirt's wipe leaves it: the next refresh
        // re-reads it from the filesystem. It is still the same volume: its id stays.
        _store.AppendVolumeIndex(poolName, VolumeIndex.DeleteRecord(before.Name, 0) + VolumeIndex.AddRecord(ToEntry(after) with { Id = current.Id }, 0));
    }

    /// <summary>
    /// libvirt refreshes the whole pool when an upload stream closes (so an image uploaded into a raw
    /// volume shows its format). A failure there is logged, and the upload still succeeds. Unlike an
    /// asked-for refresh (<see cref="RefreshPoolAsync"/>), it does not stop the pool: libvirt's
    /// refresh thread does not either (it calls no stopPool for a dir pool and leaves the pool active),
    /// and the data written is fine. libvirt then lists no volumes until the next refresh; here the
    /// index stays as it was (the scan failed before it was written), which the next refresh corrects.
    /// </summary>
    private async Task RefreshAfterUploadAsync(VolumeRef vol)
    {
        using var held = await _locks.PoolAsync(vol.Pool, CancellationToken.None).ConfigureAwait(false);
        var pool = LoadPool(vol.Pool);
        if (pool is null || !pool.Active)
        {
            return;
        }

        try
        {
            var context = ContextFor(pool.Definition);
            var (live, volumes) = await RefreshWithAsync(BackendFor(context), context, CancellationToken.None).ConfigureAwait(false);
            _store.WriteStatus(vol.Pool, PoolXml.Format(live));
            _log.PoolRefreshed(vol.Pool, volumes);
        }
        catch (VirtPoolException ex)
        {
            _log.RefreshAfterUploadFailed(vol.Pool, vol.Name, ex.Message);
        }
    }
}
