using System.Text;
using VirtPool.Backends.Iscsi;
using VirtPool.Core.Backends;
using VirtPool.Core.Errors;
using VirtPool.Core.Model;
using VirtPool.Core.Process;
using VirtPool.Core.Xml;
using VirtPool.TestSupport;

namespace VirtPool.Backends.Tests.Iscsi;

/// <summary>
/// The iscsi backend's iscsiadm commands against the argv libvirtd 9.0 ran on this machine
/// (Golden/libvirtd, recorded by tests/oracle/record-iscsi.sh from its debug log: pool-start with and
/// without CHAP, with an initiator IQN, over IPv6), with iscsiadm's answers played back
/// (<see cref="IscsiReplay"/>); each failure must read as libvirtd's did. Steps this kernel never lets
/// libvirtd reach (an existing session, a successful login, logout, an iface that takes its IQN) are
/// compared with the argv libvirt's viriscsi.c and storage_backend_iscsi.c build (README.md there).
/// </summary>
public sealed class IscsiCommandTests
{
    private const string Portal = "127.0.0.1:3260,1";
    private const string P = IscsiReplay.Program;

    private static readonly IscsiEnvironment Environment = new() { Iscsiadm = P, IfaceNames = () => IscsiReplay.Iface };

    /// <summary>The argv libvirtd logged for a recorded step, the iface it made named as ours.</summary>
    internal static string[] GoldenArgv(string step)
        => [.. IscsiadmOutputTests.Golden($"libvirtd/{step}.argv").Replace("libvirt-iface-@IFACE@", IscsiReplay.Iface, StringComparison.Ordinal).Split('\n', StringSplitOptions.RemoveEmptyEntries)];

    /// <summary>
    /// The argv libvirt 9.0's source builds for a step libvirtd cannot reach here (Golden/from-source,
    /// written from viriscsi.c and storage_backend_iscsi.c), its iface named as ours.
    /// </summary>
    internal static string[] FromSource(string step)
        => [.. IscsiadmOutputTests.Golden($"from-source/{step}.argv").Replace("libvirt-iface-@IFACE@", IscsiReplay.Iface, StringComparison.Ordinal).Split('\n', StringSplitOptions.RemoveEmptyEntries)];

    /// <summary>The message virsh printed after the second "error: " of the step (the failed call's error).</summary>
    internal static string GoldenError(string step)
    {
        var err = IscsiadmOutputTests.Golden($"libvirtd/{step}.err");
        var start = err.IndexOf("\nerror: ", StringComparison.Ordinal) + "\nerror: ".Length;
        return err[start..^1];
    }

    internal static string PoolXmlOf(string name) => IscsiadmOutputTests.Golden($"libvirtd/{name}.xml");

    private static (IStorageBackend Backend, PoolContext Pool) Load(RecordingProcessRunner runner, string xml, string secret = "libvirtsecret1")
    {
        var pool = new PoolContext(PoolXml.Parse(xml)) { AuthSecret = _ => Encoding.UTF8.GetBytes(secret) };
        return (IscsiBackend.Type(runner, Environment).Load(pool), pool);
    }

    private static string[] Calls(RecordingProcessRunner runner) => [.. runner.Calls.Select(ChildProcessErrors.CommandText)];

    private static string Show(string portal = Portal) => ChildProcessErrors.CommandText([P, "--mode", "node", "--portal", portal, "--targetname", IscsiReplay.Target]);

    private static string NodeDelete(string portal = Portal) => ChildProcessErrors.CommandText([P, "--mode", "node", "--portal", portal, "--targetname", IscsiReplay.Target, "--op", "delete"]);

    /// <summary>libvirt's argv with VirtPool's node-record check inserted before <c>--op new</c>.</summary>
    private static string[] WithNodeCheck(string[] libvirt, string portal = Portal)
        => [libvirt[0], Show(portal), .. libvirt[1..]];

    [Theory]
    [InlineData("iscsiplain", "01-start-plain-bad")]
    [InlineData("iscsichap", "02-start-chap-bad")]
    public async Task A_start_runs_libvirtds_argv_fails_with_its_error_and_removes_the_node_record_it_made(string xml, string step)
    {
        var replay = new IscsiReplay();
        var runner = new RecordingProcessRunner(replay.Respond);
        var (backend, pool) = Load(runner, PoolXmlOf(xml));
        var error = await Assert.ThrowsAsync<VirtPoolException>(() => backend.StartPoolAsync(pool, PoolStartFlags.None, default));
        Assert.Equal(GoldenError(step), error.Message);
        Assert.Equal(VirErrorCode.InternalError, error.Code);
        Assert.Equal([.. WithNodeCheck(GoldenArgv(step)), NodeDelete()], Calls(runner));
    }

