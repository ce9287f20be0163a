using VirtPool.Cli.Tests.Support;

namespace VirtPool.Cli.Tests.Output;

/// <summary>
/// virtpool on a terminal prints exactly what it prints into a pipe (the pty turning "\n" into "\r\n"),
/// as virsh does: .NET's console set-up would add the keypad-transmit sequence "ESC[?1h ESC=" and leave
/// the terminal's cursor keys in application mode.
/// </summary>
public sealed class TerminalOutputTests : IDisposable
{
    private readonly TempDir _state = new("vptty");

    public void Dispose() => _state.Dispose();

    [Theory]
    [InlineData("pool-list", "--all")]
    [InlineData("pool-info", "nosuch")]
    [InlineData("-c", "qemu+unix:///system?socket=/nonexistent/sock", "pool-list")]
    [InlineData("--version")]
    [InlineData("pool-list", "--bogus")]
    public async Task Output_on_a_terminal_is_the_same_bytes(params string[] args)
    {
        // stdout and stderr into one pipe, interleaved as on the terminal
        var target = VirtPoolCli.CreateStartInfo(_state.Path, args);
        var piped = await ChildProcess.RunAsync("sh", ["-c", "exec \"$@\" 2>&1", "sh", target.FileName, .. target.ArgumentList]);
        var onTerminal = await TerminalRun.RunAsync(target, new Dictionary<string, string?>(), []);
        Assert.Equal(piped.ExitCode, onTerminal.ExitCode);
        Assert.Equal(piped.Stdout.Replace("\n", "\r\n", StringComparison.Ordinal), onTerminal.Stdout);
        Assert.DoesNotContain('\x1b', onTerminal.Stdout);
    }
}
