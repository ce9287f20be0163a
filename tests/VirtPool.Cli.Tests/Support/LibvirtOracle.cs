using System.Text.RegularExpressions;

namespace VirtPool.Cli.Tests.Support;

/// <summary>All differential tests share one private libvirtd and run one after the other.</summary>
[CollectionDefinition(Name)]
public sealed class LibvirtCollection : ICollectionFixture<LibvirtOracle>
{
    public const string Name = "libvirt oracle";
}

/// <summary>
/// A private libvirtd 9.0, the oracle of the differential tests, started with scripts/libvirtd-up.sh.
/// <para>
/// The daemon runs in its own mount namespace where <c>/run/libvirt</c> is a fresh tmpfs and
/// <c>/etc/libvirt/storage</c> a folder of ours: its pools never mix with another libvirtd's (a second
/// libvirtd on the same host cannot even start otherwise: the drivers' pid files in /run/libvirt are
/// locked), and nothing it defines outlives the fixture. The fixture's folder is a shared mount, so the
/// tmpfs each test mounts below it is seen by the daemon too.
/// </para>
/// <para>If the daemon cannot start the fixture throws: the differential tests never skip.</para>
/// </summary>
public sealed partial class LibvirtOracle : IAsyncLifetime
{
    private readonly HashSet<string> _trackedPools = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _gate = new(1, 1);
    private int _sandboxes;

    public string Root { get; private set; } = string.Empty;

    public string Uri { get; private set; } = string.Empty;

    /// <summary>Every pool name the daemon ever held while a test ran (all removed at the end).</summary>
    public IReadOnlyCollection<string> TrackedPools => _trackedPools;

    private string DaemonDir => Path.Combine(Root, "daemon");

    public async Task InitializeAsync()
    {
        Root = TestPaths.NewTempDir("vpdiff");
        try
        {
            await StartDaemonAsync().ConfigureAwait(false);
        }
        catch
        {
            await StopDaemonAsync().ConfigureAwait(false);
            throw;
        }
    }

    public async Task DisposeAsync()
    {
        try
        {
            await RemoveAllPoolsAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is InvalidOperationException or TimeoutException)
        {
            // the daemon goes away with its private configuration anyway
        }

        await StopDaemonAsync().ConfigureAwait(false);
        _gate.Dispose();
    }

    /// <summary><c>virsh -c URI ARGS</c> in the C locale.</summary>
    public Task<RunResult> VirshAsync(params string[] args) => ChildProcess.RunAsync("virsh", ["-c", Uri, .. args]);

    /// <summary>A fresh pair of folders for one test; the daemon holds no pool when it starts.</summary>
    public async Task<DiffSandbox> NewSandboxAsync()
    {
        await RemoveAllPoolsAsync().ConfigureAwait(false);
        var number = Interlocked.Increment(ref _sandboxes);
        var sandbox = new DiffSandbox(this, Path.Combine(Root, $"t{number:D4}"));
        await sandbox.InitializeAsync().ConfigureAwait(false);
        return sandbox;
    }

