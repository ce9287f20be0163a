namespace VirtPool.Cli.Parsing;

/// <summary>What <c>-v</c>/<c>--version</c>/<c>-V</c> asked for.</summary>
public enum VersionRequest
{
    None,

    /// <summary><c>-v</c> or <c>--version</c>: virsh prints its version number alone.</summary>
    Short,

    /// <summary><c>-V</c> or <c>--version=long</c>: virsh prints its version and compiled-in features.</summary>
    Long,
}

/// <summary>The options before the command (virsh's virshParseArgv), plus VirtPool's <c>--state-dir</c>.</summary>
public sealed class GlobalOptions
{
    /// <summary><c>-c URI</c>, <c>--connect URI</c>.</summary>
    public string? Connect { get; internal set; }

    /// <summary><c>-q</c>, <c>--quiet</c>: no table headers, no informational messages, no blank line after commands.</summary>
    public bool Quiet { get; internal set; }

    /// <summary><c>-r</c>, <c>--readonly</c>.</summary>
    public bool ReadOnly { get; internal set; }

    /// <summary><c>-t</c>, <c>--timing</c>.</summary>
    public bool Timing { get; internal set; }

    /// <summary><c>-d N</c>, <c>--debug N</c> (0..4), or null.</summary>
    public int? Debug { get; internal set; }

    /// <summary><c>-e</c>, <c>--escape</c>.</summary>
    public string? Escape { get; internal set; }

    /// <summary><c>-l FILE</c>, <c>--log FILE</c>.</summary>
    public string? LogFile { get; internal set; }

    /// <summary><c>-k N</c>, <c>--keepalive-interval N</c>.</summary>
    public int? KeepaliveInterval { get; internal set; }

    /// <summary><c>-K N</c>, <c>--keepalive-count N</c>.</summary>
    public int? KeepaliveCount { get; internal set; }

    /// <summary><c>--state-dir DIR</c>: VirtPool's own option (not in virsh), where pool state lives.</summary>
    public string? StateDir { get; internal set; }

    /// <summary><c>-h</c>, <c>--help</c>: virsh prints its usage and exits 0, ignoring the rest.</summary>
    public bool ShowUsage { get; internal set; }

    public VersionRequest Version { get; internal set; }
}

/// <summary>A parsed <c>virsh [OPTIONS] [COMMAND...]</c> command line.</summary>
public sealed class VirshInvocation
{
    internal VirshInvocation(GlobalOptions options, IReadOnlyList<ParsedCommand> commands, bool interactive, IReadOnlyList<string> warnings)
    {
        Options = options;
        Commands = commands;
        Interactive = interactive;
        Warnings = warnings;
    }

    public GlobalOptions Options { get; }

    /// <summary>The commands to run in order (several only when one quoted string held ';'-separated commands).</summary>
    public IReadOnlyList<ParsedCommand> Commands { get; }

    /// <summary>No command followed the options: virsh would start its interactive shell.</summary>
    public bool Interactive { get; }

    /// <summary>Errors virsh prints as "error: TEXT" on stderr but continues after.</summary>
    public IReadOnlyList<string> Warnings { get; }
}

/// <summary>
/// Parses the whole command line like virsh: getopt_long with "+:c:d:e:hk:K:l:qrtvV" (options stop at the
/// first word that is not an option; long names may be abbreviated), then the command words — one word is
/// split like a shell line (<see cref="CommandParser.ParseString"/>), several are taken as they are
/// (<see cref="CommandParser.ParseArgv"/>).
/// </summary>
public static class VirshArgs
{
    private const int StateDirCode = 0x100;

    private static readonly LongOption[] LongOptions =
    [
        new("connect", ArgMode.Required, 'c'),
        new("debug", ArgMode.Required, 'd'),
        new("escape", ArgMode.Required, 'e'),
        new("help", ArgMode.None, 'h'),
        new("keepalive-interval", ArgMode.Required, 'k'),
        new("keepalive-count", ArgMode.Required, 'K'),
        new("log", ArgMode.Required, 'l'),
        new("quiet", ArgMode.None, 'q'),
        new("readonly", ArgMode.None, 'r'),
        new("timing", ArgMode.None, 't'),
        new("version", ArgMode.Optional, 'v'),
        new("state-dir", ArgMode.Required, StateDirCode),
    ];

