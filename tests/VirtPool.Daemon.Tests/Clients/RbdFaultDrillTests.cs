using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.RegularExpressions;
using VirtPool.TestSupport;
using Xunit.Abstractions;

namespace VirtPool.Daemon.Tests.Clients;

/// <summary>
/// The OSD stops answering while an rbd pool is active on virtpoold and an upload runs: the upload
/// fails within the configured network time limit with a clear error, the daemon keeps serving a dir
/// pool, pool-info shows the rbd pool inaccessible, and once the OSD answers again a refresh recovers
/// it and the data written before is intact.
/// </summary>
/// <remarks>
/// The drill freezes the OSD with SIGSTOP and thaws it with SIGCONT. A memstore OSD keeps its data
/// only in its memory, so killing and restarting it would come back empty and make "no data lost"
/// meaningless; a frozen OSD is what a hung or partitioned one looks like to a client (connections
/// stay open, requests are never answered). Stopping the mon instead would not stop a running
/// transfer at all: clients talk to the OSD directly once connected. The drill has a cluster of its own
/// (its own ports and slot), so no other test meets the frozen OSD, and a virtpoold of its own
/// started with VIRTPOOL_NET_TIMEOUT=5 (the in-process test daemon would need the variable set for
/// the whole test process).
/// </remarks>
public sealed partial class RbdFaultDrillTests(ITestOutputHelper output)
{
    private const int TimeoutSeconds = 5;
    private const string SecretUuid = "7b3d5f9a-2c4e-4a6b-8d0f-1e3a5c7e9b02";

    private static string Repo => OracleAndDaemonFixture.RepoRoot;

