using VirtPool.Core.Backends;
using VirtPool.Core.Errors;
using VirtPool.Core.Interop;
using VirtPool.Core.Model;
using VirtPool.Core.Process;

namespace VirtPool.Backends.Local;

/// <summary>
/// What every pool whose volumes are files in its target directory shares (libvirt's dir, fs and
/// netfs backends all use storage_util.c's *Local functions): the volume operations, the refresh that
/// scans the directory, the build step that makes the directory (virStorageBackendBuildLocal) and the
/// pool delete that removes it (virStorageBackendDeleteLocal). A type adds only how its target comes
/// to be there (nothing for dir, a mount for fs and netfs).
/// </summary>
/// <remarks>
/// A base class rather than a member each backend forwards to: the volume interfaces are a dozen
/// members, and forwarding them in every type would copy them. The concrete types stay sealed, so
/// <see cref="BackendCapabilities"/> still derives from exactly the interfaces they have.
/// </remarks>
public abstract class FileVolumeBackend(IProcessRunner runner) : IStorageBackend, IPoolDeleter, IVolumeCreator, IVolumeBuilder, IVolumeDeleter, IVolumeResizer, IVolumeCloner, IVolumeWiper, IVolumeTransfer
{
    /// <summary>libvirt's VIR_STORAGE_DEFAULT_POOL_PERM_MODE.</summary>
    public const uint DefaultPoolMode = 0x1C9; // 0711

    private readonly LocalFileVolumes _volumes = new(runner);

    public abstract Task<bool> CheckPoolAsync(PoolContext pool, CancellationToken cancellationToken);

    public abstract Task StartPoolAsync(PoolContext pool, PoolStartFlags flags, CancellationToken cancellationToken);

    public abstract Task StopPoolAsync(PoolContext pool, CancellationToken cancellationToken);

    /// <summary>virStorageBackendRefreshLocal: the target's entries, and statvfs of the target for the sizes.</summary>
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

    /// <summary>virStorageBackendBuildLocal: mkdir -p of the target, then its mode and owner.</summary>
    protected static void BuildTargetDirectory(PoolContext pool)
    {
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
    }

    protected static string RequireTarget(PoolContext pool)
        => pool.TargetPath ?? throw VirtPoolException.Xml("missing storage pool target path");
}
