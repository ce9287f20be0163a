using System.Text;
using VirtPool.Cli.Tests.Support;

namespace VirtPool.Cli.Tests.GettingStarted;

/// <summary>
/// The README's tour, as a new user types it: its shell block is taken from README.md and run line by
/// line in a fresh folder (with a <c>./virtpool</c> that is the NativeAOT CLI, <c>$VIRTPOOL_CLI</c>, and
/// the <c>./some.iso</c> it uploads); every line must succeed.
/// </summary>
public sealed class ReadmeTourTests
{
    [Fact]
    public async Task Every_line_of_the_tour_succeeds_in_a_fresh_folder()
    {
        var cli = Environment.GetEnvironmentVariable("VIRTPOOL_CLI");
        Assert.False(string.IsNullOrEmpty(cli), "VIRTPOOL_CLI must name the NativeAOT virtpool (./virtpool --version builds it; scripts/test.sh sets it)");
        Assert.True(File.Exists(cli), $"VIRTPOOL_CLI={cli} does not exist");

        var lines = TourLines();
        Assert.True(lines.Count > 10, $"the tour has only {lines.Count} lines");
        Assert.StartsWith("export VIRTPOOL_STATE_DIR=", lines[0], StringComparison.Ordinal);

        using var folder = new TempDir("vptour");
        File.CreateSymbolicLink(folder.Sub("virtpool"), Path.GetFullPath(cli!));
        WriteIso(folder.Sub("some.iso"));

        // Each line runs in its own bash; what it exports is carried to the next, as in one shell.
        var environment = folder.Sub(".tour-env");
        File.WriteAllText(environment, string.Empty);
        var transcript = new StringBuilder();
        for (var i = 0; i < lines.Count; i++)
        {
            var script = $". {Quote(environment)}\n{lines[i]}\nstatus=$?\nexport -p > {Quote(environment)}\nexit $status\n";
            var psi = ChildProcess.StartInfo("bash", ["-c", script], new Dictionary<string, string?>
            {
                ["VIRTPOOL_RUNTIME_DIR"] = null,
                ["EDITOR"] = null,
                ["VISUAL"] = null,
            });
            psi.WorkingDirectory = folder.Path;
            RunResult run;
            using (var running = ChildProcess.Running.Start(psi))
            {
                run = await running.WaitAsync(TimeSpan.FromMinutes(2));
            }

            transcript.Append("$ ").Append(lines[i]).Append('\n').Append(run.Stdout).Append(run.Stderr);
            Assert.True(run.ExitCode == 0, $"README tour line {i + 1} exited {run.ExitCode}: {lines[i]}\n--- transcript\n{transcript}");
        }

        // The tour ends with the pool gone and nothing left behind in the state folder's pool list.
        Assert.False(Directory.Exists(folder.Sub(".state", "images")), "the tour's pool folder is still there");
        Assert.Empty(Directory.EnumerateFiles(folder.Sub(".state", "pools")));
    }

    /// <summary>The commands of README.md's "## Tour" shell block (comment-only and blank lines left out).</summary>
    private static List<string> TourLines()
    {
        var readme = File.ReadAllLines(Path.Combine(TestPaths.RepoRoot, "README.md"));
        var start = Array.IndexOf(readme, "## Tour");
        Assert.True(start >= 0, "README.md has no '## Tour' section");
        var open = Array.FindIndex(readme, start, l => l == "```sh");
        var close = Array.FindIndex(readme, open + 1, l => l == "```");
        Assert.True(open > start && close > open, "the tour has no ```sh block");
        return [.. readme[(open + 1)..close].Where(l => l.Trim().Length > 0 && !l.TrimStart().StartsWith('#'))];
    }

    /// <summary>An image with data, a hole and data again: what vol-upload --sparse keeps sparse.</summary>
    private static void WriteIso(string path)
    {
        using var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write);
        var data = new byte[1024 * 1024];
        new Random(7).NextBytes(data);
        file.Write(data);
        file.Seek(8 * 1024 * 1024, SeekOrigin.Current);
        file.Write(data);
    }

    private static string Quote(string path) => "'" + path.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
}