    [Fact]
    public async Task A_frozen_osd_fails_the_transfer_in_bounded_time_and_a_refresh_recovers_the_pool()
    {
        using var ceph = new CephCluster();
        using var dir = new TempDir();
        var daemonDir = Path.Combine(dir.Path, "virtpoold");
        var daemon = Path.Combine(AppContext.BaseDirectory, "virtpoold");
        Assert.True(File.Exists(daemon), $"{daemon} is missing: the test project must reference VirtPool.Daemon");
        var up = await Tool.RunAsync("/usr/bin/env", [$"VIRTPOOL_NET_TIMEOUT={TimeoutSeconds}", $"VIRTPOOLD={daemon}", "bash", Path.Combine(Repo, "scripts", "virtpoold-up.sh"), daemonDir], timeoutSeconds: 120);
        Assert.True(up.Exit == 0, "virtpoold-up.sh failed: " + up.Err);
        var uri = up.Out.Trim().Split('\n')[0];
        var frozen = false;
        Process? upload = null;
        try
        {
            async Task<(int Exit, string Out, string Err)> Virsh(params string[] args) =>
                await Tool.RunAsync(Tool.Virsh, ["-c", uri, .. args], timeoutSeconds: 120);
            async Task<string> Must(params string[] args)
            {
                var r = await Virsh(args);
                Assert.True(r.Exit == 0, $"virsh {string.Join(' ', args)}: {r.Err}");
                return r.Out;
            }

            await File.WriteAllTextAsync(Path.Combine(dir.Path, "secret.xml"), $"<secret ephemeral='no' private='yes'><uuid>{SecretUuid}</uuid><usage type='ceph'><name>vp drill</name></usage></secret>");
            await File.WriteAllTextAsync(Path.Combine(dir.Path, "key"), ceph.LibvirtKey);
            await Must("secret-define", Path.Combine(dir.Path, "secret.xml"));
            await Must("secret-set-value", SecretUuid, "--file", Path.Combine(dir.Path, "key"));
            await File.WriteAllTextAsync(Path.Combine(dir.Path, "rbd.xml"),
                $"<pool type='rbd'><name>drill</name><source><host name='127.0.0.1' port='{ceph.MonPort}'/><name>{CephCluster.Pool}</name>" +
                $"<auth type='ceph' username='{CephCluster.User}'><secret uuid='{SecretUuid}'/></auth></source></pool>");
            Directory.CreateDirectory(Path.Combine(dir.Path, "dirpool"));
            await Must("pool-create-as", "drilldir", "dir", "--target", Path.Combine(dir.Path, "dirpool"));
            await Must("vol-create-as", "drilldir", "a.raw", "1M");
            await Must("pool-create", Path.Combine(dir.Path, "rbd.xml"));

            // Data that must survive the drill.
            var keep = new byte[8 << 20];
            new Random(21).NextBytes(keep);
            var keepFile = Path.Combine(dir.Path, "keep.bin");
            await File.WriteAllBytesAsync(keepFile, keep);
            await Must("vol-create-as", "drill", "keep", "8M");
            await Must("vol-upload", "keep", keepFile, "--pool", "drill");
            await Must("vol-create-as", "drill", "moving", "64M");

            upload = StartHeldUpload(uri, "drill", "moving", 64);
            Assert.Equal("first half sent", await upload.StandardOutput.ReadLineAsync());
            CephCluster.Signal(ceph.OsdPid, "STOP");
            frozen = true;
            await upload.StandardInput.WriteLineAsync("go");
            await upload.StandardInput.FlushAsync();

            // Bounded: the client's line arrives when virtpoold gives up, at its limit (the backstop here is generous).
            using (var backstop = new CancellationTokenSource(TimeSpan.FromSeconds(TimeoutSeconds * 24)))
            {
                await upload.WaitForExitAsync(backstop.Token);
            }

            var outcome = (await upload.StandardOutput.ReadToEndAsync()).Trim();
            var failed = FailedAfter().Match(outcome);
            Assert.True(failed.Success, $"the upload did not fail while the OSD was frozen: {outcome}\n{await upload.StandardError.ReadToEndAsync()}");
            Assert.DoesNotContain("Exception", outcome, StringComparison.Ordinal);
            // librados's own limit (rados_osd_op_timeout: "Connection timed out") or the connection's backstop ("Timed out during operation").
            Assert.Contains("timed out", outcome, StringComparison.OrdinalIgnoreCase);
            output.WriteLine($"upload while the OSD is frozen: {outcome}");
            var seconds = double.Parse(failed.Groups[1].Value, CultureInfo.InvariantCulture);
            Assert.True(seconds < TimeoutSeconds * 6, $"the upload failed only after {seconds} s with a {TimeoutSeconds} s limit: {outcome}");

            // The daemon keeps answering for its other pool.
            Assert.Contains("State:          running", await Must("pool-info", "drilldir"), StringComparison.Ordinal);
            await Must("vol-create-as", "drilldir", "b.raw", "1M");
            Assert.Contains("b.raw", await Must("vol-list", "drilldir"), StringComparison.Ordinal);

            // The rbd pool: still defined and active, reported inaccessible; a refresh fails within the limit.
            Assert.Contains("State:          inaccessible", await Must("pool-info", "drill"), StringComparison.Ordinal);
            var watch = Stopwatch.StartNew();
            var refresh = await Virsh("pool-refresh", "drill");
            watch.Stop();
            output.WriteLine($"pool-refresh while the OSD is frozen ({watch.Elapsed.TotalSeconds:0.0} s): {refresh.Err.Trim()}");
            Assert.Equal(1, refresh.Exit);
            Assert.StartsWith("error: Failed to refresh pool drill\nerror: ", refresh.Err, StringComparison.Ordinal);
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(TimeoutSeconds * 6), $"pool-refresh took {watch.Elapsed} with a {TimeoutSeconds} s limit: {refresh.Err}");
            Assert.Contains("State:          inaccessible", await Must("pool-info", "drill"), StringComparison.Ordinal);
            Assert.Contains("drill", await Must("pool-list", "--name"), StringComparison.Ordinal);

            CephCluster.Signal(ceph.OsdPid, "CONT");
            frozen = false;
            await Eventually.UntilAsync(async () => (await Virsh("pool-refresh", "drill")).Exit == 0, "a refresh of the rbd pool succeeds after the OSD is back");
            Assert.Contains("State:          running", await Must("pool-info", "drill"), StringComparison.Ordinal);
            Assert.Contains("keep", await Must("vol-list", "drill"), StringComparison.Ordinal);

            var back = Path.Combine(dir.Path, "keep-back.bin");
            // The OSD answers a refresh's header reads before it serves data again at full speed on a
            // loaded machine: wait until a download of the untouched image goes through, then compare.
            await Eventually.UntilAsync(async () => (await Virsh("vol-download", "keep", back, "--pool", "drill")).Exit == 0, "a download of the untouched image succeeds after the OSD is back");
            Assert.Equal(SHA256.HashData(keep), SHA256.HashData(await File.ReadAllBytesAsync(back)));
            var exported = Path.Combine(dir.Path, "keep-export.bin");
            ceph.Rbd("export", "--no-progress", $"{CephCluster.Pool}/keep", exported);
            Assert.Equal(SHA256.HashData(keep), SHA256.HashData(await File.ReadAllBytesAsync(exported)));

            // The pool is fully usable again: a new transfer completes, and the image whose upload was cut
            // off takes data again once the handle that wrote it (retired at the timeout) lets go of it.
            await Must("vol-create-as", "drill", "fresh", "8M");
            await Must("vol-upload", "fresh", keepFile, "--pool", "drill");
            await Eventually.UntilAsync(async () => (await Virsh("vol-upload", "moving", keepFile, "--pool", "drill")).Exit == 0, "an upload into the interrupted image succeeds");
            await Must("pool-destroy", "drill");
            await Must("pool-destroy", "drilldir");
        }
        finally
        {
            if (upload is { HasExited: false })
            {
                upload.Kill(entireProcessTree: true);
            }

            upload?.Dispose();
            if (frozen)
            {
                CephCluster.Signal(ceph.OsdPid, "CONT");
            }

            await Tool.RunAsync("bash", [Path.Combine(Repo, "scripts", "virtpoold-down.sh"), daemonDir], timeoutSeconds: 60);
        }
    }

    private static Process StartHeldUpload(string uri, string pool, string volume, int mib)
    {
        var psi = new ProcessStartInfo(Tool.Python)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in new[] { Path.Combine(Repo, "tests", "clients", "python", "rbd_held_upload.py"), uri, pool, volume, mib.ToString(CultureInfo.InvariantCulture) })
        {
            psi.ArgumentList.Add(a);
        }

        psi.Environment["LC_ALL"] = "C";
        return Process.Start(psi)!;
    }

    [GeneratedRegex(@"^failed after ([0-9.]+) s: code=\d+ domain=\d+ \S")]
    private static partial Regex FailedAfter();
}
