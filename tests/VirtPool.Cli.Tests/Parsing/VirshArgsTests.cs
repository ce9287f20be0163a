using VirtPool.Cli.Parsing;

namespace VirtPool.Cli.Tests.Parsing;

public class VirshArgsTests
{
    private const string Uri = "qemu+unix:///system?socket=/tmp/oracle/libvirt-sock";

    [Fact]
    public void Connect_quiet_readonly_and_a_command()
    {
        var invocation = VirshArgs.Parse(["-c", Uri, "-q", "-r", "pool-list", "--all"]);

        Assert.Equal(Uri, invocation.Options.Connect);
        Assert.True(invocation.Options.Quiet);
        Assert.True(invocation.Options.ReadOnly);
        var command = Assert.Single(invocation.Commands);
        Assert.Equal("pool-list", command.Name);
        Assert.True(command.Has("all"));
        Assert.False(invocation.Interactive);
    }

    [Theory]
    [InlineData("--connect=" + Uri)]
    [InlineData("-c" + Uri)]
    [InlineData("--conn=" + Uri)]
    public void Connect_spellings(string option)
    {
        var invocation = VirshArgs.Parse([option, "pool-list"]);

        Assert.Equal(Uri, invocation.Options.Connect);
    }

    /// <summary>Captured: <c>virsh -qc URI pool-list</c> and <c>virsh --quie --conn URI pool-list --name</c> both worked.</summary>
    [Fact]
    public void Clustered_short_options_and_abbreviated_long_ones()
    {
        var clustered = VirshArgs.Parse(["-qrc", Uri, "pool-list"]);
        var abbreviated = VirshArgs.Parse(["--quie", "--conn", Uri, "--read", "pool-list", "--name"]);

        Assert.True(clustered.Options.Quiet);
        Assert.True(clustered.Options.ReadOnly);
        Assert.Equal(Uri, clustered.Options.Connect);
        Assert.True(abbreviated.Options.Quiet);
        Assert.True(abbreviated.Options.ReadOnly);
        Assert.Equal(Uri, abbreviated.Options.Connect);
    }

    [Theory]
    [InlineData("--state-dir", "/var/tmp/vp")]
    [InlineData("--state-dir=/var/tmp/vp", null)]
    [InlineData("--state", "/var/tmp/vp")]
    public void State_dir_is_our_own_option(string option, string? value)
    {
        string[] argv = value is null ? [option, "pool-list"] : [option, value, "pool-list"];

        var invocation = VirshArgs.Parse(argv);

        Assert.Equal("/var/tmp/vp", invocation.Options.StateDir);
        Assert.Equal("pool-list", Assert.Single(invocation.Commands).Name);
    }

    [Fact]
    public void State_dir_needs_a_value()
    {
        var error = Assert.Throws<VirshUsageException>(() => VirshArgs.Parse(["--state-dir"]));

        Assert.Equal("error: option '--state-dir' requires an argument\n", error.ToStderrText());
    }

    [Fact]
    public void Options_stop_at_the_command()
    {
        var invocation = VirshArgs.Parse(["pool-list", "-q"]);

        Assert.False(invocation.Options.Quiet);
        Assert.Equal("pool-list", invocation.Commands[0].Name);
    }

    [Fact]
    public void Double_dash_ends_the_global_options()
    {
        var invocation = VirshArgs.Parse(["-c", Uri, "--", "pool-list", "--name"]);

        Assert.True(Assert.Single(invocation.Commands).Has("name"));
    }

    /// <summary>Captured: <c>virsh -c URI "pool-list --name; pool-list --uuid"</c> ran both commands.</summary>
    [Fact]
    public void A_single_word_is_parsed_as_a_command_string()
    {
        var invocation = VirshArgs.Parse(["-c", Uri, "pool-list --name; pool-list --uuid"]);

        Assert.Equal(2, invocation.Commands.Count);
        Assert.True(invocation.Commands[0].Has("name"));
        Assert.True(invocation.Commands[1].Has("uuid"));
    }

    [Fact]
    public void Two_words_are_not_split_further()
    {
        var invocation = VirshArgs.Parse(["pool-info", "my pool; x"]);

        Assert.Equal("my pool; x", Assert.Single(invocation.Commands).GetString("pool"));
    }

    [Fact]
    public void No_command_means_interactive()
    {
        var invocation = VirshArgs.Parse(["-q"]);

        Assert.True(invocation.Interactive);
        Assert.Empty(invocation.Commands);
    }

    [Fact]
    public void Help_option_stops_parsing()
    {
        var invocation = VirshArgs.Parse(["-h", "--bogus"]);

        Assert.True(invocation.Options.ShowUsage);
        Assert.Empty(invocation.Commands);
    }

    [Theory]
    [InlineData("-v", VersionRequest.Short)]
    [InlineData("--version", VersionRequest.Short)]
    [InlineData("--version=short", VersionRequest.Short)]
    [InlineData("--version=long", VersionRequest.Long)]
    [InlineData("-V", VersionRequest.Long)]
    public void Version_requests(string option, VersionRequest expected)
    {
        var invocation = VirshArgs.Parse([option, "pool-list"]);

        Assert.Equal(expected, invocation.Options.Version);
        Assert.Empty(invocation.Commands);
    }

    [Fact]
    public void Debug_level_out_of_range_is_reported_but_ignored()
    {
        var invocation = VirshArgs.Parse(["-d", "7", "pool-list"]);

        Assert.Null(invocation.Options.Debug);
        Assert.Equal(["ignoring debug level 7 out of range [0-4]"], invocation.Warnings);
        Assert.Single(invocation.Commands);
    }

    [Fact]
    public void Other_global_options()
    {
        var invocation = VirshArgs.Parse(["-d", "2", "-e", "^x", "-l", "/tmp/log", "-k", "0x10", "-K", "3", "-t", "pool-list"]);

        Assert.Equal(2, invocation.Options.Debug);
        Assert.Equal("^x", invocation.Options.Escape);
        Assert.Equal("/tmp/log", invocation.Options.LogFile);
        Assert.Equal(16, invocation.Options.KeepaliveInterval);
        Assert.Equal(3, invocation.Options.KeepaliveCount);
        Assert.True(invocation.Options.Timing);
    }

    [Fact]
    public void Command_errors_surface_through_Parse()
    {
        var error = Assert.Throws<VirshUsageException>(() => VirshArgs.Parse(["-c", Uri, "pool-info"]));

        Assert.Equal("error: command 'pool-info' requires <pool> option\n", error.ToStderrText());
    }

    [Fact]
    public void Warnings_printed_before_an_error_stay_in_front_of_it()
    {
        var error = Assert.Throws<VirshUsageException>(() => VirshArgs.Parse(["-d", "9", "nosuch"]));

        Assert.Equal("error: ignoring debug level 9 out of range [0-4]\nerror: unknown command: 'nosuch'\n", error.ToStderrText());
    }
}
