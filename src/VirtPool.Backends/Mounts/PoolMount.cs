using VirtPool.Core.Process;

namespace VirtPool.Backends.Mounts;

/// <summary>
/// The check, start and stop that fs and netfs pools share (storage_backend_fs.c's
/// virStorageBackendFileSystemIsMounted, Mount and Unmount): a pool is active when its source is
/// mounted on its target; start mounts unless that is already so, stop unmounts only then. Each type
/// gives only its source text and its mount argv.
/// </summary>
/// <remarks>
/// mount and umount are located once per pool load; a missing one fails only the operation that runs
/// it. Both run with a time limit, so an unreachable server fails the start instead of hanging it.
/// </remarks>
internal sealed class PoolMount(IProcessRunner runner, TimeSpan timeout)
{
    private readonly string? _mount = ExternalTools.Locate(MountCommand.LibvirtMountPath);
    private readonly string? _umount = ExternalTools.Locate(MountCommand.LibvirtUmountPath);

    /// <summary>The mount program to put first in the argv.</summary>
    public string MountProgram => _mount ?? throw ChildProcessErrors.NotFound("mount");

    /// <summary>Whether <paramref name="source"/> is mounted on <paramref name="target"/> now.</summary>
    public static bool IsMounted(string source, string target) => MountTable.IsMounted(MountTable.Read(), source, target);

    /// <summary>Mounts unless already mounted there; <paramref name="argv"/> is built only when a mount runs.</summary>
    public async Task MountAsync(string source, string target, Func<string, IReadOnlyList<string>> argv, CancellationToken cancellationToken)
    {
        if (IsMounted(source, target))
        {
            return;
        }

        await runner.RunCheckedAsync(new ProcessRequest(argv(MountProgram)) { Timeout = timeout }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Unmounts when mounted; nothing otherwise.</summary>
    public async Task UnmountAsync(string source, string target, CancellationToken cancellationToken)
    {
        if (!IsMounted(source, target))
        {
            return;
        }

        var argv = MountCommand.UmountArgv(_umount ?? throw ChildProcessErrors.NotFound("umount"), target);
        await runner.RunCheckedAsync(new ProcessRequest(argv) { Timeout = timeout }, cancellationToken).ConfigureAwait(false);
    }
}
