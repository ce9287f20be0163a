using VirtPool.Backends.Iscsi;
using VirtPool.Core.Backends;
using VirtPool.Core.Errors;
using VirtPool.Core.Manager;
using VirtPool.Core.Process;
using VirtPool.Core.State;
using VirtPool.TestSupport;

namespace VirtPool.Backends.Tests.Iscsi;

/// <summary>
/// find-storage-pool-sources for iscsi through the pool manager: the failures libvirtd 9.0 gave on this
/// machine (Golden/libvirtd 04 to 07: argv and message), and, since no discovery can succeed here, the
/// document for a discovery answer shaped as iscsiadm prints it (Golden/represented), formatted as
/// libvirt's virStoragePoolSourceListFormat does (host with the port filled in, device, initiator).
/// </summary>
public sealed class IscsiSourceFinderTests : IDisposable
{
    private const string P = IscsiReplay.Program;

    private readonly string _work = Directory.CreateTempSubdirectory("vp-iscsi-find-").FullName;

    public void Dispose() => Directory.Delete(_work, recursive: true);

    /// <summary>srcSpec as virsh's find-storage-pool-sources-as writes it.</summary>
    private static string Spec(string? port = "3260", string? initiator = null)
        => "<source>\n  <host name='127.0.0.1'" + (port is null ? string.Empty : $" port='{port}'") + "/>\n"
           + (initiator is null ? string.Empty : $"  <initiator>\n    <iqn name='{initiator}'/>\n  </initiator>\n") + "</source>\n";

    private async Task<(string? Xml, VirtPoolException? Error, RecordingProcessRunner Runner)> FindAsync(IscsiReplay replay, string? spec, uint flags = 0)
    {
        var runner = new RecordingProcessRunner(replay.Respond);
        var environment = IscsiEnvironment.Host() with { Iscsiadm = P };
        using var mgr = new PoolManager(new StateStore(Path.Combine(_work, Guid.NewGuid().ToString("N"))), new BackendRegistry([IscsiBackend.Type(runner, environment)]));
        try
        {
            return (await mgr.FindPoolSourcesAsync("iscsi", spec, flags), null, runner);
        }
        catch (VirtPoolException ex)
        {
            return (null, ex, runner);
        }
    }

    [Theory]
    [InlineData("3260", "05-find-sources-bad")]
    [InlineData(null, "06-find-sources-default-port-bad")]
    public async Task A_failed_discovery_is_libvirtds_argv_and_error(string? port, string step)
    {
        var (_, error, runner) = await FindAsync(new IscsiReplay(), Spec(port));
        Assert.Equal(IscsiCommandTests.GoldenArgv(step), runner.Calls.Select(ChildProcessErrors.CommandText));
        Assert.Equal(IscsiCommandTests.GoldenError(step), error!.Message);
        Assert.Equal(VirErrorCode.InternalError, error.Code);
    }

    [Fact]
    public async Task An_initiator_without_an_iface_is_libvirtds_error()
    {
        var (_, error, runner) = await FindAsync(new IscsiReplay(), Spec(initiator: IscsiReplay.Initiator));
        Assert.Equal(IscsiCommandTests.GoldenArgv("04-find-sources-initiator-bad"), runner.Calls.Select(ChildProcessErrors.CommandText));
        Assert.Equal(IscsiCommandTests.GoldenError("04-find-sources-initiator-bad"), error!.Message);
        Assert.Equal(VirErrorCode.OperationFailed, error.Code);
    }

    [Fact]
    public async Task No_srcspec_is_libvirtds_error_and_runs_nothing()
    {
        var (_, error, runner) = await FindAsync(new IscsiReplay(), spec: null);
        Assert.Equal(IscsiCommandTests.GoldenError("07-find-sources-no-host-bad"), error!.Message);
        Assert.Empty(IscsiadmOutputTests.Golden("libvirtd/07-find-sources-no-host-bad.argv"));
        Assert.Empty(runner.Calls);
    }

    [Fact]
    public async Task Flags_and_host_count_are_checked_as_libvirt()
    {
        var (_, error, _) = await FindAsync(new IscsiReplay(), Spec(), flags: 1);
        Assert.Equal("unsupported flags (0x1) in function virStorageBackendISCSIFindPoolSources", error!.Message);
        (_, error, _) = await FindAsync(new IscsiReplay(), "<source><host name='a'/><host name='b'/></source>");
        Assert.Equal("unsupported configuration: Expected exactly 1 host for the storage pool", error!.Message);
    }

    [Fact]
    public async Task Each_discovered_target_is_a_source_with_the_host_and_its_port()
    {
        var replay = new IscsiReplay();
        replay.Answers[$"--mode discovery --type sendtargets --portal 127.0.0.1:3260,1 --op nonpersistent"] = IscsiReplay.Ok(IscsiadmOutputTests.Golden("represented/sendtargets.out"));
        var (xml, error, runner) = await FindAsync(replay, Spec(port: null));
        Assert.Null(error);
        Assert.Equal(IscsiadmOutputTests.Golden("represented/find-sources.out"), xml);
        Assert.Equal(IscsiCommandTests.GoldenArgv("06-find-sources-default-port-bad"), runner.Calls.Select(ChildProcessErrors.CommandText));
    }

    [Fact]
    public async Task With_an_initiator_the_discovery_goes_through_its_iface_and_each_source_names_it()
    {
        var replay = new IscsiReplay { Ifaces = IscsiadmOutputTests.Golden("represented/iface-with-initiator.out") };
        var discovery = $"--mode discovery --type sendtargets --portal 127.0.0.1:3260,1 --op nonpersistent --interface {IscsiReplay.Iface}";
        replay.Answers[discovery] = IscsiReplay.Ok(IscsiadmOutputTests.Golden("represented/sendtargets.out"));
        var (xml, error, runner) = await FindAsync(replay, Spec(initiator: IscsiReplay.Initiator));
        Assert.Null(error);
        Assert.Equal(IscsiadmOutputTests.Golden("represented/find-sources-initiator.out"), xml);
        Assert.Equal(IscsiCommandTests.FromSource("find-sources-initiator"), runner.Calls.Select(ChildProcessErrors.CommandText));
    }

    [Fact]
    public async Task A_discovery_that_finds_nothing_is_an_empty_list()
    {
        var replay = new IscsiReplay();
        replay.Answers[$"--mode discovery --type sendtargets --portal 127.0.0.1:3260,1 --op nonpersistent"] = IscsiReplay.Ok();
        var (xml, _, _) = await FindAsync(replay, Spec());
        Assert.Equal("<sources>\n</sources>\n", xml);
    }
}
