using VirtPool.Core.Process;

namespace VirtPool.TestSupport;

/// <summary>
/// A private GlusterFS server for the tests of a class (tests/services/gluster-up.sh): glusterd on
/// 127.0.0.1 with single-brick volumes (two: one per side of a differential test). Torn down
/// (gluster-down.sh: mounts of the volume, the volume, glusterd) when the class is done, and at once
/// when the start fails.
/// </summary>
/// <remarks>
/// glusterd is one per machine and test assemblies run in parallel: each server holds
/// <see cref="LockPath"/> from before its start to after its stop, and the next one waits for it.
/// </remarks>
public sealed class GlusterServer : IDisposable
{
    /// <summary>The lock that serializes the test suites' glusterd instances on this machine.</summary>
    public const string LockPath = "/run/lock/virtpool-tests-glusterd.lock";

    private readonly FileStream _machineLock = TestServices.TakeMachineLock(LockPath);

    public GlusterServer()
    {
        try
        {
            var up = Run("gluster-up.sh", "2");
            if (up.ExitCode != 0)
            {
                throw new InvalidOperationException($"gluster-up.sh failed ({up.ExitCode}): {up.StandardError}{up.StandardOutput}");
            }

            Volumes = File.ReadAllLines(Path.Combine(Folder, "volumes"));
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>The folder holding glusterd's state and the brick; tests put their pool targets here too.</summary>
    public string Folder { get; } = Directory.CreateTempSubdirectory("vp-gluster-").FullName;

    /// <summary>The volumes' names (unique per run).</summary>
    public IReadOnlyList<string> Volumes { get; } = [];

    /// <summary>A volume's brick directory: what a FUSE client writes shows up here.</summary>
    public string BrickOf(string volume) => Path.Combine(Folder, "bricks", volume);

    /// <summary>
    /// FUSE-mounts <paramref name="volume"/> (mount -t glusterfs 127.0.0.1:/VOL, no attribute or entry caching: what gfapi changed shows at once), so a test can put files in
    /// the gluster volume and check them by another client than the code under test. Unmounted on dispose
    /// (and by gluster-down.sh when a test left it).
    /// </summary>
    public FuseMount Mount(string volume)
    {
        var target = Directory.CreateTempSubdirectory("vp-glfuse-").FullName;
        var mounted = ProcessRunner.Instance.RunAsync(["mount", "-t", "glusterfs", "-o", "attribute-timeout=0,entry-timeout=0,negative-timeout=0", "127.0.0.1:/" + volume, target]).GetAwaiter().GetResult();
        if (mounted.ExitCode != 0)
        {
            Directory.Delete(target);
            throw new InvalidOperationException($"mount of gluster volume {volume} failed ({mounted.ExitCode}): {mounted.StandardError}");
        }

        return new FuseMount(target);
    }

    /// <summary>
    /// Fault drills: stops glusterd and the bricks of this server (SIGKILL, as a crash), and only those
    /// (their command lines name <see cref="Folder"/>), and waits until they are gone.
    /// </summary>
    public void StopServers()
    {
        var pids = ServerProcesses();
        foreach (var pid in pids)
        {
            _ = ProcessRunner.Instance.RunAsync(["kill", "-KILL", pid.ToString(System.Globalization.CultureInfo.InvariantCulture)]).GetAwaiter().GetResult();
        }

        foreach (var pid in pids)
        {
            var exited = ProcessRunner.Instance.RunAsync(["sh", "-c", $"while kill -0 {pid} 2>/dev/null; do sleep 0.05; done"]).GetAwaiter().GetResult();
            if (exited.ExitCode != 0)
            {
                throw new InvalidOperationException($"gluster process {pid} did not stop");
            }
        }
    }

    /// <summary>Starts glusterd again on this server's state (it restarts the bricks) and waits until every brick is online.</summary>
    public void StartServers()
    {
        var work = Folder;
        var script = $"glusterd -f {work}/glusterd.vol -p {work}/glusterd.pid -l {work}/log/glusterd.log && " +
            "for i in $(seq 1 300); do ok=1; for v in $(cat " + work + "/volumes); do " +
            "gluster --mode=script volume status $v detail 2>/dev/null | grep -q '^Online.*: Y' || ok=0; done; " +
            "[ $ok = 1 ] && exit 0; sleep 0.2; done; exit 1";
        var started = ProcessRunner.Instance.RunAsync(["sh", "-c", script]).GetAwaiter().GetResult();
        if (started.ExitCode != 0)
        {
            throw new InvalidOperationException($"glusterd did not come back ({started.ExitCode}): {started.StandardError}");
        }
    }

    private List<int> ServerProcesses()
    {
        var pids = new List<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(System.IO.Path.GetFileName(dir), out var pid) || pid == Environment.ProcessId)
            {
                continue;
            }

            try
            {
                var comm = File.ReadAllText(System.IO.Path.Combine(dir, "comm")).Trim();
                var cmdline = File.ReadAllText(System.IO.Path.Combine(dir, "cmdline")).Replace('\0', ' ');
                if (comm is "glusterd" or "glusterfsd" && cmdline.Contains(Folder + "/", StringComparison.Ordinal))
                {
                    pids.Add(pid);
                }
            }
            catch (IOException)
            {
                // The process ended meanwhile.
            }
        }

        return pids;
    }

    /// <summary>A FUSE mount of a gluster volume; <see cref="Dispose"/> unmounts it and removes the folder.</summary>
    public sealed class FuseMount(string path) : IDisposable
    {
        public string Path { get; } = path;

        public void Dispose()
        {
            var done = ProcessRunner.Instance.RunAsync(["umount", Path]).GetAwaiter().GetResult();
            if (done.ExitCode != 0)
            {
                _ = ProcessRunner.Instance.RunAsync(["umount", "-l", Path]).GetAwaiter().GetResult();
            }

            Directory.Delete(Path);
        }
    }

    public void Dispose()
    {
        var down = Run("gluster-down.sh");
        Directory.Delete(Folder, recursive: true);
        _machineLock.Dispose();
        if (down.ExitCode != 0)
        {
            throw new InvalidOperationException($"gluster-down.sh failed ({down.ExitCode}): {down.StandardError}");
        }
    }

    private ProcessResult Run(string script, params string[] args)
        => ProcessRunner.Instance.RunAsync([TestServices.Script(script), Folder, .. args]).GetAwaiter().GetResult();
}
