using System.Diagnostics;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace VirtPool.Core.Process;

/// <summary>The outcome of an external command.</summary>
public sealed record ProcessResult(int ExitCode, string StandardOutput, string StandardError)
{
    public bool Succeeded => ExitCode == 0;
}

/// <summary>
/// Every external command goes through one runner, so its argv can be recorded in golden tests and
/// its failures turn into one libvirt-style error shape.
/// </summary>
public interface IProcessRunner
{
    Task<ProcessResult> RunAsync(IReadOnlyList<string> argv, CancellationToken cancellationToken = default);
}

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

    public async Task<ProcessResult> RunAsync(IReadOnlyList<string> argv, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfZero(argv.Count);
        if (_log.IsEnabled(LogLevel.Debug))
        {
            LogStarting(_log, FormatArgv(argv));
        }

        var started = Stopwatch.GetTimestamp();
        var result = await RunUnloggedAsync(argv, cancellationToken).ConfigureAwait(false);
        LogExit(argv, result, Stopwatch.GetElapsedTime(started));
        return result;
    }

    private async Task<ProcessResult> RunUnloggedAsync(IReadOnlyList<string> argv, CancellationToken cancellationToken)
    {
        var psi = new ProcessStartInfo(argv[0])
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
            throw Errors.VirtPoolException.Internal($"Cannot find '{argv[0]}' in path: {ex.Message}");
        }

        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        try
        {
            await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            LogKilled(_log, argv[0], process.Id);
            throw;
        }

        return new ProcessResult(process.ExitCode, await stdout.ConfigureAwait(false), await stderr.ConfigureAwait(false));
    }

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
    private static string RedactInlineSecret(string word)
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
