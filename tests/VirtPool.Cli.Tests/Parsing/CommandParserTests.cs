using VirtPool.Cli.Parsing;

namespace VirtPool.Cli.Tests.Parsing;

public class CommandParserTests
{
    [Fact]
    public void Data_options_fill_positionally_in_declaration_order()
    {
        var command = CommandParser.ParseOne("vol-create-as", "vo-a", "disk1", "10M");

        Assert.Equal("vol-create-as", command.Name);
        Assert.Equal("vo-a", command.GetString("pool"));
        Assert.Equal("disk1", command.GetString("name"));
        Assert.Equal("10M", command.GetString("capacity"));
        Assert.Null(command.GetString("allocation"));
    }

    /// <summary>
    /// virsh 9.0 lets bare words fill string options too. Captured: <c>virsh pool-define-as n dir --print-xml a b c d e f g</c>
    /// printed host 'a', dir 'b', device 'c', name 'd', target 'e', format 'f' (and auth-type 'g', unused without a username).
    /// </summary>
    [Fact]
    public void String_options_also_fill_positionally()
    {
        var command = CommandParser.ParseOne("pool-define-as", "n", "dir", "--print-xml", "a", "b", "c", "d", "e", "f", "g");

        Assert.True(command.GetBool("print-xml"));
        Assert.Equal("n", command.GetString("name"));
        Assert.Equal("dir", command.GetString("type"));
        Assert.Equal("a", command.GetString("source-host"));
        Assert.Equal("b", command.GetString("source-path"));
        Assert.Equal("c", command.GetString("source-dev"));
        Assert.Equal("d", command.GetString("source-name"));
        Assert.Equal("e", command.GetString("target"));
        Assert.Equal("f", command.GetString("source-format"));
        Assert.Equal("g", command.GetString("auth-type"));
        Assert.Null(command.GetString("auth-username"));
    }

    [Fact]
    public void Named_options_are_skipped_by_positional_filling()
    {
        var command = CommandParser.ParseOne("vol-info", "--vol", "v1", "vo-a", "--bytes");

        Assert.Equal("v1", command.GetString("vol"));
        Assert.Equal("vo-a", command.GetString("pool"));
        Assert.True(command.Has("bytes"));
        Assert.False(command.Has("physical"));
    }

    [Fact]
    public void Options_may_come_before_the_data()
    {
        var command = CommandParser.ParseOne("pool-define-as", "--target", "/tmp/x", "--print-xml", "n", "dir", "host");

        Assert.Equal("/tmp/x", command.GetString("target"));
        Assert.Equal("n", command.GetString("name"));
        Assert.Equal("dir", command.GetString("type"));
        Assert.Equal("host", command.GetString("source-host"));
    }

    [Fact]
    public void Equals_form_takes_everything_after_the_first_equals_sign()
    {
        var command = CommandParser.ParseOne("pool-info", "--pool=a=b", "--bytes");

        Assert.Equal("a=b", command.GetString("pool"));
        Assert.Equal("pool-info --pool a=b --bytes", command.ToString());
    }

    [Fact]
    public void Equals_form_allows_an_empty_value()
    {
        var command = CommandParser.ParseOne("pool-info", "--pool=");

        Assert.Equal(string.Empty, command.GetString("pool"));
    }

    [Fact]
    public void A_value_may_look_like_an_option()
    {
        var command = CommandParser.ParseOne("pool-info", "--pool", "--bytes");

        Assert.Equal("--bytes", command.GetString("pool"));
        Assert.False(command.Has("bytes"));
    }

    [Fact]
    public void Double_dash_makes_the_rest_data()
    {
        var command = CommandParser.ParseOne("pool-info", "--", "--bytes");

        Assert.Equal("--bytes", command.GetString("pool"));
        Assert.False(command.Has("bytes"));
    }

    [Fact]
    public void A_second_double_dash_is_data()
    {
        var command = CommandParser.ParseOne("vol-info", "--", "--", "--bytes");

        Assert.Equal("--", command.GetString("vol"));
        Assert.Equal("--bytes", command.GetString("pool"));
    }

    [Theory]
    [InlineData("-")]
    [InlineData("-x")]
    [InlineData("---x")]
    [InlineData("--_x")]
    [InlineData("")]
    public void Words_that_are_not_option_names_are_data(string word)
    {
        var command = CommandParser.ParseOne("pool-info", word);

        Assert.Equal(word, command.GetString("pool"));
    }

