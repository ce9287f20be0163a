using VirtPool.Core.Process;

namespace VirtPool.TestSupport;

/// <summary>
/// A private zfs-fuse daemon for the tests of a class (tests/services/zfs-up.sh), and the file vdevs
/// of their zpools in <see cref="Folder"/>. Torn down (zfs-down.sh: every zpool with a vdev in the
/// folder, then the daemon) when the class is done, and at once when the start fails.
/// </summary>
/// <remarks>
/// zpool and zfs reach the daemon on one fixed socket, so it is one per machine, and test assemblies
/// run in parallel: each daemon holds <see cref="LockPath"/> from before its start to after its stop,
/// and the next one waits for it.
/// </remarks>
public sealed class ZfsDaemon : IDisposable
{
    /// <summary>The lock that serializes the test suites' zfs-fuse daemons on this machine.</summary>
    public const string LockPath = "/run/lock/virtpool-tests-zfs-fuse.lock";

    private readonly FileStream _machineLock = TestServices.TakeMachineLock(LockPath);

    public ZfsDaemon()
    {
        try
        {
            var up = Run("zfs-up.sh");
            if (up.ExitCode != 0)
            {
                throw new InvalidOperationException($"zfs-up.sh failed ({up.ExitCode}): {up.StandardError}{up.StandardOutput}");
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>The daemon's pid file and log, and the tests' vdev files.</summary>
    public string Folder { get; } = Directory.CreateTempSubdirectory("vp-zfs-").FullName;

    /// <summary>
    /// A zpool name no other test or run uses: "vpc11zfs" and 6 random letters (zfs reserves names
    /// that start with c and a digit).
    /// </summary>
    public static string NewZpoolName() => "vpc11zfs" + Guid.NewGuid().ToString("N")[..6];

    /// <summary>A sparse file vdev of <paramref name="bytes"/> in <see cref="Folder"/> (zfs wants at least 64 MiB).</summary>
    public string NewVdev(long bytes = 128L << 20)
    {
        var path = Path.Combine(Folder, $"vdev-{Guid.NewGuid():N}.img");
        using var file = new FileStream(path, FileMode.CreateNew);
        file.SetLength(bytes);
        return path;
    }

    /// <summary>
    /// Runs zpool or zfs for a test's own setup or teardown; a failure throws with the tool's stderr.
    /// </summary>
    public static string Tool(params string[] argv)
    {
        var result = ProcessRunner.Instance.RunAsync(new ProcessRequest(argv) { Timeout = TimeSpan.FromMinutes(2) }).GetAwaiter().GetResult();
        return result.ExitCode == 0
            ? result.StandardOutput
            : throw new InvalidOperationException($"{string.Join(' ', argv)} failed ({result.ExitCode}): {result.StandardError}");
    }

    /// <summary>Destroys the zpool if it exists (a test's own cleanup; zfs-down.sh catches the rest).</summary>
    public static void DestroyIfPresent(string zpool)
    {
        var listed = ProcessRunner.Instance.RunAsync(new ProcessRequest(["zpool", "list", "-H", "-o", "name", zpool]) { Timeout = TimeSpan.FromMinutes(1) }).GetAwaiter().GetResult();
        if (listed.ExitCode == 0)
        {
            Tool("zpool", "destroy", "-f", zpool);
        }
    }

    public void Dispose()
    {
        var down = Run("zfs-down.sh");
        Directory.Delete(Folder, recursive: true);
        _machineLock.Dispose();
        if (down.ExitCode != 0)
        {
            throw new InvalidOperationException($"zfs-down.sh failed ({down.ExitCode}): {down.StandardError}");
        }
    }

    private ProcessResult Run(string script)
        => ProcessRunner.Instance.RunAsync(new ProcessRequest([TestServices.Script(script), Folder]) { Timeout = TimeSpan.FromMinutes(2) }).GetAwaiter().GetResult();
}
