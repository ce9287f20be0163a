using System.Runtime.CompilerServices;

namespace VirtPool.Cli.Tests.Support;

/// <summary>Where things are: the repository (scripts), the copied test data, fresh temporary folders.</summary>
public static class TestPaths
{
    private static readonly Lazy<string> Root = new(FindRepoRoot);

    /// <summary>The folder holding VirtPool.slnx, found by walking up from the test output folder.</summary>
    public static string RepoRoot => Root.Value;

    /// <summary>Data/differential as copied next to the test assembly.</summary>
    public static string DifferentialData => Path.Combine(AppContext.BaseDirectory, "Data", "differential");

    public static string Script(string name) => Path.Combine(RepoRoot, "scripts", name);

    /// <summary>A new empty folder /tmp/PREFIX-XXXXXXXX (the same length for a given prefix).</summary>
    public static string NewTempDir(string prefix)
    {
        var path = Path.Combine(Path.GetTempPath(), $"{prefix}-{Guid.NewGuid().ToString("N")[..8]}");
        Directory.CreateDirectory(path);
        return path;
    }

    /// <summary>Deletes a folder tree without following symbolic links; never throws.</summary>
    public static void DeleteTree(string path)
    {
        try
        {
            if (Directory.Exists(path))
            {
                Directory.Delete(path, recursive: true);
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    /// <summary>
    /// Up from the test output folder; with a private --artifacts-path that is outside the checkout, so
    /// then up from the working folder, then from this source file's compile-time path.
    /// </summary>
    private static string FindRepoRoot()
    {
        string?[] starts = [AppContext.BaseDirectory, Environment.CurrentDirectory, SourceDirectory()];
        foreach (var start in starts)
        {
            for (var dir = start is null ? null : new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "VirtPool.slnx")))
                {
                    return dir.FullName;
                }
            }
        }

        throw new InvalidOperationException($"no VirtPool.slnx above {string.Join(" or ", starts)}");
    }

    private static string? SourceDirectory([CallerFilePath] string path = "") =>
        Path.IsPathRooted(path) ? Path.GetDirectoryName(path) : null;
}

/// <summary>A temporary folder removed on dispose.</summary>
public sealed class TempDir : IDisposable
{
    public TempDir(string prefix = "vptest")
    {
        Path = TestPaths.NewTempDir(prefix);
    }

    public string Path { get; }

    public string Sub(params string[] parts) => System.IO.Path.Combine([Path, .. parts]);

    public void Dispose() => TestPaths.DeleteTree(Path);
}
