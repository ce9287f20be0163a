using System.Net;
using System.Net.Sockets;
using VirtPool.Cli.Tests.Support;

namespace VirtPool.Cli.Tests.Remote;

/// <summary>
/// virtpool -c against virtpoold: the daemon is built from the repository into a private artifacts
/// folder, started with scripts/virtpoold-up.sh on a unix socket and plain TCP, and the remote scenario
/// runs over qemu+tcp with virsh and virtpool side by side on that daemon (the libvirtd oracle has no
/// TCP listener, so this is where the TCP transport is compared).
/// </summary>
public sealed class VirtpooldRemoteTests
{
    [Fact]
    public async Task Storage_scenario_over_tcp_against_virtpoold_matches_virsh()
    {
        var root = TestPaths.NewTempDir("vprmt");
        var daemonDir = Path.Combine(root, "daemon");
        try
        {
            var artifacts = Path.Combine(root, "artifacts");
            var build = await ChildProcess.RunAsync(
                "dotnet",
                ["build", Path.Combine(TestPaths.RepoRoot, "src", "VirtPool.Daemon"), "-c", "Release", "-nologo", "--artifacts-path", artifacts],
                timeout: TimeSpan.FromMinutes(5));
            Assert.True(build.ExitCode == 0, $"building virtpoold failed:\n{build}");
            var daemon = Path.Combine(artifacts, "bin", "VirtPool.Daemon", "release", "virtpoold");
            Assert.True(File.Exists(daemon), $"{daemon} was not built");

            foreach (var side in new[] { "o", "v" })
            {
                var fs = Path.Combine(root, side);
                Directory.CreateDirectory(fs);
                await Mounts.MountTmpfsAsync(fs, "128m");
                Directory.CreateDirectory(Path.Combine(fs, "p"));
                Directory.CreateDirectory(Path.Combine(fs, "x"));
            }

            var port = FreePort();
            var up = await ChildProcess.RunAsync(
                "bash",
                [TestPaths.Script("virtpoold-up.sh"), daemonDir, port.ToString(System.Globalization.CultureInfo.InvariantCulture)],
                new Dictionary<string, string?> { ["VIRTPOOLD"] = daemon },
                TimeSpan.FromSeconds(60));
            var tcp = up.Stdout.Split('\n').FirstOrDefault(l => l.StartsWith("qemu+tcp://", StringComparison.Ordinal));
            Assert.True(up.ExitCode == 0 && tcp is not null, $"virtpoold did not start:\n{up}");

            using var run = new RemoteRun(tcp!, Path.Combine(root, "o"), Path.Combine(root, "v"), Path.Combine(root, "state"));
            await RemoteScenario.RunAsync(run);
            run.AssertNoDifferences();
        }
        finally
        {
            if (Directory.Exists(daemonDir))
            {
                await ChildProcess.RunAsync("bash", [TestPaths.Script("virtpoold-down.sh"), daemonDir], timeout: TimeSpan.FromSeconds(30));
            }

            await Mounts.UnmountAllUnderAsync(root);
            if (Mounts.MountPointsUnder(root).Count == 0)
            {
                TestPaths.DeleteTree(root);
            }
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
