using System.Text.RegularExpressions;
using VirtPool.Cli.Tests.Support;

namespace VirtPool.Cli.Tests.Logging;

/// <summary>
/// <c>-d LEVEL</c> and <c>-l FILE</c> through the real CLI, beside the real virsh 9.0 where both write
/// the same thing: the log file's line format and its ERROR lines, the trace of a command's options,
/// the refusal of a log file that cannot be opened; and what only VirtPool logs (the embedded pool
/// manager and the commands it runs, on stderr).
/// </summary>
[Collection(LibvirtCollection.Name)]
public sealed class LoggingCliTests(LibvirtOracle oracle) : IDisposable
{
    private readonly TempDir _tmp = new("vplog");

    private string State => _tmp.Sub("state");

    private string PoolDir => _tmp.Sub("pool");

    public void Dispose() => _tmp.Dispose();

    private Task<RunResult> RunAsync(params string[] args) => VirtPoolCli.RunAsync(State, args);

    private async Task OkAsync(params string[] args)
    {
        var result = await RunAsync(args);
        Assert.True(result.ExitCode == 0, $"virtpool {string.Join(' ', args)} failed: {result.Stderr}");
    }

    /// <summary>The log file's lines with virsh's <c>[YYYY.MM.DD HH:MM:SS PROGRAM PID] </c> prefix taken off (and checked).</summary>
    private static List<string> LogLines(string path, string program)
    {
        var lines = File.ReadAllText(path).Split('\n');
        Assert.Equal(string.Empty, lines[^1]);
        var prefix = new Regex(@"^\[[0-9]{4}\.[0-9]{2}\.[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2} " + program + @" [1-9][0-9]*\] ");
        return [.. lines[..^1].Select(line =>
        {
            Assert.Matches(prefix, line);
            return prefix.Replace(line, string.Empty);
        })];
    }

    [Fact]
    public async Task The_log_file_gets_a_failing_commands_error_lines_as_virsh_writes_them()
    {
        var virshLog = _tmp.Sub("virsh.log");
        var ownLog = _tmp.Sub("virtpool.log");

        var virsh = await oracle.VirshAsync("-l", virshLog, "pool-info", "nope");
        var plain = await RunAsync("pool-info", "nope");
        var logged = await RunAsync("-l", ownLog, "pool-info", "nope");

        Assert.Equal(
            [
                "ERROR failed to get pool 'nope'",
                "ERROR Storage pool not found: no storage pool with matching name 'nope'",
            ],
            LogLines(virshLog, "virsh"));
        Assert.Equal(LogLines(virshLog, "virsh"), LogLines(ownLog, "virtpool"));

        // What the console shows does not change with -l, and is virsh's.
        Assert.Equal(1, logged.ExitCode);
        Assert.Equal(Bytes.Exact(plain.StderrBytes), Bytes.Exact(logged.StderrBytes));
        Assert.Equal(Bytes.Exact(plain.StdoutBytes), Bytes.Exact(logged.StdoutBytes));
        Assert.Equal(Bytes.Exact(virsh.StderrBytes), Bytes.Exact(logged.StderrBytes));
    }

    [Fact]
    public async Task A_log_file_appends_and_a_second_run_keeps_the_first_ones_lines()
    {
        var log = _tmp.Sub("both.log");
        await RunAsync("-l", log, "pool-info", "one");
        await RunAsync("-l", log, "vol-list", "two");

        Assert.Equal(
            [
                "ERROR failed to get pool 'one'",
                "ERROR Storage pool not found: no storage pool with matching name 'one'",
                "ERROR failed to get pool 'two'",
                "ERROR Storage pool not found: no storage pool with matching name 'two'",
            ],
            LogLines(log, "virtpool"));
    }

    [Fact]
    public async Task Debug_level_traces_the_options_of_a_command_as_virsh_does_on_stdout_and_in_the_log()
    {
        var virshLog = _tmp.Sub("virsh.log");
        var ownLog = _tmp.Sub("virtpool.log");
        await OkAsync("pool-list"); // the first use of a state folder after boot is logged too

        var virsh = await oracle.VirshAsync("-d", "1", "-l", virshLog, "pool-list", "--all");
        var own = await RunAsync("-d", "1", "-l", ownLog, "pool-list", "--all");

        Assert.Equal(0, own.ExitCode);
        Assert.StartsWith("pool-list: all(bool): (none)\n", virsh.Stdout, StringComparison.Ordinal);
        Assert.StartsWith("pool-list: all(bool): (none)\n", own.Stdout, StringComparison.Ordinal);
        Assert.Equal(["INFO pool-list: all(bool): (none)"], LogLines(virshLog, "virsh"));
        Assert.Equal(["INFO pool-list: all(bool): (none)"], LogLines(ownLog, "virtpool"));

        // virsh traces value options as optdata; above INFO (-d 2) nothing is traced.
        var values = await RunAsync("-d", "0", "pool-info", "--pool", "nope");
        Assert.StartsWith("pool-info: pool(optdata): nope\n", values.Stdout, StringComparison.Ordinal);
        var quiet = await RunAsync("-d", "2", "pool-info", "nope");
        var virshQuiet = await oracle.VirshAsync("-d", "2", "pool-info", "nope");
        Assert.Equal(Bytes.Exact(virshQuiet.StdoutBytes), Bytes.Exact(quiet.StdoutBytes));
        Assert.Equal(Bytes.Exact(virshQuiet.StderrBytes), Bytes.Exact(quiet.StderrBytes));
    }

