using System.Text;
using VirtPool.Backends.Iscsi;
using VirtPool.Core.Backends;
using VirtPool.Core.Errors;
using VirtPool.Core.Manager;
using VirtPool.Core.Process;
using VirtPool.Core.State;
using VirtPool.TestSupport;

namespace VirtPool.Backends.Tests.Iscsi;

/// <summary>
/// The real boundary: VirtPool's iscsi pool driving this machine's real iscsiadm (open-iscsi 2.1.8), which
/// fails here as it failed under libvirtd 9.0 (no kernel initiator, no iscsid). pool-start must fail with
/// the very text libvirtd gave (Golden/libvirtd) and, unlike libvirtd, leave no node record and no iface
/// in /etc/iscsi. Each test uses a target name of its own and removes whatever iscsiadm still holds for
/// it afterwards, also on failure; a machine lock keeps two test runs from reading each other's ifaces.
/// </summary>
public sealed class IscsiLiveTests : IDisposable
{
    private const string RecordedTarget = "iqn.2024-01.test.infra:disk1";

    private readonly string _work = Directory.CreateTempSubdirectory("vp-iscsi-live-").FullName;
    private readonly string _target = $"iqn.2024-01.vpo.test:live-{Guid.NewGuid():N}"[..40];
    private readonly FileStream _lock = TestServices.TakeMachineLock("/run/virtpool-tests/iscsiadm.lock");
    private readonly string[] _ifacesBefore;

    /// <summary>iscsiadm's database folders that did not exist before (it makes them on first use).</summary>
    private readonly string[] _newFolders;

    public IscsiLiveTests()
    {
        _newFolders = [.. new[] { "nodes", "send_targets", "static", "ifaces", "isns", "slp", "fw" }.Select(f => Path.Combine("/etc/iscsi", f)).Where(f => !Directory.Exists(f))];
        _ifacesBefore = Ifaces();
    }

    public void Dispose()
    {
        foreach (var portal in new[] { "127.0.0.1:3260", "[::1]:3260" })
        {
            Iscsiadm("-m", "node", "-T", _target, "-p", portal, "-o", "delete");
        }

        foreach (var iface in Ifaces().Except(_ifacesBefore).Where(i => i.StartsWith("libvirt-iface-", StringComparison.Ordinal)))
        {
            Iscsiadm("-m", "iface", "-I", iface, "-o", "delete");
        }

        foreach (var folder in _newFolders.Where(f => Directory.Exists(f) && !Directory.EnumerateFileSystemEntries(f).Any()))
        {
            Directory.Delete(folder);
        }

        _lock.Dispose();
        Directory.Delete(_work, recursive: true);
    }

    private static ProcessResult Iscsiadm(params string[] args)
        => ProcessRunner.Instance.RunAsync(["iscsiadm", .. args]).GetAwaiter().GetResult();

