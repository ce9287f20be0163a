using VirtPool.Cli.Tests.Support;

namespace VirtPool.Cli.Tests.GettingStarted;

/// <summary>
/// When the checkout wrappers (./virtpool, ./virtpoold) decide to rebuild. Each runs on a copy of the
/// repository's sources and wrappers in a folder of its own, with the NativeAOT CLI ($VIRTPOOL_CLI)
/// as the already built binary, and with a PATH that has no dotnet: a wrapper that decides to build
/// says so and fails at once, one that does not runs the binary.
/// </summary>
public sealed class WrapperRebuildTests : IDisposable
{
    private readonly TempDir _root = new("vpwrap");

    public WrapperRebuildTests()
    {
        var repo = TestPaths.RepoRoot;
        foreach (var file in new[] { "virtpool", "virtpoold", "Directory.Build.props", "Directory.Packages.props", "global.json" })
        {
            File.Copy(Path.Combine(repo, file), _root.Sub(file));
        }

        foreach (var source in Directory.EnumerateFiles(Path.Combine(repo, "src"), "*", SearchOption.AllDirectories))
        {
            var relative = Path.GetRelativePath(repo, source);
            if (relative.Split('/').Any(part => part is "obj" or "bin"))
            {
                continue;
            }

            Directory.CreateDirectory(Path.GetDirectoryName(_root.Sub(relative))!);
            File.Copy(source, _root.Sub(relative));
        }

        // Generated sources, as any build leaves them.
        foreach (var project in new[] { "VirtPool.Core", "VirtPool.Cli", "VirtPool.Daemon" })
        {
            var generated = _root.Sub("src", project, "obj", "Release", "net10.0", $"{project}.AssemblyInfo.cs");
            Directory.CreateDirectory(Path.GetDirectoryName(generated)!);
            File.WriteAllText(generated, "// generated\n");
        }

        var cli = Environment.GetEnvironmentVariable("VIRTPOOL_CLI");
        Assert.False(string.IsNullOrEmpty(cli), "VIRTPOOL_CLI must name the NativeAOT virtpool (scripts/test.sh sets it)");
        foreach (var (folder, name) in new[] { ("cli", "virtpool"), ("daemon", "virtpoold") })
        {
            Directory.CreateDirectory(_root.Sub("artifacts", folder));
            File.Copy(cli!, _root.Sub("artifacts", folder, name));
            File.WriteAllText(_root.Sub("artifacts", folder, ".built"), string.Empty);
        }

        // Everything copied is older than the stamps.
        var past = DateTime.UtcNow.AddMinutes(-10);
        foreach (var path in Directory.EnumerateFiles(_root.Path, "*", SearchOption.AllDirectories).Where(p => !p.EndsWith(".built", StringComparison.Ordinal)))
        {
            File.SetLastWriteTimeUtc(path, past);
        }
    }

    public void Dispose() => _root.Dispose();

    [Fact]
    public async Task The_cli_is_not_rebuilt_for_generated_files_or_the_daemon()
    {
        Touch("src", "VirtPool.Core", "obj", "Release", "net10.0", "VirtPool.Core.AssemblyInfo.cs");
        Touch("src", "VirtPool.Cli", "obj", "Release", "net10.0", "VirtPool.Cli.AssemblyInfo.cs");
        Touch("src", "VirtPool.Daemon", "Program.cs");
        var run = await RunWrapperAsync("virtpool");
        Assert.Equal((0, "9.0.0\n", string.Empty), (run.ExitCode, run.Stdout, run.Stderr));
    }

    [Fact]
    public async Task The_daemon_is_not_rebuilt_for_generated_files_or_the_cli()
    {
        Touch("src", "VirtPool.Daemon", "obj", "Release", "net10.0", "VirtPool.Daemon.AssemblyInfo.cs");
        Touch("src", "VirtPool.Cli", "Program.cs");
        var run = await RunWrapperAsync("virtpoold");
        Assert.Equal((0, "9.0.0\n", string.Empty), (run.ExitCode, run.Stdout, run.Stderr));
    }

    [Theory]
    [InlineData("virtpool", "src/VirtPool.Cli/Program.cs")]
    [InlineData("virtpool", "src/VirtPool.Core/VirtPool.Core.csproj")]
    [InlineData("virtpool", "Directory.Build.props")]
    [InlineData("virtpoold", "src/VirtPool.Daemon/Program.cs")]
    [InlineData("virtpoold", "src/VirtPool.Rpc/VirtPool.Rpc.csproj")]
    public async Task A_changed_source_of_its_own_is_rebuilt(string wrapper, string changed)
    {
        Touch(changed.Split('/'));
        var run = await RunWrapperAsync(wrapper);
        Assert.NotEqual(0, run.ExitCode);
        Assert.StartsWith($"{wrapper}: building the NativeAOT ", run.Stderr, StringComparison.Ordinal);
        Assert.Contains("(sources changed)", run.Stderr, StringComparison.Ordinal);
        Assert.Equal(string.Empty, run.Stdout);
    }

    private void Touch(params string[] parts) => File.SetLastWriteTimeUtc(_root.Sub(parts), DateTime.UtcNow.AddMinutes(5));

    /// <summary>The wrapper with "--version", a PATH holding only what it needs besides dotnet.</summary>
    private async Task<RunResult> RunWrapperAsync(string wrapper)
    {
        var bin = _root.Sub("path-without-dotnet");
        Directory.CreateDirectory(bin);
        foreach (var tool in new[] { "find", "dirname", "touch" })
        {
            var link = Path.Combine(bin, tool);
            if (!File.Exists(link))
            {
                File.CreateSymbolicLink(link, Path.Combine("/usr/bin", tool));
            }
        }

        return await ChildProcess.RunAsync("/bin/bash", [_root.Sub(wrapper), "--version"], new Dictionary<string, string?> { ["PATH"] = bin });
    }
}
