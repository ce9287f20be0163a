using System.Diagnostics;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace VirtPool.Core.Process;

/// <summary>
/// Runs external commands. With a logger, each one's argv is logged at Debug before it starts, and its
/// exit status, duration and stderr after it ends (Debug on success, Warning on failure). The argv
/// never holds a secret: passphrases reach qemu-img as <c>--object secret,file=/proc/PID/fd/N</c>
/// (a memfd); a <c>data=</c> value, which would carry one inline, is redacted all the same.
/// </summary>
public sealed partial class ProcessRunner(ILogger? logger = null) : IProcessRunner
{
    private readonly ILogger _log = logger ?? NullLogger.Instance;

    /// <summary>A runner that logs nothing.</summary>
    public static ProcessRunner Instance { get; } = new();

    /// <summary>How long a command killed at its time limit gets between SIGTERM and SIGKILL.</summary>
    internal static readonly TimeSpan TerminateGrace = TimeSpan.FromSeconds(2);

    /// <summary>
    /// After a kill, how long the output pipes get to reach end of file before the runner stops reading
    /// them (a process that escaped the kill may hold them open forever).
    /// </summary>
    private static readonly TimeSpan DrainAfterKill = TimeSpan.FromSeconds(2);

    /// <summary>How long a killed command may take to be reaped (a process in uninterruptible sleep, such as a hung NFS mount, cannot die at once).</summary>
    private static readonly TimeSpan ReapAfterKill = TimeSpan.FromSeconds(10);

    /// <summary>The PATH searched for a bare program name (then /usr/sbin and /sbin); null: this process's PATH. Set by tests.</summary>
    internal string? ToolSearchPath { get; init; }

    public Task<ProcessResult> RunAsync(IReadOnlyList<string> argv, CancellationToken cancellationToken = default)
        => RunAsync(new ProcessRequest(argv), cancellationToken);

    /// <summary>
    /// Runs the command: its input written to stdin while stdout and stderr are read (no pipe deadlock
    /// however large either is), stdin then closed. At the request's time limit the command and every
    /// process it started get SIGTERM, then SIGKILL after <see cref="TerminateGrace"/>; the runner
    /// reaps the command and throws "internal error: Child process (ARGV) did not finish within N s and
    /// was killed". On cancellation they get SIGKILL at once and <see cref="OperationCanceledException"/>
    /// is thrown. A bare program name missing from PATH, /usr/sbin and /sbin throws
    /// "internal error: 'NAME' not found: install PACKAGE".
    /// </summary>
    public async Task<ProcessResult> RunAsync(ProcessRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentOutOfRangeException.ThrowIfZero(request.Argv.Count);
        if (request.Timeout is { } limit)
        {
            ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(limit, TimeSpan.Zero);
        }

        InheritedDescriptors.MarkOnce();
        if (_log.IsEnabled(LogLevel.Debug))
        {
            LogStarting(_log, FormatArgv(request.Argv));
        }

        var started = Stopwatch.GetTimestamp();
        var result = await RunUnloggedAsync(request, cancellationToken).ConfigureAwait(false);
        LogExit(request.Argv, result, Stopwatch.GetElapsedTime(started));
        return result;
    }