    [Fact]
    public async Task A_log_file_that_cannot_be_opened_fails_as_virsh_fails()
    {
        var missing = _tmp.Sub("no-such-folder", "x.log");
        foreach (var args in new[] { new[] { "-l", missing, "pool-list" }, ["-l", missing, "no-such-command"], ["-d", "0", "-l", missing, "pool-info", "x"] })
        {
            var virsh = await oracle.VirshAsync(args);
            var own = await RunAsync(args);

            Assert.Equal("error: failed to open the log file. check the log file path\n", virsh.Stderr);
            Assert.Equal(Bytes.Exact(virsh.StderrBytes), Bytes.Exact(own.StderrBytes));
            Assert.Equal(Bytes.Exact(virsh.StdoutBytes), Bytes.Exact(own.StdoutBytes));
            Assert.Equal(virsh.ExitCode, own.ExitCode);
        }

        Assert.False(Directory.Exists(Path.GetDirectoryName(missing)));
    }

    [Fact]
    public async Task A_command_line_that_cannot_be_parsed_is_logged_as_virsh_logs_it()
    {
        var virshLog = _tmp.Sub("virsh.log");
        var ownLog = _tmp.Sub("virtpool.log");

        var virsh = await oracle.VirshAsync("-l", virshLog, "pool-info", "--bogus", "x");
        var own = await RunAsync("-l", ownLog, "pool-info", "--bogus", "x");

        Assert.Equal(["ERROR command 'pool-info' doesn't support option --bogus"], LogLines(virshLog, "virsh"));
        Assert.Equal(LogLines(virshLog, "virsh"), LogLines(ownLog, "virtpool"));
        Assert.Equal(Bytes.Exact(virsh.StderrBytes), Bytes.Exact(own.StderrBytes));
        Assert.Equal(virsh.ExitCode, own.ExitCode);
    }

    [Fact]
    public async Task Debug_level_0_shows_the_pool_managers_lines_and_the_qemu_img_argv_on_stderr()
    {
        await OkAsync("pool-define-as", "p", "dir", "--target", PoolDir);
        await OkAsync("pool-build", "p");
        await OkAsync("pool-start", "p");
        await OkAsync("vol-create-as", "p", "base.vmdk", "10M", "--format", "vmdk");
        var log = _tmp.Sub("debug.log");

        // A qcow2 over a vmdk backing file is beyond the native writer: qemu-img makes it.
        var result = await RunAsync("-d", "0", "-l", log, "vol-create-as", "p", "top.qcow2", "10M", "--format", "qcow2", "--backing-vol", "base.vmdk", "--backing-vol-format", "vmdk");

        Assert.Equal(0, result.ExitCode);
        Assert.StartsWith("vol-create-as: pool(optdata): p\nvol-create-as: name(optdata): top.qcow2\n", result.Stdout, StringComparison.Ordinal);
        Assert.EndsWith("Vol top.qcow2 created\n\n", result.Stdout, StringComparison.Ordinal);
        var stderr = result.Stderr.Split('\n');
        var argv = $"create -f qcow2 -b {PoolDir}/base.vmdk -o backing_fmt=vmdk,compat=0.10 {PoolDir}/top.qcow2 10240K";
        Assert.Matches(@"^running: /\S+/qemu-img " + Regex.Escape(argv) + "$", stderr[0]);
        Assert.Matches(@"^/\S+/qemu-img exited with status 0 after [0-9.]+ ms, no error output$", stderr[1]);
        Assert.Equal("volume 'top.qcow2' created in storage pool 'p': format qcow2, capacity 10485760 bytes", stderr[2]);
        Assert.Equal(4, stderr.Length);

        // The log file has the same lines, with their levels.
        var lines = LogLines(log, "virtpool");
        Assert.Contains(lines, l => l.StartsWith("DEBUG running: /", StringComparison.Ordinal) && l.EndsWith(argv, StringComparison.Ordinal));
        Assert.Contains("INFO volume 'top.qcow2' created in storage pool 'p': format qcow2, capacity 10485760 bytes", lines);
        Assert.Contains("INFO vol-create-as: backing-vol-format(optdata): vmdk", lines);

        // At INFO the argv is left out; at WARNING nothing of a command that worked is shown.
        var info = await RunAsync("-d", "1", "vol-delete", "top.qcow2", "--pool", "p");
        Assert.Equal("volume 'top.qcow2' deleted from storage pool 'p'\n", info.Stderr);
        var warning = await RunAsync("-d", "3", "vol-delete", "base.vmdk", "--pool", "p");
        Assert.Equal(string.Empty, warning.Stderr);
        Assert.Equal("Vol base.vmdk deleted\n\n", warning.Stdout);
    }

    [Fact]
    public async Task A_secret_value_on_the_command_line_is_not_traced()
    {
        const string value = "c2VjcmV0LXZhbHVl";
        var log = _tmp.Sub("secret.log");

        await RunAsync("-d", "0", "-l", log, "secret-set-value", "00000000-0000-4000-8000-000000000001", "--base64", value);

        var lines = LogLines(log, "virtpool");
        Assert.Contains("INFO secret-set-value: base64(optdata): (redacted)", lines);
        Assert.DoesNotContain(lines, l => l.Contains(value, StringComparison.Ordinal));
    }
}
