using VirtPool.Backends.Local;
using VirtPool.Backends.Mounts;
using VirtPool.Core.Backends;
using VirtPool.Core.Errors;
using VirtPool.Core.Model;
using VirtPool.Core.Process;

namespace VirtPool.Backends.Fs;

/// <summary>
/// A filesystem on a block device, mounted on the pool's target (libvirt's "fs" pool,
/// storage_backend_fs.c). Build makes the target directory and, when asked to (over)write, the
/// filesystem; start mounts, stop unmounts, check reads the mount table; volumes are files in the
/// mounted target exactly as in a dir pool (<see cref="FileVolumeBackend"/>). Besides libvirt's formats
/// it builds and mounts btrfs (libvirt 9.0 refuses the name), where, as on xfs, clones can be reflinks.
/// </summary>
/// <remarks>
/// The tools are found when the pool's backend is loaded; one that is missing fails only the operation
/// that runs it ("'mkfs.xfs' not found: install xfsprogs"). Mount and umount run with a time limit
/// (<see cref="MountCommand.DefaultTimeout"/> unless the type is made with another): a mount that hangs
/// is killed and the start fails with the runner's timeout error, leaving the pool inactive.
/// </remarks>
public sealed class FsBackend : FileVolumeBackend, IPoolBuilder
{
    /// <summary>libvirt's MKFS: mkfs runs the mkfs.TYPE helper for <c>-t TYPE</c>.</summary>
    public const string LibvirtMkfsPath = "/sbin/mkfs";

    private const string BuildFunction = "virStorageBackendFileSystemBuild";

    private readonly IProcessRunner _runner;
    private readonly PoolMount _mounts;
    private readonly string? _mkfs;
    private readonly string? _blkid;
    private readonly string _mkfsHelper;
    private readonly bool _mkfsHelperFound;

    private FsBackend(IProcessRunner runner, PoolContext pool, TimeSpan mountTimeout)
        : base(runner)
    {
        _runner = runner;
        _mounts = new PoolMount(runner, mountTimeout);
        _mkfs = ExternalTools.Locate(LibvirtMkfsPath);
        _blkid = ExternalTools.Find("blkid");

        // mkfs itself only says "failed to execute mkfs.xfs"; the helper is what a host lacks. "auto"
        // has none, and mkfs's own refusal of it is libvirt's answer too.
        var format = pool.Definition.Source.FsFormat;
        _mkfsHelper = "mkfs." + format.ToName();
        _mkfsHelperFound = format == PoolFsFormat.Auto || ExternalTools.IsInstalled(_mkfsHelper);
    }

    /// <summary>The fs pool type: an <see cref="FsBackend"/> per pool.</summary>
    /// <param name="mountTimeout">How long mount and umount may take; <see cref="MountCommand.DefaultTimeout"/> when null.</param>
    public static BackendType Type(IProcessRunner runner, TimeSpan? mountTimeout = null)
        => BackendType.Of(PoolType.Fs, pool => new FsBackend(runner, pool, mountTimeout ?? MountCommand.DefaultTimeout));

    /// <summary>virStorageBackendFileSystemCheck: active when the device is mounted on the target.</summary>
    public override Task<bool> CheckPoolAsync(PoolContext pool, CancellationToken cancellationToken)
        => Task.FromResult(PoolMount.IsMounted(SourceDevice(pool), RequireTarget(pool)));

    /// <summary>virStorageBackendFileSystemMount: nothing when already mounted there, else mount.</summary>
    public override Task StartPoolAsync(PoolContext pool, PoolStartFlags flags, CancellationToken cancellationToken)
    {
        var device = SourceDevice(pool);
        return _mounts.MountAsync(device, RequireTarget(pool), mount => MountCommand.MountArgv(
            mount,
            pool.Definition.Source.FsFormat.ToName(),
            device,
            RequireTarget(pool),
            namespaceOptions: pool.Definition.FsMountOptions), cancellationToken);
    }

    /// <summary>virStorageBackendFileSystemStop: umount when mounted.</summary>
    public override Task StopPoolAsync(PoolContext pool, CancellationToken cancellationToken)
        => _mounts.UnmountAsync(SourceDevice(pool), RequireTarget(pool), cancellationToken);

    /// <summary>
    /// virStorageBackendFileSystemBuild: the target directory, then with <c>--overwrite</c> mkfs, with
    /// <c>--no-overwrite</c> mkfs only on a device where nothing is found.
    /// </summary>
    public async Task BuildPoolAsync(PoolContext pool, PoolBuildFlags flags, CancellationToken cancellationToken)
    {
        BackendFlags.CheckBuild(flags, PoolBuildFlags.Overwrite | PoolBuildFlags.NoOverwrite, BuildFunction);
        BuildTargetDirectory(pool);
        if (flags == PoolBuildFlags.None)
        {
            return;
        }

        // virStorageBackendMakeFileSystem
        var devices = pool.Definition.Source.Devices;
        if (devices.Count == 0)
        {
            throw VirtPoolException.InvalidOperation($"No source device specified when formatting pool '{pool.Name}'");
        }

        var device = devices[0].Path;
        var format = pool.Definition.Source.FsFormat.ToName();
        if (!Path.Exists(device))
        {
            throw VirtPoolException.InvalidOperation($"Source device does not exist when formatting pool '{pool.Name}'");
        }

        if ((flags & PoolBuildFlags.NoOverwrite) != 0)
        {
            await FilesystemProbe.EnsureEmptyAsync(_runner, _blkid ?? throw ChildProcessErrors.NotFound("blkid"), device, format, cancellationToken).ConfigureAwait(false);
        }

        if (!_mkfsHelperFound)
        {
            throw ChildProcessErrors.NotFound(_mkfsHelper);
        }

        await _runner.RunCheckedAsync(MkfsArgv(_mkfs ?? throw ChildProcessErrors.NotFound("mkfs"), format, device), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// virStorageBackendExecuteMKFS: <c>mkfs -t TYPE</c> with each helper's force flag, so an old signature
    /// never stops it. btrfs (not in libvirt) follows xfs: mkfs.btrfs refuses a device holding any
    /// filesystem without <c>-f</c>, and util-linux mkfs hands it the options after <c>-t TYPE</c>.
    /// </summary>
    public static IReadOnlyList<string> MkfsArgv(string mkfs, string format, string device)
    {
        var argv = new List<string> { mkfs, "-t", format };
        var force = format switch
        {
            "xfs" or "btrfs" => "-f",
            "ext2" or "ext3" or "ext4" => "-F",
            "vfat" => "-I",
            _ => null,
        };
        if (force is not null)
        {
            argv.Add(force);
        }

        argv.Add(device);
        return argv;
    }

    /// <summary>virStorageBackendFileSystemIsValid for fs pools: exactly one device.</summary>
    private static string SourceDevice(PoolContext pool)
    {
        var devices = pool.Definition.Source.Devices;
        return devices.Count switch
        {
            1 => devices[0].Path,
            0 => throw VirtPoolException.Internal("missing source device"),
            _ => throw VirtPoolException.Unsupported("expected exactly 1 device for the storage pool"),
        };
    }
}