    private enum ArgMode
    {
        None,
        Required,
        Optional,
    }

    /// <summary>Parses <paramref name="argv"/> (without the program name).</summary>
    /// <exception cref="VirshUsageException">
    /// With virsh's messages, e.g. "unsupported option '-Z'. See --help."; warnings met before the error come first.
    /// </exception>
    public static VirshInvocation Parse(IReadOnlyList<string> argv)
    {
        var warnings = new List<string>();
        try
        {
            return Parse(argv, warnings);
        }
        catch (VirshUsageException error) when (warnings.Count > 0)
        {
            // virsh printed these before it met the error
            throw new VirshUsageException([.. warnings, .. error.Errors]) { Options = error.Options };
        }
    }

    private static VirshInvocation Parse(IReadOnlyList<string> argv, List<string> warnings)
    {
        var options = new GlobalOptions();
        var index = 0;
        while (index < argv.Count)
        {
            var arg = argv[index];
            if (arg == "--")
            {
                index++;
                break;
            }

            if (arg.Length < 2 || arg[0] != '-')
            {
                break;
            }

            index++;
            if (arg[1] == '-')
            {
                var (code, value) = ParseLong(arg, argv, ref index);
                if (Apply(options, code, value, isLong: true, warnings))
                {
                    return new VirshInvocation(options, [], false, warnings);
                }

                continue;
            }

            for (var pos = 1; pos < arg.Length; pos++)
            {
                var letter = arg[pos];
                var mode = ShortMode(letter);
                string? value = null;
                if (mode == ArgMode.Required)
                {
                    if (pos + 1 < arg.Length)
                    {
                        value = arg[(pos + 1)..];
                    }
                    else if (index < argv.Count)
                    {
                        value = argv[index++];
                    }
                    else
                    {
                        throw MissingArgument(letter);
                    }

                    pos = arg.Length;
                }

                if (Apply(options, letter, value, isLong: false, warnings))
                {
                    return new VirshInvocation(options, [], false, warnings);
                }
            }
        }

        var rest = new List<string>();
        for (var i = index; i < argv.Count; i++)
        {
            rest.Add(argv[i]);
        }

        try
        {
            return rest.Count switch
            {
                0 => new VirshInvocation(options, [], true, warnings),
                1 => new VirshInvocation(options, CommandParser.ParseString(rest[0], warnings), false, warnings),
                _ => new VirshInvocation(options, CommandParser.ParseArgv(rest, warnings), false, warnings),
            };
        }
        catch (VirshUsageException error) when (error.Options is null)
        {
            // The options were understood: -l FILE still records the error, as virsh's does.
            throw new VirshUsageException(error.Errors) { Options = options };
        }
    }

    private static ArgMode ShortMode(char letter) => letter switch
    {
        'c' or 'd' or 'e' or 'k' or 'K' or 'l' => ArgMode.Required,
        'h' or 'q' or 'r' or 't' or 'v' or 'V' => ArgMode.None,
        _ => throw new VirshUsageException($"unsupported option '-{letter}'. See --help."),
    };

    /// <summary>getopt_long's long-option matching: exact name, else a unique prefix.</summary>
    private static (int Code, string? Value) ParseLong(string arg, IReadOnlyList<string> argv, ref int index)
    {
        var body = arg[2..];
        string? inline = null;
        var eq = body.IndexOf('=', StringComparison.Ordinal);
        if (eq >= 0)
        {
            inline = body[(eq + 1)..];
            body = body[..eq];
        }

        LongOption? found = null;
        var ambiguous = false;
        foreach (var option in LongOptions)
        {
            if (option.Name == body)
            {
                found = option;
                ambiguous = false;
                break;
            }

            if (option.Name.StartsWith(body, StringComparison.Ordinal))
            {
                if (found is null)
                {
                    found = option;
                }
                else if (found.Mode != option.Mode || found.Code != option.Code)
                {
                    ambiguous = true;
                }
            }
        }

        if (found is null || ambiguous)
        {
            throw new VirshUsageException($"unsupported option '{arg}'. See --help.");
        }

        switch (found.Mode)
        {
            case ArgMode.None when inline is not null:
                throw new VirshUsageException($"unsupported option '-{(char)found.Code}'. See --help.");
            case ArgMode.Required when inline is null:
                if (index >= argv.Count)
                {
                    throw MissingArgument(found.Code);
                }

                inline = argv[index++];
                break;
        }

        return (found.Code, inline);
    }

