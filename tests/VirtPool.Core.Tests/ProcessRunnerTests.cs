using System.Diagnostics;
using System.Text;
using VirtPool.Core.Errors;
using VirtPool.Core.Process;
using VirtPool.TestSupport;

namespace VirtPool.Core.Tests;

/// <summary>The process runner with real processes: stdin input, time limits, kills, and libvirt's error texts.</summary>
public sealed class ProcessRunnerTests : IDisposable
{
    /// <summary>Turns a runner that hangs into a failing test instead of a stuck run.</summary>
    private static readonly TimeSpan HangGuard = TimeSpan.FromMinutes(2);

    private readonly string _dir = Directory.CreateTempSubdirectory("virtpool-runner-").FullName;
    private readonly List<int> _strays = [];

    public void Dispose()
    {
        // A process a failed test left running must not outlive it.
        foreach (var pid in _strays.Where(IsRunning))
        {
            try
            {
                System.Diagnostics.Process.GetProcessById(pid).Kill();
            }
            catch (ArgumentException)
            {
                // gone meanwhile
            }
        }

        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task A_descriptor_inherited_without_close_on_exec_does_not_reach_the_tools()
    {
        // As a parent's extra redirection would be: open, and not close-on-exec.
        var fd = VirtPool.Core.Interop.LibC.Open("/dev/null", 0, 0);
        Assert.True(fd > 2);
        try
        {
            Assert.True(InheritedDescriptors.MarkCloseOnExec() >= 1);
            var listed = await ProcessRunner.Instance.RunAsync(["sh", "-c", "for f in /proc/$$/fd/*; do echo ${f##*/}; done"]);
            Assert.True(listed.Succeeded, listed.StandardError);
            Assert.DoesNotContain(fd.ToString(System.Globalization.CultureInfo.InvariantCulture), listed.StandardOutput.Split('\n'));
        }
        finally
        {
            VirtPool.Core.Interop.LibC.Close(fd);
        }
    }

    [Fact]
    public async Task Input_and_output_of_several_mebibytes_pass_both_ways_without_deadlock()
    {
        // 3 MiB in; tee sends it back on stdout and stderr at once, far beyond a pipe's 64 KiB buffer.
        var text = string.Concat(Enumerable.Range(0, 3 * 1024 * 1024 / 32).Select(i => $"line {i:D10} of the input......\n"));
        // A deadlock shows as the time limit's error rather than a stuck test.
        var request = new ProcessRequest(["sh", "-c", "tee /dev/stderr"]) { Input = Encoding.UTF8.GetBytes(text), Timeout = TimeSpan.FromMinutes(1) };

        var result = await ProcessRunner.Instance.RunAsync(request).WaitAsync(HangGuard);

        Assert.True(result.Succeeded, result.StandardError);
        Assert.Equal(text.Length, result.StandardOutput.Length);
        Assert.Equal(text, result.StandardOutput);
        Assert.Equal(text, result.StandardError);
    }

    [Fact]
    public async Task Without_input_stdin_is_closed_at_once()
    {
        // cat copies stdin until end of file: it returns only because stdin is closed.
        var result = await ProcessRunner.Instance.RunAsync(new ProcessRequest(["cat"])).WaitAsync(HangGuard);

        Assert.True(result.Succeeded);
        Assert.Equal(string.Empty, result.StandardOutput);
    }

    [Fact]
    public async Task A_child_that_exits_without_reading_its_input_is_not_an_error()
    {
        var request = new ProcessRequest(["sh", "-c", "echo done"]) { Input = new byte[4 * 1024 * 1024] };

        var result = await ProcessRunner.Instance.RunAsync(request).WaitAsync(HangGuard);

        Assert.True(result.Succeeded);
        Assert.Equal("done\n", result.StandardOutput);
    }

    [Fact]
    public async Task A_command_within_its_time_limit_returns_its_result()
    {
        var request = new ProcessRequest(["sh", "-c", "cat; exit 4"]) { Input = "parted script\n"u8.ToArray(), Timeout = TimeSpan.FromMinutes(1) };

        var result = await ProcessRunner.Instance.RunAsync(request).WaitAsync(HangGuard);

        Assert.Equal(4, result.ExitCode);
        Assert.Equal("parted script\n", result.StandardOutput);
    }

    [Fact]
    public async Task A_command_past_its_time_limit_is_killed_with_libvirts_internal_error()
    {
        var clock = Stopwatch.StartNew();
        var request = new ProcessRequest(["sh", "-c", "sleep 1000 & sleep 1000"]) { Timeout = TimeSpan.FromSeconds(1) };

        var error = await Assert.ThrowsAsync<VirtPoolException>(() => ProcessRunner.Instance.RunAsync(request).WaitAsync(HangGuard));

        Assert.Equal("internal error: Child process (sh -c 'sleep 1000 & sleep 1000') did not finish within 1 s and was killed", error.Message);
        Assert.Equal(VirErrorCode.InternalError, error.Code);
        Assert.Equal(VirErrorDomain.None, error.Domain);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"took {clock.Elapsed}");
    }

