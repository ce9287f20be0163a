using VirtPool.Cli.Tests.Support;
using VirtPool.TestSupport;

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
        foreach (var file in new[] { "virtpool", "virtpoold", "Directory.Build.props", "Directory.Packages.props", "global.json", "scripts/aot-build.sh" })
        {
            Directory.CreateDirectory(Path.GetDirectoryName(_root.Sub(file))!);
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

    /// <summary>
    /// Two wrappers at once while a build is due build once: the second waits for the first's lock,
    /// then finds the binary fresh. A stand-in for dotnet logs each build and waits for the test.
    /// </summary>
    [Fact]
    public async Task Concurrent_wrappers_wait_for_one_build()
    {
        var (log, release) = FakeDotnet();
        // Changed after the last build, before this one: not in the future, or every build would be stale.
        File.SetLastWriteTimeUtc(_root.Sub("artifacts", "cli", ".built"), DateTime.UtcNow.AddMinutes(-5));
        File.SetLastWriteTimeUtc(_root.Sub("src", "VirtPool.Cli", "Program.cs"), DateTime.UtcNow.AddMinutes(-1));

        var first = RunWrapperAsync("virtpool");
        await Eventually.UntilAsync(() => Builds(log) == 1, "the first wrapper to start its build");
        var second = RunWrapperAsync("virtpool");
        var lockFile = _root.Sub("artifacts", "cli", ".build.lock");
        await Eventually.UntilAsync(async () => await IsWaitedForAsync(lockFile), "the second wrapper to wait for the build lock");

        File.WriteAllText(release, string.Empty);
        var runs = await Task.WhenAll(first, second);
        Assert.All(runs, run => Assert.Equal((0, "9.0.0\n"), (run.ExitCode, run.Stdout)));
        Assert.Equal(["start", "end"], File.ReadAllLines(log));
    }

    /// <summary>
    /// The stamp is the time the build started: a source saved while a build runs may not be in it,
    /// so the next run builds again; the one after that does not.
    /// </summary>
    [Fact]
    public async Task A_source_changed_during_a_build_is_built_again()
    {
        var (log, release) = FakeDotnet();
        File.Delete(_root.Sub("artifacts", "cli", ".built"));

        var first = RunWrapperAsync("virtpool");
        await Eventually.UntilAsync(() => Builds(log) == 1, "the build to start");
        File.SetLastWriteTimeUtc(_root.Sub("src", "VirtPool.Cli", "Program.cs"), DateTime.UtcNow);
        File.WriteAllText(release, string.Empty);
        Assert.Equal(0, (await first).ExitCode);

        var second = await RunWrapperAsync("virtpool");
        Assert.Equal((0, 2), (second.ExitCode, Builds(log)));
        var third = await RunWrapperAsync("virtpool");
        Assert.Equal((0, "9.0.0\n", string.Empty, 2), (third.ExitCode, third.Stdout, third.Stderr, Builds(log)));
    }

    /// <summary>
    /// Puts a dotnet on the wrappers' PATH that logs "start", says "OVERLAP" if another build is
    /// running, waits until the release file exists and logs "end". It closes the wrapper's lock
    /// descriptor it inherited, so only wrappers hold or wait on the lock.
    /// </summary>
    private (string Log, string Release) FakeDotnet()
    {
        var log = _root.Sub("dotnet.log");
        var release = _root.Sub("release");
        var busy = _root.Sub("building");
        var fake = Path.Combine(PathDirectory(), "dotnet");
        File.WriteAllText(fake, $"""
            #!/bin/bash
            exec 9>&-
            echo start >> '{log}'
            [ -e '{busy}' ] && echo OVERLAP >> '{log}'
            /usr/bin/touch '{busy}'
            while [ ! -e '{release}' ]; do /usr/bin/sleep 0.01; done
            /usr/bin/rm -f '{busy}'
            echo end >> '{log}'

            """);
        File.SetUnixFileMode(fake, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return (log, release);
    }

    private static int Builds(string log) => File.Exists(log) ? File.ReadAllLines(log).Count(line => line == "start") : 0;

    /// <summary>Whether /proc/locks shows a process blocked on a flock of <paramref name="path"/> ("-&gt;" lines are waiters).</summary>
    private static async Task<bool> IsWaitedForAsync(string path)
    {
        var stat = await ChildProcess.RunAsync("/usr/bin/stat", ["-c", "%i", path]);
        var inode = stat.Stdout.Trim();
        return File.ReadAllLines("/proc/locks").Any(line =>
        {
            var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            return fields.Length > 6 && fields[1] == "->" && fields[2] == "FLOCK" && fields[6].EndsWith(":" + inode, StringComparison.Ordinal);
        });
    }

    private void Touch(params string[] parts) => File.SetLastWriteTimeUtc(_root.Sub(parts), DateTime.UtcNow.AddMinutes(5));

    /// <summary>A PATH holding only what the wrappers need besides dotnet.</summary>
    private string PathDirectory()
    {
        var bin = _root.Sub("path-without-dotnet");
        Directory.CreateDirectory(bin);
        foreach (var tool in new[] { "find", "dirname", "touch", "mkdir", "flock", "mv", "sleep" })
        {
            var link = Path.Combine(bin, tool);
            if (!File.Exists(link))
            {
                File.CreateSymbolicLink(link, Path.Combine("/usr/bin", tool));
            }
        }

        return bin;
    }

    /// <summary>The wrapper with "--version", on <see cref="PathDirectory"/>.</summary>
    private Task<RunResult> RunWrapperAsync(string wrapper)
        => ChildProcess.RunAsync("/bin/bash", [_root.Sub(wrapper), "--version"], new Dictionary<string, string?> { ["PATH"] = PathDirectory() });
}
