using System.Text.Json;
using VirtPool.Daemon.Tests.Clients;

namespace VirtPool.Daemon.Tests;

/// <summary>
/// python3-libvirt clients race against virtpoold, each on its own connection
/// (tests/clients/python/race_mix.py): one qcow2 name created, deleted, looked up, described, resized,
/// uploaded into and downloaded from at once, and pools started and stopped while others read them.
/// Every error must be one libvirt's storage driver gives in such a race; after a start's reply, and
/// after its STARTED event, other connections must see the pool active.
/// </summary>
public sealed class RaceMixTests
{
    [Fact]
    public async Task Racing_python_clients_get_only_libvirts_errors_and_never_an_old_pool_state()
    {
        await using var daemon = await TestDaemon.StartAsync();
        var script = Path.Combine(OracleAndDaemonFixture.RepoRoot, "tests", "clients", "python", "race_mix.py");
        var (exit, stdout, stderr) = await Tool.RunAsync(
            Tool.Python, [script, daemon.Uri, Path.Combine(daemon.Dir, "work"), "--iterations", "60", "--pools"], timeoutSeconds: 600);

        var lines = stdout.TrimEnd().Split('\n');
        using var summary = JsonDocument.Parse(lines[^1]);
        var result = summary.RootElement;
        var report = $"exit {exit}\n{stdout}\n{stderr}";
        Assert.True(result.GetProperty("unexpected").GetInt32() == 0, report);
        Assert.True(result.GetProperty("violations").GetInt32() == 0, report);
        Assert.True(result.GetProperty("crashed").GetInt32() == 0, report);

        // Unlike libvirtd, a qcow2 volume being made is described with the capacity it is made with.
        Assert.True(result.GetProperty("capacity0").GetInt32() == 0, report);
        Assert.True(exit == 0, report);

        // The mix did run: each of the 8 volume clients made at least a lookup per step, and most calls were answered.
        var calls = result.GetProperty("calls").GetInt32();
        Assert.True(calls >= 8 * 2 * 60 && result.GetProperty("expected").GetInt32() < calls / 2, report);
    }
}