    [Fact]
    public async Task An_ipv6_host_is_a_bracketed_portal()
    {
        var replay = new IscsiReplay();
        replay.Answers[$"--mode node --portal [::1]:3260,1 --targetname {IscsiReplay.Target} --login"] = IscsiReplay.Captured("login-ipv6-no-iscsid");
        var runner = new RecordingProcessRunner(replay.Respond);
        var (backend, pool) = Load(runner, "<pool type='iscsi'><name>iscsi6</name><source><host name='::1'/><device path='iqn.2024-01.test.infra:disk1'/></source><target><path>/dev/disk/by-path</path></target></pool>");
        var error = await Assert.ThrowsAsync<VirtPoolException>(() => backend.StartPoolAsync(pool, PoolStartFlags.None, default));
        Assert.Equal([.. WithNodeCheck(GoldenArgv("08-start-as-ipv6-bad"), "[::1]:3260,1"), NodeDelete("[::1]:3260,1")], Calls(runner));
        Assert.Equal(GoldenError("08-start-as-ipv6-bad"), error.Message);
    }

    [Fact]
    public async Task An_initiator_iqn_that_iscsiadm_cannot_set_fails_clearly_and_leaves_no_iface_or_node()
    {
        var replay = new IscsiReplay();
        var runner = new RecordingProcessRunner(replay.Respond);
        var (backend, pool) = Load(runner, PoolXmlOf("iscsiinit"));
        var error = await Assert.ThrowsAsync<VirtPoolException>(() => backend.StartPoolAsync(pool, PoolStartFlags.None, default));

        // libvirtd: the same commands, then "An error occurred, but the cause is unknown", iface and node left behind.
        Assert.Equal("An error occurred, but the cause is unknown", GoldenError("03-start-initiator-bad"));
        Assert.Contains("libvirt-iface-@IFACE@ tcp,<empty>", IscsiadmOutputTests.Golden("libvirtd/03-start-initiator-bad.leftover"), StringComparison.Ordinal);
        Assert.Equal(
            $"internal error: Failed to set initiator IQN '{IscsiReplay.Initiator}' on iscsi interface '{IscsiReplay.Iface}': "
            + IscsiReplay.Captured("iface-update-no-transport").StandardError,
            error.Message);
        Assert.Equal(
            [.. WithNodeCheck(GoldenArgv("03-start-initiator-bad")), $"{P} --mode iface --interface {IscsiReplay.Iface} --op delete", NodeDelete()],
            Calls(runner));
    }

    [Fact]
    public async Task A_target_with_a_session_is_started_already()
    {
        // libvirt's virStorageBackendISCSIStartPool: the session lookup only (storage_backend_iscsi.c).
        var replay = new IscsiReplay { Sessions = IscsiadmOutputTests.Golden("represented/session.out") };
        var runner = new RecordingProcessRunner(replay.Respond);
        var (backend, pool) = Load(runner, PoolXmlOf("iscsichap"));
        await backend.StartPoolAsync(pool, PoolStartFlags.None, default);
        Assert.Equal(FromSource("start-logged-in"), Calls(runner));
        Assert.True(await backend.CheckPoolAsync(pool, default));
    }

    [Fact]
    public async Task A_login_through_an_existing_iface_names_it()
    {
        var replay = new IscsiReplay { Ifaces = IscsiadmOutputTests.Golden("represented/iface-with-initiator.out") };
        replay.Answers[$"--mode node --portal {Portal} --targetname {IscsiReplay.Target} --login --interface {IscsiReplay.Iface}"] = IscsiReplay.Ok();
        var runner = new RecordingProcessRunner(replay.Respond);
        var (backend, pool) = Load(runner, PoolXmlOf("iscsiinit"));
        await backend.StartPoolAsync(pool, PoolStartFlags.None, default);
        Assert.Equal(WithNodeCheck(FromSource("start-initiator-existing-iface")), Calls(runner));
        Assert.Equal(GoldenArgv("03-start-initiator-bad")[..3], FromSource("start-initiator-existing-iface")[..3]);
    }

