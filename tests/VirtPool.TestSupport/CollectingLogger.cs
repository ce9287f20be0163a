using Microsoft.Extensions.Logging;

namespace VirtPool.TestSupport;

/// <summary>One message a <see cref="CollectingLogger"/> received.</summary>
public sealed record LogEntry(LogLevel Level, string Message);

/// <summary>
/// Keeps every message logged through it, at every level, so a test can ask what was logged; the
/// messages are formatted as a real provider formats them.
/// </summary>
public sealed class CollectingLogger : ILogger
{
    private readonly List<LogEntry> _entries = [];

    /// <summary>A snapshot of the messages so far, in the order they were logged.</summary>
    public IReadOnlyList<LogEntry> Entries
    {
        get
        {
            lock (_entries)
            {
                return [.. _entries];
            }
        }
    }

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        ArgumentNullException.ThrowIfNull(formatter);
        lock (_entries)
        {
            _entries.Add(new LogEntry(logLevel, formatter(state, exception)));
        }
    }

    public override string ToString() => string.Join('\n', Entries.Select(e => $"{e.Level}: {e.Message}"));
}
