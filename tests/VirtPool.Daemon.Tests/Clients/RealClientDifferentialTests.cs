using System.Text.RegularExpressions;

namespace VirtPool.Daemon.Tests.Clients;

/// <summary>
/// libvirtd 9.0 (private, started by scripts/libvirtd-up.sh) and virtpoold side by side, each with its
/// own tmpfs mounted before libvirtd starts (so its mount namespace sees it too). The tmpfs keep pool
/// capacity and allocation identical on both sides as long as the same steps run on both.
/// </summary>
public sealed class OracleAndDaemonFixture : IAsyncLifetime
{
    private readonly TempDir _dir = new();
    private TestDaemon? _daemon;

    public string OracleRoot => Path.Combine(_dir.Path, "o");

    public string DaemonRoot => Path.Combine(_dir.Path, "v");

    public string OracleUri { get; private set; } = string.Empty;

    public string OracleSocket => Path.Combine(_dir.Path, "libvirtd", "libvirt-sock");

    internal TestDaemon Daemon => _daemon!;

    public static string RepoRoot
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "VirtPool.slnx")))
            {
                dir = dir.Parent;
            }

            return dir?.FullName ?? throw new InvalidOperationException("cannot find the repository root from " + AppContext.BaseDirectory);
        }
    }

    public async Task InitializeAsync()
    {
        foreach (var side in new[] { OracleRoot, DaemonRoot })
        {
            Directory.CreateDirectory(side);
            await MustAsync("mount", "-t", "tmpfs", "-o", "size=512m,mode=0755", "vpclients", side);
        }

        var up = await Tool.RunAsync(Path.Combine(RepoRoot, "scripts", "libvirtd-up.sh"), [Path.Combine(_dir.Path, "libvirtd")], timeoutSeconds: 120);
        Assert.True(up.Exit == 0, "libvirtd-up.sh failed: " + up.Err);
        OracleUri = up.Out.Trim().Split('\n')[^1];
        _daemon = await TestDaemon.StartAsync(tcp: true);
    }

    public async Task DisposeAsync()
    {
        try
        {
            if (_daemon is not null)
            {
                await _daemon.DisposeAsync();
            }

            await Tool.RunAsync(Path.Combine(RepoRoot, "scripts", "libvirtd-down.sh"), [Path.Combine(_dir.Path, "libvirtd")], timeoutSeconds: 120);
        }
        finally
        {
            foreach (var side in new[] { OracleRoot, DaemonRoot })
            {
                await Tool.RunAsync("umount", ["-l", side]);
            }

            _dir.Dispose();
        }
    }

    private static async Task MustAsync(string file, params string[] args)
    {
        var result = await Tool.RunAsync(file, args);
        Assert.True(result.Exit == 0, $"{file} {string.Join(' ', args)}: {result.Err}");
    }
}

/// <summary>
/// Clients nobody here wrote — virsh, python3-libvirt, Ansible's community.libvirt.virt_pool and
/// go-libvirt — run the same steps against libvirtd and against virtpoold; their output must match
/// (after replacing each side's folder and the generated UUIDs).
/// </summary>
public sealed partial class RealClientDifferentialTests(OracleAndDaemonFixture f) : IClassFixture<OracleAndDaemonFixture>
{
    private static string Clients => Path.Combine(OracleAndDaemonFixture.RepoRoot, "tests", "clients");

