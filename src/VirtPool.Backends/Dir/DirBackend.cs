using VirtPool.Backends.Local;
using VirtPool.Core.Backends;
using VirtPool.Core.Errors;
using VirtPool.Core.Interop;
using VirtPool.Core.Model;
using VirtPool.Core.Process;

namespace VirtPool.Backends.Dir;

/// <summary>
/// A directory of image files (libvirt's "dir" pool). Build creates the directory; there is
/// nothing to mount, so start only checks it exists; volumes are files probed natively.
/// fs and netfs pools will reuse <see cref="LocalFileVolumes"/> after mounting their target.
/// One instance per pool (<see cref="Load"/>); it holds nothing the pool's definition does not give.
/// </summary>
public sealed class DirBackend : IStorageBackend, IPoolBuilder, IPoolDeleter, IVolumeCreator, IVolumeDeleter, IVolumeResizer, IVolumeCloner, IVolumeWiper, IVolumeTransfer
{
    /// <summary>libvirt's VIR_STORAGE_DEFAULT_POOL_PERM_MODE.</summary>
    public const uint DefaultPoolMode = 0x1C9; // 0711

    private readonly LocalFileVolumes _volumes;

    private DirBackend(IProcessRunner runner) => _volumes = new LocalFileVolumes(runner);

    /// <summary>The dir pool type: a <see cref="DirBackend"/> per pool.</summary>
    public static BackendType Type(IProcessRunner runner) => BackendType.Of(PoolType.Dir, _ => new DirBackend(runner));

    public Task<bool> CheckPoolAsync(PoolContext pool, CancellationToken cancellationToken)
        => Task.FromResult(FileStat.TryStat(RequireTarget(pool), out var st, out _) && st.IsDirectory);

    public Task StartPoolAsync(PoolContext pool, PoolStartFlags flags, CancellationToken cancellationToken)
    {
        // libvirt's dir backend has no startPool; the refresh that follows fails on a missing directory.
        return Task.CompletedTask;
    }

    public Task StopPoolAsync(PoolContext pool, CancellationToken cancellationToken) => Task.CompletedTask;

    public Task<PoolScan> RefreshPoolAsync(PoolContext pool, CancellationToken cancellationToken)
        => Task.FromResult(_volumes.Scan(RequireTarget(pool), pool.Log, cancellationToken));

    public Task<VolumeDefinition> RefreshVolumeAsync(PoolContext pool, VolumeDefinition volume, CancellationToken cancellationToken)
        => Task.FromResult(_volumes.Refresh(volume));

    public Task<ulong> GetAllocationAsync(PoolContext pool, VolumeDefinition volume, CancellationToken cancellationToken)
        => Task.FromResult(_volumes.AllocationOf(volume));

    public VolumeDefinition PrepareVolume(PoolContext pool, VolumeDefinition volume)
        => _volumes.Prepare(RequireTarget(pool), volume);

    public Task<VolumeDefinition> CreateVolumeAsync(PoolContext pool, VolumeDefinition volume, VolumeCreateFlags flags, IProgress<long>? progress, CancellationToken cancellationToken)
        => _volumes.CreateAsync(volume, flags, pool.Passphrases, progress, cancellationToken);

    public Task ResizeVolumeAsync(PoolContext pool, VolumeDefinition volume, ulong capacity, bool allocate, CancellationToken cancellationToken)
        => _volumes.ResizeAsync(volume, capacity, allocate, pool.Passphrases, cancellationToken);

    public Task<VolumeDefinition> CreateVolumeFromAsync(PoolContext pool, VolumeDefinition volume, VolumeDefinition source, VolumeCreateFlags flags, IProgress<long>? progress, CancellationToken cancellationToken)
        => _volumes.CreateFromAsync(volume, source, flags, pool.Passphrases, progress, cancellationToken);

    public Task<VolumeDefinition> WipeVolumeAsync(PoolContext pool, VolumeDefinition volume, VolumeWipeAlgorithm algorithm, IProgress<long>? progress, CancellationToken cancellationToken)
        => LocalVolumeData.WipeAsync(volume, algorithm, progress, cancellationToken);

    public Task<long> UploadAsync(PoolContext pool, VolumeDefinition volume, VolumeDataEndpoint source, ulong offset, ulong length, bool sparse, IProgress<long>? progress, CancellationToken cancellationToken)
        => LocalVolumeData.UploadAsync(volume, source, offset, length, sparse, progress, cancellationToken);