    private async Task<ProcessResult> RunUnloggedAsync(ProcessRequest request, CancellationToken cancellationToken)
    {
        var argv = request.Argv;
        var program = ExternalTools.Find(argv[0], ToolSearchPath ?? Environment.GetEnvironmentVariable("PATH"));
        if (program is null)
        {
            LogNotStarted(_log, argv[0], "not found");
            throw ChildProcessErrors.NotFound(argv[0]);
        }

        var psi = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        for (var i = 1; i < argv.Count; i++)
        {
            psi.ArgumentList.Add(argv[i]);
        }

        // Tools such as qemu-img and parted print translated messages otherwise.
        psi.Environment["LC_ALL"] = "C";
        using var process = new System.Diagnostics.Process { StartInfo = psi };
        try
        {
            process.Start();
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            LogNotStarted(_log, argv[0], ex.Message);
            throw ChildProcessErrors.CannotExecute(argv[0], ex.NativeErrorCode);
        }

        // Named by pid and start time from now on: a kill after the command exited and was reaped must
        // not reach whatever process takes its pid next.
        var command = ProcessTree.Find(process.Id);

        // The pipes are read and written until end of file, unless a kill has to give up on them.
        using var io = new CancellationTokenSource();
        var stdout = process.StandardOutput.ReadToEndAsync(io.Token);
        var stderr = process.StandardError.ReadToEndAsync(io.Token);
        var stdin = WriteInputAsync(process, request.Input, io.Token);
        using var timeout = request.Timeout is { } limit ? new CancellationTokenSource(limit) : null;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout?.Token ?? CancellationToken.None);
        try
        {
            await process.WaitForExitAsync(stop.Token).ConfigureAwait(false);
            await Task.WhenAll(stdout, stderr, stdin).WaitAsync(stop.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            var timedOut = !cancellationToken.IsCancellationRequested;
            await KillAsync(process, command, timedOut ? TerminateGrace : TimeSpan.Zero).ConfigureAwait(false);
            io.CancelAfter(DrainAfterKill);
            await Task.WhenAll(stdout, stderr, stdin).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            if (!timedOut)
            {
                LogKilled(_log, argv[0], process.Id);
                cancellationToken.ThrowIfCancellationRequested();
            }

            LogTimedOut(_log, FormatArgv(argv), request.Timeout!.Value.TotalSeconds, process.Id);
            throw ChildProcessErrors.TimedOut(argv, request.Timeout.Value);
        }

        return new ProcessResult(process.ExitCode, await stdout.ConfigureAwait(false), await stderr.ConfigureAwait(false));
    }

