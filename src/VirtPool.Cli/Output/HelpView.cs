using System.Text;
using VirtPool.Cli.Parsing;

namespace VirtPool.Cli.Output;

/// <summary>The text of virsh's <c>help</c> command (vshCmddefHelp, vshCmdGrpHelp) for VirtPool's commands.</summary>
public static class HelpView
{
    /// <summary>
    /// What <c>help [NAME]</c> prints (stdout, vshPrint): the command's help, a group's list, or with
    /// <paramref name="name"/> null every group. Returns null for an unknown name (virsh then fails with
    /// <see cref="VirshMessages.NoSuchCommandOrGroup"/>).
    /// </summary>
    public static string? Help(string? name)
    {
        if (name is null)
        {
            var all = new StringBuilder("Grouped commands:\n\n");
            foreach (var group in CommandTable.Groups)
            {
                all.Append(Group(group.Keyword)).Append('\n');
            }

            return all.ToString();
        }

        var command = CommandTable.Find(name);
        if (command is not null)
        {
            return Command(command);
        }

        return CommandTable.FindGroup(name) is { } found ? Group(found.Keyword) : null;
    }

    /// <summary>One group: " NAME (help keyword 'KEYWORD'):" and a "%-30s" line per command.</summary>
    public static string Group(string keyword)
    {
        var group = CommandTable.FindGroup(keyword) ?? throw new ArgumentException($"no command group '{keyword}'", nameof(keyword));
        var text = new StringBuilder();
        text.Append(' ').Append(group.Name).Append(" (help keyword '").Append(group.Keyword).Append("'):\n");
        foreach (var command in CommandTable.All)
        {
            if (command.Group == group.Keyword)
            {
                text.Append("    ").Append(CFormat.PadRight(command.Name, 30)).Append(' ').Append(command.Help).Append('\n');
            }
        }

        return text.ToString();
    }

    /// <summary>A command's NAME, SYNOPSIS, DESCRIPTION and OPTIONS sections.</summary>
    public static string Command(CommandDefinition command)
    {
        var text = new StringBuilder();
        text.Append("  NAME\n    ").Append(command.Name).Append(" - ").Append(command.Help).Append('\n');
        text.Append("\n  SYNOPSIS\n    ").Append(command.Name);

        var shortOption = false;
        foreach (var option in command.Options)
        {
            string synopsis;
            switch (option.Kind)
            {
                case OptionKind.Bool:
                    synopsis = $"[--{option.Name}]";
                    break;
                case OptionKind.Int:
                    synopsis = option.Required ? $"<{option.Name}>" : $"[--{option.Name} <number>]";
                    shortOption |= !option.NamedOnly;
                    break;
                case OptionKind.String:
                    synopsis = $"[--{option.Name} <string>]";
                    shortOption |= !option.NamedOnly;
                    break;
                case OptionKind.Data:
                    synopsis = option.Required ? $"<{option.Name}>" : $"[<{option.Name}>]";
                    shortOption |= !option.NamedOnly;
                    break;
                case OptionKind.Argv:
                    synopsis = shortOption
                        ? (option.Required ? $"{{[--{option.Name}] <string>}}..." : $"[[--{option.Name}] <string>]...")
                        : (option.Required ? $"<{option.Name}>..." : $"[<{option.Name}>]...");
                    break;
                default:
                    continue;
            }

            text.Append(' ').Append(synopsis);
        }

        text.Append('\n');
        if (command.Description.Length > 0)
        {
            text.Append("\n  DESCRIPTION\n    ").Append(command.Description).Append('\n');
        }

        if (command.Options.Count > 0)
        {
            text.Append("\n  OPTIONS\n");
            foreach (var option in command.Options)
            {
                var label = option.Kind switch
                {
                    OptionKind.Bool => $"--{option.Name}",
                    OptionKind.Int => option.Required ? $"[--{option.Name}] <number>" : $"--{option.Name} <number>",
                    OptionKind.String => $"--{option.Name} <string>",
                    OptionKind.Data => $"[--{option.Name}] <string>",
                    OptionKind.Argv => shortOption ? $"[--{option.Name}] <string>" : $"<{option.Name}>",
                    _ => null,
                };
                if (label is not null)
                {
                    text.Append("    ").Append(CFormat.PadRight(label, 15)).Append("  ").Append(option.Help).Append('\n');
                }
            }
        }

        text.Append('\n');
        return text.ToString();
    }
}