    private static VirshUsageException MissingArgument(int code)
    {
        foreach (var option in LongOptions)
        {
            if (option.Code == code)
            {
                return code == StateDirCode
                    ? new VirshUsageException($"option '--{option.Name}' requires an argument")
                    : new VirshUsageException($"option '-{(char)code}'/'--{option.Name}' requires an argument");
            }
        }

        return new VirshUsageException($"option '-{(char)code}' requires an argument");
    }

    /// <summary>Applies one option; returns true when parsing stops here (usage or version requested).</summary>
    private static bool Apply(GlobalOptions options, int code, string? value, bool isLong, List<string> warnings)
    {
        switch (code)
        {
            case 'c':
                options.Connect = value;
                return false;
            case 'd':
                if (!CNumber.TryInt(value!, out var debug))
                {
                    throw new VirshUsageException($"option {(isLong ? "--debug" : "-d")} takes a numeric argument");
                }

                if (debug is < 0 or > 4)
                {
                    warnings.Add($"ignoring debug level {debug} out of range [0-4]");
                }
                else
                {
                    options.Debug = debug;
                }

                return false;
            case 'e':
                if (!(value!.Length == 2 && value[0] == '^' && IsAllowedEscape(value[1])) && !(value.Length == 1 && value[0] != '^'))
                {
                    throw new VirshUsageException($"Invalid string '{value}' for escape sequence");
                }

                options.Escape = value;
                return false;
            case 'h':
                options.ShowUsage = true;
                return true;
            case 'k':
                options.KeepaliveInterval = Keepalive(value!, isLong ? "--keepalive-interval" : "-k");
                return false;
            case 'K':
                options.KeepaliveCount = Keepalive(value!, isLong ? "--keepalive-count" : "-K");
                return false;
            case 'l':
                options.LogFile = value;
                return false;
            case 'q':
                options.Quiet = true;
                return false;
            case 'r':
                options.ReadOnly = true;
                return false;
            case 't':
                options.Timing = true;
                return false;
            case 'v':
                options.Version = value == "long" ? VersionRequest.Long : VersionRequest.Short;
                return true;
            case 'V':
                options.Version = VersionRequest.Long;
                return true;
            case StateDirCode:
                options.StateDir = value;
                return false;
            default:
                throw new VirshUsageException("unknown option");
        }
    }

    /// <summary>virStrToLong_i with base 0 (decimal, 0x hex, 0 octal), then the sign check.</summary>
    private static int Keepalive(string text, string name)
    {
        if (!TryParseBase0(text, out var value))
        {
            throw new VirshUsageException($"Invalid value for option {name}");
        }

        if (value < 0)
        {
            throw new VirshUsageException($"option {name} requires a positive integer argument");
        }

        return value;
    }

    private static bool TryParseBase0(string text, out int value)
    {
        value = 0;
        var s = text.TrimStart(' ', '\t', '\n', '\v', '\f', '\r');
        var negative = false;
        if (s.Length > 0 && (s[0] == '+' || s[0] == '-'))
        {
            negative = s[0] == '-';
            s = s[1..];
        }

        var radix = 10;
        if (s.Length > 1 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
        {
            radix = 16;
            s = s[2..];
        }
        else if (s.Length > 1 && s[0] == '0')
        {
            radix = 8;
            s = s[1..];
        }

        if (s.Length == 0)
        {
            return false;
        }

        long magnitude = 0;
        foreach (var c in s)
        {
            var digit = c switch
            {
                >= '0' and <= '9' => c - '0',
                >= 'a' and <= 'f' => c - 'a' + 10,
                >= 'A' and <= 'F' => c - 'A' + 10,
                _ => 99,
            };
            if (digit >= radix)
            {
                return false;
            }

            magnitude = (magnitude * radix) + digit;
            if (magnitude > 2147483648L)
            {
                return false;
            }
        }

        var signed = negative ? -magnitude : magnitude;
        if (signed is > int.MaxValue or < int.MinValue)
        {
            return false;
        }

        value = (int)signed;
        return true;
    }

    private static bool IsAllowedEscape(char c) => char.IsAsciiLetter(c) || c is '@' or '[' or '\\' or ']' or '^' or '_';

    private sealed record LongOption(string Name, ArgMode Mode, int Code);
}