    [Fact]
    public async Task A_time_limit_kills_the_whole_tree_and_leaves_no_zombie()
    {
        // The shell records its own pid and its background child's. The child's output goes elsewhere,
        // so only the walk down the tree (not the search for holders of the pipes) can find it.
        var pids = Path.Combine(_dir, "pids");
        var request = new ProcessRequest(["sh", "-c", "echo $$ > \"$0\"; sleep 1000 >/dev/null 2>&1 & echo $! >> \"$0\"; sleep 1000", pids])
        {
            Timeout = TimeSpan.FromSeconds(1),
        };

        var error = await Assert.ThrowsAsync<VirtPoolException>(() => ProcessRunner.Instance.RunAsync(request).WaitAsync(HangGuard));

        Assert.EndsWith("did not finish within 1 s and was killed", error.Message, StringComparison.Ordinal);
        var (shell, background) = ReadPids(pids);
        _strays.Add(background);
        // The runner's own child is reaped: not even a zombie is left in /proc.
        Assert.False(Directory.Exists($"/proc/{shell}"), $"the shell {shell} is still in /proc: {ProcState(shell)}");
        // The grandchild now belongs to init, which reaps it in its own time; it must not run on.
        await Eventually.UntilAsync(() => !IsRunning(background), $"the background sleep {background} to die", TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task A_grandchild_that_escaped_the_tree_but_holds_stdout_does_not_hang_the_runner()
    {
        // The subshell exits at once: its sleep is reparented to init, outside the tree, with stdout open.
        var pids = Path.Combine(_dir, "pids");
        var clock = Stopwatch.StartNew();
        var request = new ProcessRequest(["sh", "-c", "echo $$ > \"$0\"; (sleep 1000 & echo $! >> \"$0\"); sleep 1000", pids])
        {
            Timeout = TimeSpan.FromSeconds(1),
        };

        var error = await Assert.ThrowsAsync<VirtPoolException>(() => ProcessRunner.Instance.RunAsync(request).WaitAsync(HangGuard));

        var (shell, orphan) = ReadPids(pids);
        _strays.Add(orphan);
        Assert.EndsWith("did not finish within 1 s and was killed", error.Message, StringComparison.Ordinal);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"took {clock.Elapsed}");
        Assert.False(Directory.Exists($"/proc/{shell}"), $"the shell {shell} is still in /proc: {ProcState(shell)}");
        // It held the runner's stdout pipe, so the runner found and killed it too.
        await Eventually.UntilAsync(() => !IsRunning(orphan), $"the orphaned sleep {orphan} to die", TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task A_time_limit_sends_sigterm_first_so_a_tool_can_clean_up()
    {
        // wait (unlike a foreground command) lets the shell run its trap as soon as the signal comes.
        var trapped = Path.Combine(_dir, "trapped");
        var request = new ProcessRequest(["sh", "-c", "trap 'echo TERM > \"$0\"; exit 3' TERM; sleep 1000 & wait", trapped])
        {
            Timeout = TimeSpan.FromSeconds(1),
        };

        await Assert.ThrowsAsync<VirtPoolException>(() => ProcessRunner.Instance.RunAsync(request).WaitAsync(HangGuard));

        Assert.Equal("TERM\n", File.ReadAllText(trapped));
    }

    [Fact]
    public async Task A_program_that_ignores_sigterm_is_killed_after_the_grace()
    {
        var pids = Path.Combine(_dir, "pids");
        var request = new ProcessRequest(["sh", "-c", "trap '' TERM; echo $$ > \"$0\"; while :; do sleep 1; done", pids])
        {
            Timeout = TimeSpan.FromSeconds(1),
        };

        var error = await Assert.ThrowsAsync<VirtPoolException>(() => ProcessRunner.Instance.RunAsync(request).WaitAsync(HangGuard));

        Assert.EndsWith("did not finish within 1 s and was killed", error.Message, StringComparison.Ordinal);
        var shell = int.Parse(File.ReadAllLines(pids)[0], System.Globalization.CultureInfo.InvariantCulture);
        Assert.False(Directory.Exists($"/proc/{shell}"), $"the shell {shell} is still in /proc: {ProcState(shell)}");
    }

    [Fact]
    public async Task Cancellation_kills_the_command_and_throws_operation_cancelled()
    {
        var pids = Path.Combine(_dir, "pids");
        using var cancel = new CancellationTokenSource();
        var run = ProcessRunner.Instance.RunAsync(["sh", "-c", "echo $$ > \"$0.tmp\"; mv \"$0.tmp\" \"$0\"; sleep 1000", pids], cancel.Token);
        await Eventually.UntilAsync(() => File.Exists(pids), "the shell to start");

        await cancel.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run.WaitAsync(HangGuard));
        var shell = int.Parse(File.ReadAllLines(pids)[0], System.Globalization.CultureInfo.InvariantCulture);
        await Eventually.UntilAsync(() => !Directory.Exists($"/proc/{shell}"), $"the shell {shell} to be killed and reaped", TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task A_failed_command_becomes_libvirts_child_process_error_with_its_stderr_verbatim()
    {
        var argv = new[] { "sh", "-c", "printf 'mount: special device does not exist.\\n' >&2; exit 32" };

        var error = await Assert.ThrowsAsync<VirtPoolException>(() => ProcessRunner.Instance.RunCheckedAsync(argv));

        Assert.Equal(
            "internal error: Child process (sh -c 'printf '\\''mount: special device does not exist.\\n'\\'' >&2; exit 32') unexpected exit status 32: mount: special device does not exist.\n",
            error.Message);
        Assert.Equal(VirErrorCode.InternalError, error.Code);
        Assert.Equal(VirErrorDomain.None, error.Domain);
    }

    [Fact]
    public async Task A_failed_command_without_stderr_ends_at_its_status()
    {
        var error = await Assert.ThrowsAsync<VirtPoolException>(() => ProcessRunner.Instance.RunCheckedAsync(new ProcessRequest(["false"])));

        Assert.Equal("internal error: Child process (false) unexpected exit status 1", error.Message);
    }

    [Fact]
    public async Task A_succeeding_checked_command_returns_its_output()
    {
        var result = await ProcessRunner.Instance.RunCheckedAsync(["printf", "%s", "ok"]);

        Assert.Equal("ok", result.StandardOutput);
    }

    [Fact]
    public void The_argv_is_rendered_as_virCommandToString_renders_it()
    {
        // The first case is what libvirt 9.0 printed for a failed fs pool start on this machine.
        Assert.Equal(
            "/bin/mount -o nodev,nosuid,noexec -t ext4 '/tmp/runner-lv/has space' /tmp/runner-lv-mnt",
            ChildProcessErrors.CommandText(["/bin/mount", "-o", "nodev,nosuid,noexec", "-t", "ext4", "/tmp/runner-lv/has space", "/tmp/runner-lv-mnt"]));
        Assert.Equal("parted -s /dev/sdb mkpart primary 1MiB 100% '' 'it'\\''s' 'a;b' key=value user@host:/x", ChildProcessErrors.CommandText(
            ["parted", "-s", "/dev/sdb", "mkpart", "primary", "1MiB", "100%", string.Empty, "it's", "a;b", "key=value", "user@host:/x"]));
    }

    [Fact]
    public async Task A_missing_tool_names_the_package_to_install()
    {
        var error = await Assert.ThrowsAsync<VirtPoolException>(() => ProcessRunner.Instance.RunAsync(["/nonexistent/mkfs.xfs", "-f", "/dev/null"]));

        Assert.Equal("internal error: '/nonexistent/mkfs.xfs' not found: install xfsprogs", error.Message);
        Assert.Equal("internal error: 'zpool' not found: install zfsutils-linux (zfs-fuse on Debian 12)", ChildProcessErrors.NotFound("zpool").Message);
    }

    [Fact]
    public async Task A_missing_tool_outside_the_table_says_where_it_was_looked_for()
    {
        var error = await Assert.ThrowsAsync<VirtPoolException>(() => ProcessRunner.Instance.RunAsync(["virtpool-no-such-tool"]));

        Assert.Equal("internal error: 'virtpool-no-such-tool' not found in PATH, /usr/sbin or /sbin", error.Message);
        Assert.False(ExternalTools.IsInstalled("virtpool-no-such-tool"));
        Assert.Equal(error.Message, Assert.Throws<VirtPoolException>(() => ExternalTools.Resolve("virtpool-no-such-tool")).Message);
    }

    [Fact]
    public async Task A_root_tool_is_found_in_usr_sbin_when_PATH_lacks_it()
    {
        Assert.Equal("/usr/sbin/wipefs", ExternalTools.Find("wipefs", "/bin:/usr/bin"));
        var runner = new ProcessRunner { ToolSearchPath = "/bin:/usr/bin" };

        var result = await runner.RunCheckedAsync(["wipefs", "--version"]);

        Assert.StartsWith("wipefs from util-linux", result.StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public void PATH_is_searched_first_and_only_executable_files_count()
    {
        var own = Path.Combine(_dir, "wipefs");
        File.WriteAllText(own, "#!/bin/sh\n");
        Assert.Equal("/usr/sbin/wipefs", ExternalTools.Find("wipefs", _dir));

        File.SetUnixFileMode(own, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);

        Assert.Equal(own, ExternalTools.Find("wipefs", _dir));
        Assert.Equal("/usr/bin/qemu-img", ExternalTools.Resolve("qemu-img"));
    }

    [Fact]
    public async Task Each_installed_tool_in_the_table_comes_from_the_package_it_names()
    {
        // dpkg knows files by their pre-usrmerge paths (/sbin/parted), so both spellings are asked for.
        var installed = ExternalTools.Packages.Keys.Select(tool => (tool, path: ExternalTools.Find(tool))).Where(t => t.path is not null).ToList();
        var asked = installed.SelectMany(t => new[] { t.path!, t.path!.Replace("/usr/", "/", StringComparison.Ordinal) }).Distinct().ToList();

        var result = await ProcessRunner.Instance.RunAsync(["dpkg", "-S", .. asked]);

        var owners = result.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => line.Split(": ", 2))
            .ToLookup(parts => Path.GetFileName(parts[1]), parts => parts[0]);
        Assert.True(installed.Count >= 25, $"only {installed.Count} of the table's tools are installed");
        Assert.All(installed, t => Assert.Contains(owners[t.tool].Single(), ExternalTools.Packages[t.tool], StringComparison.Ordinal));
    }

    private static (int First, int Second) ReadPids(string file)
    {
        var lines = File.ReadAllLines(file);
        return (int.Parse(lines[0], System.Globalization.CultureInfo.InvariantCulture), int.Parse(lines[1], System.Globalization.CultureInfo.InvariantCulture));
    }

    private static bool IsRunning(int pid)
    {
        var state = ProcState(pid);
        return state is not null && state != "Z";
    }

    /// <summary>The state letter from /proc/PID/stat, or null when there is no such process.</summary>
    private static string? ProcState(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[0];
        }
        catch (IOException)
        {
            return null;
        }
    }
}
