namespace VirtPool.Cli.Parsing;

/// <summary>
/// virsh 9.0's command grammar (vshCommandParse), driven by <see cref="CommandTable"/>:
/// <list type="bullet">
/// <item><c>--opt value</c> and <c>--opt=value</c>; the value may itself start with "--".</item>
/// <item>Bare words fill, in declaration order, every value option not marked named-only
/// (data, string and int options alike), skipping those already given by name.</item>
/// <item><c>--</c> makes every following word data; words starting with '-' otherwise (but not
/// "--" + letter or digit) are data too.</item>
/// <item><c>--help</c> anywhere turns the command into <c>help COMMAND</c>, skipping the required checks.</item>
/// <item>The command <c>help</c> ignores unknown options and surplus words.</item>
/// </list>
/// Errors carry virsh's exact wording in a <see cref="VirshUsageException"/>.
/// </summary>
public static class CommandParser
{
    private static readonly OptionDefinition HelpOption = OptionDefinition.Bool("help", "print help for this function");

    /// <summary>Parses the words after the global options when there are two or more (virsh's argv mode).</summary>
    /// <param name="args">The command name followed by its arguments.</param>
    /// <param name="warnings">Receives errors virsh prints without failing (only the <c>help</c> command has them).</param>
    /// <exception cref="VirshUsageException">The words do not form valid commands.</exception>
    public static IReadOnlyList<ParsedCommand> ParseArgv(IReadOnlyList<string> args, ICollection<string>? warnings = null)
        => Parse(new ArgvTokenSource(args), warnings, CommandTable.Find);

    /// <summary>Argv mode against another set of commands (tests use it for option kinds the table lacks).</summary>
    internal static IReadOnlyList<ParsedCommand> ParseArgv(IReadOnlyList<string> args, Func<string, CommandDefinition?> lookup, ICollection<string>? warnings = null)
        => Parse(new ArgvTokenSource(args), warnings, lookup);

    /// <summary>
    /// Parses one string the way virsh parses a single word after the global options (or a line typed in its
    /// shell): quoting, ';'-separated commands, '#' comments. An empty string fails without a message.
    /// </summary>
    /// <exception cref="VirshUsageException">The text does not form valid commands.</exception>
    public static IReadOnlyList<ParsedCommand> ParseString(string text, ICollection<string>? warnings = null)
    {
        if (text.Length == 0)
        {
            throw new VirshUsageException();
        }

        return Parse(new StringTokenSource(text), warnings, CommandTable.Find);
    }

    /// <summary>Parses argv-mode words that must form exactly one command (a convenience for callers and tests).</summary>
    /// <exception cref="VirshUsageException">The words do not form one valid command.</exception>
    public static ParsedCommand ParseOne(params string[] args)
    {
        var commands = ParseArgv(args);
        return commands.Count == 1 ? commands[0] : throw new VirshUsageException("expected exactly one command");
    }