    [Fact]
    public void Int_options_fill_positionally()
    {
        var command = CommandParser.ParseOne("vol-upload", "v", "f", "p", "10", "20");

        Assert.Equal("p", command.GetString("pool"));
        Assert.Equal(10UL, command.GetULongLong("offset"));
        Assert.Equal(20UL, command.GetULongLong("length", wrap: true));
    }

    [Fact]
    public void Named_only_options_are_not_filled_positionally()
    {
        var dump = CommandParser.ParseOne("pool-dumpxml", "p", "--xpath", "//name");
        var set = CommandParser.ParseOne("secret-set-value", "uuid", "c2VjcmV0");

        Assert.Equal("//name", dump.GetString("xpath"));
        Assert.Equal("c2VjcmV0", set.GetString("base64"));
        Assert.Null(set.GetString("file"));
    }

    [Fact]
    public void Options_keep_their_order()
    {
        var command = CommandParser.ParseOne("pool-list", "--details", "--all", "dir");

        Assert.Equal(["details", "all", "type"], command.Options.Select(o => o.Option.Name));
        Assert.Equal([null, null, "dir"], command.Options.Select(o => o.Value));
    }

    [Fact]
    public void Help_option_turns_the_command_into_help()
    {
        var command = CommandParser.ParseOne("pool-info", "--bytes", "--help");

        Assert.Equal("help", command.Name);
        Assert.Equal("pool-info", command.GetString("command"));
    }

    [Fact]
    public void Help_option_skips_the_required_checks()
    {
        var command = CommandParser.ParseOne("vol-create-as", "--help");

        Assert.Equal("help", command.Name);
        Assert.Equal("vol-create-as", command.GetString("command"));
    }

    [Fact]
    public void Help_command_ignores_unknown_options_and_surplus_words()
    {
        var warnings = new List<string>();

        var commands = CommandParser.ParseArgv(["help", "pool-info", "extra", "--bogus"], warnings);

        var help = Assert.Single(commands);
        Assert.Equal("pool-info", help.GetString("command"));
        Assert.Empty(warnings);
    }

    /// <summary>Captured: <c>virsh help x --command y</c> printed "error: option --command already seen" and then ran <c>help x</c>.</summary>
    [Fact]
    public void Help_command_reports_a_repeated_option_but_goes_on()
    {
        var warnings = new List<string>();

        var help = Assert.Single(CommandParser.ParseArgv(["help", "x", "--command", "y"], warnings));

        Assert.Equal("x", help.GetString("command"));
        Assert.Equal(["option --command already seen"], warnings);
    }

    [Fact]
    public void Help_without_a_name()
    {
        var help = CommandParser.ParseOne("help");

        Assert.Null(help.GetString("command"));
    }

    [Fact]
    public void Required_errors_list_every_missing_option_in_order()
    {
        var error = Assert.Throws<VirshUsageException>(() => CommandParser.ParseOne("vol-create-as", "--name", "n"));

        Assert.Equal(
            ["command 'vol-create-as' requires <pool> option", "command 'vol-create-as' requires <capacity> option"],
            error.Errors);
    }

    [Fact]
    public void String_mode_splits_words_like_a_shell()
    {
        var command = Assert.Single(CommandParser.ParseString("pool-define-as 'my pool' \"d\"ir --target=/tmp/a\\ b"));

        Assert.Equal("my pool", command.GetString("name"));
        Assert.Equal("dir", command.GetString("type"));
        Assert.Equal("/tmp/a b", command.GetString("target"));
    }

    [Fact]
    public void String_mode_quotes_keep_semicolons_and_hashes()
    {
        var command = Assert.Single(CommandParser.ParseString("pool-info 'a;b#c'"));

        Assert.Equal("a;b#c", command.GetString("pool"));
    }

    [Fact]
    public void String_mode_backslash_in_single_quotes_is_literal()
    {
        var command = Assert.Single(CommandParser.ParseString(@"pool-info 'a\b'"));

        Assert.Equal(@"a\b", command.GetString("pool"));
    }

    [Fact]
    public void String_mode_unterminated_single_quote_is_accepted()
    {
        // Captured: virsh "pool-list --name --all 'x" ran pool-list with --type x.
        var command = Assert.Single(CommandParser.ParseString("pool-list --name --all 'x"));

        Assert.Equal("x", command.GetString("type"));
    }