    [Fact]
    public async Task A_new_iface_that_takes_its_iqn_is_used_after_a_persistent_discovery_through_it()
    {
        var replay = new IscsiReplay { IfacesAfterNew = IscsiadmOutputTests.Golden("represented/iface-with-initiator.out") };
        replay.Answers[$"--mode node --portal {Portal} --targetname {IscsiReplay.Target} --login --interface {IscsiReplay.Iface}"] = IscsiReplay.Ok();
        replay.Answers[$"--mode discovery --type sendtargets --portal {Portal} --interface {IscsiReplay.Iface}"] = IscsiReplay.Ok(IscsiadmOutputTests.Golden("represented/sendtargets.out"));
        var runner = new RecordingProcessRunner(replay.Respond);
        var (backend, pool) = Load(runner, PoolXmlOf("iscsiinit"));
        await backend.StartPoolAsync(pool, PoolStartFlags.None, default);
        Assert.Equal(WithNodeCheck(FromSource("start-initiator-new-iface")), Calls(runner));
        Assert.Equal(GoldenArgv("03-start-initiator-bad"), FromSource("start-initiator-new-iface")[..6]);
    }

    [Fact]
    public async Task A_failed_discovery_through_a_new_iface_removes_it_and_the_node_record()
    {
        var replay = new IscsiReplay { IfacesAfterNew = IscsiadmOutputTests.Golden("represented/iface-with-initiator.out") };
        var runner = new RecordingProcessRunner(replay.Respond);
        var (backend, pool) = Load(runner, PoolXmlOf("iscsiinit"));
        var error = await Assert.ThrowsAsync<VirtPoolException>(() => backend.StartPoolAsync(pool, PoolStartFlags.None, default));
        var discovery = $"{P} --mode discovery --type sendtargets --portal {Portal} --interface {IscsiReplay.Iface}";
        Assert.Equal(
            $"internal error: Child process ({discovery}) unexpected exit status 21: " + IscsiReplay.Captured("discovery-iface-no-driver").StandardError,
            error.Message);
        Assert.Equal(
            [.. WithNodeCheck(GoldenArgv("03-start-initiator-bad")), discovery, $"{P} --mode iface --interface {IscsiReplay.Iface} --op delete", NodeDelete()],
            Calls(runner));
    }

    [Fact]
    public async Task A_node_record_that_existed_before_the_start_is_kept_when_it_fails()
    {
        var replay = new IscsiReplay();
        replay.Answers[$"--mode node --portal {Portal} --targetname {IscsiReplay.Target}"] = IscsiReplay.Ok("# BEGIN RECORD 2.1.8\nnode.name = iqn.2024-01.test.infra:disk1\n");
        var runner = new RecordingProcessRunner(replay.Respond);
        var (backend, pool) = Load(runner, PoolXmlOf("iscsiplain"));
        var error = await Assert.ThrowsAsync<VirtPoolException>(() => backend.StartPoolAsync(pool, PoolStartFlags.None, default));
        Assert.Equal(GoldenError("01-start-plain-bad"), error.Message);
        Assert.Equal(WithNodeCheck(GoldenArgv("01-start-plain-bad")), Calls(runner));
    }

    [Fact]
    public async Task A_failed_node_record_is_libvirts_status_error()
    {
        var replay = new IscsiReplay();
        replay.Answers[$"--mode node --portal {Portal} --targetname {IscsiReplay.Target} --op new"] = new ProcessResult(6, string.Empty, "iscsiadm: Could not add new record.\n");
        var runner = new RecordingProcessRunner(replay.Respond);
        var (backend, pool) = Load(runner, PoolXmlOf("iscsiplain"));
        var error = await Assert.ThrowsAsync<VirtPoolException>(() => backend.StartPoolAsync(pool, PoolStartFlags.None, default));
        Assert.Equal($"internal error: {P} failed new mode for target '{IscsiReplay.Target}' with status '6'", error.Message);
        Assert.Equal(WithNodeCheck(GoldenArgv("01-start-plain-bad")[..2]), Calls(runner));
    }

    [Fact]
    public async Task Stop_logs_out_a_session_and_does_nothing_without_one()
    {
        // virStorageBackendISCSIStopPool: the session probe, then virISCSIConnectionLogout.
        var replay = new IscsiReplay { Sessions = IscsiadmOutputTests.Golden("represented/session.out") };
        replay.Answers[$"--mode node --portal {Portal} --targetname {IscsiReplay.Target} --logout"] = IscsiReplay.Ok();
        var runner = new RecordingProcessRunner(replay.Respond);
        var (backend, pool) = Load(runner, PoolXmlOf("iscsiplain"));
        await backend.StopPoolAsync(pool, default);
        Assert.Equal(FromSource("stop"), Calls(runner));

        var idle = new RecordingProcessRunner(new IscsiReplay().Respond);
        (backend, pool) = Load(idle, PoolXmlOf("iscsiplain"));
        await backend.StopPoolAsync(pool, default);
        Assert.False(await backend.CheckPoolAsync(pool, default));
        Assert.Equal([.. FromSource("stop-no-session"), $"{P} --mode session"], Calls(idle));
    }

