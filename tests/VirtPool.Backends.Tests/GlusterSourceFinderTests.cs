using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;
using VirtPool.Core.Errors;
using VirtPool.Core.Manager;
using VirtPool.Core.Process;
using VirtPool.Core.State;
using VirtPool.TestSupport;

namespace VirtPool.Backends.Tests;

/// <summary>
/// gluster pool-source discovery (a finder-only type until the gluster backend lands) on the answers
/// libvirtd 9.0 got from gluster (tests/testdata/libvirt-local/netfs 21 and 40: glusterd with volume
/// gv0, and none), compared with what virsh printed then and the command libvirtd ran; and libvirt's
/// srcSpec and flag checks. Live runs: NetworkSourceDiscoveryLiveTests.
/// </summary>
public sealed partial class GlusterSourceFinderTests : IDisposable
{
    private const string Spec = "<source>\n  <host name='127.0.0.1'/>\n</source>\n";

    private readonly string _work = Directory.CreateTempSubdirectory("vp-gluster-find-").FullName;

    public void Dispose() => Directory.Delete(_work, recursive: true);

    [GeneratedRegex(@"^run: (?<cmd>[^\n]*)\nResult (?:exit )?(?:status|fatal signal) (?<code>\d+), stdout: '(?<out>.*?)' stderr: '(?<err>.*?)'\n", RegexOptions.Multiline | RegexOptions.Singleline)]
    private static partial Regex CmdlogEntry();

    private static string Recorded(string file, [CallerFilePath] string thisFile = "")
        => File.ReadAllText(Path.Combine(Path.GetDirectoryName(thisFile)!, "..", "testdata", "libvirt-local", "netfs", file));

    /// <summary>gluster's answer as libvirtd logged it (exit 1 shows as "fatal signal 1" there).</summary>
    private static ProcessResult RecordedGluster(string step)
    {
        var m = CmdlogEntry().Match(Recorded(step + ".cmdlog"));
        return new ProcessResult(int.Parse(m.Groups["code"].Value, System.Globalization.CultureInfo.InvariantCulture), m.Groups["out"].Value, m.Groups["err"].Value);
    }

    private async Task<(string? Xml, VirtPoolException? Error, RecordingProcessRunner Runner)> FindAsync(Func<IReadOnlyList<string>, ProcessResult> respond, string? spec = Spec, uint flags = 0)
    {
        var runner = new RecordingProcessRunner(respond);
        using var mgr = new PoolManager(new StateStore(Path.Combine(_work, Guid.NewGuid().ToString("N"))), BackendCatalog.Create(runner));
        try
        {
            return (await mgr.FindPoolSourcesAsync("gluster", spec, flags), null, runner);
        }
        catch (VirtPoolException ex)
        {
            return (null, ex, runner);
        }
    }

    [Fact]
    public async Task Each_volume_is_a_source_with_dir_slash_and_its_name_as_libvirtd_printed()
    {
        var (xml, error, runner) = await FindAsync(_ => RecordedGluster("21-gl-find-sources-gluster"));
        Assert.Null(error);
        Assert.Equal(Recorded("21-gl-find-sources-gluster.out").TrimEnd('\n'), xml!.TrimEnd('\n'));
        Assert.Equal(Recorded("21-gl-find-sources-gluster.argv"), string.Concat(runner.Calls.Select(c => ChildProcessErrors.CommandText(c) + "\n")));
    }

    [Fact]
    public async Task No_glusterd_is_libvirts_no_storage_pools_error()
    {
        var (_, error, _) = await FindAsync(_ => RecordedGluster("40-gl-find-sources-no-glusterd-bad"));
        Assert.Equal(VirErrorCode.OperationFailed, error!.Code);
        Assert.Equal(Recorded("40-gl-find-sources-no-glusterd-bad.err").Split('\n')[1]["error: ".Length..], error.Message);
    }

    [Fact]
    public async Task A_glusterd_without_volumes_is_the_same_error()
    {
        var (_, error, _) = await FindAsync(_ => new ProcessResult(0, "<cliOutput><opRet>0</opRet><volInfo><volumes><count>0</count></volumes></volInfo></cliOutput>", string.Empty));
        Assert.Equal("operation failed: no storage pools were found on host '127.0.0.1'", error!.Message);
    }

    [Fact]
    public async Task Output_that_is_not_glusters_xml_is_an_error_naming_the_command()
    {
        var (_, error, _) = await FindAsync(_ => new ProcessResult(0, "not xml", string.Empty));
        Assert.Equal(VirErrorCode.InternalError, error!.Code);
        Assert.StartsWith("internal error: failed to read the gluster volume list of '127.0.0.1' (", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Source_spec_needs_exactly_one_host_and_flags_are_refused_before_anything_runs()
    {
        ProcessResult Never(IReadOnlyList<string> argv) => throw new InvalidOperationException("nothing may run");

        var (_, none, runner) = await FindAsync(Never, spec: null);
        Assert.Equal(VirErrorCode.InvalidArg, none!.Code);
        Assert.Equal("invalid argument: hostname must be specified for gluster sources", none.Message);

        var (_, two, _) = await FindAsync(Never, "<source><host name='a'/><host name='b'/></source>");
        Assert.Equal(VirErrorCode.ConfigUnsupported, two!.Code);
        Assert.Equal("unsupported configuration: Expected exactly 1 host for the storage pool", two.Message);

        var (_, flagged, _) = await FindAsync(Never, flags: 1);
        Assert.Equal(VirErrorCode.InvalidArg, flagged!.Code);
        Assert.Contains("virStorageBackendGlusterFindPoolSources", flagged.Message, StringComparison.Ordinal);

        // libvirt checks the flags before it parses srcSpec.
        var (_, flaggedBadSpec, _) = await FindAsync(Never, "<source><bad", flags: 1);
        Assert.Equal("unsupported flags (0x1) in function virStorageBackendGlusterFindPoolSources", flaggedBadSpec!.Message);
        Assert.Empty(runner.Calls);
    }

    [Fact]
    public void The_gluster_type_discovers_sources_and_has_its_backend()
    {
        var registry = BackendCatalog.Create(new RecordingProcessRunner());
        Assert.NotNull(registry.SourceFinderFor(Core.Model.PoolType.Gluster));
        Assert.True(registry.TryGet(Core.Model.PoolType.Gluster, out var gluster));
        Assert.True(gluster.Capabilities.CanFindSources);
        Assert.Contains(Core.Model.PoolType.Gluster, registry.Types);
    }
}