    [Fact]
    public void String_mode_runs_several_commands()
    {
        var commands = CommandParser.ParseString("pool-list --name; pool-list --uuid\npool-info p # comment ; vol-list x");

        Assert.Equal(["pool-list", "pool-list", "pool-info"], commands.Select(c => c.Name));
        Assert.True(commands[1].Has("uuid"));
        Assert.Equal("p", commands[2].GetString("pool"));
    }

    [Fact]
    public void String_mode_empty_commands_are_skipped()
    {
        Assert.Empty(CommandParser.ParseString(" ; ;\t"));
        Assert.Empty(CommandParser.ParseString("# only a comment"));
    }

    [Fact]
    public void String_mode_empty_string_fails_silently()
    {
        var error = Assert.Throws<VirshUsageException>(() => CommandParser.ParseString(string.Empty));

        Assert.Empty(error.Errors);
        Assert.Equal(string.Empty, error.ToStderrText());
    }

    [Fact]
    public void String_mode_backslash_newline_is_removed()
    {
        var command = Assert.Single(CommandParser.ParseString("pool-info \\\nab\\\ncd"));

        Assert.Equal("abcd", command.GetString("pool"));
    }

    [Fact]
    public void Argv_mode_comment_word_swallows_the_command()
    {
        Assert.Empty(CommandParser.ParseArgv(["#pool-info", "x"]));
    }

    [Fact]
    public void Argv_options_collect_every_value()
    {
        var echo = new CommandDefinition("echo", "virsh", "echo", string.Empty,
            OptionDefinition.Bool("shell", "s"),
            new OptionDefinition("string", OptionKind.Argv, "arguments"));
        CommandDefinition? Lookup(string name) => name == "echo" ? echo : null;

        var command = Assert.Single(CommandParser.ParseArgv(["echo", "a", "--string", "b", "--shell", "c", "--", "--d"], Lookup));

        Assert.Equal(["a", "b", "c", "--d"], command.GetArgv("string"));
        Assert.True(command.Has("shell"));
    }

    [Fact]
    public void Alias_options_resolve_to_their_target()
    {
        var cmd = new CommandDefinition("demo", "virsh", "demo", string.Empty,
            new OptionDefinition("old-name", OptionKind.Alias, string.Empty, aliasTarget: "name"),
            new OptionDefinition("shortcut", OptionKind.Alias, string.Empty, aliasTarget: "mode=fast"),
            OptionDefinition.Str("name", "n"),
            OptionDefinition.Str("mode", "m"));
        CommandDefinition? Lookup(string name) => name == "demo" ? cmd : null;

        var command = Assert.Single(CommandParser.ParseArgv(["demo", "--old-name", "x", "--shortcut"], Lookup));

        Assert.Equal("x", command.GetString("name"));
        Assert.Equal("fast", command.GetString("mode"));
        var repeat = Assert.Throws<VirshUsageException>(() => CommandParser.ParseArgv(["demo", "--name", "a", "--old-name", "b"], Lookup));
        Assert.Equal("option --name already seen", repeat.Message);
        var withValue = Assert.Throws<VirshUsageException>(() => CommandParser.ParseArgv(["demo", "--shortcut=slow"], Lookup));
        Assert.Equal("invalid '=' after option --shortcut", withValue.Message);
    }

    [Fact]
    public void Definitions_with_virsh_internal_errors_are_rejected()
    {
        Assert.Throws<ArgumentException>(() => new CommandDefinition("bad", "virsh", "h", string.Empty,
            OptionDefinition.Bool("flag", "f"), OptionDefinition.Data("late", "l")));
        Assert.Throws<ArgumentException>(() => new CommandDefinition("bad", "virsh", "h", string.Empty,
            new OptionDefinition("a", OptionKind.Alias, string.Empty, aliasTarget: "missing")));
        Assert.Throws<ArgumentException>(() => new CommandDefinition("bad", "virsh", "h", string.Empty,
            new OptionDefinition("rest", OptionKind.Argv, "r"), OptionDefinition.Bool("flag", "f")));
        Assert.Throws<ArgumentException>(() => new OptionDefinition("b", OptionKind.Bool, "b", required: true));
    }
}
