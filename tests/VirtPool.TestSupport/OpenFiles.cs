namespace VirtPool.TestSupport;

/// <summary>What this process has open, as /proc/self/fd shows it.</summary>
public static class OpenFiles
{
    /// <summary>
    /// How many of this process's descriptors are open on <paramref name="path"/>. A lock waiter opens
    /// its lock file before it tries the lock, so a count above the holder's own descriptors says
    /// someone in this process has started waiting.
    /// </summary>
    public static int DescriptorsOn(string path)
    {
        var target = Path.GetFullPath(path);
        var count = 0;
        foreach (var link in Directory.EnumerateFileSystemEntries("/proc/self/fd"))
        {
            try
            {
                if (File.ResolveLinkTarget(link, returnFinalTarget: false)?.FullName == target)
                {
                    count++;
                }
            }
            catch (IOException)
            {
                // closed while we looked
            }
            catch (UnauthorizedAccessException)
            {
            }
        }

        return count;
    }
}
