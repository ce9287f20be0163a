using VirtPool.Core.Xml;

namespace VirtPool.Cli.Parsing;

/// <summary>One option as it was given on the command line.</summary>
/// <param name="Option">Its definition (never an alias: aliases resolve to the real option).</param>
/// <param name="Value">The value, or null for a <see cref="OptionKind.Bool"/> option.</param>
public sealed record ParsedOption(OptionDefinition Option, string? Value);

/// <summary>
/// A command parsed against its <see cref="CommandDefinition"/> (virsh's vshCmd), with accessors that
/// behave like virsh's vshCommandOpt* helpers, including their error messages.
/// </summary>
public sealed class ParsedCommand
{
    private readonly List<ParsedOption> _options;

    internal ParsedCommand(CommandDefinition definition, List<ParsedOption> options)
    {
        Definition = definition;
        _options = options;
    }

    public CommandDefinition Definition { get; }

    public string Name => Definition.Name;

    /// <summary>The options in the order they were given.</summary>
    public IReadOnlyList<ParsedOption> Options => _options;

    /// <summary>Whether the option was given (any kind; virsh's vshCommandOptBool).</summary>
    public bool Has(string name) => Find(name) is not null;

    /// <summary>Whether a flag was given; the same test as <see cref="Has"/>.</summary>
    public bool GetBool(string name) => Has(name);

    /// <summary>The raw value of a value option, or null when absent. An empty string is returned as is.</summary>
    public string? GetString(string name) => Find(name, needsValue: true)?.Value;

    /// <summary>
    /// virsh's vshCommandOptStringReq: null when absent; the value otherwise, but an empty value fails
    /// with "Failed to get option 'NAME': Option argument is empty".
    /// </summary>
    /// <exception cref="VirshOptionException">The value is empty.</exception>
    public string? GetStringReq(string name)
    {
        var option = Find(name, needsValue: true);
        if (option is null)
        {
            return null;
        }

        if (option.Value!.Length == 0 && !option.Option.EmptyOk)
        {
            throw new VirshOptionException($"Failed to get option '{name}': Option argument is empty");
        }

        return option.Value;
    }

    /// <summary>
    /// virsh's vshCommandOptStringQuiet: false when the value is given but empty (virsh then fails the
    /// command without a message); otherwise true with the value, or null when absent.
    /// </summary>
    public bool TryGetStringQuiet(string name, out string? value)
    {
        var option = Find(name, needsValue: true);
        value = null;
        if (option is null)
        {
            return true;
        }

        if (option.Value!.Length == 0 && !option.Option.EmptyOk)
        {
            return false;
        }

        value = option.Value;
        return true;
    }

    /// <summary>All values of an <see cref="OptionKind.Argv"/> option, in order (vshCommandOptArgv).</summary>
    public IReadOnlyList<string> GetArgv(string name)
    {
        var definition = Require(name, needsValue: true);
        var values = new List<string>();
        foreach (var option in _options)
        {
            if (ReferenceEquals(option.Option, definition))
            {
                values.Add(option.Value!);
            }
        }

        return values;
    }

    /// <summary>vshCommandOptULongLong (negative rejected) or, with <paramref name="wrap"/>, vshCommandOptULongLongWrap.</summary>
    /// <exception cref="VirshOptionException">The value is not such a number.</exception>
    public ulong? GetULongLong(string name, bool wrap = false)
    {
        var text = GetString(name);
        if (text is null)
        {
            return null;
        }

        var ok = wrap ? CNumber.TryULongLong(text, out var value) : CNumber.TryULongLongPositive(text, out value);
        return ok ? value : throw Malformed(text, name);
    }

    /// <summary>vshCommandOptInt.</summary>
    /// <exception cref="VirshOptionException">The value is not an int.</exception>
    public int? GetInt(string name)
    {
        var text = GetString(name);
        if (text is null)
        {
            return null;
        }

        return CNumber.TryInt(text, out var value) ? value : throw Malformed(text, name);
    }

    /// <summary>vshCommandOptUInt (negative rejected) or, with <paramref name="wrap"/>, vshCommandOptUIntWrap.</summary>
    /// <exception cref="VirshOptionException">The value is not such a number.</exception>
    public uint? GetUInt(string name, bool wrap = false)
    {
        var text = GetString(name);
        if (text is null)
        {
            return null;
        }

        var ok = wrap ? CNumber.TryUIntWrap(text, out var value) : CNumber.TryUIntPositive(text, out value);
        return ok ? value : throw Malformed(text, name);
    }

    /// <summary>
    /// vshCommandOptScaledInt: a non-negative integer with an optional unit suffix (k, MiB, GB, ...);
    /// without a suffix it is multiplied by <paramref name="scale"/>; the result must not exceed <paramref name="max"/>.
    /// </summary>
    /// <exception cref="VirshOptionException">The value is malformed or out of range.</exception>
    public ulong? GetScaledInt(string name, ulong scale, ulong max)
    {
        var text = GetString(name);
        if (text is null)
        {
            return null;
        }

        if (CNumber.TryULongLongPositivePrefix(text, out var value, out var end))
        {
            try
            {
                return Units.Scale(value, text[end..], scale, max);
            }
            catch (Core.Errors.VirtPoolException)
            {
                // reported below with virsh's wording
            }
        }

        throw new VirshOptionException($"Scaled numeric value '{text}' for <{name}> option is malformed or out of range");
    }

    public override string ToString()
    {
        var text = new System.Text.StringBuilder(Name);
        foreach (var option in _options)
        {
            text.Append(" --").Append(option.Option.Name);
            if (option.Value is not null)
            {
                text.Append(' ').Append(option.Value);
            }
        }

        return text.ToString();
    }

    private static VirshOptionException Malformed(string text, string name)
        => new($"Numeric value '{text}' for <{name}> option is malformed or out of range");

    private ParsedOption? Find(string name, bool needsValue = false)
    {
        var definition = Require(name, needsValue);
        foreach (var option in _options)
        {
            if (ReferenceEquals(option.Option, definition))
            {
                return option;
            }
        }

        return null;
    }

    /// <summary>Asking for an option the command does not define is a programming error (virsh asserts).</summary>
    private OptionDefinition Require(string name, bool needsValue)
    {
        var definition = Definition.FindOption(name);
        if (definition is null || definition.Kind == OptionKind.Alias || (needsValue && !definition.TakesValue))
        {
            throw new ArgumentException($"command '{Name}' has no {(needsValue ? "value " : string.Empty)}option --{name}", nameof(name));
        }

        return definition;
    }
}
