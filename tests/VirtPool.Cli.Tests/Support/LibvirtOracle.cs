using System.Text.RegularExpressions;

namespace VirtPool.Cli.Tests.Support;

/// <summary>All differential tests share one private libvirtd and run one after the other.</summary>
[CollectionDefinition(Name)]
public sealed class LibvirtCollection : ICollectionFixture<LibvirtOracle>
{
    public const string Name = "libvirt oracle";
}

/// <summary>
/// A private libvirtd 9.0, the oracle of the differential tests, started with scripts/libvirtd-up.sh
/// (which gives it its own mount namespace and configuration folders, so it never shares pools with
/// another libvirtd) and stopped with scripts/libvirtd-down.sh.
/// <para>
/// Before the daemon starts, the fixture mounts two tmpfs, ROOT/o for the oracle's side and ROOT/v for
/// virtpool's: the daemon's namespace is a copy taken at that moment, so both see the same two file
/// systems. Pool capacity, allocation and available of a tmpfs depend only on what the test put there,
/// so they are compared exactly instead of being blurred.
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

    /// <summary>The tmpfs holding every oracle-side sandbox.</summary>
    internal string OracleSideFs => Path.Combine(Root, "o");

    /// <summary>The tmpfs holding every virtpool-side sandbox.</summary>
    internal string CliSideFs => Path.Combine(Root, "v");

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
        await EnsureSideFileSystemsEmptyAsync().ConfigureAwait(false);
        var number = Interlocked.Increment(ref _sandboxes);
        var name = $"t{number:D4}";
        var sandbox = new DiffSandbox(this, Path.Combine(OracleSideFs, name), Path.Combine(CliSideFs, name), Path.Combine(Root, "state", name));
        sandbox.Initialize();
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

        // virsh prints each name as "%-20s": the padding is not part of the name
        return [.. list.Stdout.Split('\n').Select(l => l.TrimEnd(' ')).Where(l => l.Length > 0)];
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
        foreach (var fs in new[] { OracleSideFs, CliSideFs })
        {
            Directory.CreateDirectory(fs);
            await Mounts.MountTmpfsAsync(fs, "512m").ConfigureAwait(false);

            // Shared, so that a filesystem a test mounts below it later reaches the daemon's own
            // mount namespace (a slave of this one) as well.
            await Mounts.RunOrThrowAsync("mount", "--make-shared", fs).ConfigureAwait(false);
        }

        var script = TestPaths.Script("libvirtd-up.sh");
        var up = await ChildProcess.RunAsync("bash", [script, DaemonDir], timeout: TimeSpan.FromSeconds(120)).ConfigureAwait(false);
        var uri = up.Stdout.Split('\n').LastOrDefault(l => l.StartsWith("qemu+unix://", StringComparison.Ordinal));
        if (up.ExitCode != 0 || uri is null)
        {
            throw new InvalidOperationException(
                $"the oracle libvirtd did not start ({script} {DaemonDir} exited {up.ExitCode}).\n"
                + $"stdout: {up.Stdout}\nstderr: {up.Stderr}\nlog tail:\n{LogTail()}\n"
                + "The differential tests need root and libvirt 9.0 (scripts/install-deps.sh); they never skip.");
        }

        Uri = uri;
        var caps = await VirshAsync("pool-capabilities").ConfigureAwait(false);
        if (caps.ExitCode != 0)
        {
            throw new InvalidOperationException($"the oracle libvirtd does not answer at {Uri}: {caps.Stderr}\n{LogTail()}");
        }

        // Debian ships some storage drivers as packages of their own: a missing one would make every
        // differential test of that type fail with "missing backend"; say so once, up front.
        var missing = OracleBackends.Where(t => !caps.Stdout.Contains($"<pool type='{t}' supported='yes'>", StringComparison.Ordinal)).ToList();
        if (missing.Count > 0)
        {
            throw new InvalidOperationException(
                $"the oracle libvirtd has no storage backend for {string.Join(", ", missing)}: run scripts/install-deps.sh "
                + "(it installs libvirt-daemon-driver-storage-rbd, -gluster, -iscsi-direct and -zfs)");
        }

        var pools = await PoolNamesAsync().ConfigureAwait(false);
        if (pools.Count > 0)
        {
            throw new InvalidOperationException($"the oracle libvirtd started with pools ({string.Join(", ", pools)}): it is not private");
        }
    }

    /// <summary>
    /// Both side file systems must be empty when a sandbox starts, or their figures would differ: the
    /// previous sandbox's folders are removed, and a file still held open shows here.
    /// </summary>
    private async Task EnsureSideFileSystemsEmptyAsync()
    {
        foreach (var fs in new[] { OracleSideFs, CliSideFs })
        {
            foreach (var entry in Directory.EnumerateFileSystemEntries(fs))
            {
                if (Directory.Exists(entry) && !File.GetAttributes(entry).HasFlag(FileAttributes.ReparsePoint))
                {
                    TestPaths.DeleteTree(entry);
                }
                else
                {
                    File.Delete(entry);
                }
            }

            var used = await Mounts.UsedBytesAsync(fs).ConfigureAwait(false);
            if (used != 0)
            {
                throw new InvalidOperationException($"the side file system {fs} still uses {used} bytes after cleanup (a file held open?)");
            }
        }
    }

    private async Task StopDaemonAsync()
    {
        try
        {
            if (Directory.Exists(DaemonDir))
            {
                await ChildProcess.RunAsync("bash", [TestPaths.Script("libvirtd-down.sh"), DaemonDir], timeout: TimeSpan.FromSeconds(30)).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is TimeoutException or InvalidOperationException)
        {
            // still unmount and remove what can be
        }

        await Mounts.UnmountAllUnderAsync(Root).ConfigureAwait(false);
        if (Mounts.MountPointsUnder(Root).Count == 0)
        {
            TestPaths.DeleteTree(Root);
        }
    }

    /// <summary>Every pool type Debian's libvirt 9.0 has a backend for, once install-deps.sh ran.</summary>
    private static readonly string[] OracleBackends =
        ["dir", "fs", "netfs", "logical", "disk", "iscsi", "iscsi-direct", "scsi", "mpath", "rbd", "gluster", "zfs"];

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
