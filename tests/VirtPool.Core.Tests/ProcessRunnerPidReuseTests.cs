using System.Globalization;
using VirtPool.Core.Errors;
using VirtPool.Core.Process;

namespace VirtPool.Core.Tests;

/// <summary>
/// The runner's kill at a time limit names the command by pid and start time: when the command had
/// already exited and been reaped (an escaped grandchild kept its stdout open, so the runner went on
/// waiting), its pid may belong to an unrelated process by then, which must not be signalled.
/// Reproduced by handing the pid to a victim through /proc/sys/kernel/ns_last_pid (root), as a busy
/// host with a small pid_max does by itself (found by an adversarial review).
/// </summary>
public sealed class ProcessRunnerPidReuseTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("virtpool-adv-runner-").FullName;
    private readonly List<System.Diagnostics.Process> _victims = [];

    public void Dispose()
    {
        foreach (var victim in _victims)
        {
            if (!victim.HasExited)
            {
                victim.Kill();
            }

            victim.Dispose();
        }

        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task A_time_limit_never_signals_a_process_that_took_the_exited_commands_pid()
    {
        var pidFile = Path.Combine(_dir, "pid");

        // The shell records its pid and exits at once; its background sleep keeps stdout open.
        var request = new ProcessRequest(["sh", "-c", "echo $$ > \"$0.tmp\" && mv \"$0.tmp\" \"$0\"; sleep 8 & exit 0", pidFile])
        {
            Timeout = TimeSpan.FromSeconds(6),
        };
        var run = ProcessRunner.Instance.RunAsync(request);

        while (!File.Exists(pidFile))
        {
            await Task.Delay(10);
        }

        var pid = int.Parse(File.ReadAllText(pidFile).Trim(), CultureInfo.InvariantCulture);
        while (Directory.Exists($"/proc/{pid}"))
        {
            await Task.Delay(10); // until .NET has reaped the shell
        }

        // A new, unrelated process gets the same pid (other processes may take it first: try again).
        System.Diagnostics.Process? victim = null;
        for (var attempt = 0; attempt < 200 && victim is null; attempt++)
        {
            await File.WriteAllTextAsync("/proc/sys/kernel/ns_last_pid", (pid - 1).ToString(CultureInfo.InvariantCulture));
            var started = System.Diagnostics.Process.Start("sleep", "60");
            _victims.Add(started);
            if (started.Id == pid)
            {
                victim = started;
            }
        }

        Assert.NotNull(victim);
        var error = await Assert.ThrowsAsync<VirtPoolException>(() => run);
        Assert.EndsWith("was killed", error.Message, StringComparison.Ordinal);

        // The runner has sent its signals by the time it throws: the unrelated process must live on.
        Assert.False(victim.WaitForExit(TimeSpan.FromSeconds(3)), "the runner killed an unrelated process that reused the command's pid");
    }
}
