namespace VirtPool.Cli.Parsing;

/// <summary>The kinds of command options virsh 9.0 knows (vshCmdOptType).</summary>
public enum OptionKind
{
    /// <summary>A flag: <c>--name</c>, never takes a value (VSH_OT_BOOL).</summary>
    Bool,

    /// <summary>A string value: <c>--name value</c>, <c>--name=value</c>, or positionally (VSH_OT_STRING).</summary>
    String,

    /// <summary>A numeric value; parsing of the number is left to the command (VSH_OT_INT).</summary>
    Int,

    /// <summary>A value usually given positionally: <c>[--name] value</c> (VSH_OT_DATA, always required in 9.0).</summary>
    Data,

    /// <summary>Collects all remaining data; may be given several times (VSH_OT_ARGV).</summary>
    Argv,

    /// <summary>A hidden alias: <see cref="OptionDefinition.AliasTarget"/> names the real option, optionally "name=value" (VSH_OT_ALIAS).</summary>
    Alias,
}

/// <summary>One option of a virsh command (vshCmdOptDef).</summary>
public sealed class OptionDefinition
{
    public OptionDefinition(string name, OptionKind kind, string help, bool required = false, bool namedOnly = false, string? aliasTarget = null, bool emptyOk = false)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (kind == OptionKind.Alias && string.IsNullOrEmpty(aliasTarget))
        {
            throw new ArgumentException("an alias needs a target", nameof(aliasTarget));
        }

        if (kind == OptionKind.Bool && required)
        {
            throw new ArgumentException("a bool option cannot be required", nameof(required));
        }

        Name = name;
        Kind = kind;
        Help = help;
        Required = required;
        NamedOnly = namedOnly;
        AliasTarget = aliasTarget;
        EmptyOk = emptyOk;
    }

    public string Name { get; }

    public OptionKind Kind { get; }

    /// <summary>The help line shown by <c>help COMMAND</c>.</summary>
    public string Help { get; }

    /// <summary>The command fails to parse without it (VSH_OFLAG_REQ).</summary>
    public bool Required { get; }

    /// <summary>Only <c>--name value</c> works, never a bare positional value (VSH_OFLAG_REQ_OPT).</summary>
    public bool NamedOnly { get; }

    /// <summary>For <see cref="OptionKind.Alias"/>: the option it stands for, "name" or "name=value".</summary>
    public string? AliasTarget { get; }

    /// <summary>An empty value is accepted by <see cref="ParsedCommand.GetStringReq"/> (VSH_OFLAG_EMPTY_OK).</summary>
    public bool EmptyOk { get; }

    /// <summary>Whether the option takes a value after its name.</summary>
    public bool TakesValue => Kind is OptionKind.String or OptionKind.Int or OptionKind.Data or OptionKind.Argv;

    /// <summary>Whether a bare word may fill this option (virsh fills them in declaration order).</summary>
    public bool Positional => TakesValue && !NamedOnly;

    public static OptionDefinition Bool(string name, string help) => new(name, OptionKind.Bool, help);

    public static OptionDefinition Str(string name, string help) => new(name, OptionKind.String, help);

    /// <summary>A string option that must be named (<c>--xpath EXPR</c>).</summary>
    public static OptionDefinition NamedStr(string name, string help) => new(name, OptionKind.String, help, namedOnly: true);

    public static OptionDefinition Int(string name, string help) => new(name, OptionKind.Int, help);

    /// <summary>A required positional option (<c>[--pool] &lt;string&gt;</c>).</summary>
    public static OptionDefinition Data(string name, string help) => new(name, OptionKind.Data, help, required: true);

    public override string ToString() => $"--{Name} ({Kind})";
}