    [Fact]
    public async Task Stop_with_an_initiator_logs_out_through_its_iface()
    {
        var replay = new IscsiReplay { Sessions = IscsiadmOutputTests.Golden("represented/session.out"), Ifaces = IscsiadmOutputTests.Golden("represented/iface-with-initiator.out") };
        replay.Answers[$"--mode node --portal {Portal} --targetname {IscsiReplay.Target} --logout --interface {IscsiReplay.Iface}"] = IscsiReplay.Ok();
        var runner = new RecordingProcessRunner(replay.Respond);
        var (backend, pool) = Load(runner, PoolXmlOf("iscsiinit"));
        await backend.StopPoolAsync(pool, default);
        Assert.Equal(FromSource("stop-initiator"), Calls(runner));
    }

    [Fact]
    public async Task A_failed_logout_is_iscsiadms_error()
    {
        // Captured: a logout without a session exits 21 ("No matching sessions found").
        var replay = new IscsiReplay { Sessions = IscsiadmOutputTests.Golden("represented/session.out") };
        var runner = new RecordingProcessRunner(replay.Respond);
        var (backend, pool) = Load(runner, PoolXmlOf("iscsiplain"));
        var error = await Assert.ThrowsAsync<VirtPoolException>(() => backend.StopPoolAsync(pool, default));
        Assert.Equal(
            $"internal error: Child process ({P} --mode node --portal {Portal} --targetname {IscsiReplay.Target} --logout) unexpected exit status 21: iscsiadm: No matching sessions found\n",
            error.Message);
    }

    [Fact]
    public async Task Refresh_without_a_session_is_libvirts_error_with_iscsiadms_words()
    {
        var runner = new RecordingProcessRunner(new IscsiReplay().Respond);
        var (backend, pool) = Load(runner, PoolXmlOf("iscsiplain"));
        var error = await Assert.ThrowsAsync<VirtPoolException>(() => backend.RefreshPoolAsync(pool, default));
        Assert.Equal("internal error: cannot find iscsiadm session: iscsiadm: No active sessions.\n", error.Message);
        Assert.Equal([$"{P} --mode session"], Calls(runner));
    }

    [Fact]
    public async Task A_failed_rescan_fails_the_refresh()
    {
        var replay = new IscsiReplay { Sessions = IscsiadmOutputTests.Golden("represented/session.out") };
        replay.Answers["--mode session -r 4 -R"] = IscsiReplay.Captured("rescan-no-session");
        var runner = new RecordingProcessRunner(replay.Respond);
        var (backend, pool) = Load(runner, PoolXmlOf("iscsiplain"));
        var error = await Assert.ThrowsAsync<VirtPoolException>(() => backend.RefreshPoolAsync(pool, default));
        Assert.Equal(
            $"internal error: Child process ({P} --mode session -r 4 -R) unexpected exit status 22: " + IscsiReplay.Captured("rescan-no-session").StandardError,
            error.Message);
        Assert.Equal([$"{P} --mode session", $"{P} --mode session -r 4 -R"], Calls(runner));
    }

    [Theory]
    [InlineData("<host name='a'/><host name='b'/><device path='iqn.x'/>", "unsupported configuration: Expected exactly 1 host for the storage pool")]
    [InlineData("<host name='a'/>", "internal error: missing source device")]
    [InlineData("<host name='a'/><device path='iqn.x'/><device path='iqn.y'/>", "internal error: missing source device")]
    public async Task Sources_libvirt_refuses_are_refused_before_any_command(string source, string message)
    {
        // (No host at all is refused by the XML parser already: "missing storage pool source host name".)
        var runner = new RecordingProcessRunner(new IscsiReplay().Respond);
        var pool = new PoolContext(PoolXml.Parse($"<pool type='iscsi'><name>x</name><source>{source}</source><target><path>/dev/disk/by-path</path></target></pool>"));
        var backend = IscsiBackend.Type(runner, Environment).Load(pool);
        Assert.Equal(message, (await Assert.ThrowsAsync<VirtPoolException>(() => backend.StartPoolAsync(pool, PoolStartFlags.None, default))).Message);
        Assert.Equal(message, (await Assert.ThrowsAsync<VirtPoolException>(() => backend.CheckPoolAsync(pool, default))).Message);
        Assert.Empty(runner.Calls);
    }
}
