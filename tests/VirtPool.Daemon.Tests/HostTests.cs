using System.Diagnostics;
using VirtPool.Rpc;
using VirtPool.TestSupport;

namespace VirtPool.Daemon.Tests;

/// <summary>The virtpoold executable: start-up, sockets and pid file, SIGTERM shutdown, refusals, scripts.</summary>
public sealed class HostTests
{
    /// <summary>The daemon built next to the tests (the project reference copies it).</summary>
    private static (string File, string[] Prefix) DaemonCommand()
    {
        string apphost = Path.Combine(AppContext.BaseDirectory, "virtpoold");
        if (File.Exists(apphost))
        {
            return (apphost, []);
        }

        return ("dotnet", [Path.Combine(AppContext.BaseDirectory, "virtpoold.dll")]);
    }

    private static Process StartDaemon(params string[] args)
    {
        var (file, prefix) = DaemonCommand();
        var psi = new ProcessStartInfo(file) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in prefix.Concat(args))
        {
            psi.ArgumentList.Add(a);
        }

        psi.Environment.Remove("VIRTPOOL_RUNTIME_DIR");
        return Process.Start(psi)!;
    }

    private static async Task WaitForSocketAsync(Process process, string socket)
    {
        await Eventually.UntilAsync(() => AnswersOrExitedAsync(process, socket), "virtpoold to answer on " + socket);
        Assert.False(process.HasExited, "virtpoold exited during start-up: " + (process.HasExited ? await process.StandardError.ReadToEndAsync() : ""));
    }

    private static async Task<bool> AnswersOrExitedAsync(Process process, string socket)
    {
        if (process.HasExited)
        {
            return true;
        }

        if (!File.Exists(socket))
        {
            return false;
        }

        try
        {
            using var probe = RawClient.Unix(socket);
            return (await probe.CallAsync(RemoteProcedure.AuthList, 0, [])).Header.Status == RpcMessageStatus.Ok;
        }
        catch (System.Net.Sockets.SocketException)
        {
            return false;
        }
    }

    private static async Task StopAsync(Process process)
    {
        if (!process.HasExited)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
    }

    [Fact]
    public async Task Process_serves_the_sockets_and_cleans_up_on_sigterm()
    {
        using var dir = new TempDir();
        string socket = Path.Combine(dir.Path, "sock"), pid = Path.Combine(dir.Path, "d.pid");
        using var process = StartDaemon("--socket", socket, "--state-dir", Path.Combine(dir.Path, "state"), "--pid-file", pid);
        try
        {
            await WaitForSocketAsync(process, socket);
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(socket) & (UnixFileMode)0x1ff);
            Assert.Equal((UnixFileMode)0x1b6, File.GetUnixFileMode(socket + "-ro") & (UnixFileMode)0x1ff);
            Assert.Equal(process.Id.ToString(), (await File.ReadAllTextAsync(pid)).Trim());
            Assert.True(Directory.Exists(Path.Combine(dir.Path, "state")));

            var uri = await Tool.VirshAsync($"qemu+unix:///system?socket={socket}", "uri");
            Assert.True(uri.Exit == 0, uri.Err);

            // An idle client connected during shutdown must not hold the daemon up.
            using var idle = RawClient.Unix(socket);
            await idle.CallAsync(RemoteProcedure.ConnectOpen, 1, Payload.Open("qemu:///system"));

            var kill = await Tool.RunAsync("/bin/kill", ["-TERM", process.Id.ToString()]);
            Assert.Equal(0, kill.Exit);
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await process.WaitForExitAsync(cts.Token);
            Assert.Equal(0, process.ExitCode);
            Assert.False(File.Exists(socket));
            Assert.False(File.Exists(socket + "-ro"));
            Assert.False(File.Exists(pid));
            Assert.True(await idle.ClosedByServerAsync(TimeSpan.FromSeconds(5)));
        }
        finally
        {
            await StopAsync(process);
        }
    }

    [Fact]
    public async Task Refuses_tcp_without_auth_none_and_a_socket_in_use()
    {
        using var dir = new TempDir();
        using (var noAuth = StartDaemon("--listen", "127.0.0.1:16599", "--socket", Path.Combine(dir.Path, "x")))
        {
            try
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                await noAuth.WaitForExitAsync(cts.Token);
                Assert.Equal(2, noAuth.ExitCode);
                Assert.Contains("--auth none", await noAuth.StandardError.ReadToEndAsync(), StringComparison.Ordinal);
            }
            finally
            {
                await StopAsync(noAuth);
            }
        }

        string socket = Path.Combine(dir.Path, "sock");
        using var first = StartDaemon("--socket", socket, "--state-dir", Path.Combine(dir.Path, "s1"));
        try
        {
            await WaitForSocketAsync(first, socket);
            using var second = StartDaemon("--socket", socket, "--state-dir", Path.Combine(dir.Path, "s2"));
            try
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                await second.WaitForExitAsync(cts.Token);
                Assert.Equal(1, second.ExitCode);
            }
            finally
            {
                await StopAsync(second);
            }

            // The refused second daemon must not have removed the first one's socket.
            using var client = RawClient.Unix(socket);
            Assert.Equal(RpcMessageStatus.Ok, (await client.CallAsync(RemoteProcedure.AuthList, 0, [])).Header.Status);
        }
        finally
        {
            await StopAsync(first);
        }
    }

    [Fact]
    public async Task Up_and_down_scripts_start_and_stop_the_daemon()
    {
        string scripts = Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, FindRepoRoot(), "scripts"));
        using var dir = new TempDir();
        var (file, prefix) = DaemonCommand();
        Assert.True(prefix.Length == 0, "the scripts need the virtpoold apphost");
        int port = FreePort();
        try
        {
            var up = await RunScriptAsync(Path.Combine(scripts, "virtpoold-up.sh"), file, dir.Path, port.ToString());
            Assert.True(up.Exit == 0, up.Err);
            Assert.Equal([$"qemu+unix:///system?socket={dir.Path}/sock", $"qemu+tcp://127.0.0.1:{port}/system"], up.Out.Trim().Split('\n'));
            var uri = await Tool.VirshAsync($"qemu+tcp://127.0.0.1:{port}/system", "uri");
            Assert.True(uri.Exit == 0, uri.Err);
        }
        finally
        {
            var down = await RunScriptAsync(Path.Combine(scripts, "virtpoold-down.sh"), file, dir.Path);
            Assert.Equal(0, down.Exit);
        }

        Assert.False(File.Exists(Path.Combine(dir.Path, "sock")));
        Assert.False(File.Exists(Path.Combine(dir.Path, "virtpoold.pid")));
    }

    private static Task<(int Exit, string Out, string Err)> RunScriptAsync(string script, string daemon, params string[] args)
    {
        // The up script reads VIRTPOOLD; passed through a tiny env wrapper so the test process env stays untouched.
        return Tool.RunAsync("/usr/bin/env", [$"VIRTPOOLD={daemon}", script, .. args]);
    }

    private static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static string FindRepoRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            if (File.Exists(Path.Combine(d.FullName, "VirtPool.slnx")))
            {
                return d.FullName;
            }
        }

        // Built with --artifacts-path outside the repository: fall back to the source location of this file.
        return Path.GetFullPath(Path.Combine(Path.GetDirectoryName(SourcePath())!, "..", ".."));
    }

    private static string SourcePath([System.Runtime.CompilerServices.CallerFilePath] string path = "") => path;
}
