using System.Runtime.CompilerServices;
using VirtPool.TestSupport;

namespace VirtPool.Daemon.Tests.Clients;

/// <summary>
/// netfs and gluster source discovery against live servers, byte for byte through every route: a
/// private network namespace is host 127.0.0.1 (tests/services/nfs-up.sh: rpcbind on TCP 111 +
/// nfs-ganesha, or nothing; gluster-up.sh adds a glusterd), and libvirtd 9.0 and virtpoold both run in
/// it, so their showmount and gluster ask those servers. virsh against libvirtd is the oracle (and is
/// itself checked against libvirtd's recording, tests/testdata/libvirt-local/netfs); virsh against
/// virtpoold, the embedded CLI (in the namespace) and the CLI against both daemons must print the same.
/// </summary>
public sealed class NetworkSourceDiscoveryDifferentialTests
{
    private const string Host = "127.0.0.1";

    private static string Recorded(string file, [CallerFilePath] string thisFile = "")
        => File.ReadAllText(Path.Combine(Path.GetDirectoryName(thisFile)!, "..", "..", "testdata", "libvirt-local", "netfs", file));

    [Fact]
    public async Task Nfs_exports_without_glusterd_as_libvirtd_prints_them()
    {
        using var net = PrivateNetwork.WithNfs();
        await using var d = await Daemons.StartAsync(net);
        var spec = d.File("spec.xml", $"<source>\n  <host name='{Host}'/>\n</source>\n");
        var twoHosts = d.File("two.xml", $"<source><host name='{Host}'/><host name='127.0.0.2'/></source>\n");

        var exports = await d.VirshOracleAsync("find-storage-pool-sources-as", "netfs", Host);
        Assert.Equal((0, Recorded("39-nfs-find-sources-no-glusterd.out"), string.Empty), exports);
        var noGluster = await d.VirshOracleAsync("find-storage-pool-sources-as", "gluster", Host);
        Assert.Equal((1, Recorded("40-gl-find-sources-no-glusterd-bad.out"), Recorded("40-gl-find-sources-no-glusterd-bad.err")), noGluster);

        await d.AssertAllRoutesPrintAsOracleAsync(
        [
            ["find-storage-pool-sources-as", "netfs", Host],
            ["find-storage-pool-sources", "netfs", spec],
            ["find-storage-pool-sources-as", "gluster", Host],
            ["find-storage-pool-sources", "gluster", spec],
            ["find-storage-pool-sources-as", "gluster"],
            ["find-storage-pool-sources", "gluster", twoHosts],
        ]);
    }

    [Fact]
    public async Task Nfs_exports_and_gluster_volumes_as_libvirtd_prints_them()
    {
        using var net = PrivateNetwork.WithNfs();
        net.StartGluster(1);
        await using var d = await Daemons.StartAsync(net);
        var volume = net.GlusterVolumes[0];
        var glusterSpec = d.File("glspec.xml", Recorded("netglspec.xml"));

        var both = await d.VirshOracleAsync("find-storage-pool-sources-as", "netfs", Host);
        Assert.Equal((0, Recorded("38-nfs-find-sources-rpcbind-tcp.out").Replace("'gv0'", $"'{volume}'", StringComparison.Ordinal), string.Empty), both);
        var gluster = await d.VirshOracleAsync("find-storage-pool-sources-as", "gluster", Host);
        Assert.Equal((0, Recorded("21-gl-find-sources-gluster.out").Replace(">gv0<", $">{volume}<", StringComparison.Ordinal), string.Empty), gluster);

        await d.AssertAllRoutesPrintAsOracleAsync(
        [
            ["find-storage-pool-sources-as", "netfs", Host],
            ["find-storage-pool-sources", "netfs", glusterSpec],
            ["find-storage-pool-sources-as", "gluster", Host],
            ["find-storage-pool-sources", "gluster", glusterSpec],
        ]);
    }

