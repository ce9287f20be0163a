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

    /// <summary>
    /// The secret commands Ceph and CHAP pools depend on, through virsh and through <c>virtpool -c</c>,
    /// each against libvirtd and against virtpoold: all four runs must print what virsh printed
    /// against libvirtd (definitions, values, a private value refused, usage clashes, bad UUIDs).
    /// </summary>
    [Fact]
    public async Task Secret_commands_through_virsh_and_virtpool_as_against_libvirtd()
    {
        const string U1 = "6b3f0c1e-8a2d-4f7b-9c10-2d3e4f5a6b7c";
        const string U2 = "7c4a1d2f-9b3e-4a8c-8d21-3e4f5a6b7c8d";
        const string U3 = "8d5b2e3a-ac4f-4b9d-9e32-4f5a6b7c8d9e";
        var files = new Dictionary<string, string>
        {
            ["ceph.xml"] = $"<secret ephemeral='no' private='no'><uuid>{U1}</uuid><description>client.admin</description><usage type='ceph'><name>vp-admin</name></usage></secret>",
            ["private.xml"] = $"<secret private='yes'><uuid>{U2}</uuid><usage type='iscsi'><target>iqn.2026-11.org.virtpool:chap</target></usage></secret>",
            ["clash.xml"] = $"<secret><uuid>{U3}</uuid><usage type='ceph'><name>vp-admin</name></usage></secret>",
            ["value.bin"] = "AQBzdW5ueSBzZWNyZXQ=",
        };
        string[][] steps =
        [
            ["secret-define", "@ROOT@/sec/ceph.xml"],
            ["secret-define", "@ROOT@/sec/private.xml"],
            ["secret-define", "@ROOT@/sec/clash.xml"],
            ["secret-list"],
            ["secret-list", "--private", "--no-ephemeral"],
            ["secret-dumpxml", U1],
            ["secret-get-value", U1],
            ["secret-set-value", U1, "--base64", "c2VjcmV0LWtleQ=="],
            ["secret-get-value", U1],
            ["secret-get-value", U1, "--plain"],
            ["secret-set-value", U1, "--file", "@ROOT@/sec/value.bin"],
            ["secret-get-value", U1],
            ["secret-set-value", U2, "--base64", "Y2hhcA=="],
            ["secret-get-value", U2],
            ["secret-dumpxml", U3],
            ["secret-get-value", "nope"],
            ["secret-undefine", U1],
            ["secret-dumpxml", U1],
            ["secret-undefine", U2],
            ["secret-list"],
        ];

        foreach (var root in new[] { f.OracleRoot, f.DaemonRoot })
        {
            Directory.CreateDirectory(Path.Combine(root, "sec"));
            foreach (var (name, text) in files)
            {
                await File.WriteAllTextAsync(Path.Combine(root, "sec", name), text);
            }
        }

        var cli = VirtPoolCommand();
        async Task<List<string>> RunAllAsync(string[] client, string uri, string root)
        {
            var outputs = new List<string>();
            var ids = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var step in steps)
            {
                var r = await Tool.RunAsync(client[0], [.. client[1..], "-c", uri, .. step.Select(a => a.Replace("@ROOT@", root, StringComparison.Ordinal))]);
                outputs.Add($"{string.Join(' ', step)}\nexit {r.Exit}\n{Normalise(r.Out, root, ids)}\n--\n{Normalise(r.Err, root, ids)}");
            }

            return outputs;
        }

        var expected = await RunAllAsync([Tool.Virsh], f.OracleUri, f.OracleRoot);
        Assert.Contains(expected, o => o.StartsWith("secret-get-value " + U2, StringComparison.Ordinal) && o.Contains("exit 1", StringComparison.Ordinal));
        var runs = new (string Name, string[] Client, string Uri, string Root)[]
        {
            ("virsh -> virtpoold", [Tool.Virsh], f.Daemon.Uri, f.DaemonRoot),
            ("virtpool -> libvirtd", cli, f.OracleUri, f.OracleRoot),
            ("virtpool -> virtpoold", cli, f.Daemon.TcpUri, f.DaemonRoot),
        };
        var differences = new List<string>();
        foreach (var run in runs)
        {
            var got = await RunAllAsync(run.Client, run.Uri, run.Root);
            for (var i = 0; i < steps.Length; i++)
            {
                if (got[i] != expected[i])
                {
                    differences.Add($"{run.Name}: {string.Join(' ', steps[i])}\n--- virsh -> libvirtd\n{expected[i]}\n+++ {run.Name}\n{got[i]}");
                }
            }
        }

        Assert.True(differences.Count == 0, string.Join("\n\n", differences));
    }

    /// <summary>
    /// An encrypted volume through the daemon: virsh defines a volume secret and its value over RPC, then
    /// creates a LUKS volume that takes its passphrase from that same store. The image opens with the
    /// passphrase (qemu-img convert must unlock it). Against virtpoold only: libvirtd's qemu-img fails its
    /// PBKDF calibration at random here (the CLI suite compares with libvirtd, repeating that step).
    /// </summary>
    [Fact]
    public async Task Virsh_makes_a_luks_volume_on_virtpoold_with_a_secret_it_defined()
    {
        const string Uuid = "9e6c3f4b-bd5a-4cae-8f43-5a6b7c8d9eaf";

        // Not on the fixture's tmpfs: the other tests compare its sizes with libvirtd's side.
        using var temp = new TempDir();
        var root = temp.Path;
        var dir = Path.Combine(root, "encp");
        Directory.CreateDirectory(dir);
        await File.WriteAllTextAsync(Path.Combine(root, "secret.xml"), $"<secret><uuid>{Uuid}</uuid><usage type='volume'><volume>{dir}/enc.img</volume></usage></secret>");
        await File.WriteAllTextAsync(Path.Combine(root, "enc.xml"), $"<volume><name>enc.img</name><capacity unit='M'>4</capacity><target><format type='raw'/><encryption format='luks'><secret type='passphrase' uuid='{Uuid}'/></encryption></target></volume>");
        async Task<(int Exit, string Out, string Err)> Virsh(params string[] args) => await Tool.RunAsync(Tool.Virsh, ["-c", f.Daemon.Uri, .. args], timeoutSeconds: 300);

        Assert.Equal(0, (await Virsh("secret-define", Path.Combine(root, "secret.xml"))).Exit);
        try
        {
            Assert.Equal(0, (await Virsh("secret-set-value", Uuid, "--base64", Convert.ToBase64String("pass,word"u8))).Exit);
            Assert.Equal(0, (await Virsh("pool-create-as", "encp", "dir", "--target", dir)).Exit);
            var create = await Virsh("vol-create", "encp", Path.Combine(root, "enc.xml"));
            Assert.True(create.Exit == 0, create.Err);
            var xml = await Virsh("vol-dumpxml", "enc.img", "--pool", "encp");
            Assert.Contains($"    <encryption format='luks'>\n      <secret type='passphrase' uuid='{Uuid}'/>\n    </encryption>\n", xml.Out, StringComparison.Ordinal);
            Assert.Contains("Capacity:       4.00 MiB", (await Virsh("vol-info", "enc.img", "--pool", "encp")).Out, StringComparison.Ordinal);

            await File.WriteAllTextAsync(Path.Combine(root, "pass"), "pass,word");
            var open = await Tool.RunAsync("qemu-img", ["convert", "--object", $"secret,id=s0,file={root}/pass", "--image-opts", $"driver=luks,key-secret=s0,file.filename={dir}/enc.img", "-O", "raw", Path.Combine(root, "plain.raw")]);
            Assert.True(open.Exit == 0, open.Err);
            Assert.Equal(4L * 1024 * 1024, new FileInfo(Path.Combine(root, "plain.raw")).Length);
        }
        finally
        {
            await Virsh("vol-delete", "enc.img", "--pool", "encp");
            await Virsh("pool-destroy", "encp");
            await Virsh("secret-undefine", Uuid);
        }
    }

    /// <summary>$VIRTPOOL_CLI (CI sets it to the NativeAOT binary), else the CLI built beside these tests.</summary>
    internal static string[] VirtPoolCommand()
    {
        var configured = Environment.GetEnvironmentVariable("VIRTPOOL_CLI");
        if (!string.IsNullOrEmpty(configured))
        {
            Assert.True(File.Exists(configured), $"VIRTPOOL_CLI={configured} does not exist");
            return [configured];
        }

        var dll = Path.Combine(AppContext.BaseDirectory, "virtpool.dll");
        Assert.True(File.Exists(dll), $"{dll} is missing: the test project must reference VirtPool.Cli");
        return ["/usr/bin/env", "dotnet", dll];
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

    /// <summary>
    /// Flags the pool's backend checks (build, delete, volume delete): refused with the code and the
    /// function name libvirtd's dir backend reports, and refused before anything changed.
    /// </summary>
    [Fact]
    public async Task Python_libvirt_gets_the_backends_own_flag_errors()
    {
        var script = Path.Combine(Clients, "python", "flag_steps.py");
        var o = await Tool.RunAsync(Tool.Python, [script, f.OracleUri, Path.Combine(f.OracleRoot, "flags")], timeoutSeconds: 120);
        var v = await Tool.RunAsync(Tool.Python, [script, f.Daemon.TcpUri, Path.Combine(f.DaemonRoot, "flags")], timeoutSeconds: 120);
        Assert.True(o.Exit == 0, "against libvirtd: " + o.Err);
        Assert.True(v.Exit == 0, "against virtpoold: " + v.Err + v.Out);
        Assert.Contains("unsupported flags (0x1) in function virStorageBackendDeleteLocal", o.Out, StringComparison.Ordinal);
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