    private static List<ParsedCommand> Parse(ITokenSource source, ICollection<string>? warnings, Func<string, CommandDefinition?> lookup)
    {
        var commands = new List<ParsedCommand>();
        while (true)
        {
            CommandDefinition? command = null;
            var options = new List<ParsedOption>();
            var dataOnly = false;
            bool[] needsArg = [];
            bool[] seen = [];
            TokenKind kind;

            while (true)
            {
                kind = source.Next(out var token);
                if (kind != TokenKind.Arg)
                {
                    break;
                }

                if (command is null)
                {
                    if (token.StartsWith('#'))
                    {
                        SkipComment(source, out kind);
                        break;
                    }

                    command = lookup(token) ?? throw new VirshUsageException($"unknown command: '{token}'");
                    needsArg = new bool[command.Options.Count];
                    seen = new bool[command.Options.Count];
                    for (var i = 0; i < needsArg.Length; i++)
                    {
                        needsArg[i] = command.Options[i].Positional;
                    }

                    continue;
                }

                var isHelp = command.Name == "help";
                OptionDefinition? option;
                string? value = null;
                if (!dataOnly && token.Length > 2 && token[0] == '-' && token[1] == '-' && char.IsAsciiLetterOrDigit(token[2]))
                {
                    var name = token[2..];
                    string? inlineValue = null;
                    var eq = name.IndexOf('=', StringComparison.Ordinal);
                    if (eq >= 0)
                    {
                        inlineValue = name[(eq + 1)..];
                        name = name[..eq];
                    }

                    option = LookupOption(command, name, seen, ref inlineValue, isHelp, warnings);
                    if (option is null)
                    {
                        continue;
                    }

                    if (option.TakesValue)
                    {
                        if (inlineValue is not null)
                        {
                            value = inlineValue;
                        }
                        else if (source.Next(out value) != TokenKind.Arg)
                        {
                            var type = option.Kind == OptionKind.Int ? "number" : "string";
                            throw new VirshUsageException($"expected syntax: --{option.Name} <{type}>");
                        }

                        if (option.Kind != OptionKind.Argv)
                        {
                            needsArg[command.IndexOf(option)] = false;
                        }
                    }
                    else if (inlineValue is not null)
                    {
                        throw new VirshUsageException($"invalid '=' after option --{option.Name}");
                    }
                }
                else if (!dataOnly && token == "--")
                {
                    dataOnly = true;
                    continue;
                }
                else
                {
                    var index = Array.IndexOf(needsArg, true);
                    if (index < 0)
                    {
                        if (isHelp)
                        {
                            continue;
                        }

                        throw new VirshUsageException($"unexpected data '{token}'");
                    }

                    option = command.Options[index];
                    if (option.Kind != OptionKind.Argv)
                    {
                        needsArg[index] = false;
                    }

                    seen[index] = true;
                    value = token;
                }

                options.Add(new ParsedOption(option, value));
            }

            if (command is not null)
            {
                commands.Add(Finish(command, options, seen, lookup));
            }

            if (kind == TokenKind.End)
            {
                return commands;
            }
        }
    }

    private static void SkipComment(ITokenSource source, out TokenKind kind)
    {
        try
        {
            do
            {
                kind = source.Next(out _);
            }
            while (kind == TokenKind.Arg);
        }
        catch (VirshUsageException)
        {
            // virsh does not report quoting errors inside a comment
            kind = TokenKind.End;
        }
    }

    /// <summary>vshCmddefGetOption: resolves aliases and rejects repeats and unknown names.</summary>
    private static OptionDefinition? LookupOption(
        CommandDefinition command, string name, bool[] seen, ref string? inlineValue, bool isHelp, ICollection<string>? warnings)
    {
        if (name == HelpOption.Name)
        {
            return HelpOption;
        }

        string? error = null;
        var options = command.Options;
        for (var i = 0; i < options.Count; i++)
        {
            var option = options[i];
            if (option.Name != name)
            {
                continue;
            }

            if (option.Kind == OptionKind.Alias)
            {
                var target = option.AliasTarget!;
                var eq = target.IndexOf('=', StringComparison.Ordinal);
                if (eq >= 0)
                {
                    if (inlineValue is not null)
                    {
                        error = $"invalid '=' after option --{option.Name}";
                        break;
                    }

                    inlineValue = target[(eq + 1)..];
                    target = target[..eq];
                }

                name = target;
                continue;
            }

            if (seen[i] && option.Kind != OptionKind.Argv)
            {
                error = $"option --{name} already seen";
                break;
            }

            seen[i] = true;
            return option;
        }

        if (error is null)
        {
            if (isHelp)
            {
                return null;
            }

            error = $"command '{command.Name}' doesn't support option --{name}";
        }

        if (isHelp)
        {
            warnings?.Add(error);
            return null;
        }

        throw new VirshUsageException(error);
    }

    /// <summary>Turns "--help" into "help COMMAND" and checks required options (vshCommandCheckOpts).</summary>
    private static ParsedCommand Finish(CommandDefinition command, List<ParsedOption> options, bool[] seen, Func<string, CommandDefinition?> lookup)
    {
        foreach (var option in options)
        {
            if (ReferenceEquals(option.Option, HelpOption))
            {
                var help = lookup("help") ?? CommandTable.Find("help")!;
                return new ParsedCommand(help, [new ParsedOption(help.Options[0], command.Name)]);
            }
        }

        List<string>? missing = null;
        for (var i = 0; i < seen.Length; i++)
        {
            var option = command.Options[i];
            if (option.Required && !seen[i])
            {
                missing ??= [];
                missing.Add(option.Kind is OptionKind.Data or OptionKind.Argv
                    ? $"command '{command.Name}' requires <{option.Name}> option"
                    : $"command '{command.Name}' requires --{option.Name} option");
            }
        }

        if (missing is not null)
        {
            throw new VirshUsageException(missing);
        }

        return new ParsedCommand(command, options);
    }
}
