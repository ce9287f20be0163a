using System.Runtime.CompilerServices;
using VirtPool.Core.Backends;
using VirtPool.Core.Errors;
using VirtPool.Core.Manager;
using VirtPool.Core.Process;
using VirtPool.Core.State;
using VirtPool.TestSupport;

namespace VirtPool.Backends.Tests;

/// <summary>
/// netfs and gluster source discovery against live servers: a private network namespace standing for
/// host 127.0.0.1 (tests/services/nfs-up.sh: rpcbind on TCP 111 + nfs-ganesha exporting /export, or
/// nothing) with or without a glusterd in it (gluster-up.sh). The shipped catalog's finders run the
/// real showmount and gluster there, through the pool manager; each answer is compared with what
/// libvirtd 9.0 printed for the same servers (tests/testdata/libvirt-local/netfs, its volume gv0 being
/// ours here) and the commands with those libvirtd ran.
/// </summary>
public sealed class NetworkSourceDiscoveryLiveTests : IDisposable
{
    private const string Spec = "<source>\n  <host name='127.0.0.1'/>\n</source>\n";

    private readonly string _work = Directory.CreateTempSubdirectory("vp-netdisc-").FullName;

    public void Dispose() => Directory.Delete(_work, recursive: true);

    private static string Recorded(string file, [CallerFilePath] string thisFile = "")
        => File.ReadAllText(Path.Combine(Path.GetDirectoryName(thisFile)!, "..", "testdata", "libvirt-local", "netfs", file));

    /// <summary>libvirtd's document for a step, with its volume gv0 renamed to ours.</summary>
    private static string RecordedSources(string step, string? volume = null)
        => Recorded(step + ".out").Replace(">gv0<", $">{volume}<", StringComparison.Ordinal).Replace("'gv0'", $"'{volume}'", StringComparison.Ordinal).TrimEnd('\n');

    private async Task<(string? Xml, VirtPoolException? Error, List<string> Commands)> FindAsync(PrivateNetwork net, string type)
    {
        var runner = new CommandsSeen(net.Runner);
        using var mgr = new PoolManager(new StateStore(Path.Combine(_work, Guid.NewGuid().ToString("N"))), BackendCatalog.Create(runner));
        try
        {
            return ((await mgr.FindPoolSourcesAsync(type, Spec, 0)).TrimEnd('\n'), null, runner.Commands);
        }
        catch (VirtPoolException ex)
        {
            return (null, ex, runner.Commands);
        }
    }

    [Fact]
    public async Task Nfs_exports_alone_when_no_glusterd_runs_and_gluster_type_finds_nothing()
    {
        using var net = PrivateNetwork.WithNfs();

        var (xml, error, commands) = await FindAsync(net, "netfs");
        Assert.Null(error);
        Assert.Equal(RecordedSources("39-nfs-find-sources-no-glusterd"), xml);
        Assert.Equal(Recorded("39-nfs-find-sources-no-glusterd.argv"), string.Concat(commands.Select(c => c + "\n")));

        var (_, glError, glCommands) = await FindAsync(net, "gluster");
        Assert.Equal(VirErrorCode.OperationFailed, glError!.Code);
        Assert.Equal(Recorded("40-gl-find-sources-no-glusterd-bad.err").Split('\n')[1]["error: ".Length..], glError.Message);
        Assert.Equal(Recorded("40-gl-find-sources-no-glusterd-bad.argv"), string.Concat(glCommands.Select(c => c + "\n")));
    }

    [Fact]
    public async Task Nfs_exports_then_gluster_volumes_and_gluster_type_lists_the_volumes()
    {
        using var net = PrivateNetwork.WithNfs();
        net.StartGluster(1);
        var volume = net.GlusterVolumes[0];

        var (xml, error, commands) = await FindAsync(net, "netfs");
        Assert.Null(error);
        Assert.Equal(RecordedSources("38-nfs-find-sources-rpcbind-tcp", volume), xml);
        Assert.Equal(Recorded("38-nfs-find-sources-rpcbind-tcp.argv"), string.Concat(commands.Select(c => c + "\n")));

        var (glXml, glError, glCommands) = await FindAsync(net, "gluster");
        Assert.Null(glError);
        Assert.Equal(RecordedSources("21-gl-find-sources-gluster", volume), glXml);
        Assert.Equal(Recorded("21-gl-find-sources-gluster.argv"), string.Concat(glCommands.Select(c => c + "\n")));

        // Stopped, glusterd takes its volumes away from both searches (as libvirtd's recording 39 and 40).
        net.StopGluster();
        Assert.Equal(RecordedSources("39-nfs-find-sources-no-glusterd"), (await FindAsync(net, "netfs")).Xml);
        Assert.Equal(VirErrorCode.OperationFailed, (await FindAsync(net, "gluster")).Error!.Code);
    }