    /// <summary>Writes the input, then closes stdin; a child that exits without reading it all is not an error (EPIPE, as libvirt ignores it).</summary>
    private static async Task WriteInputAsync(System.Diagnostics.Process process, ReadOnlyMemory<byte>? input, CancellationToken cancellationToken)
    {
        var stdin = process.StandardInput.BaseStream;
        try
        {
            if (input is { Length: > 0 } bytes)
            {
                await stdin.WriteAsync(bytes, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (IOException)
        {
            // The child closed its stdin (or died): what it did not read it did not want.
        }
        finally
        {
            try
            {
                process.StandardInput.Close();
            }
            catch (IOException)
            {
                // Flushing to a closed pipe: nothing is lost that the child would have read.
            }
        }
    }

    /// <summary>
    /// Kills the command, every descendant, and any process still holding its output pipes: SIGTERM
    /// first when <paramref name="grace"/> is positive, SIGKILL once the command exits or the grace
    /// ends; then waits (boundedly) for the command to be reaped.
    /// </summary>
    private static async Task KillAsync(System.Diagnostics.Process process, ProcessTree.Member? command, TimeSpan grace)
    {
        var pipes = new[] { process.StandardOutput.BaseStream, process.StandardError.BaseStream }
            .Select(PipeLink).OfType<string>().ToArray();
        var members = command is { } root ? ProcessTree.Snapshot(root) : [];
        if (grace > TimeSpan.Zero)
        {
            ProcessTree.Signal(members, ProcessTree.SIGTERM);
            await process.WaitForExitAsync().WaitAsync(grace).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        // Children forked during the grace, then whatever was left; a member already gone is skipped.
        if (command is { } again)
        {
            members.AddRange(ProcessTree.Snapshot(again));
        }

        ProcessTree.Signal(members, ProcessTree.SIGKILL);
        ProcessTree.Signal(ProcessTree.HoldersOf(pipes), ProcessTree.SIGKILL);
        await process.WaitForExitAsync().WaitAsync(ReapAfterKill).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    private static string? PipeLink(Stream stream) => stream switch
    {
        System.IO.Pipes.PipeStream pipe => ProcessTree.LinkOf(pipe.SafePipeHandle),
        FileStream file => ProcessTree.LinkOf(file.SafeFileHandle),
        _ => null,
    };

    private void LogExit(IReadOnlyList<string> argv, ProcessResult result, TimeSpan elapsed)
    {
        var level = result.Succeeded ? LogLevel.Debug : LogLevel.Warning;
        if (!_log.IsEnabled(level))
        {
            return;
        }

        var stderr = result.StandardError.Trim();
        var shown = stderr.Length == 0 ? "no error output" : "stderr: " + stderr;
        var milliseconds = Math.Round(elapsed.TotalMilliseconds, 1);
        if (result.Succeeded)
        {
            LogSucceeded(_log, argv[0], milliseconds, shown);
        }
        else
        {
            // The argv again: at Warning, the Debug line that named it may not have been written.
            LogFailed(_log, FormatArgv(argv), result.ExitCode, milliseconds, shown);
        }
    }

    /// <summary>
    /// The argv as a shell would take it back: each word quoted when it needs to be, and the value of
    /// a qemu <c>data=</c> property (an inline secret) replaced.
    /// </summary>
    internal static string FormatArgv(IReadOnlyList<string> argv)
    {
        var text = new StringBuilder();
        foreach (var word in argv)
        {
            if (text.Length > 0)
            {
                text.Append(' ');
            }

            var shown = RedactInlineSecret(word);
            if (shown.Length > 0 && shown.All(c => char.IsAsciiLetterOrDigit(c) || "-_./=,:+@%".Contains(c, StringComparison.Ordinal)))
            {
                text.Append(shown);
            }
            else
            {
                text.Append('\'').Append(shown.Replace("'", "'\\''", StringComparison.Ordinal)).Append('\'');
            }
        }

        return text.ToString();
    }

    /// <summary>qemu's <c>secret,...,data=VALUE</c> object carries its secret inline; VirtPool never builds one, but a log must not show it.</summary>
    internal static string RedactInlineSecret(string word)
    {
        if (!word.StartsWith("secret,", StringComparison.Ordinal))
        {
            return word;
        }

        var properties = word.Split(',');
        for (var i = 1; i < properties.Length; i++)
        {
            if (properties[i].StartsWith("data=", StringComparison.Ordinal))
            {
                properties[i] = "data=(redacted)";
            }
        }

        return string.Join(',', properties);
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "running: {Argv}")]
    private static partial void LogStarting(ILogger logger, string argv);

    [LoggerMessage(Level = LogLevel.Debug, Message = "{Program} exited with status 0 after {Milliseconds} ms, {Stderr}")]
    private static partial void LogSucceeded(ILogger logger, string program, double milliseconds, string stderr);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Argv} exited with status {ExitCode} after {Milliseconds} ms, {Stderr}")]
    private static partial void LogFailed(ILogger logger, string argv, int exitCode, double milliseconds, string stderr);

    [LoggerMessage(Level = LogLevel.Warning, Message = "cannot run {Program}: {Reason}")]
    private static partial void LogNotStarted(ILogger logger, string program, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Argv} did not finish within {Seconds} s: killed (pid {Pid})")]
    private static partial void LogTimedOut(ILogger logger, string argv, double seconds, int pid);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Program} (pid {Pid}) killed: the operation was cancelled")]
    private static partial void LogKilled(ILogger logger, string program, int pid);

    /// <summary>
    /// Runs an interactive program (virsh's $EDITOR) on this process's own terminal: stdin, stdout and
    /// stderr inherited, the caller's environment and locale kept, waited for however long it takes.
    /// Returns its exit status; throws <see cref="System.ComponentModel.Win32Exception"/> when it cannot start.
    /// </summary>
    public async Task<int> RunAttachedAsync(IReadOnlyList<string> argv)
    {
        ArgumentOutOfRangeException.ThrowIfZero(argv.Count);
        var psi = new ProcessStartInfo(argv[0]) { UseShellExecute = false };
        for (var i = 1; i < argv.Count; i++)
        {
            psi.ArgumentList.Add(argv[i]);
        }

        using var process = new System.Diagnostics.Process { StartInfo = psi };
        process.Start();
        await process.WaitForExitAsync().ConfigureAwait(false);
        return process.ExitCode;
    }
}
