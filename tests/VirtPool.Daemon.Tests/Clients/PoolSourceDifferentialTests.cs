using VirtPool.TestSupport;

namespace VirtPool.Daemon.Tests.Clients;

/// <summary>
/// Real volume groups on loop devices, and an lvm.conf (<c>LVM_SYSTEM_DIR</c>) whose filter shows LVM
/// those devices only, so every side lists the same volume groups whatever else this machine holds.
/// libvirtd 9.0 (scripts/libvirtd-up.sh), virtpoold (scripts/virtpoold-up.sh, the build beside these
/// tests) and the embedded CLI all run with that environment; libvirtd passes it on to pvs as
/// VirtPool's process runner does.
/// </summary>
public sealed class LvmDiscoveryFixture : IAsyncLifetime
{
    private readonly TempDir _dir = new();
    private LoopVolumeGroups? _lvm;

    public string Work => _dir.Path;

    public string LvmSystemDir => Path.Combine(_dir.Path, "lvm");

    public string OracleUri { get; private set; } = string.Empty;

    public string DaemonUri { get; private set; } = string.Empty;

    public string StateDir => Path.Combine(_dir.Path, "state");

    /// <summary>
    /// What every side runs with (as <c>env</c> arguments): LVM reads the fixture's lvm.conf, which shows
    /// only its own devices. (LVM would also warn about each descriptor a tool inherits; libvirtd's
    /// children inherit none, and neither do VirtPool's: <c>InheritedDescriptors</c>.)
    /// </summary>
    public string[] LvmEnvironment => [$"LVM_SYSTEM_DIR={LvmSystemDir}"];

    public LoopVolumeGroups Lvm => _lvm!;

    private string LibvirtdDir => Path.Combine(_dir.Path, "libvirtd");

    private string DaemonDir => Path.Combine(_dir.Path, "virtpoold");

    public async Task InitializeAsync()
    {
        _lvm = await LoopVolumeGroups.CreateAsync(Path.Combine(_dir.Path, "pv"), [("two", 2), ("odd.name+x-1", 1)], unusedPvs: 1);
        _lvm.WriteLvmSystemDir(LvmSystemDir);

        var up = await Tool.RunAsync("/usr/bin/env", [.. LvmEnvironment, "bash", Script("libvirtd-up.sh"), LibvirtdDir], timeoutSeconds: 120);
        Assert.True(up.Exit == 0, "libvirtd-up.sh failed: " + up.Err);
        OracleUri = up.Out.Trim().Split('\n')[^1];

        var daemon = Path.Combine(AppContext.BaseDirectory, "virtpoold");
        Assert.True(File.Exists(daemon), $"{daemon} is missing: the test project must reference VirtPool.Daemon");
        var started = await Tool.RunAsync("/usr/bin/env", [.. LvmEnvironment, $"VIRTPOOLD={daemon}", "bash", Script("virtpoold-up.sh"), DaemonDir], timeoutSeconds: 120);
        Assert.True(started.Exit == 0, "virtpoold-up.sh failed: " + started.Err);
        DaemonUri = started.Out.Trim().Split('\n')[0];
    }

    public async Task DisposeAsync()
    {
        try
        {
            await Tool.RunAsync("bash", [Script("virtpoold-down.sh"), DaemonDir], timeoutSeconds: 60);
            await Tool.RunAsync("bash", [Script("libvirtd-down.sh"), LibvirtdDir], timeoutSeconds: 60);
        }
        finally
        {
            try
            {
                if (_lvm is not null)
                {
                    await _lvm.DisposeAsync();
                }
            }
            finally
            {
                _dir.Dispose();
            }
        }
    }

    /// <summary>Points LVM at an lvm.conf that does not parse, so pvs fails on every side; undone by the returned scope.</summary>
    public IDisposable BreakLvmConfig()
    {
        var conf = Path.Combine(LvmSystemDir, "lvm.conf");
        var good = File.ReadAllText(conf);
        File.WriteAllText(conf, "devices { this is not valid\n");
        return new Restore(() => File.WriteAllText(conf, good));
    }

    private static string Script(string name) => Path.Combine(OracleAndDaemonFixture.RepoRoot, "scripts", name);

    private sealed class Restore(Action undo) : IDisposable
    {
        public void Dispose() => undo();
    }
}

/// <summary>
/// find-storage-pool-sources[-as] as virsh against libvirtd prints it, byte for byte (stdout, stderr,
/// exit status), through virsh against virtpoold, the embedded CLI, and the CLI against both daemons;
/// python3-libvirt's findStoragePoolSources against both daemons.
/// </summary>
public sealed class PoolSourceDifferentialTests(LvmDiscoveryFixture f) : IClassFixture<LvmDiscoveryFixture>
{
    private string File(string name, string? content)
    {
        var path = Path.Combine(f.Work, "x", name);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        if (content is not null)
        {
            System.IO.File.WriteAllText(path, content);
        }

        return path;
    }

    private async Task<List<string>> CompareAsync(string[][] steps)
    {
        var cli = RealClientDifferentialTests.VirtPoolCommand();
        var runs = new (string Name, string[] Argv)[]
        {
            ("virsh -> virtpoold", [Tool.Virsh, "-c", f.DaemonUri]),
            ("virtpool (embedded)", ["/usr/bin/env", .. f.LvmEnvironment, .. cli, "--state-dir", f.StateDir]),
            ("virtpool -> virtpoold", [.. cli, "-c", f.DaemonUri]),
            ("virtpool -> libvirtd", [.. cli, "-c", f.OracleUri]),
        };
        var differences = new List<string>();
        foreach (var step in steps)
        {
            var o = await Tool.RunAsync(Tool.Virsh, ["-c", f.OracleUri, .. step]);
            var expected = $"exit {o.Exit}\n{o.Out}--\n{o.Err}";
            foreach (var run in runs)
            {
                var r = await Tool.RunAsync(run.Argv[0], [.. run.Argv[1..], .. step]);
                var got = $"exit {r.Exit}\n{r.Out}--\n{r.Err}";
                if (got != expected)
                {
                    differences.Add($"{run.Name}: {string.Join(' ', step)}\n--- virsh -> libvirtd\n{expected}\n+++ {run.Name}\n{got}");
                }
            }
        }

        return differences;
    }

