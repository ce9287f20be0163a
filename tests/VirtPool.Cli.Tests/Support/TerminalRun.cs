using System.Diagnostics;
using System.Text;

namespace VirtPool.Cli.Tests.Support;

/// <summary>
/// Runs a program on a pseudo-terminal, as a user at a terminal runs it: util-linux's <c>script</c>
/// gives it a pty for stdin, stdout and stderr, and the test types keys into it once the program has
/// printed what it waits on (virsh's "Try again?" question). The result's stdout is the terminal's
/// transcript (stdout and stderr as they appeared, with the pty's "\r\n" line ends); stderr is empty.
/// </summary>
public static class TerminalRun
{
    /// <summary>Keys typed once <see cref="After"/> has appeared on the terminal (after the previous answer's point).</summary>
    public sealed record Answer(string After, string Keys);

    public static async Task<RunResult> RunAsync(
        ProcessStartInfo target,
        IReadOnlyDictionary<string, string?> env,
        IReadOnlyList<Answer> answers,
        TimeSpan? timeout = null)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(answers);
        var command = string.Join(' ', new[] { target.FileName }.Concat(target.ArgumentList).Select(ShellQuote));

        // -q: no banner, -e: the program's exit status, -f: flush at once, /dev/null: no typescript file.
        var psi = ChildProcess.StartInfo("script", ["-qefc", command, "/dev/null"], env);
        psi.Environment["SHELL"] = "/bin/sh";

        using var process = new Process { StartInfo = psi };
        process.Start();
        var transcript = new MemoryStream();
        var gate = new object();
        using var grew = new SemaphoreSlim(0);
        var reader = Task.Run(async () =>
        {
            var chunk = new byte[4096];
            int n;
            while ((n = await process.StandardOutput.BaseStream.ReadAsync(chunk).ConfigureAwait(false)) > 0)
            {
                lock (gate)
                {
                    transcript.Write(chunk, 0, n);
                }

                grew.Release();
            }

            grew.Release();
        });
        var errors = process.StandardError.ReadToEndAsync();

        using var deadline = new CancellationTokenSource(timeout ?? ChildProcess.DefaultTimeout);
        try
        {
            var searchFrom = 0;
            foreach (var answer in answers)
            {
                // Wait until the text shows (the program has switched the terminal to raw mode before
                // printing its question, so the key is neither echoed nor flushed away).
                while (true)
                {
                    string seen;
                    lock (gate)
                    {
                        seen = Encoding.Latin1.GetString(transcript.GetBuffer(), 0, (int)transcript.Length);
                    }

                    var at = seen.IndexOf(answer.After, searchFrom, StringComparison.Ordinal);
                    if (at >= 0)
                    {
                        searchFrom = at + answer.After.Length;
                        break;
                    }

                    if (reader.IsCompleted)
                    {
                        throw new InvalidOperationException($"'{command}' ended before printing '{answer.After}':\n{seen}");
                    }

                    await grew.WaitAsync(deadline.Token).ConfigureAwait(false);
                }

                await process.StandardInput.WriteAsync(answer.Keys).ConfigureAwait(false);
                await process.StandardInput.FlushAsync().ConfigureAwait(false);
            }

            await process.WaitForExitAsync(deadline.Token).ConfigureAwait(false);
            await reader.WaitAsync(deadline.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync().ConfigureAwait(false);
            await reader.ConfigureAwait(false);
            throw new TimeoutException($"'{command}' on a terminal did not finish; transcript so far:\n{Encoding.UTF8.GetString(transcript.ToArray())}");
        }
        finally
        {
            process.StandardInput.Close();
        }

        var scriptErrors = await errors.ConfigureAwait(false);
        if (scriptErrors.Length > 0)
        {
            throw new InvalidOperationException($"script failed for '{command}': {scriptErrors}");
        }

        return new RunResult(process.ExitCode, transcript.ToArray(), []);
    }

    private static string ShellQuote(string arg) => "'" + arg.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
}