    [Fact]
    public async Task A_host_without_nfs_gives_gluster_volumes_or_libvirts_error_on_every_route()
    {
        using var net = PrivateNetwork.Bare();
        await using var d = await Daemons.StartAsync(net);
        string[][] steps = [["find-storage-pool-sources-as", "netfs", Host], ["find-storage-pool-sources-as", "gluster", Host]];

        var nothing = await d.VirshOracleAsync(steps[0]);
        Assert.Equal(1, nothing.Exit);
        Assert.Contains($"no storage pools were found on host '{Host}'", nothing.Err, StringComparison.Ordinal);
        await d.AssertAllRoutesPrintAsOracleAsync(steps);

        net.StartGluster(2);
        var glusterOnly = await d.VirshOracleAsync(steps[0]);
        Assert.Equal(0, glusterOnly.Exit);
        Assert.All(net.GlusterVolumes, v => Assert.Contains($"<dir path='{v}'/>", glusterOnly.Out, StringComparison.Ordinal));
        await d.AssertAllRoutesPrintAsOracleAsync(steps);
    }

    /// <summary>libvirtd and virtpoold started in the network's namespace, each from its own folder.</summary>
    private sealed class Daemons : IAsyncDisposable
    {
        private readonly TempDir _dir = new();
        private readonly PrivateNetwork _net;

        private Daemons(PrivateNetwork net) => _net = net;

        private string OracleUri { get; set; } = string.Empty;

        private string DaemonUri { get; set; } = string.Empty;

        private string LibvirtdDir => Path.Combine(_dir.Path, "libvirtd");

        private string VirtpooldDir => Path.Combine(_dir.Path, "virtpoold");

        public static async Task<Daemons> StartAsync(PrivateNetwork net)
        {
            var d = new Daemons(net);
            try
            {
                var up = await Tool.RunAsync(net.Enter[0], [.. net.Enter.Skip(1), "bash", Script("libvirtd-up.sh"), d.LibvirtdDir], timeoutSeconds: 120);
                Assert.True(up.Exit == 0, "libvirtd-up.sh failed: " + up.Err);
                d.OracleUri = up.Out.Trim().Split('\n')[^1];

                var daemon = Path.Combine(AppContext.BaseDirectory, "virtpoold");
                Assert.True(System.IO.File.Exists(daemon), $"{daemon} is missing: the test project must reference VirtPool.Daemon");
                var started = await Tool.RunAsync(net.Enter[0], [.. net.Enter.Skip(1), "/usr/bin/env", $"VIRTPOOLD={daemon}", "bash", Script("virtpoold-up.sh"), d.VirtpooldDir], timeoutSeconds: 120);
                Assert.True(started.Exit == 0, "virtpoold-up.sh failed: " + started.Err);
                d.DaemonUri = started.Out.Trim().Split('\n')[0];
                return d;
            }
            catch
            {
                await d.DisposeAsync();
                throw;
            }
        }

        public string File(string name, string content)
        {
            var path = Path.Combine(_dir.Path, "x", name);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            System.IO.File.WriteAllText(path, content);
            return path;
        }

        public Task<(int Exit, string Out, string Err)> VirshOracleAsync(params string[] step) => Tool.RunAsync(Tool.Virsh, ["-c", OracleUri, .. step]);

        /// <summary>Each step through virsh → libvirtd, then through every VirtPool route; all differences reported at once.</summary>
        public async Task AssertAllRoutesPrintAsOracleAsync(string[][] steps)
        {
            var cli = RealClientDifferentialTests.VirtPoolCommand();
            var runs = new (string Name, string[] Argv)[]
            {
                ("virsh -> virtpoold", [Tool.Virsh, "-c", DaemonUri]),
                ("virtpool (embedded, in the namespace)", [.. _net.Enter, .. cli, "--state-dir", Path.Combine(_dir.Path, "state")]),
                ("virtpool -> virtpoold", [.. cli, "-c", DaemonUri]),
                ("virtpool -> libvirtd", [.. cli, "-c", OracleUri]),
            };
            var differences = new List<string>();
            foreach (var step in steps)
            {
                var o = await VirshOracleAsync(step);
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

            Assert.True(differences.Count == 0, string.Join("\n\n", differences));
        }

        public async ValueTask DisposeAsync()
        {
            try
            {
                await Tool.RunAsync("bash", [Script("virtpoold-down.sh"), VirtpooldDir], timeoutSeconds: 60);
                await Tool.RunAsync("bash", [Script("libvirtd-down.sh"), LibvirtdDir], timeoutSeconds: 60);
            }
            finally
            {
                _dir.Dispose();
            }
        }

        private static string Script(string name) => Path.Combine(OracleAndDaemonFixture.RepoRoot, "scripts", name);
    }
}