    [Fact]
    public async Task Virsh_runs_the_seed_commands_as_against_libvirtd()
    {
        var payload = new byte[3 << 20];
        new Random(5).NextBytes(payload);
        var holey = new byte[8 << 20];
        payload.AsSpan(0, 1 << 20).CopyTo(holey.AsSpan(4 << 20));
        string[][] steps =
        [
            ["pool-define-as", "vp", "dir", "--target", "@ROOT@/virsh/p"],
            ["pool-build", "vp"],
            ["pool-start", "vp"],
            ["pool-autostart", "vp"],
            ["pool-list", "--all", "--details"],
            ["pool-info", "vp"],
            ["pool-dumpxml", "vp"],
            ["vol-create-as", "vp", "a.raw", "10M", "--allocation", "0"],
            ["vol-create-as", "vp", "b.qcow2", "20M", "--format", "qcow2"],
            ["vol-create-as", "vp", "a.raw", "10M"],
            ["vol-list", "vp", "--details"],
            ["vol-info", "a.raw", "--pool", "vp"],
            ["vol-dumpxml", "b.qcow2", "--pool", "vp"],
            ["vol-upload", "a.raw", "@ROOT@/virsh/data.bin", "--pool", "vp", "--offset", "1048576"],
            ["vol-download", "a.raw", "@ROOT@/virsh/out.bin", "--pool", "vp"],
            ["vol-create-as", "vp", "s.raw", "8M", "--allocation", "0"],
            ["vol-upload", "s.raw", "@ROOT@/virsh/holey.bin", "--pool", "vp", "--sparse"],
            ["vol-download", "s.raw", "@ROOT@/virsh/out-sparse.bin", "--pool", "vp", "--sparse"],
            ["vol-info", "--bytes", "s.raw", "--pool", "vp"],
            ["vol-clone", "a.raw", "c.raw", "--pool", "vp"],
            ["vol-resize", "a.raw", "20M", "--pool", "vp"],
            ["vol-wipe", "c.raw", "--pool", "vp"],
            ["vol-info", "--bytes", "c.raw", "--pool", "vp"],
            ["vol-delete", "b.qcow2", "--pool", "vp"],
            ["vol-info", "nosuch", "--pool", "vp"],
            ["vol-list", "vp", "--details"],
            ["pool-info", "--bytes", "vp"],
            ["pool-refresh", "vp"],
            ["pool-destroy", "vp"],
            ["vol-list", "vp"],
            ["pool-delete", "vp"],
            ["pool-undefine", "vp"],
            ["pool-list", "--all"],
        ];

        foreach (var root in new[] { f.OracleRoot, f.DaemonRoot })
        {
            Directory.CreateDirectory(Path.Combine(root, "virsh"));
            await File.WriteAllBytesAsync(Path.Combine(root, "virsh", "data.bin"), payload);
            await File.WriteAllBytesAsync(Path.Combine(root, "virsh", "holey.bin"), holey);
        }

        var differences = new List<string>();
        var oracleIds = new Dictionary<string, string>(StringComparer.Ordinal);
        var daemonIds = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var step in steps)
        {
            var o = await Tool.RunAsync(Tool.Virsh, ["-c", f.OracleUri, .. step.Select(a => a.Replace("@ROOT@", f.OracleRoot, StringComparison.Ordinal))]);
            var v = await Tool.RunAsync(Tool.Virsh, ["-c", f.Daemon.Uri, .. step.Select(a => a.Replace("@ROOT@", f.DaemonRoot, StringComparison.Ordinal))]);
            var oText = $"exit {o.Exit}\n{Normalise(o.Out, f.OracleRoot, oracleIds)}\n--\n{Normalise(o.Err, f.OracleRoot, oracleIds)}";
            var vText = $"exit {v.Exit}\n{Normalise(v.Out, f.DaemonRoot, daemonIds)}\n--\n{Normalise(v.Err, f.DaemonRoot, daemonIds)}";
            if (oText != vText)
            {
                differences.Add($"virsh {string.Join(' ', step)}\n--- libvirtd\n{oText}\n+++ virtpoold\n{vText}");
            }
        }

        foreach (var file in new[] { "out.bin", "out-sparse.bin" })
        {
            Assert.Equal(await File.ReadAllBytesAsync(Path.Combine(f.OracleRoot, "virsh", file)), await File.ReadAllBytesAsync(Path.Combine(f.DaemonRoot, "virsh", file)));
        }

