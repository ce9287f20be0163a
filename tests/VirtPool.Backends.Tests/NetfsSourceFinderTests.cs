using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;
using VirtPool.Backends.Netfs;
using VirtPool.Core.Backends;
using VirtPool.Core.Errors;
using VirtPool.Core.Manager;
using VirtPool.Core.Process;
using VirtPool.Core.State;
using VirtPool.TestSupport;

namespace VirtPool.Backends.Tests;

/// <summary>
/// netfs source discovery on the tools' answers libvirtd 9.0 got (Golden/netfs/*.cmdlog: showmount
/// with and without an NFS server, gluster with and without glusterd), compared with what virsh
/// printed then (.out, .err) and with the commands libvirtd ran (.argv). The same searches against live
/// servers (nfs-ganesha, glusterd): NetworkSourceDiscoveryLiveTests.
/// </summary>
public sealed partial class NetfsSourceFinderTests : IDisposable
{
    private const string Spec = "<source>\n  <host name='127.0.0.1'/>\n</source>\n";

    private readonly string _work = Directory.CreateTempSubdirectory("vp-netfs-find-").FullName;

    public void Dispose() => Directory.Delete(_work, recursive: true);

    [GeneratedRegex(@"^run: (?<cmd>[^\n]*)\nResult (?:exit )?(?<how>status|fatal signal) (?<code>\d+), stdout: '(?<out>.*?)' stderr: '(?<err>.*?)'\n", RegexOptions.Multiline | RegexOptions.Singleline)]
    private static partial Regex CmdlogEntry();

    private static string Golden(string file, [CallerFilePath] string thisFile = "")
        => File.ReadAllText(Path.Combine(Path.GetDirectoryName(thisFile)!, "Golden", "netfs", file));

    /// <summary>The recorded results by command line. libvirt logs a tool's exit 1 as "fatal signal 1" when it reads the status itself.</summary>
    private static Dictionary<string, ProcessResult> Recorded(string step)
        => CmdlogEntry().Matches(Golden(step + ".cmdlog")).ToDictionary(
            m => m.Groups["cmd"].Value,
            m => new ProcessResult(int.Parse(m.Groups["code"].Value, System.Globalization.CultureInfo.InvariantCulture), m.Groups["out"].Value, m.Groups["err"].Value));

    private async Task<(string? Xml, VirtPoolException? Error, RecordingProcessRunner Runner)> FindAsync(Func<IReadOnlyList<string>, ProcessResult> respond, string? spec = Spec)
    {
        var runner = new RecordingProcessRunner(respond);
        using var mgr = new PoolManager(new StateStore(Path.Combine(_work, "state")), new BackendRegistry([NetfsBackend.Type(runner)]));
        try
        {
            return (await mgr.FindPoolSourcesAsync("netfs", spec, 0), null, runner);
        }
        catch (VirtPoolException ex)
        {
            return (null, ex, runner);
        }
    }

    [Theory]
    [InlineData("38-nfs-find-sources-rpcbind-tcp")]
    [InlineData("39-nfs-find-sources-no-glusterd")]
    [InlineData("22-gl-find-sources-netfs-glusterfs")]
    public async Task Nfs_exports_and_gluster_volumes_merge_as_libvirtd_printed(string step)
    {
        var recorded = Recorded(step);
        var (xml, error, runner) = await FindAsync(argv => recorded[ChildProcessErrors.CommandText(argv)]);
        Assert.Null(error);
        Assert.Equal(Golden(step + ".argv"), string.Concat(runner.Calls.Select(c => ChildProcessErrors.CommandText(c) + "\n")));
        Assert.Equal(Golden(step + ".out").TrimEnd('\n'), xml!.TrimEnd('\n'));
    }

    [Fact]
    public async Task A_failing_showmount_is_no_error_while_gluster_finds_volumes()
    {
        // rpcbind without an NFS server: showmount exits 1 (the oracle's sandbox saw it differently).
        var gluster = Recorded("36-nfs-find-sources-rpcbind-unix-only").Single(r => r.Key.Contains("gluster", StringComparison.Ordinal)).Value;
        var (xml, error, _) = await FindAsync(argv => argv[0].EndsWith("showmount", StringComparison.Ordinal)
            ? new ProcessResult(1, string.Empty, "clnt_create: RPC: Program not registered\n")
            : gluster);
        Assert.Null(error);
        Assert.Equal(Golden("36-nfs-find-sources-rpcbind-unix-only.out").TrimEnd('\n'), xml!.TrimEnd('\n'));
    }

    [Fact]
    public async Task Neither_answering_is_libvirts_no_storage_pools_error()
    {
        var (_, error, runner) = await FindAsync(_ => new ProcessResult(1, "Connection failed. Please check if gluster daemon is operational.\n", string.Empty));
        Assert.Equal(VirErrorCode.OperationFailed, error!.Code);
        Assert.Equal("operation failed: no storage pools were found on host '127.0.0.1'", error.Message);
        Assert.Equal(2, runner.Calls.Count);
    }

    [Fact]
    public async Task Showmount_answering_with_no_exports_and_no_gluster_is_an_empty_list()
    {
        var (xml, error, _) = await FindAsync(argv => argv[0].EndsWith("showmount", StringComparison.Ordinal) ? new ProcessResult(0, string.Empty, string.Empty) : new ProcessResult(1, string.Empty, string.Empty));
        Assert.Null(error);
        Assert.DoesNotContain("<source>", xml!, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Source_spec_needs_exactly_one_host()
    {
        var (_, none, runner) = await FindAsync(_ => throw new InvalidOperationException("nothing may run"), spec: null);
        Assert.Equal(Golden("37-nfs-find-sources-no-host-bad.err").Split('\n')[1]["error: ".Length..], none!.Message);
        Assert.Equal(VirErrorCode.InvalidArg, none.Code);

        var (_, two, _) = await FindAsync(_ => throw new InvalidOperationException("nothing may run"), "<source><host name='a'/><host name='b'/></source>");
        Assert.Equal("unsupported configuration: Expected exactly 1 host for the storage pool", two!.Message);
        Assert.Empty(runner.Calls);
    }

    [Fact]
    public void Showmount_lines_give_the_export_paths()
    {
        Assert.Equal(["/export"], ShowmountOutput.ParseExports(Recorded("38-nfs-find-sources-rpcbind-tcp").First().Value.StandardOutput));
        Assert.Equal(["/srv/my export", "/b"], ShowmountOutput.ParseExports("/srv/my export 10.0.0.0/24\nnot a path line\n/b *\n\n"));
        Assert.Empty(ShowmountOutput.ParseExports(string.Empty));
    }

    [Fact]
    public void Gluster_volume_info_gives_the_volume_names()
    {
        var recorded = Recorded("38-nfs-find-sources-rpcbind-tcp").Last().Value.StandardOutput;
        Assert.True(GlusterVolumeInfo.TryParseVolumeNames(recorded, out var names));
        Assert.Equal(["gv0"], names);
        Assert.False(GlusterVolumeInfo.TryParseVolumeNames("Connection failed. Please check if gluster daemon is operational.\n", out _));
        Assert.False(GlusterVolumeInfo.TryParseVolumeNames("<cliOutput><volInfo><volumes><volume><id>x</id></volume></volumes></volInfo></cliOutput>", out _));
        Assert.True(GlusterVolumeInfo.TryParseVolumeNames("<cliOutput><volInfo><volumes><count>0</count></volumes></volInfo></cliOutput>", out var none));
        Assert.Empty(none);
    }
}
