using System.Diagnostics;
using System.Globalization;

namespace VirtPool.Cli.Output;

/// <summary>
/// Bytes-done progress of a long volume operation, drawn as one redrawn line on stderr when stderr
/// is a terminal, and nothing otherwise (virsh prints nothing, and scripts parse our output).
/// </summary>
/// <remarks>
/// A single status line written with '\r' is all this needs; Spectre.Console's live Progress widget
/// would own the console from a render thread and fight the command's own stdout/stderr writes.
/// </remarks>
public sealed class ProgressBar : IProgress<long>, IDisposable
{
    private const int BarWidth = 30;
    private static readonly long RedrawTicks = Stopwatch.Frequency / 10;

    private readonly TextWriter? _terminal;
    private readonly string _label;
    private readonly long _total;
    private readonly long _started = Stopwatch.GetTimestamp();
    private readonly Lock _gate = new();
    private long _lastDrawn;
    private bool _drawn;

    /// <param name="label">What is being done ("Uploading vol1").</param>
    /// <param name="total">The bytes the operation will report in all, or 0 when unknown.</param>
    /// <param name="terminal">Where to draw; null draws nothing.</param>
    public ProgressBar(string label, long total, TextWriter? terminal)
    {
        _label = label;
        _total = total;
        _terminal = terminal;
    }

    /// <summary>A bar on stderr when it is a terminal and output is not quiet.</summary>
    public static ProgressBar ForConsole(string label, long total, bool quiet)
        => new(label, total, quiet || Console.IsErrorRedirected ? null : StandardStreams.Error);

    public void Report(long value)
    {
        if (_terminal is null)
        {
            return;
        }

        var now = Stopwatch.GetTimestamp();
        lock (_gate)
        {
            if (_drawn && now - _lastDrawn < RedrawTicks && value < _total)
            {
                return;
            }

            _lastDrawn = now;
            _drawn = true;
            _terminal.Write("\r" + Render(value, Stopwatch.GetElapsedTime(_started, now)) + "\x1b[K");
            _terminal.Flush();
        }
    }

    /// <summary>The line for <paramref name="done"/> bytes after <paramref name="elapsed"/> (public for tests).</summary>
    public string Render(long done, TimeSpan elapsed)
    {
        var rate = elapsed.TotalSeconds > 0 ? done / elapsed.TotalSeconds : 0;
        var speed = VirshSize.Pretty((ulong)Math.Max(0, rate)) + "/s";
        if (_total <= 0)
        {
            return $"{_label}: {VirshSize.Pretty((ulong)Math.Max(0, done))} {speed}";
        }

        var fraction = Math.Clamp((double)done / _total, 0, 1);
        var filled = (int)Math.Round(fraction * BarWidth);
        var percent = (fraction * 100).ToString("0", CultureInfo.InvariantCulture);
        return $"{_label} [{new string('#', filled)}{new string('-', BarWidth - filled)}] {percent,3}% {VirshSize.Pretty((ulong)Math.Max(0, done))} / {VirshSize.Pretty((ulong)_total)} {speed}";
    }

    /// <summary>Erases the line, so the command's own messages start clean.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_terminal is not null && _drawn)
            {
                _terminal.Write("\r\x1b[K");
                _terminal.Flush();
            }
        }
    }
}
