using System.Text.RegularExpressions;
using VirtPool.Cli.Tests.Support;

namespace VirtPool.Cli.Tests.GettingStarted;

/// <summary>
/// What <c>virtpool --version</c>, <c>-V</c> and <c>--help</c> print, beside what the real virsh 9.0 prints:
/// the short version stays virsh's number (scripts parse it), the long one leads with VirtPool's own
/// version from Directory.Build.props, and the usage is virsh's plus VirtPool's options.
/// </summary>
public sealed partial class VersionAndUsageTests : IDisposable
{
    private readonly TempDir _state = new("vpver");

    public void Dispose() => _state.Dispose();

    [Theory]
    [InlineData("--version")]
    [InlineData("-v")]
    [InlineData("--version=short")]
    [InlineData("--vers")]
    public async Task Short_version_is_what_virsh_prints(string option)
    {
        var virsh = await ChildProcess.RunAsync("virsh", [option]);
        var cli = await VirtPoolCli.RunAsync(_state.Path, option);
        Assert.Equal(0, virsh.ExitCode);
        Assert.Equal((virsh.ExitCode, virsh.Stdout, virsh.Stderr), (cli.ExitCode, cli.Stdout, cli.Stderr));
    }

    [Theory]
    [InlineData("-V")]
    [InlineData("--version=long")]
    public async Task Long_version_names_VirtPool_and_the_virsh_it_matches(string option)
    {
        var virshVersion = (await ChildProcess.RunAsync("virsh", ["--version"])).Stdout.Trim();
        var cli = await VirtPoolCli.RunAsync(_state.Path, option);
        Assert.Equal(0, cli.ExitCode);
        Assert.Equal(string.Empty, cli.Stderr);
        Assert.Equal(
            $"virtpool (VirtPool) {ProjectVersion()}\n"
            + $"Compatible with virsh of libvirt {virshVersion} (the number -v and --version print, as virsh's do)\n",
            cli.Stdout);
    }

    [Fact]
    public async Task Help_is_virshs_usage_with_VirtPools_options_added()
    {
        var virsh = await ChildProcess.RunAsync("virsh", ["--help"]);
        var cli = await VirtPoolCli.RunAsync(_state.Path, "--help");
        Assert.Equal((0, string.Empty), (cli.ExitCode, cli.Stderr));

        // virsh's options block, word for word, under virtpool's name.
        var virshOptions = Between(virsh.Stdout, string.Empty, "  commands (non interactive mode):\n").Replace("\nvirsh [options]", "\nvirtpool [options]", StringComparison.Ordinal);
        Assert.StartsWith(virshOptions, cli.Stdout, StringComparison.Ordinal);

        // Then VirtPool's own options and environment.
        var own = Between(cli.Stdout, virshOptions, "  commands (non interactive mode):\n");
        foreach (var word in new[] { "--state-dir=DIR", "VIRTPOOL_STATE_DIR", "VIRTPOOL_RUNTIME_DIR", "-c URI", "-V and --version=long" })
        {
            Assert.Contains(word, own, StringComparison.Ordinal);
        }

        // Each implemented command's line is the one virsh prints, group headers too.
        var virshLines = virsh.Stdout.Split('\n').ToHashSet(StringComparer.Ordinal);
        var commandLines = cli.Stdout[cli.Stdout.IndexOf("  commands (non interactive mode):\n", StringComparison.Ordinal)..]
            .Split('\n').Where(l => l.StartsWith("    ", StringComparison.Ordinal)).ToList();
        var foreign = commandLines.Where(l => !virshLines.Contains(l)).ToList();
        Assert.Equal(["    vol-checksum                   checksum of a volume's contents", "    vol-label                      show or change a volume's labels"], foreign);
        Assert.Contains(" Storage Pool (help keyword 'pool')", cli.Stdout.Split('\n'));
        Assert.Contains("    pool-edit                      edit XML configuration for a storage pool", commandLines);
        Assert.EndsWith("\n  (specify help <group> for details about the commands in the group)\n\n  (specify help <command> for details about the command)\n\n", cli.Stdout, StringComparison.Ordinal);
        Assert.EndsWith("\n  (specify help <group> for details about the commands in the group)\n\n  (specify help <command> for details about the command)\n\n", virsh.Stdout, StringComparison.Ordinal);
    }

    /// <summary>Directory.Build.props' &lt;Version&gt;, the one place VirtPool's version is set.</summary>
    private static string ProjectVersion()
    {
        var props = File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "Directory.Build.props"));
        var match = VersionElement().Match(props);
        Assert.True(match.Success, "Directory.Build.props sets no <Version>");
        return match.Groups[1].Value;
    }

    private static string Between(string text, string start, string end)
    {
        var from = text.IndexOf(start, StringComparison.Ordinal) + start.Length;
        var to = text.IndexOf(end, from, StringComparison.Ordinal);
        Assert.True(to >= 0, $"'{end.TrimEnd()}' not found in:\n{text}");
        return text[from..to];
    }

    [GeneratedRegex("<Version>([^<]+)</Version>")]
    private static partial Regex VersionElement();
}
