namespace VirtPool.Cli.Output;

/// <summary>
/// virsh's output channels: vshPrint (always), vshPrintExtra (not under -q), vshError ("error: TEXT" on
/// stderr, after flushing stdout so 2&gt;&amp;1 interleaves as virsh's does), and the blank line vshCommandRun
/// prints after every command that was run, whether it succeeded or failed (but not after a command line
/// that failed to parse, and not under -q).
/// </summary>
public sealed class VirshConsole : IDisposable
{
    private readonly TextWriter _stdout;
    private readonly TextWriter _stderr;
    private readonly bool _ownsWriters;

    public VirshConsole(TextWriter stdout, TextWriter stderr, bool quiet)
        : this(stdout, stderr, quiet, ownsWriters: false)
    {
    }

    private VirshConsole(TextWriter stdout, TextWriter stderr, bool quiet, bool ownsWriters)
    {
        _stdout = stdout;
        _stderr = stderr;
        Quiet = quiet;
        _ownsWriters = ownsWriters;
    }

    /// <summary>-q.</summary>
    public bool Quiet { get; set; }

    /// <summary>Where each <see cref="Error"/> message is recorded as well (-l FILE: virsh's vshError logs it).</summary>
    public Action<string>? ErrorLog { get; set; }

    /// <summary>The process's stdout and stderr as UTF-8 without a byte-order mark, whatever the locale.</summary>
    public static VirshConsole CreateStandard(bool quiet)
    {
        var stdout = StandardStreams.CreateWriter(1, autoFlush: false);
        var stderr = StandardStreams.CreateWriter(2, autoFlush: true);
        return new VirshConsole(stdout, stderr, quiet, ownsWriters: true);
    }

    /// <summary>vshPrint: command output proper (tables, XML, names).</summary>
    public void Print(string text) => _stdout.Write(text);

    /// <summary>vshPrintExtra: informational text, suppressed by -q.</summary>
    public void PrintExtra(string text)
    {
        if (!Quiet)
        {
            _stdout.Write(text);
        }
    }

    /// <summary>vshError: "error: " + <paramref name="message"/> + newline on stderr.</summary>
    public void Error(string message)
    {
        _stdout.Flush();
        _stderr.Write("error: " + message + "\n");
        _stderr.Flush();
        ErrorLog?.Invoke(message);
    }

    /// <summary>Text on stderr as it is: what a child process of libvirt's would print there itself.</summary>
    public void ErrorRaw(string text)
    {
        _stdout.Flush();
        _stderr.Write(text);
        _stderr.Flush();
    }

    /// <summary>
    /// What vshCommandRun prints after each command it ran: a blank line (not under -q), or under
    /// -t "\n(Time: %.3f ms)\n\n" (even under -q).
    /// </summary>
    public void EndCommand(double? elapsedMilliseconds = null)
    {
        if (elapsedMilliseconds is { } ms)
        {
            Print("\n(Time: " + CFormat.Fixed(ms, 3) + " ms)\n\n");
        }
        else
        {
            PrintExtra("\n");
        }
    }

    public void Flush()
    {
        _stdout.Flush();
        _stderr.Flush();
    }

    public void Dispose()
    {
        Flush();
        if (_ownsWriters)
        {
            _stdout.Dispose();
            _stderr.Dispose();
        }
    }
}