    /// <summary>
    /// Destroys and undefines every pool of the (private) daemon; dir pools of ours are also deleted.
    /// Throws when one survives, so a test never starts from a dirty oracle.
    /// </summary>
    public async Task RemoveAllPoolsAsync()
    {
        await _gate.WaitAsync().ConfigureAwait(false);
        try
        {
            foreach (var name in await PoolNamesAsync().ConfigureAwait(false))
            {
                _trackedPools.Add(name);
                await RemovePoolAsync(name).ConfigureAwait(false);
            }

            var left = await PoolNamesAsync().ConfigureAwait(false);
            if (left.Count > 0)
            {
                throw new InvalidOperationException($"the oracle libvirtd still holds pools after cleanup: {string.Join(", ", left)}");
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    public async Task<IReadOnlyList<string>> PoolNamesAsync()
    {
        var list = await VirshAsync("pool-list", "--all", "--name").ConfigureAwait(false);
        if (list.ExitCode != 0)
        {
            throw new InvalidOperationException($"virsh pool-list failed on the oracle: {list.Stderr}");
        }

        return [.. list.Stdout.Split('\n').Where(l => l.Length > 0)];
    }

    private async Task RemovePoolAsync(string name)
    {
        var xml = await VirshAsync("pool-dumpxml", "--pool", name).ConfigureAwait(false);
        await VirshAsync("pool-destroy", "--pool", name).ConfigureAwait(false);
        var type = PoolTypeRegex().Match(xml.Stdout);
        var target = TargetPathRegex().Match(xml.Stdout);
        if (type.Success && type.Groups[1].Value == "dir" && target.Success
            && target.Groups[1].Value.StartsWith(Root + "/", StringComparison.Ordinal))
        {
            // only our own folders: pool-delete of other types would touch devices
            await VirshAsync("pool-delete", "--pool", name).ConfigureAwait(false);
        }

        await VirshAsync("pool-undefine", "--pool", name).ConfigureAwait(false);
    }

    private async Task StartDaemonAsync()
    {
        var etcStorage = Path.Combine(Root, "etc-storage");
        Directory.CreateDirectory(DaemonDir);
        Directory.CreateDirectory(etcStorage);
        await Mounts.RunOrThrowAsync("mount", "--bind", Root, Root).ConfigureAwait(false);
        await Mounts.RunOrThrowAsync("mount", "--make-shared", Root).ConfigureAwait(false);

        const string Inner = "set -e; mkdir -p /run/libvirt /etc/libvirt/storage; "
                             + "mount -t tmpfs -o mode=0755 vporacle /run/libvirt; "
                             + "mount --bind \"$1\" /etc/libvirt/storage; "
                             + "exec \"$2\" \"$3\"";
        var script = TestPaths.Script("libvirtd-up.sh");
        var up = await ChildProcess.RunAsync(
            "unshare",
            ["--mount", "--propagation", "slave", "--", "bash", "-c", Inner, "libvirtd-up", etcStorage, script, DaemonDir],
            timeout: TimeSpan.FromSeconds(120)).ConfigureAwait(false);
        var uri = up.Stdout.Split('\n').LastOrDefault(l => l.StartsWith("qemu+unix://", StringComparison.Ordinal));
        if (up.ExitCode != 0 || uri is null)
        {
            throw new InvalidOperationException(
                $"the oracle libvirtd did not start ({script} {DaemonDir} in a private mount namespace, exit {up.ExitCode}).\n"
                + $"stdout: {up.Stdout}\nstderr: {up.Stderr}\nlog tail:\n{LogTail()}\n"
                + "The differential tests need root and libvirt 9.0 (scripts/install-deps.sh); they never skip.");
        }

        Uri = uri;
        var caps = await VirshAsync("pool-capabilities").ConfigureAwait(false);
        if (caps.ExitCode != 0)
        {
            throw new InvalidOperationException($"the oracle libvirtd does not answer at {Uri}: {caps.Stderr}\n{LogTail()}");
        }

        if ((await PoolNamesAsync().ConfigureAwait(false)).Count > 0)
        {
            throw new InvalidOperationException("the oracle libvirtd started with pools although its configuration folder is new");
        }
    }

    private async Task StopDaemonAsync()
    {
        if (Directory.Exists(DaemonDir))
        {
            try
            {
                await ChildProcess.RunAsync("bash", [TestPaths.Script("libvirtd-down.sh"), DaemonDir], timeout: TimeSpan.FromSeconds(30)).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
            }
        }

        await Mounts.UnmountAllUnderAsync(Root).ConfigureAwait(false);
        if (Mounts.MountPointsUnder(Root).Count == 0)
        {
            TestPaths.DeleteTree(Root);
        }
    }

    private string LogTail()
    {
        var log = Path.Combine(DaemonDir, "libvirtd.log");
        return File.Exists(log) ? string.Join('\n', File.ReadLines(log).TakeLast(20)) : "(no libvirtd.log)";
    }

    [GeneratedRegex("<pool type='([^']*)'")]
    private static partial Regex PoolTypeRegex();

    [GeneratedRegex("<target>\\s*<path>([^<]*)</path>")]
    private static partial Regex TargetPathRegex();
}
