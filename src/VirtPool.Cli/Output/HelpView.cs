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

    /// <summary>
    /// What <c>-h</c>/<c>--help</c> print (virshUsage, with "virtpool" for the program name): virsh's options,
    /// then VirtPool's own (state folders, embedded or remote, versions), then the commands by group.
    /// </summary>
    public static string Usage()
    {
        var text = new StringBuilder();
        text.Append(
            "\nvirtpool [options]... [<command_string>]"
            + "\nvirtpool [options]... <command> [args...]\n\n"
            + "  options:\n"
            + "    -c | --connect=URI      hypervisor connection URI\n"
            + "    -d | --debug=NUM        debug level [0-4]\n"
            + "    -e | --escape <char>    set escape sequence for console\n"
            + "    -h | --help             this help\n"
            + "    -k | --keepalive-interval=NUM\n"
            + "                            keepalive interval in seconds, 0 for disable\n"
            + "    -K | --keepalive-count=NUM\n"
            + "                            number of possible missed keepalive messages\n"
            + "    -l | --log=FILE         output logging to file\n"
            + "    -q | --quiet            quiet mode\n"
            + "    -r | --readonly         connect readonly\n"
            + "    -t | --timing           print timing information\n"
            + "    -v                      short version\n"
            + "    -V                      long version\n"
            + "         --version[=TYPE]   version, TYPE is short or long (default short)\n"
            + "  VirtPool options and environment:\n"
            + "         --state-dir=DIR    state folder of the embedded driver (used without -c)\n"
            + "    VIRTPOOL_STATE_DIR      state folder when --state-dir is not given; without either:\n"
            + "                            /var/lib/virtpool as root, else $XDG_DATA_HOME/virtpool\n"
            + "    VIRTPOOL_RUNTIME_DIR    runtime state (live pools, volume indexes); default: inside a chosen\n"
            + "                            state folder, else /run/virtpool as root, else $XDG_RUNTIME_DIR/virtpool\n"
            + "  Without -c, commands run embedded: in this process, on the state folder, no daemon. -c URI\n"
            + "  speaks libvirt's RPC protocol to libvirtd or virtpoold (qemu+unix:///system?socket=PATH,\n"
            + "  qemu+tcp://HOST:PORT/system); LIBVIRT_DEFAULT_URI is not read.\n"
            + "  -v and --version print the version of the libvirt whose virsh this matches, as virsh does\n"
            + "  (scripts parse it); -V and --version=long print VirtPool's own version first.\n"
            + "  commands (non interactive mode):\n\n");
        foreach (var group in CommandTable.Groups)
        {
            text.Append(' ').Append(group.Name).Append(" (help keyword '").Append(group.Keyword).Append("')\n");
            AppendCommands(text, group.Keyword);
            text.Append('\n');
        }

        text.Append("\n  (specify help <group> for details about the commands in the group)\n");
        text.Append("\n  (specify help <command> for details about the command)\n\n");
        return text.ToString();
    }

    /// <summary>One group: " NAME (help keyword 'KEYWORD'):" and a "%-30s" line per command.</summary>
    public static string Group(string keyword)
    {
        var group = CommandTable.FindGroup(keyword) ?? throw new ArgumentException($"no command group '{keyword}'", nameof(keyword));
        var text = new StringBuilder();
        text.Append(' ').Append(group.Name).Append(" (help keyword '").Append(group.Keyword).Append("'):\n");
        AppendCommands(text, group.Keyword);
        return text.ToString();
    }

    private static void AppendCommands(StringBuilder text, string keyword)
    {
        foreach (var command in CommandTable.All)
        {
            if (command.Group == keyword)
            {
                text.Append("    ").Append(CFormat.PadRight(command.Name, 30)).Append(' ').Append(command.Help).Append('\n');
            }
        }
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
