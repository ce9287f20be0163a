using Microsoft.Extensions.Logging;
using VirtPool.Core.Errors;
using VirtPool.Core.Process;
using VirtPool.TestSupport;

namespace VirtPool.Core.Tests;

/// <summary>What the process runner logs of the real commands it runs.</summary>
public sealed class ProcessRunnerLoggingTests
{
    private readonly CollectingLogger _log = new();

    [Fact]
    public async Task A_command_that_succeeds_is_logged_at_debug_before_and_after()
    {
        var result = await new ProcessRunner(_log).RunAsync(["/bin/sh", "-c", "echo note >&2", "two words"]);

        Assert.True(result.Succeeded);
        Assert.Equal(2, _log.Entries.Count);
        Assert.All(_log.Entries, e => Assert.Equal(LogLevel.Debug, e.Level));
        Assert.Equal("running: /bin/sh -c 'echo note >&2' 'two words'", _log.Entries[0].Message);
        Assert.Matches(@"^/bin/sh exited with status 0 after [0-9]+(\.[0-9])? ms, stderr: note$", _log.Entries[1].Message);
    }

    [Fact]
    public async Task A_command_that_fails_is_a_warning_with_its_argv_status_and_trimmed_stderr()
    {
        var result = await new ProcessRunner(_log).RunAsync(["/bin/sh", "-c", "printf '\\n  it broke  \\n\\n' >&2; exit 3"]);

        Assert.Equal(3, result.ExitCode);
        var warning = Assert.Single(_log.Entries, e => e.Level == LogLevel.Warning);
        Assert.Matches(@"^/bin/sh -c 'printf '\\''\\n  it broke  \\n\\n'\\'' >&2; exit 3' exited with status 3 after [0-9.]+ ms, stderr: it broke$", warning.Message);
    }

    [Fact]
    public async Task A_command_without_error_output_says_so()
    {
        await new ProcessRunner(_log).RunAsync(["/bin/false"]);

        var warning = Assert.Single(_log.Entries, e => e.Level == LogLevel.Warning);
        Assert.Matches(@"^/bin/false exited with status 1 after [0-9.]+ ms, no error output$", warning.Message);
    }

    [Fact]
    public async Task A_program_that_cannot_start_is_a_warning()
    {
        await Assert.ThrowsAsync<VirtPoolException>(() => new ProcessRunner(_log).RunAsync(["/nonexistent/virtpool-tool"]));

        var warning = Assert.Single(_log.Entries, e => e.Level == LogLevel.Warning);
        Assert.StartsWith("cannot run /nonexistent/virtpool-tool: ", warning.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_command_killed_at_its_time_limit_is_a_warning_with_its_argv()
    {
        var request = new ProcessRequest(["/bin/sh", "-c", "exec sleep 1000"]) { Timeout = TimeSpan.FromSeconds(1) };

        await Assert.ThrowsAsync<VirtPoolException>(() => new ProcessRunner(_log).RunAsync(request));

        var warning = Assert.Single(_log.Entries, e => e.Level == LogLevel.Warning);
        Assert.Matches(@"^/bin/sh -c 'exec sleep 1000' did not finish within 1 s: killed \(pid [0-9]+\)$", warning.Message);
    }

    [Fact]
    public async Task An_inline_secret_is_never_logged()
    {
        // VirtPool passes passphrases as files (a memfd); an inline data= value is redacted all the same.
        await new ProcessRunner(_log).RunAsync(["/bin/echo", "--object", "secret,id=sec0,data=hunter2,format=raw"]);

        Assert.Equal("running: /bin/echo --object 'secret,id=sec0,data=(redacted),format=raw'", _log.Entries[0].Message);
        Assert.DoesNotContain(_log.Entries, e => e.Message.Contains("hunter2", StringComparison.Ordinal));
    }
}
