using VirtPool.Backends.Local;
using VirtPool.Core.Backends;
using VirtPool.Core.Errors;
using VirtPool.Core.Interop;
using VirtPool.Core.Model;
using VirtPool.Core.Process;

namespace VirtPool.Backends.Dir;

/// <summary>
/// A directory of image files (libvirt's "dir" pool). Build creates the directory; there is
/// nothing to mount, so start only checks it exists; volumes are files probed natively
/// (<see cref="FileVolumeBackend"/>, which fs and netfs pools share once their target is mounted).
/// One instance per pool (<see cref="Load"/>); it holds nothing the pool's definition does not give.
/// </summary>
public sealed class DirBackend : FileVolumeBackend, IPoolBuilder
{
    private DirBackend(IProcessRunner runner)
        : base(runner)
    {
    }

    /// <summary>The dir pool type: a <see cref="DirBackend"/> per pool.</summary>
    public static BackendType Type(IProcessRunner runner) => BackendType.Of(PoolType.Dir, _ => new DirBackend(runner));

    public override Task<bool> CheckPoolAsync(PoolContext pool, CancellationToken cancellationToken)
        => Task.FromResult(FileStat.TryStat(RequireTarget(pool), out var st, out _) && st.IsDirectory);

    public override Task StartPoolAsync(PoolContext pool, PoolStartFlags flags, CancellationToken cancellationToken)
    {
        // libvirt's dir backend has no startPool; the refresh that follows fails on a missing directory.
        return Task.CompletedTask;
    }

    public override Task StopPoolAsync(PoolContext pool, CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>virStorageBackendFileSystemBuild for dir pools: mkdir -p, then mode and owner.</summary>
    public Task BuildPoolAsync(PoolContext pool, PoolBuildFlags flags, CancellationToken cancellationToken)
    {
        BackendFlags.CheckBuild(flags, PoolBuildFlags.Overwrite | PoolBuildFlags.NoOverwrite, "virStorageBackendFileSystemBuild");
        BuildTargetDirectory(pool);

        // libvirt's fs build goes on to make a filesystem when asked to (over)write: a dir pool has
        // no device for it, so the directory is made and the request refused.
        if ((flags & (PoolBuildFlags.Overwrite | PoolBuildFlags.NoOverwrite)) != 0)
        {
            throw VirtPoolException.InvalidOperation($"No source device specified when formatting pool '{pool.Name}'");
        }

        return Task.CompletedTask;
    }
}
