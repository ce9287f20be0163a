using VirtPool.Core.Errors;
using VirtPool.Core.Interop;

namespace VirtPool.Core.State;

/// <summary>
/// The state folder's write locks, each an in-process semaphore plus a flock shared with other
/// processes (a flock dies with its process, so a killed CLI never leaves a lock behind):
/// <list type="bullet">
/// <item>one <b>lock per pool</b> (<c>ROOT/locks/NAME.lock</c>) for everything that changes one pool:
/// build, start, stop, refresh, volume create/delete/resize and the index records of jobs. Work on
/// different pools never waits on each other.</item>
/// <item>the <b>global lock</b> (<c>ROOT/lock</c>) for what spans pools: define, create and undefine
/// (duplicate checks against every pool) and start-up reconciliation. It is always taken before a
/// pool lock, and pool locks in name order, so no two holders can wait on each other.</item>
/// </list>
/// Readers take no lock (see <see cref="StateStore"/>). Waiting polls the flock without blocking a
/// thread, so a daemon never parks a worker behind another process's long operation.
/// </summary>
public sealed class StateLocks(StateStore store, Func<string, bool>? poolExists = null) : IDisposable
{
    private readonly SemaphoreSlim _global = new(1, 1);

    /// <summary>The in-process gates of the pool names in use now; a gate goes when its last user does.</summary>
    private readonly Dictionary<string, PoolGate> _pools = new(StringComparer.Ordinal);

    public string LocksDir => Path.Combine(store.Root, "locks");

    /// <summary>The lock for what spans pools.</summary>
    public Task<IDisposable> GlobalAsync(CancellationToken ct)
        => AcquireAsync(_global, Path.Combine(store.Root, "lock"), ct);

    /// <summary>
    /// The lock of an existing pool. A name no pool has (a client may send any) gets libvirt's "no
    /// storage pool" at once, so no lock file is left behind for it.
    /// </summary>
    public Task<IDisposable> PoolAsync(string name, CancellationToken ct) => PoolAsync(name, mayCreate: false, ct);

    /// <summary>The lock of a pool name, also one no pool has yet (define and create take it for the name they make).</summary>
    public Task<IDisposable> NewPoolAsync(string name, CancellationToken ct) => PoolAsync(name, mayCreate: true, ct);

    private async Task<IDisposable> PoolAsync(string name, bool mayCreate, CancellationToken ct)
    {
        var path = PoolLockPath(name);
        if (!mayCreate && poolExists is not null && !poolExists(name))
        {
            throw new VirtPoolException(VirErrorCode.NoStoragePool, $"no storage pool with matching name '{name}'");
        }

        PoolGate gate;
        lock (_pools)
        {
            if (!_pools.TryGetValue(name, out gate!))
            {
                _pools[name] = gate = new PoolGate(name);
            }

            gate.Users++;
        }

        try
        {
            var held = await AcquireAsync(gate.Semaphore, path, ct).ConfigureAwait(false);
            return new GateUser(this, gate, held);
        }
        catch
        {
            Leave(gate);
            throw;
        }
    }

    private void Leave(PoolGate gate)
    {
        lock (_pools)
        {
            if (--gate.Users == 0)
            {
                _pools.Remove(gate.Name);
                gate.Semaphore.Dispose();
            }
        }
    }

    /// <summary>Gates alive now (tests: they go with their users).</summary>
    internal int GateCount
    {
        get
        {
            lock (_pools)
            {
                return _pools.Count;
            }
        }
    }

    private sealed class PoolGate(string name)
    {
        public string Name { get; } = name;

        public SemaphoreSlim Semaphore { get; } = new(1, 1);

        /// <summary>Holders and waiters; guarded by the gate table's lock.</summary>
        public int Users { get; set; }
    }

    private sealed class GateUser(StateLocks owner, PoolGate gate, IDisposable held) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                held.Dispose();
                owner.Leave(gate);
            }
        }
    }

    /// <summary>The locks of several pools, taken in name order.</summary>
    public async Task<IDisposable> PoolsAsync(IEnumerable<string> names, CancellationToken ct)
    {
        var held = new List<IDisposable>();
        try
        {
            foreach (var name in names.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal))
            {
                held.Add(await PoolAsync(name, ct).ConfigureAwait(false));
            }

            return new Held(held);
        }
        catch
        {
            new Held(held).Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        _global.Dispose();
        lock (_pools)
        {
            foreach (var gate in _pools.Values)
            {
                gate.Semaphore.Dispose();
            }

            _pools.Clear();
        }
    }

    private string PoolLockPath(string name)
    {
        // "." and ".." are valid pool names; the suffix keeps their files ordinary ("..lock", "...lock").
        // A name no pool can have (a '/', too long for a file name) still gets a lock, so the caller
        // reports "no storage pool" as it would without locks; a digest names its file.
        if (name.Length == 0 || name.Length > 200 || name.Contains('/', StringComparison.Ordinal))
        {
            return Path.Combine(LocksDir, $"#{VolumeJobs.NameDigest(name)}.lock");
        }

        return Path.Combine(LocksDir, name + ".lock");
    }

    private Task<IDisposable> AcquireAsync(SemaphoreSlim gate, string path, CancellationToken ct)
        => GatedFlock.AcquireAsync(gate, () => OpenLockFile(path), path, ct);

    /// <summary>Opens (creating) the lock file <paramref name="path"/>, and the locks folder when it is gone.</summary>
    private int OpenLockFile(string path)
    {
        store.EnsureCreated();
        var fd = LibC.Open(path, LibC.O_RDWR | LibC.O_CREAT | LibC.O_CLOEXEC, 0x180);
        if (fd < 0 && LibC.Errno == Errno.ENOENT)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            fd = LibC.Open(path, LibC.O_RDWR | LibC.O_CREAT | LibC.O_CLOEXEC, 0x180);
        }

        LibC.Check(fd, $"cannot open lock file '{path}'");
        return fd;
    }

    private sealed class Held(List<IDisposable> held) : IDisposable
    {
        public void Dispose()
        {
            for (var i = held.Count - 1; i >= 0; i--)
            {
                held[i].Dispose();
            }
        }
    }
}