    [Fact]
    public async Task Discovery_and_its_errors_print_as_virsh_against_libvirtd()
    {
        var spec = File("spec.xml", "<source>\n  <host name='127.0.0.1'/>\n</source>\n");
        var bad = File("bad.xml", "<source><bad\n");
        var missing = File("missing.xml", null);
        string[][] steps =
        [
            ["find-storage-pool-sources-as", "logical"],
            ["find-storage-pool-sources-as", "logical", "127.0.0.1", "3260", "--initiator", "iqn.2026-12.org.virtpool:init"],
            ["find-storage-pool-sources-as", "--type", "logical", "--port", "1"],
            ["find-storage-pool-sources", "logical"],
            ["find-storage-pool-sources", "logical", spec],
            ["find-storage-pool-sources", "--srcSpec", bad, "--type", "logical"],
            ["find-storage-pool-sources", "logical", missing],
            ["find-storage-pool-sources-as", "dir"],
            ["find-storage-pool-sources", "fs", bad],
            ["find-storage-pool-sources-as", "bogus"],
            ["find-storage-pool-sources-as", "sheepdog"],
            ["find-storage-pool-sources-as", "logical", ""],
            ["find-storage-pool-sources-as"],
            ["help", "find-storage-pool-sources-as"],
            ["help", "find-storage-pool-sources"],
        ];

        var expected = await Tool.RunAsync(Tool.Virsh, ["-q", "-c", f.OracleUri, "find-storage-pool-sources-as", "logical"]);
        // The filter shows exactly the fixture's devices: its groups, and not the PV in no group.
        var listed = System.Xml.Linq.XDocument.Parse(expected.Out).Root!.Elements("source").ToList();
        Assert.Equal(f.Lvm.Groups.Select(g => g.Name).Order(StringComparer.Ordinal), listed.Select(s => (string)s.Element("name")!).Order(StringComparer.Ordinal));
        foreach (var (name, devices) in f.Lvm.Groups)
        {
            var source = listed.Single(s => (string?)s.Element("name") == name);
            Assert.Equal(devices.Order(StringComparer.Ordinal), source.Elements("device").Select(d => (string)d.Attribute("path")!).Order(StringComparer.Ordinal));
        }

        var differences = await CompareAsync(steps);
        Assert.True(differences.Count == 0, string.Join("\n\n", differences));
    }

    [Fact]
    public async Task Netfs_discovery_and_its_srcspec_errors_print_as_virsh_against_libvirtd()
    {
        // Both daemons run showmount and gluster against this host: whatever answers (nothing, so
        // "no storage pools were found", unless an NFS server or glusterd runs here) answers both.
        var twoHosts = File("netfs-two-hosts.xml", "<source><host name='127.0.0.1'/><host name='127.0.0.2'/></source>\n");
        var differences = await CompareAsync(
        [
            ["find-storage-pool-sources-as", "netfs"],
            ["find-storage-pool-sources-as", "netfs", "127.0.0.1"],
            ["find-storage-pool-sources", "netfs", twoHosts],
        ]);
        Assert.True(differences.Count == 0, string.Join("\n\n", differences));
    }

    [Fact]
    public async Task A_failing_pvs_is_reported_as_virsh_reports_it_against_libvirtd()
    {
        using (f.BreakLvmConfig())
        {
            var oracle = await Tool.RunAsync(Tool.Virsh, ["-c", f.OracleUri, "find-storage-pool-sources-as", "logical"]);
            Assert.Contains("Child process (/sbin/pvs --noheadings -o pv_name,vg_name) unexpected exit status", oracle.Err, StringComparison.Ordinal);

            var differences = await CompareAsync([["find-storage-pool-sources-as", "logical"], ["find-storage-pool-sources", "logical"]]);
            Assert.True(differences.Count == 0, string.Join("\n\n", differences));
        }
    }

    [Fact]
    public async Task Python_libvirt_finds_the_same_sources_and_errors()
    {
        const string Script = """
            import sys, libvirt
            conn = libvirt.open(sys.argv[1])
            sys.stdout.write(conn.findStoragePoolSources('logical', None, 0))
            for kind, spec, flags in (('dir', None, 0), ('bogus', None, 0), ('logical', None, 1), ('logical', '<source><bad', 0)):
                try:
                    sys.stdout.write(conn.findStoragePoolSources(kind, spec, flags))
                except libvirt.libvirtError as e:
                    print(kind, e.get_error_code(), e.get_error_domain(), e.get_error_message())
            conn.close()
            """;
        var o = await Tool.RunAsync(Tool.Python, ["-", f.OracleUri], Script);
        var v = await Tool.RunAsync(Tool.Python, ["-", f.DaemonUri], Script);
        Assert.True(o.Exit == 0, "against libvirtd: " + o.Err);
        Assert.True(v.Exit == 0, "against virtpoold: " + v.Err);
        Assert.Contains(f.Lvm.Groups[0].Name, o.Out, StringComparison.Ordinal);
        Assert.Equal(o.Out, v.Out);
    }
}
