using System.Diagnostics;
using System.Security.Cryptography;
using VirtPool.Daemon.Tests.Clients;
using VirtPool.TestSupport;
using Xunit.Abstractions;

namespace VirtPool.Daemon.Tests;

/// <summary>
/// Fault drill: glusterd and the brick die (SIGKILL) while a gluster pool of a virtpoold process is
/// active and a vol-upload into it runs. The upload fails within the short VIRTPOOL_NET_TIMEOUT with a
/// clear error, the daemon keeps answering (a dir pool's info, the pool list), the gluster pool shows as
/// inaccessible and its volumes' calls fail in bounded time; once the servers are back a refresh
/// recovers the pool, and the volume written before the drill has the same bytes.
/// </summary>
public sealed class GlusterPoolFaultDrillTests(GlusterServer gluster, ITestOutputHelper output) : IClassFixture<GlusterServer>
{
    private const string NetTimeoutSeconds = "3";

    [Fact]
    public async Task A_dead_gluster_fails_operations_in_bounded_time_and_a_refresh_recovers_after_it_returns()
    {
        using var work = new TempDir();
        var daemonDir = Path.Combine(work.Path, "vpd");
        var up = await Tool.RunAsync("env", [$"VIRTPOOL_NET_TIMEOUT={NetTimeoutSeconds}", Path.Combine(OracleAndDaemonFixture.RepoRoot, "scripts", "virtpoold-up.sh"), daemonDir], timeoutSeconds: 300);
        Assert.True(up.Exit == 0, "virtpoold-up.sh: " + up.Err);
        var uri = up.Out.Trim().Split('\n')[0];
        var volume = gluster.Volumes[0];
        using (var fuse = gluster.Mount(volume))
        {
            Directory.CreateDirectory(Path.Combine(fuse.Path, "drill"));
        }

        var brickFile = Path.Combine(gluster.BrickOf(volume), "drill", "keep.raw");
        async Task<(int Exit, string Out, string Err)> Virsh(params string[] args) => await Tool.RunAsync(Tool.Virsh, ["-c", uri, .. args], timeoutSeconds: 120);
        async Task<string> Must(params string[] args)
        {
            var r = await Virsh(args);
            Assert.True(r.Exit == 0, $"virsh {string.Join(' ', args)}: {r.Err}");
            return r.Out;
        }

        var serversDown = false;
        try
        {
            Directory.CreateDirectory(Path.Combine(work.Path, "dirpool"));
            await Must("pool-create-as", "dirok", "dir", "--target", Path.Combine(work.Path, "dirpool"));
            await Must("pool-create-as", "glf", "gluster", "--source-host", "127.0.0.1", "--source-name", volume, "--source-path", "/drill");

            // A volume with data written before the drill, and a large one for the transfer the drill interrupts.
            var keep = Path.Combine(work.Path, "keep.img");
            await File.WriteAllBytesAsync(keep, RandomNumberGenerator.GetBytes(8 << 20));
            await Must("vol-create-as", "glf", "keep.raw", "8M", "--allocation", "0");
            await Must("vol-upload", "--pool", "glf", "keep.raw", keep);
            var before = Sha256(brickFile);
            Assert.Equal(Sha256(keep), before);
            await Must("vol-create-as", "glf", "big.raw", "1G", "--allocation", "0");

            // The upload reads a pipe the test feeds: it is surely running when the servers die.
            var fifo = Path.Combine(work.Path, "feed");
            Assert.Equal(0, (await Tool.RunAsync("mkfifo", [fifo])).Exit);
            using var upload = Process.Start(new ProcessStartInfo(Tool.Virsh, ["-c", uri, "vol-upload", "--pool", "glf", "big.raw", fifo])
            {
                RedirectStandardError = true,
                RedirectStandardOutput = true,
                UseShellExecute = false,
            })!;
            var uploadErr = upload.StandardError.ReadToEndAsync();
            using var feedStop = new CancellationTokenSource();
            var fed = new TaskCompletionSource();
            var feeder = Task.Run(async () =>
            {
                var chunk = RandomNumberGenerator.GetBytes(1 << 20);
                try
                {
                    await using var pipe = new FileStream(fifo, FileMode.Open, FileAccess.Write);
                    for (var i = 0; !feedStop.IsCancellationRequested; i++)
                    {
                        await pipe.WriteAsync(chunk, feedStop.Token);
                        if (i == 16)
                        {
                            fed.TrySetResult();
                        }
                    }
                }
                catch (Exception ex) when (ex is IOException or OperationCanceledException)
                {
                    // virsh exited (broken pipe) or the test is done feeding.
                }
            });
            await fed.Task.WaitAsync(TimeSpan.FromSeconds(60));

            var clock = Stopwatch.StartNew();
            serversDown = true;
            gluster.StopServers();
            using var exitGuard = new CancellationTokenSource(TimeSpan.FromSeconds(120));
            await upload.WaitForExitAsync(exitGuard.Token);
            var failedAfter = clock.Elapsed;
            await feedStop.CancelAsync();
            await feeder;
            var err = await uploadErr;
            output.WriteLine($"upload failed {failedAfter.TotalSeconds:0.0} s after the servers died: {err.Trim()}");
            Assert.NotEqual(0, upload.ExitCode);
            Assert.Matches("(Transport endpoint is not connected|Timed out during operation|did not answer|Connection refused|Software caused connection abort|Input/output error)", err);

            // The daemon answers for other pools, and shows this one inaccessible.
            Assert.Contains("State:          running", await Must("pool-info", "dirok"), StringComparison.Ordinal);
            Assert.Contains("glf", await Must("pool-list", "--all"), StringComparison.Ordinal);
            Assert.Contains("State:          inaccessible", await Must("pool-info", "glf"), StringComparison.Ordinal);

            // A call on the dead server fails, bounded by the connection's time limit, with a clear error.
            var info = await Virsh("vol-info", "--pool", "glf", "keep.raw");
            output.WriteLine($"vol-info while down: exit {info.Exit}: {info.Err.Trim()}");
            Assert.NotEqual(0, info.Exit);
            Assert.StartsWith("error:", info.Err, StringComparison.Ordinal);
            Assert.Contains("State:          running", await Must("pool-info", "dirok"), StringComparison.Ordinal);

            // Back: a refresh reconnects, the pool is running again, the data written before is unchanged.
            gluster.StartServers();
            serversDown = false;
            await Must("pool-refresh", "glf");
            Assert.Contains("State:          running", await Must("pool-info", "glf"), StringComparison.Ordinal);
            Assert.Equal(before, Sha256(brickFile));
            var back = Path.Combine(work.Path, "back.img");
            await Must("vol-download", "--pool", "glf", "keep.raw", back);
            Assert.Equal(before, Sha256(back));
            Assert.Contains("keep.raw", await Must("vol-list", "glf"), StringComparison.Ordinal);
        }
        finally
        {
            // The servers come back for the fixture's teardown (volume stop and delete) and the next test.
            if (serversDown)
            {
                gluster.StartServers();
            }

            await Tool.RunAsync(Tool.Virsh, ["-c", uri, "pool-destroy", "glf"], timeoutSeconds: 120);
            await Tool.RunAsync(Tool.Virsh, ["-c", uri, "pool-destroy", "dirok"]);
            await Tool.RunAsync(Path.Combine(OracleAndDaemonFixture.RepoRoot, "scripts", "virtpoold-down.sh"), [daemonDir]);
        }
    }

    private static string Sha256(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexString(SHA256.HashData(stream));
    }
}
