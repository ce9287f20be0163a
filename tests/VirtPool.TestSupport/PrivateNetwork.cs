using VirtPool.Core.Process;

namespace VirtPool.TestSupport;

/// <summary>
/// A network namespace with only its loopback interface (tests/services/nfs-up.sh), standing for one
/// storage host at 127.0.0.1: with an NFS server (rpcbind on TCP 111 + nfs-ganesha exporting
/// <c>/export</c>) or bare, and a private glusterd added on demand. Commands under test run in it
/// through <see cref="Enter"/>; nothing it serves is reachable from outside, and torn down
/// (gluster-down.sh, nfs-down.sh: every process left in the namespace, then the namespace) on dispose
/// and at once when a start fails.
/// </summary>
/// <remarks>
/// glusterd is one per machine (its unix socket): <see cref="StartGluster"/> holds
/// <see cref="GlusterServer.LockPath"/> until the network is disposed, as <see cref="GlusterServer"/> does.
/// </remarks>
public sealed class PrivateNetwork : IDisposable
{
    private FileStream? _glusterLock;

    private PrivateNetwork(bool nfs)
    {
        try
        {
            var up = Run(["bash", TestServices.Script("nfs-up.sh"), Folder, nfs ? "nfs" : "bare"]);
            if (up.ExitCode != 0)
            {
                throw new InvalidOperationException($"nfs-up.sh failed ({up.ExitCode}): {up.StandardError}{up.StandardOutput}");
            }

            NamespacePath = up.StandardOutput.Trim();
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>A host serving NFS: showmount inside lists <c>/export</c>.</summary>
    public static PrivateNetwork WithNfs() => new(nfs: true);

    /// <summary>A host serving nothing (yet).</summary>
    public static PrivateNetwork Bare() => new(nfs: false);

    /// <summary>The folder holding the servers' state, logs and the exported directory.</summary>
    public string Folder { get; } = Directory.CreateTempSubdirectory("vp-net-").FullName;

    /// <summary>/run/netns/NAME.</summary>
    public string NamespacePath { get; } = string.Empty;

    /// <summary>The prefix that runs a command in the namespace.</summary>
    public IReadOnlyList<string> Enter => ["nsenter", "--net=" + NamespacePath, "--"];

    /// <summary>The gluster volumes <see cref="StartGluster"/> made (unique per run).</summary>
    public IReadOnlyList<string> GlusterVolumes { get; private set; } = [];

    private string GlusterFolder => Path.Combine(Folder, "gluster");

    /// <summary>Starts glusterd on the namespace's 127.0.0.1:24007 with <paramref name="volumes"/> started volumes.</summary>
    public void StartGluster(int volumes)
    {
        _glusterLock ??= TestServices.TakeMachineLock(GlusterServer.LockPath);
        var up = Run([.. Enter, "bash", TestServices.Script("gluster-up.sh"), GlusterFolder, volumes.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        if (up.ExitCode != 0)
        {
            throw new InvalidOperationException($"gluster-up.sh in {NamespacePath} failed ({up.ExitCode}): {up.StandardError}{up.StandardOutput}");
        }

        GlusterVolumes = File.ReadAllLines(Path.Combine(GlusterFolder, "volumes"));
    }

    /// <summary>Stops the glusterd of <see cref="StartGluster"/> (the host then has none, as after libvirt's recording stopped it).</summary>
    public void StopGluster()
    {
        var down = Run(["bash", TestServices.Script("gluster-down.sh"), GlusterFolder]);
        if (down.ExitCode != 0)
        {
            throw new InvalidOperationException($"gluster-down.sh failed ({down.ExitCode}): {down.StandardError}");
        }

        GlusterVolumes = [];
    }

    /// <summary>Runs a command in the namespace (the real process runner behind <see cref="Enter"/>).</summary>
    public IProcessRunner Runner => new NamespacedRunner(this);

    public void Dispose()
    {
        var failures = new List<string>();
        if (_glusterLock is not null)
        {
            var gl = Run(["bash", TestServices.Script("gluster-down.sh"), GlusterFolder]);
            if (gl.ExitCode != 0)
            {
                failures.Add($"gluster-down.sh failed ({gl.ExitCode}): {gl.StandardError}");
            }
        }

        var down = Run(["bash", TestServices.Script("nfs-down.sh"), Folder]);
        if (down.ExitCode != 0)
        {
            failures.Add($"nfs-down.sh failed ({down.ExitCode}): {down.StandardError}");
        }

        _glusterLock?.Dispose();
        _glusterLock = null;
        Directory.Delete(Folder, recursive: true);
        if (failures.Count > 0)
        {
            throw new InvalidOperationException(string.Join('\n', failures));
        }
    }

    private static ProcessResult Run(IReadOnlyList<string> argv)
        => ProcessRunner.Instance.RunAsync(new ProcessRequest(argv) { Timeout = TimeSpan.FromMinutes(3) }).GetAwaiter().GetResult();

    /// <summary>The real runner, each command started in the namespace; timeouts and input pass through.</summary>
    private sealed class NamespacedRunner(PrivateNetwork network) : IProcessRunner
    {
        public Task<ProcessResult> RunAsync(IReadOnlyList<string> argv, CancellationToken cancellationToken = default)
            => RunAsync(new ProcessRequest(argv), cancellationToken);

        public Task<ProcessResult> RunAsync(ProcessRequest request, CancellationToken cancellationToken = default)
            => ProcessRunner.Instance.RunAsync(request with { Argv = [.. network.Enter, .. request.Argv] }, cancellationToken);
    }
}