    public Task<long> DownloadAsync(PoolContext pool, VolumeDefinition volume, VolumeDataEndpoint target, ulong offset, ulong length, bool sparse, IProgress<long>? progress, CancellationToken cancellationToken)
        => LocalVolumeData.DownloadAsync(volume, target, offset, length, sparse, progress, cancellationToken);

    public Task<byte[]> Sha256Async(PoolContext pool, VolumeDefinition volume, IProgress<long>? progress, CancellationToken cancellationToken)
        => LocalVolumeData.Sha256Async(volume, progress, cancellationToken);

    /// <summary>
    /// virStorageBackendVolDeleteLocal's check. qcow2 keeps its internal snapshots inside the file, so
    /// deleting the file deletes them; other formats have none and get libvirt's refusal.
    /// </summary>
    public void CheckDeleteFlags(VolumeDefinition volume, VolumeDeleteFlags flags)
        => BackendFlags.Check((uint)flags, volume.Target.Format == "qcow2" ? (uint)VolumeDeleteFlags.WithSnapshots : 0, "virStorageBackendVolDeleteLocal");

    public Task DeleteVolumeAsync(PoolContext pool, VolumeDefinition volume, VolumeDeleteFlags flags, CancellationToken cancellationToken)
    {
        LocalFileVolumes.Delete(volume);
        return Task.CompletedTask;
    }

    /// <summary>virStorageBackendFileSystemBuild for dir pools: mkdir -p, then mode and owner.</summary>
    public Task BuildPoolAsync(PoolContext pool, PoolBuildFlags flags, CancellationToken cancellationToken)
    {
        BackendFlags.CheckBuild(flags, PoolBuildFlags.Overwrite | PoolBuildFlags.NoOverwrite, "virStorageBackendFileSystemBuild");
        var path = RequireTarget(pool);
        if (!path.StartsWith('/'))
        {
            throw VirtPoolException.Internal($"path '{path}' is not absolute");
        }

        var parent = Path.GetDirectoryName(path.TrimEnd('/'));
        if (!string.IsNullOrEmpty(parent) && parent != "/")
        {
            try
            {
                Directory.CreateDirectory(parent);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                throw VirtPoolException.System($"cannot create path '{parent}'", ex);
            }
        }

        var perms = pool.Definition.Target.Permissions;
        // As libvirt's virDirCreate with ALLOW_EXIST: whatever exists at the path is accepted here;
        // the start that follows finds out whether it is a usable directory.
        var existed = FileStat.TryStat(path, out _, out _);

        var mode = perms.Mode ?? (existed ? (uint?)null : DefaultPoolMode);
        if (!existed && LibC.Mkdir(path, mode ?? DefaultPoolMode) < 0 && LibC.Errno != Errno.EEXIST)
        {
            throw VirtPoolException.System($"cannot create path '{path}'", LibC.Errno);
        }

        if (perms.Owner is not null || perms.Group is not null)
        {
            var owner = perms.Owner is { } o ? (int)o : -1;
            var group = perms.Group is { } g ? (int)g : -1;
            if (LibC.Chown(path, owner, group) < 0)
            {
                throw VirtPoolException.System($"cannot chown '{path}' to ({owner}, {group})", LibC.Errno);
            }
        }

        // mkdir is subject to the umask; libvirt sets the exact mode afterwards.
        if (mode is { } m && LibC.Chmod(path, m) < 0)
        {
            throw VirtPoolException.System($"cannot set mode of '{path}' to {Convert.ToString(m, 8)}", LibC.Errno);
        }

        // libvirt's fs build goes on to make a filesystem when asked to (over)write: a dir pool has
        // no device for it, so the directory is made and the request refused.
        if ((flags & (PoolBuildFlags.Overwrite | PoolBuildFlags.NoOverwrite)) != 0)
        {
            throw VirtPoolException.InvalidOperation($"No source device specified when formatting pool '{pool.Name}'");
        }

        return Task.CompletedTask;
    }

    /// <summary>virStorageBackendDeleteLocal: rmdir; no flag is taken (nothing zeroes a directory).</summary>
    public Task DeletePoolAsync(PoolContext pool, PoolDeleteFlags flags, CancellationToken cancellationToken)
    {
        BackendFlags.Check((uint)flags, 0, "virStorageBackendDeleteLocal");
        var path = RequireTarget(pool);
        if (LibC.Rmdir(path) < 0)
        {
            throw VirtPoolException.System($"failed to remove pool '{path}'", LibC.Errno);
        }

        return Task.CompletedTask;
    }

    private static string RequireTarget(PoolContext pool)
        => pool.TargetPath ?? throw VirtPoolException.Xml("missing storage pool target path");
}
