using VirtPool.Core.Backends;
using VirtPool.Core.Errors;
using VirtPool.Core.Model;
using VirtPool.Core.Secrets;
using VirtPool.Core.State;
using VirtPool.Core.Xml;

namespace VirtPool.Core.Manager;

/// <summary>Start-up reconciliation of the state folder with the system.</summary>
public sealed partial class PoolManager
{
    // ----- start-up reconciliation ---------------------------------------------------------------

    /// <summary>
    /// What a short-lived command (the embedded CLI) runs first: <see cref="ReconcileAsync"/> only when
    /// the runtime state needs it, i.e. it belongs to an earlier boot or was never reconciled (libvirtd
    /// reconciles only when it starts). Telling costs two small reads and no lock, so a command never
    /// waits for another process's work on a pool just to find there is nothing to do.
    /// </summary>
    public Task<IReadOnlyList<string>> ReconcileIfNeededAsync(CancellationToken ct = default)
    {
        if (_reconciled || !_store.IsNewBoot())
        {
            return Task.FromResult<IReadOnlyList<string>>([]);
        }

        return ReconcileAsync(ct);
    }

    /// <summary>
    /// What libvirtd does when it starts: drop runtime state from an earlier boot, mark active pools
    /// whose storage vanished as inactive (checkPool), and start autostart pools after a boot.
    /// Failures of one pool never stop the others. The daemon runs it on start; it takes the global
    /// lock and then each active pool's.
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
        if (newBoot)
        {
            _log.NewBoot();
        }

        foreach (var name in _store.StatusNames().ToList())
        {
            using var held = await _locks.PoolAsync(name, ct).ConfigureAwait(false);
            var pool = LoadPool(name);
            if (pool is null || !pool.Active)
            {
                continue;
            }

            var ok = false;
            if (_backends.TryGet(pool.Definition.Type, out _))
            {
                try
                {
                    var context = ContextFor(pool.Definition);
                    ok = await BackendFor(context).CheckPoolAsync(context, ct).ConfigureAwait(false);
                    if (!ok)
                    {
                        _log.PoolStorageGone(name);
                    }
                }
                catch (VirtPoolException ex)
                {
                    problems.Add($"pool '{name}': {ex.Message}");
                    _log.PoolCheckFailed(name, ex.Message);
                }
            }

            if (!ok)
            {
                _store.DeleteStatus(name);
                if (!pool.Persistent)
                {
                    _poolBackends.Forget(name);
                }
            }
        }

        if (newBoot)
        {
            foreach (var name in _store.ConfigNames())
            {
                using var held = await _locks.PoolAsync(name, ct).ConfigureAwait(false);
                var pool = LoadPool(name);
                if (pool is null || pool.Active || !pool.Autostart || !_backends.TryGet(pool.Definition.Type, out _))
                {
                    continue;
                }

                try
                {
                    var context = ContextFor(pool.Definition);
                    await StartWithAsync(BackendFor(context), context, pool.Definition, PoolStartFlags.None, ct).ConfigureAwait(false);
                    _log.PoolAutostarted(name);
                }
                catch (VirtPoolException ex)
                {
                    problems.Add($"Failed to autostart storage pool '{name}': {ex.Message}");
                    _log.AutostartFailed(name, ex.Message);
                }
            }
        }

        return problems;
    }
}
