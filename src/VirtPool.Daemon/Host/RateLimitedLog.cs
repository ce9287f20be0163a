using Microsoft.Extensions.Logging;

namespace VirtPool.Daemon.Host;

/// <summary>
/// Log lines a client can cause at will (malformed packets, timeouts, refused connections, and the
/// failures of a handler that does not cope with some input): at most
/// <see cref="LinesPerInterval"/> per interval, then one summary of how many were suppressed, so a
/// fuzzer or a flood cannot fill the disk through the log. Shared by all connections.
/// </summary>
internal sealed class RateLimitedLog(ILogger log, int linesPerInterval, TimeSpan interval, TimeProvider? time = null)
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly Lock _gate = new();
    private long _windowStart = long.MinValue;
    private int _written;
    private int _suppressed;

    public int LinesPerInterval { get; } = linesPerInterval;

    /// <summary>Every line written (a connection outside a daemon: tests).</summary>
    public static RateLimitedLog Unlimited(ILogger log) => new(log, int.MaxValue, TimeSpan.FromMinutes(1));

    /// <summary>Lines suppressed since the daemon started (tests, diagnostics).</summary>
    public long TotalSuppressed { get; private set; }

    /// <summary>Writes a warning unless this interval's lines are used up.</summary>
    public void Warn(string message, params object?[] args) => Write(LogLevel.Warning, null, message, args);

    /// <summary>Writes an error with its exception unless this interval's lines are used up.</summary>
    public void Error(Exception exception, string message, params object?[] args) => Write(LogLevel.Error, exception, message, args);

    private void Write(LogLevel level, Exception? exception, string message, object?[] args)
    {
        int summary;
        lock (_gate)
        {
            summary = RollWindow();
            if (_written >= LinesPerInterval)
            {
                _suppressed++;
                TotalSuppressed++;
                args = [];
                message = string.Empty;
            }
            else
            {
                _written++;
            }
        }

        WriteSummary(summary);
        if (message.Length > 0)
        {
#pragma warning disable CA2254 // the template is the caller's constant
            log.Log(level, exception, message, args);
#pragma warning restore CA2254
        }
    }

    /// <summary>Writes the summary of a finished interval without waiting for the next line (called periodically).</summary>
    public void Flush()
    {
        int summary;
        lock (_gate)
        {
            summary = RollWindow();
        }

        WriteSummary(summary);
    }

    /// <summary>Starts a new interval when the current one is over; returns how many lines the old one suppressed.</summary>
    private int RollWindow()
    {
        long now = _time.GetTimestamp();
        long length = (long)(interval.TotalSeconds * _time.TimestampFrequency);
        if (_windowStart != long.MinValue && now - _windowStart < length)
        {
            return 0;
        }

        int suppressed = _suppressed;
        _windowStart = now;
        _written = 0;
        _suppressed = 0;
        return suppressed;
    }

    private void WriteSummary(int suppressed)
    {
        if (suppressed > 0)
        {
            log.LogWarning("Suppressed {Count} more such messages in the last {Seconds} s", suppressed, interval.TotalSeconds);
        }
    }
}