    private static string[] Ifaces() => [.. Iscsiadm("-m", "iface").StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(' ')[0])];

    private bool HasNodeRecord() => Iscsiadm("-m", "node").StandardOutput.Contains(_target, StringComparison.Ordinal);

    private string PoolXml(string source = "") => $"<pool type='iscsi'><name>live</name><source><host name='127.0.0.1' port='3260'/><device path='{_target}'/>{source}</source><target><path>/dev/disk/by-path</path></target></pool>";

    private PoolManager Manager(ForwardingRecorder runner) => new(new StateStore(Path.Combine(_work, "state")), new BackendRegistry([IscsiBackend.Type(runner)]));

    private string Recorded(string step) => IscsiCommandTests.GoldenError(step).Replace(RecordedTarget, _target, StringComparison.Ordinal);

    [Fact]
    public async Task Start_fails_with_libvirtds_text_and_leaves_no_node_record()
    {
        var runner = new ForwardingRecorder();
        using var mgr = Manager(runner);
        await mgr.DefinePoolAsync(PoolXml());
        var error = await Assert.ThrowsAsync<VirtPoolException>(() => mgr.StartPoolAsync("live", PoolBuildFlags.None, doBuild: false));
        Assert.Equal(Recorded("01-start-plain-bad"), error.Message);

        // iscsiadm made the record for the login (as it did for libvirtd, which left it: 01's .leftover) …
        Assert.Contains($"--mode node --portal 127.0.0.1:3260,1 --targetname {_target} --op new", runner.Commands);
        Assert.Contains("127.0.0.1:3260,1 iqn.2024-01.test.infra:disk1", IscsiadmOutputTests.Golden("libvirtd/01-start-plain-bad.leftover"), StringComparison.Ordinal);

        // … and VirtPool removed it after the failed login.
        Assert.Equal($"--mode node --portal 127.0.0.1:3260,1 --targetname {_target} --op delete", runner.Commands[^1]);
        Assert.False(HasNodeRecord());
        Assert.Equal(PoolState.Inactive, (await mgr.GetPoolInfoAsync("live")).State);
    }

    [Fact]
    public async Task A_chap_start_sets_the_credentials_on_the_record_it_then_removes()
    {
        var runner = new ForwardingRecorder();
        using var mgr = Manager(runner);
        var secret = mgr.Secrets.Define("<secret ephemeral='no' private='yes'><usage type='iscsi'><target>vpolive</target></usage></secret>");
        mgr.Secrets.SetValue(secret.Uuid, Encoding.UTF8.GetBytes("libvirtsecret1"));
        await mgr.DefinePoolAsync(PoolXml("<auth type='chap' username='libvirt'><secret usage='vpolive'/></auth>"));
        var error = await Assert.ThrowsAsync<VirtPoolException>(() => mgr.StartPoolAsync("live", PoolBuildFlags.None, doBuild: false));
        Assert.Equal(Recorded("02-start-chap-bad"), error.Message);
        Assert.Contains($"--mode node --portal 127.0.0.1:3260,1 --target {_target} --op update --name node.session.auth.password --value libvirtsecret1", runner.Commands);
        Assert.False(HasNodeRecord());
    }

    [Fact]
    public async Task A_chap_start_without_its_secret_changes_nothing()
    {
        var runner = new ForwardingRecorder();
        using var mgr = Manager(runner);
        await mgr.DefinePoolAsync(PoolXml("<auth type='chap' username='libvirt'><secret usage='vpo-no-such-secret'/></auth>"));
        var error = await Assert.ThrowsAsync<VirtPoolException>(() => mgr.StartPoolAsync("live", PoolBuildFlags.None, doBuild: false));
        Assert.Equal(VirErrorCode.NoSecret, error.Code);
        Assert.EndsWith("no secret with matching usage 'vpo-no-such-secret'", error.Message, StringComparison.Ordinal);
        Assert.Equal(["--mode session"], runner.Commands);
        Assert.False(HasNodeRecord());
    }

    [Fact]
    public async Task An_initiator_iqn_start_fails_clearly_and_leaves_no_iface_behind()
    {
        var runner = new ForwardingRecorder();
        using var mgr = Manager(runner);
        await mgr.DefinePoolAsync(PoolXml("<initiator><iqn name='iqn.2024-01.vpo.test:client'/></initiator>"));
        var error = await Assert.ThrowsAsync<VirtPoolException>(() => mgr.StartPoolAsync("live", PoolBuildFlags.None, doBuild: false));

        // libvirtd said "An error occurred, but the cause is unknown" and kept the iface (03's .leftover).
        var made = runner.Commands.Single(c => c.EndsWith("--op new", StringComparison.Ordinal) && c.StartsWith("--mode iface", StringComparison.Ordinal)).Split(' ')[3];
        Assert.StartsWith($"internal error: Failed to set initiator IQN 'iqn.2024-01.vpo.test:client' on iscsi interface '{made}': ", error.Message, StringComparison.Ordinal);
        Assert.Contains("Cound not locate transport for iface " + made, error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(made, Ifaces());
        Assert.False(HasNodeRecord());
    }

    [Fact]
    public async Task Find_sources_fails_with_libvirtds_text()
    {
        var runner = new ForwardingRecorder();
        using var mgr = Manager(runner);
        var error = await Assert.ThrowsAsync<VirtPoolException>(() => mgr.FindPoolSourcesAsync("iscsi", "<source>\n  <host name='127.0.0.1' port='3260'/>\n</source>\n", 0));
        Assert.Equal(Recorded("05-find-sources-bad"), error.Message);
    }

    [Fact]
    public async Task Check_and_stop_of_a_target_without_a_session_only_look()
    {
        var runner = new ForwardingRecorder();
        var pool = new PoolContext(Core.Xml.PoolXml.Parse(PoolXml()));
        var backend = IscsiBackend.Type(runner).Load(pool);
        Assert.False(await backend.CheckPoolAsync(pool, default));
        await backend.StopPoolAsync(pool, default);
        Assert.Equal(["--mode session", "--mode session"], runner.Commands);
    }

    [Fact]
    public async Task An_iscsiadm_that_hangs_is_killed_at_the_time_limit_with_a_clear_error()
    {
        // A stand-in iscsiadm that never answers (a dead portal's login looks the same from here).
        var hang = Path.Combine(_work, "iscsiadm");
        await File.WriteAllTextAsync(hang, "#!/bin/sh\nexec sleep 600\n");
        File.SetUnixFileMode(hang, UnixFileMode.UserRead | UnixFileMode.UserExecute);
        var environment = new IscsiEnvironment { Iscsiadm = hang, CommandTimeout = TimeSpan.FromSeconds(1) };
        var pool = new PoolContext(Core.Xml.PoolXml.Parse(PoolXml()));
        var backend = IscsiBackend.Type(ProcessRunner.Instance, environment).Load(pool);
        var error = await Assert.ThrowsAsync<VirtPoolException>(() => backend.StartPoolAsync(pool, PoolStartFlags.None, default));
        Assert.Equal($"internal error: Child process ({hang} --mode session) did not finish within 1 s and was killed", error.Message);
    }

    /// <summary>Runs each command for real and keeps its words after the program.</summary>
    private sealed class ForwardingRecorder : IProcessRunner
    {
        private readonly List<string> _commands = [];

        public IReadOnlyList<string> Commands
        {
            get
            {
                lock (_commands)
                {
                    return [.. _commands];
                }
            }
        }

        public Task<ProcessResult> RunAsync(IReadOnlyList<string> argv, CancellationToken cancellationToken = default)
            => RunAsync(new ProcessRequest(argv), cancellationToken);

        public Task<ProcessResult> RunAsync(ProcessRequest request, CancellationToken cancellationToken = default)
        {
            lock (_commands)
            {
                _commands.Add(string.Join(' ', request.Argv.Skip(1)));
            }

            return ProcessRunner.Instance.RunAsync(request, cancellationToken);
        }
    }
}