    [Fact]
    public async Task A_host_without_nfs_gives_the_gluster_volumes_alone_and_with_nothing_libvirts_error()
    {
        using var net = PrivateNetwork.Bare();

        var (_, error, commands) = await FindAsync(net, "netfs");
        Assert.Equal(VirErrorCode.OperationFailed, error!.Code);
        Assert.Equal("operation failed: no storage pools were found on host '127.0.0.1'", error.Message);
        Assert.Equal(2, commands.Count);

        net.StartGluster(2);
        var (xml, glError, _) = await FindAsync(net, "netfs");
        Assert.Null(glError);

        // libvirtd's recording 36 (showmount failing, gluster answering), with one source per volume.
        var one = RecordedSources("36-nfs-find-sources-rpcbind-unix-only", "@VOL@");
        var source = one[one.IndexOf("  <source>", StringComparison.Ordinal)..one.IndexOf("</sources>", StringComparison.Ordinal)];
        var expected = one.Replace(source, string.Concat(net.GlusterVolumes.Select(v => source.Replace("@VOL@", v, StringComparison.Ordinal))), StringComparison.Ordinal);
        Assert.Equal(expected, xml);

        var (glXml, _, _) = await FindAsync(net, "gluster");
        Assert.Equal(net.GlusterVolumes, System.Xml.Linq.XDocument.Parse(glXml!).Root!.Elements("source").Select(s => (string)s.Element("name")!));
    }

    [Fact]
    public async Task The_servers_listen_in_a_namespace_whose_only_interface_is_loopback()
    {
        using var net = PrivateNetwork.WithNfs();
        net.StartGluster(1);
        var host = ProcessRunner.Instance;

        var links = await net.Runner.RunAsync(["ip", "-o", "link", "show"]);
        Assert.Equal(["lo"], links.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(':')[1].Trim()));

        // Inside: rpcbind on 111, ganesha's NFS and MOUNT ports, glusterd on 24007, all of them ours.
        var pids = new[] { "ganesha.pid", "rpcbind.pid", "gluster/glusterd.pid" }.Select(f => File.ReadAllText(Path.Combine(net.Folder, f)).Trim()).ToList();
        var inside = (await net.Runner.RunAsync(["ss", "-lntupH"])).StandardOutput;
        foreach (var port in new[] { ":111 ", ":2049 ", ":20048 ", "127.0.0.1:24007 " })
        {
            Assert.Contains(port, inside, StringComparison.Ordinal);
        }

        Assert.All(pids, pid => Assert.Contains($"pid={pid},", inside, StringComparison.Ordinal));

        // Outside: none of those processes has a socket in the machine's network.
        var outside = (await host.RunAsync(["ss", "-lntupH"])).StandardOutput;
        Assert.All(pids, pid => Assert.DoesNotContain($"pid={pid},", outside, StringComparison.Ordinal));
    }

    /// <summary>The real runner, each command line kept as libvirt logs it.</summary>
    private sealed class CommandsSeen(IProcessRunner inner) : IProcessRunner
    {
        public List<string> Commands { get; } = [];

        public Task<ProcessResult> RunAsync(IReadOnlyList<string> argv, CancellationToken cancellationToken = default)
            => RunAsync(new ProcessRequest(argv), cancellationToken);

        public Task<ProcessResult> RunAsync(ProcessRequest request, CancellationToken cancellationToken = default)
        {
            Commands.Add(ChildProcessErrors.CommandText(request.Argv));
            return inner.RunAsync(request, cancellationToken);
        }
    }
}
