using VirtPool.Cli.Tests.Support;
using VirtPool.TestSupport;

namespace VirtPool.Cli.Tests.Differential;

/// <summary>
/// <c>find-storage-pool-sources[-as]</c> for netfs and gluster through the embedded CLI, run in a
/// private network namespace that is host 127.0.0.1 with the servers libvirtd 9.0 was recorded against
/// (tests/services/nfs-up.sh: rpcbind on TCP 111 + nfs-ganesha exporting /export, or nothing;
/// gluster-up.sh: glusterd). Exit code, stdout and stderr must be exactly the recording's
/// (tests/testdata/libvirt-local/netfs), libvirtd's volume gv0 standing for this run's volume.
/// The same steps against a live libvirtd and virtpoold are in VirtPool.Daemon.Tests
/// (NetworkSourceDiscoveryDifferentialTests).
/// </summary>
public sealed class NetworkSourceDiscoveryTests
{
    private static readonly string Recording = Path.Combine(TestPaths.RepoRoot, "tests", "testdata", "libvirt-local", "netfs");

    /// <summary>The recorded step's command line (without "virsh"), exit code, stdout and stderr; @WORK@ is <paramref name="work"/>.</summary>
    private static (string[] Args, string Expected) Step(string step, string work, string? volume = null)
    {
        string Read(string ext) => File.ReadAllText(Path.Combine(Recording, $"{step}.{ext}"))
            .Replace("@WORK@", work, StringComparison.Ordinal)
            .Replace("'gv0'", $"'{volume}'", StringComparison.Ordinal)
            .Replace(">gv0<", $">{volume}<", StringComparison.Ordinal);
        var args = Read("cmd").TrimEnd('\n').Split(' ')[1..];
        return (args, $"exit {Read("rc").Trim()}\n{Read("out")}--\n{Read("err")}");
    }

    private static async Task<string> EmbeddedAsync(PrivateNetwork net, string stateDir, string[] args)
    {
        var psi = VirtPoolCli.CreateStartInfo(stateDir, args);
        var run = await ChildProcess.RunAsync(net.Enter[0], [.. net.Enter.Skip(1), psi.FileName, .. psi.ArgumentList]);
        return $"exit {run.ExitCode}\n{Bytes.Exact(run.StdoutBytes)}--\n{Bytes.Exact(run.StderrBytes)}";
    }

    /// <summary>Copies the recording's input XML into <paramref name="work"/>, where the steps' @WORK@ points.</summary>
    private static void CopyInputs(string work)
    {
        foreach (var xml in Directory.GetFiles(Recording, "*.xml"))
        {
            File.Copy(xml, Path.Combine(work, Path.GetFileName(xml)));
        }
    }

    [Fact]
    public async Task Exports_without_glusterd_and_gluster_finding_nothing_print_as_recorded()
    {
        using var net = PrivateNetwork.WithNfs();
        using var work = new TempDir("vpnetdisc");
        foreach (var name in new[] { "39-nfs-find-sources-no-glusterd", "40-gl-find-sources-no-glusterd-bad", "37-nfs-find-sources-no-host-bad" })
        {
            var (args, expected) = Step(name, work.Path);
            Assert.Equal(expected, await EmbeddedAsync(net, work.Sub("state"), args));
        }
    }

    [Fact]
    public async Task Exports_and_gluster_volumes_print_as_recorded()
    {
        using var net = PrivateNetwork.WithNfs();
        net.StartGluster(1);
        using var work = new TempDir("vpnetdisc");
        foreach (var name in new[] { "38-nfs-find-sources-rpcbind-tcp", "21-gl-find-sources-gluster" })
        {
            var (args, expected) = Step(name, work.Path, net.GlusterVolumes[0]);
            Assert.Equal(expected, await EmbeddedAsync(net, work.Sub("state"), args));
        }
    }

    [Fact]
    public async Task A_failing_showmount_is_ignored_while_gluster_answers_as_recorded()
    {
        // libvirtd's steps 22 (no NFS server yet) and 36 (rpcbind on its unix socket only): showmount
        // failed, gluster answered.
        using var net = PrivateNetwork.Bare();
        net.StartGluster(1);
        using var work = new TempDir("vpnetdisc");
        CopyInputs(work.Path);
        foreach (var name in new[] { "22-gl-find-sources-netfs-glusterfs", "36-nfs-find-sources-rpcbind-unix-only" })
        {
            var (args, expected) = Step(name, work.Path, net.GlusterVolumes[0]);
            Assert.Equal(expected, await EmbeddedAsync(net, work.Sub("state"), args));
        }
    }
}
