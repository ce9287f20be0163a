using System.Text;
using Microsoft.Extensions.Logging;
using VirtPool.Cli.Parsing;
using VirtPool.Core.Interop;

namespace VirtPool.Cli.Output;

/// <summary>
/// virsh's <c>-d LEVEL</c> and <c>-l FILE</c>, as virsh 9.0 behaves here: a message is kept when its
/// level (0 DEBUG, 1 INFO, 2 NOTICE, 3 WARNING, 4 ERROR) is at least LEVEL, which is 4 without
/// <c>-d</c>. With <c>-d</c> it is printed as it is: virsh's own trace (the options of each command)
/// on stdout, where virsh's vshDebug prints it, and what the embedded pool manager, its backends and
/// the process runner log on stderr, where libvirt's library logs. With <c>-l</c> it is appended to
/// FILE as <c>[YYYY.MM.DD HH:MM:SS virtpool PID] LEVEL message</c>, together with every <c>error:</c>
/// line (as ERROR), as virsh's vshError logs them.
/// <para>
/// A provider of its own rather than Microsoft.Extensions.Logging.Console: that one brings the logging
/// factory, options and configuration binding and a background writer thread, start-up cost the
/// NativeAOT CLI (one process per command, as virsh) would pay on every run for a few lines. This one is
/// not even created without <c>-d</c>/<c>-l</c>.
/// </para>
/// </summary>
internal sealed class VirshLog : ILoggerProvider
{
    /// <summary>vshError's message when FILE cannot be opened (virsh then exits with status 1).</summary>
    public const string OpenFailedMessage = "failed to open the log file. check the log file path";

    /// <summary>virsh's default level (VSH_DEBUG_DEFAULT): errors only.</summary>
    private const int ErrorLevel = 4;

    /// <summary>virsh's FILE_MODE for the log file: rw-r--r--, before the umask.</summary>
    private const uint FileMode = 0x1A4;

    private static readonly string[] LevelNames = ["DEBUG", "INFO", "NOTICE", "WARNING", "ERROR"];

    private readonly VirshConsole _console;
    private readonly int _threshold;
    private readonly bool _printed;
    private readonly Lock _lock = new();
    private int _fd;

    private VirshLog(VirshConsole console, int threshold, bool printed, int fd)
    {
        _console = console;
        _threshold = threshold;
        _printed = printed;
        _fd = fd;
    }

    /// <summary>
    /// The log the options ask for: null without <c>-d</c> and <c>-l</c> (nothing is logged, nothing
    /// changes). Throws <see cref="IOException"/> when FILE cannot be opened.
    /// </summary>
    public static VirshLog? Open(GlobalOptions options, VirshConsole console)
    {
        if (options.Debug is null && options.LogFile is null)
        {
            return null;
        }

        var fd = -1;
        if (options.LogFile is { } path)
        {
            fd = LibC.Open(path, LibC.O_WRONLY | LibC.O_APPEND | LibC.O_CREAT | LibC.O_CLOEXEC, FileMode);
            if (fd < 0)
            {
                throw new IOException(OpenFailedMessage, LibC.Errno);
            }
        }

        return new VirshLog(console, options.Debug ?? ErrorLevel, options.Debug is not null, fd);
    }

    public ILogger CreateLogger(string categoryName) => new LibraryLogger(this);

    /// <summary>
    /// What virsh's parser traces at INFO for each option of each command before any runs
    /// (<c>pool-info: pool(optdata): nope</c>). A secret's value given on the command line is not written.
    /// </summary>
    public void Commands(IReadOnlyList<ParsedCommand> commands)
    {
        const int info = 1;
        if (!IsKept(info))
        {
            return;
        }

        foreach (var command in commands)
        {
            foreach (var option in command.Options)
            {
                var value = option.Value is null
                    ? "(none)"
                    : IsSecretValue(command, option) ? "(redacted)" : option.Value;
                Write(info, $"{command.Name}: {option.Option.Name}({(option.Value is null ? "bool" : "optdata")}): {value}", onStdout: true);
            }
        }
    }

    /// <summary>An <c>error:</c> line the console printed: in FILE as ERROR (never printed twice).</summary>
    public void Error(string message)
    {
        bool written;
        lock (_lock)
        {
            written = AppendToFile(ErrorLevel, message);
        }

        ReportIfFailed(written);
    }

    public void Dispose()
    {
        lock (_lock)
        {
            if (_fd >= 0)
            {
                LibC.Close(_fd);
                _fd = -1;
            }
        }
    }

    /// <summary>virsh logs <c>secret-set-value --base64 VALUE</c> as given; a log file is no place for a secret.</summary>
    private static bool IsSecretValue(ParsedCommand command, ParsedOption option)
        => command.Name == "secret-set-value" && option.Option.Name == "base64";

    private static int VirshLevel(LogLevel level) => level switch
    {
        LogLevel.Trace or LogLevel.Debug => 0,
        LogLevel.Information => 1,
        LogLevel.Warning => 3,
        _ => ErrorLevel,
    };

    private bool IsKept(int level) => level >= _threshold && (_printed || _fd >= 0);

    private void Write(int level, string message, bool onStdout)
    {
        bool written;
        lock (_lock)
        {
            if (_printed)
            {
                if (onStdout)
                {
                    _console.Print(message + "\n");
                }
                else
                {
                    _console.ErrorRaw(message + "\n");
                }
            }

            written = AppendToFile(level, message);
        }

        ReportIfFailed(written);
    }

    /// <summary>As virsh's vshOutputLogFile: a log that cannot be written to is closed and reported; the command goes on.</summary>
    private void ReportIfFailed(bool written)
    {
        if (!written)
        {
            _console.Error("failed to write the log file");
        }
    }

    /// <summary>
    /// One write(2) per line on an O_APPEND descriptor: lines of concurrent runs never interleave.
    /// False when the write failed (the file is closed then); true when written or there is no file.
    /// </summary>
    private unsafe bool AppendToFile(int level, string message)
    {
        if (_fd < 0)
        {
            return true;
        }

        var now = DateTime.Now;
        var line = Encoding.UTF8.GetBytes($"[{now:yyyy.MM.dd HH:mm:ss} virtpool {Environment.ProcessId}] {LevelNames[level]} {message}\n");
        fixed (byte* bytes = line)
        {
            for (var done = 0; done < line.Length;)
            {
                var n = LibC.Write(_fd, bytes + done, line.Length - done);
                if (n < 0 && LibC.Errno == Errno.EINTR)
                {
                    continue;
                }

                if (n <= 0)
                {
                    LibC.Close(_fd);
                    _fd = -1;
                    return false;
                }

                done += (int)n;
            }
        }

        return true;
    }

    /// <summary>The pool manager's, backends' and process runner's messages: on stderr, as libvirt's library logs.</summary>
    private sealed class LibraryLogger(VirshLog log) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None && log.IsKept(VirshLevel(logLevel));

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            ArgumentNullException.ThrowIfNull(formatter);
            if (!IsEnabled(logLevel))
            {
                return;
            }

            var message = formatter(state, exception);
            log.Write(VirshLevel(logLevel), exception is null ? message : $"{message}: {exception.Message}", onStdout: false);
        }
    }
}