        Assert.True(differences.Count == 0, string.Join("\n\n", differences));
    }

    [Fact]
    public async Task Python_libvirt_makes_the_same_calls_with_the_same_results()
    {
        var script = Path.Combine(Clients, "python", "pool_steps.py");
        Directory.CreateDirectory(Path.Combine(f.OracleRoot, "py"));
        Directory.CreateDirectory(Path.Combine(f.DaemonRoot, "py"));
        var o = await Tool.RunAsync(Tool.Python, [script, f.OracleUri, Path.Combine(f.OracleRoot, "py", "p"), Path.Combine(f.OracleRoot, "py")], timeoutSeconds: 120);
        var v = await Tool.RunAsync(Tool.Python, [script, f.Daemon.TcpUri, Path.Combine(f.DaemonRoot, "py", "p"), Path.Combine(f.DaemonRoot, "py")], timeoutSeconds: 120);
        Assert.True(o.Exit == 0, "against libvirtd: " + o.Err);
        Assert.True(v.Exit == 0, "against virtpoold: " + v.Err + v.Out);
        Assert.Equal(o.Out, v.Out);
    }

    [Fact]
    public async Task Ansible_virt_pool_playbook_reports_the_same_steps()
    {
        var playbook = Path.Combine(Clients, "ansible", "pool.yml");
        async Task<string> PlayAsync(string uri, string dir)
        {
            var run = await Tool.RunAsync("/usr/bin/env", ["LC_ALL=C.UTF-8", "ANSIBLE_NOCOLOR=1", "ANSIBLE_LOCAL_TEMP=/tmp", "ansible-playbook", "-i", "localhost,", "-c", "local", playbook, "-e", $"uri={uri}", "-e", $"dir={dir}", "-e", "ansible_python_interpreter=/usr/bin/python3"], timeoutSeconds: 300);
            Assert.True(run.Exit == 0, $"ansible-playbook against {uri}: {run.Out}{run.Err}");
            return string.Join('\n', StepRegex().Matches(run.Out).Select(m => m.Groups[1].Value.Replace(dir, "DIR", StringComparison.Ordinal)));
        }

        var o = await PlayAsync(f.OracleUri, Path.Combine(f.OracleRoot, "ansible"));
        var v = await PlayAsync(f.Daemon.TcpUri, Path.Combine(f.DaemonRoot, "ansible"));
        Assert.Contains("STEP facts state=active", o, StringComparison.Ordinal);
        Assert.Equal(o, v);
    }

    [Fact]
    public async Task Go_libvirt_program_gets_the_same_answers()
    {
        using var build = new TempDir();
        var binary = Path.Combine(build.Path, "gopool");
        // GOPATH mode (Debian's go-libvirt lives in /usr/share/gocode): build from the package's folder.
        var go = await Tool.RunAsync("/bin/sh",
            ["-c", $"cd '{Path.Combine(Clients, "go", "gopool")}' && GOPATH=/usr/share/gocode GO111MODULE=off GOCACHE='{build.Path}/cache' HOME='{build.Path}' /usr/bin/go build -o '{binary}' ."],
            timeoutSeconds: 300);
        Assert.True(go.Exit == 0, "go build: " + go.Err);

        var o = await Tool.RunAsync(binary, ["unix", f.OracleSocket, Path.Combine(f.OracleRoot, "go")], timeoutSeconds: 120);
        var v = await Tool.RunAsync(binary, ["tcp", $"127.0.0.1:{f.Daemon.Daemon.TcpEndPoint!.Port}", Path.Combine(f.DaemonRoot, "go")], timeoutSeconds: 120);
        Assert.True(o.Exit == 0, "against libvirtd: " + o.Out + o.Err);
        Assert.Equal(o.Out, v.Out);
        Assert.Equal(0, v.Exit);
    }

    private static string Normalise(string text, string root, Dictionary<string, string> ids)
    {
        text = text.Replace(root, "@ROOT@", StringComparison.Ordinal);
        text = TimestampRegex().Replace(text, m => $"<{m.Groups[1].Value}>@TIME@</{m.Groups[1].Value}>");
        return UuidRegex().Replace(text, m =>
        {
            if (!ids.TryGetValue(m.Value, out var token))
            {
                ids[m.Value] = token = $"@UUID{ids.Count + 1}@";
            }

            return token;
        });
    }

    [GeneratedRegex("\"msg\": \"(STEP [^\"]*)\"")]
    private static partial Regex StepRegex();

    [GeneratedRegex("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")]
    private static partial Regex UuidRegex();

    [GeneratedRegex("<(atime|mtime|ctime|btime)>[^<]*</(?:atime|mtime|ctime|btime)>")]
    private static partial Regex TimestampRegex();
}
