namespace VirtPool.Cli.Parsing;

/// <summary>A virsh command: its name, help texts and options in declaration order (vshCmdDef).</summary>
public sealed class CommandDefinition
{
    private readonly OptionDefinition[] _options;

    public CommandDefinition(string name, string group, string help, string description, params OptionDefinition[] options)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        Name = name;
        Group = group;
        Help = help;
        Description = description;
        _options = options;
        Validate();
    }

    public string Name { get; }

    /// <summary>The help keyword of the command's group: "pool", "volume", "secret" or "virsh".</summary>
    public string Group { get; }

    /// <summary>The one-line summary (info "help").</summary>
    public string Help { get; }

    /// <summary>The longer description (info "desc"); empty for none.</summary>
    public string Description { get; }

    public IReadOnlyList<OptionDefinition> Options => _options;

    /// <summary>The option with this exact name (aliases included), or null.</summary>
    public OptionDefinition? FindOption(string name)
    {
        foreach (var option in _options)
        {
            if (string.Equals(option.Name, name, StringComparison.Ordinal))
            {
                return option;
            }
        }

        return null;
    }

    internal int IndexOf(OptionDefinition option) => Array.IndexOf(_options, option);

    /// <summary>The same rules vshCmddefCheckInternals and vshCmddefOptParse enforce.</summary>
    private void Validate()
    {
        var optional = false;
        for (var i = 0; i < _options.Length; i++)
        {
            var option = _options[i];
            switch (option.Kind)
            {
                case OptionKind.Bool:
                    optional = true;
                    continue;
                case OptionKind.Alias:
                    var target = option.AliasTarget!;
                    var eq = target.IndexOf('=', StringComparison.Ordinal);
                    var targetName = eq < 0 ? target : target[..eq];
                    OptionDefinition? real = null;
                    for (var j = i + 1; j < _options.Length; j++)
                    {
                        if (_options[j].Kind != OptionKind.Alias && _options[j].Name == targetName)
                        {
                            real = _options[j];
                            break;
                        }
                    }

                    if (real is null || (eq >= 0 && real.Kind == OptionKind.Bool))
                    {
                        throw new ArgumentException($"command '{Name}' has a bad alias --{option.Name}");
                    }

                    continue;
                case OptionKind.Argv when i != _options.Length - 1:
                    throw new ArgumentException($"command '{Name}' does not list argv option last");
                case OptionKind.Data when !option.Required:
                    throw new ArgumentException($"command '{Name}' has non-required data option --{option.Name}");
            }

            if (option.NamedOnly)
            {
                optional |= !option.Required;
                continue;
            }

            if (option.Required)
            {
                if (optional && option.Kind != OptionKind.Argv)
                {
                    throw new ArgumentException($"command '{Name}': mandatory options must be listed first");
                }
            }
            else
            {
                optional = true;
            }
        }
    }

    public override string ToString() => Name;
}
