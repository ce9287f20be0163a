using System.Runtime.CompilerServices;

namespace VirtPool.TestSupport;

/// <summary>What the fixtures that start a machine-wide service (glusterd, zfs-fuse, nfs-ganesha) share.</summary>
public static class TestServices
{
    /// <summary>The path of a start/stop script in tests/services.</summary>
    public static string Script(string name, [CallerFilePath] string thisFile = "")
        => Path.GetFullPath(Path.Combine(Path.GetDirectoryName(thisFile)!, "..", "services", name));

    /// <summary>
    /// Waits until no other test process holds the lock at <paramref name="path"/> and takes it
    /// (.NET's FileShare.None is an exclusive flock on Linux, so a killed holder frees it).
    /// </summary>
    public static FileStream TakeMachineLock(string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        while (true)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException ex) when (ex is not DirectoryNotFoundException and not FileNotFoundException)
            {
                Thread.Sleep(200);
            }
        }
    }
}
