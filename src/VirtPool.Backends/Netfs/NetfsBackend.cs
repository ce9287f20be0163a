using VirtPool.Backends.Local;
using VirtPool.Backends.Mounts;
using VirtPool.Core.Backends;
using VirtPool.Core.Errors;
using VirtPool.Core.Model;
using VirtPool.Core.Process;

namespace VirtPool.Backends.Netfs;

/// <summary>
/// A network filesystem (NFS, CIFS, GlusterFS) mounted on the pool's target (libvirt's "netfs" pool,
/// storage_backend_fs.c with the netfs source text). Build makes the target directory; start mounts
/// <c>HOST:DIR</c> (<c>//HOST/DIR</c> for cifs), stop unmounts, check reads the mount table; volumes
/// are files in the mounted target exactly as in dir and fs pools (<see cref="FileVolumeBackend"/>).
/// </summary>
/// <remarks>
/// Mount and umount run with a time limit (<see cref="MountCommand.DefaultTimeout"/> unless the type
/// is made with another): an NFS server that does not answer would otherwise hold the start forever.
/// </remarks>
public sealed class NetfsBackend : FileVolumeBackend, IPoolBuilder
{
    private const string BuildFunction = "virStorageBackendFileSystemBuild";

    private readonly PoolMount _mounts;

    private NetfsBackend(IProcessRunner runner, TimeSpan mountTimeout)
        : base(runner)
        => _mounts = new PoolMount(runner, mountTimeout);

    /// <summary>The netfs pool type: a <see cref="NetfsBackend"/> per pool.</summary>
    /// <param name="mountTimeout">How long mount and umount may take; <see cref="MountCommand.DefaultTimeout"/> when null.</param>
    public static BackendType Type(IProcessRunner runner, TimeSpan? mountTimeout = null)
        => BackendType.Of(PoolType.Netfs, _ => new NetfsBackend(runner, mountTimeout ?? MountCommand.DefaultTimeout), new NetfsSourceFinder(runner));

    /// <summary>virStorageBackendFileSystemCheck: active when the export is mounted on the target.</summary>
    public override Task<bool> CheckPoolAsync(PoolContext pool, CancellationToken cancellationToken)
        => Task.FromResult(PoolMount.IsMounted(SourceText(pool), RequireTarget(pool)));

    /// <summary>virStorageBackendFileSystemMount: nothing when already mounted there, else mount.</summary>
    public override Task StartPoolAsync(PoolContext pool, PoolStartFlags flags, CancellationToken cancellationToken)
    {
        var source = SourceText(pool);
        var target = RequireTarget(pool);
        return _mounts.MountAsync(source, target, mount => MountArgv(mount, pool.Definition, source, target), cancellationToken);
    }

    /// <summary>virStorageBackendFileSystemStop: umount when mounted.</summary>
    public override Task StopPoolAsync(PoolContext pool, CancellationToken cancellationToken)
        => _mounts.UnmountAsync(SourceText(pool), RequireTarget(pool), cancellationToken);

    /// <summary>
    /// virStorageBackendFileSystemBuild for netfs: the target directory. libvirt takes the overwrite
    /// flags as for fs and then refuses them, since there is no device to format.
    /// </summary>
    public Task BuildPoolAsync(PoolContext pool, PoolBuildFlags flags, CancellationToken cancellationToken)
    {
        BackendFlags.CheckBuild(flags, PoolBuildFlags.Overwrite | PoolBuildFlags.NoOverwrite, BuildFunction);
        BuildTargetDirectory(pool);
        if (flags != PoolBuildFlags.None)
        {
            throw VirtPoolException.InvalidOperation($"No source device specified when formatting pool '{pool.Name}'");
        }

        return Task.CompletedTask;
    }

    /// <summary>
    /// virStorageBackendFileSystemMountCmd for netfs: auto runs plain mount (no <c>-t</c>) and nfs
    /// <c>-t nfs</c>, both with <c>nfsvers=</c> from &lt;protocol ver&gt;; glusterfs adds
    /// <c>direct-io-mode=1</c> and cifs <c>guest</c>, neither with the NFS version.
    /// </summary>
    public static IReadOnlyList<string> MountArgv(string mount, PoolDefinition definition, string source, string target)
    {
        var format = definition.Source.NetfsFormat;
        var nfsVersion = definition.Source.ProtocolVersion is { } ver ? "nfsvers=" + ver : null;
        var (fsType, option) = format switch
        {
            PoolNetfsFormat.Auto => (null, nfsVersion),
            PoolNetfsFormat.Glusterfs => ("glusterfs", "direct-io-mode=1"),
            PoolNetfsFormat.Cifs => ("cifs", "guest"),
            _ => (format.ToName(), nfsVersion),
        };
        return MountCommand.MountArgv(mount, fsType, source, target, option, definition.FsMountOptions);
    }

    /// <summary>
    /// virStorageBackendFileSystemIsValid for netfs, then virStorageBackendFileSystemGetPoolSource:
    /// <c>//HOST/DIR</c> for cifs, <c>HOST:DIR</c> for the others; also what the mount table shows.
    /// </summary>
    public static string SourceText(PoolContext pool)
    {
        var source = pool.Definition.Source;
        if (source.Hosts.Count != 1)
        {
            throw VirtPoolException.Unsupported("expected exactly 1 host for the storage pool");
        }

        // libvirt refuses only a missing name: an empty one gives mount ":DIR" to refuse.
        var host = source.Hosts[0].Name;
        if (host is null)
        {
            throw VirtPoolException.Internal("missing source host");
        }

        var dir = source.Dir ?? throw VirtPoolException.Internal("missing source path");
        return source.NetfsFormat == PoolNetfsFormat.Cifs ? $"//{host}/{dir}" : $"{host}:{dir}";
    }
}
