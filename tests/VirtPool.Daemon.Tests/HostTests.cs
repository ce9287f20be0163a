using System.Collections.Concurrent;
using System.Diagnostics;
using VirtPool.Daemon.Host;
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

    private static Process StartDaemon(params string[] args) => StartDaemonUnder([], args);

    /// <param name="wrapper">A command the daemon runs under (prlimit ...), or none.</param>
    private static Process StartDaemonUnder(string[] wrapper, params string[] args)
    {
        var (file, prefix) = DaemonCommand();
        string[] command = [.. wrapper, file, .. prefix, .. args];
        var psi = new ProcessStartInfo(command[0]) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in command[1..])
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
    public async Task Under_a_low_open_files_limit_more_clients_than_descriptors_are_refused_and_the_daemon_stays_up()
    {
        using var dir = new TempDir();
        string socket = Path.Combine(dir.Path, "sock");
        var lines = new ConcurrentQueue<string>();
        using var process = StartDaemonUnder(["prlimit", "--nofile=256:256", "--"],
            "--socket", socket, "--state-dir", Path.Combine(dir.Path, "state"), "--protocol-error-log-limit", "3",
            // Connections not opened yet are not evicted meanwhile: all of them count.
            "--max-anonymous-clients", "1000");
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is { } line)
            {
                lines.Enqueue(line);
            }
        };
        process.BeginErrorReadLine();
        var clients = new List<RawClient>();
        try
        {
            await Eventually.UntilAsync(() => AnswersOrExitedAsync(process, socket), "virtpoold to answer on " + socket);
            Assert.False(process.HasExited, "virtpoold exited during start-up: " + string.Join('\n', lines));
            Assert.Contains(lines, l => l.Contains("max_clients 5000 and 128 descriptors for the daemon itself exceed the open files limit 256 (RLIMIT_NOFILE): "
                + "at most 128 clients are served", StringComparison.Ordinal));

            // More opened clients than descriptors. Those beyond what the limit leaves for clients are
            // closed at once: the daemon never runs out (EMFILE would fail accept, storage operations,
            // and the JIT runtime's late assembly loads, which end the process).
            using var open = new PooledBufferWriter();
            RpcFrame.WritePacket(open, RpcHeader.Call(RemoteProcedure.ConnectOpen, 1), Payload.Open("qemu:///system"));
            try
            {
                for (int i = 0; i < 300; i++)
                {
                    var client = RawClient.Unix(socket);
                    clients.Add(client);

                    // A refused one may be closed before its CONNECT_OPEN goes out.
                    await client.SendRawIgnoringCloseAsync(open.WrittenMemory.ToArray());
                }
            }
            catch (System.Net.Sockets.SocketException ex) when (ex.SocketErrorCode == System.Net.Sockets.SocketError.ConnectionRefused)
            {
                // The backlog is full too.
            }

            await Eventually.UntilAsync(() => process.HasExited || lines.Any(l => l.Contains("Too many clients", StringComparison.Ordinal)
                || l.Contains("Accept on", StringComparison.Ordinal)), "a refused client");
            Assert.Contains(lines, l => l.Contains("Too many clients (128)", StringComparison.Ordinal));
            foreach (var client in clients)
            {
                client.Dispose();
            }

            clients.Clear();
            var uri = await Tool.VirshAsync($"qemu+unix:///system?socket={socket}", "uri");
            Assert.True(uri.Exit == 0, uri.Err);
            Assert.False(process.HasExited, string.Join('\n', lines));
            Assert.DoesNotContain(lines, l => l.Contains("Accept on", StringComparison.Ordinal));

            // Refusals share one rate limit: three lines a minute.
            Assert.InRange(lines.Count(l => l.Contains("Too many", StringComparison.Ordinal)), 1, 3);
        }
        finally
        {
            foreach (var client in clients)
            {
                client.Dispose();
            }

            await StopAsync(process);
        }
    }

    [Fact]
    public void The_open_files_soft_limit_is_raised_to_the_hard_limit()
    {
        var (soft, hard) = FileDescriptorLimit.Read()!.Value;
        try
        {
            // One below the hard limit (the JIT runtime raised it already as this process started).
            Assert.True(FileDescriptorLimit.TrySet(hard - 1, hard));
            Assert.True(FileDescriptorLimit.TryRaiseSoftToHard(out ulong raised, out _));
            Assert.Equal(hard, raised);
            Assert.Equal((hard, hard), FileDescriptorLimit.Read());
        }
        finally
        {
            FileDescriptorLimit.TrySet(soft, hard);
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
