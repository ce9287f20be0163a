using System.Globalization;
using System.Runtime.InteropServices;

namespace VirtPool.Core.Process;

/// <summary>
/// Finds and signals what a command left running, read from /proc: the command's process and its
/// descendants, and any process still holding one of the command's output pipes (a grandchild that
/// was reparented to init but keeps stdout open would otherwise keep the runner reading).
/// A process is named by its pid and start time, so a signal never reaches a pid reused meanwhile.
/// </summary>
internal static partial class ProcessTree
{
    public const int SIGKILL = 9;
    public const int SIGTERM = 15;

    /// <summary>A process as /proc names it: pid plus start time (clock ticks after boot).</summary>
    public readonly record struct Member(int Pid, ulong StartTime);

    /// <summary>The process as /proc names it now, or null when it is gone.</summary>
    public static Member? Find(int pid) => TryReadStat(pid, out _, out var startTime) ? new Member(pid, startTime) : null;

    /// <summary>
    /// <paramref name="root"/> and all its descendants now; empty when the root is gone, or when its pid
    /// now names another process (the command exited and was reaped, and the pid was reused).
    /// </summary>
    public static List<Member> Snapshot(Member root)
    {
        var children = new Dictionary<int, List<Member>>();
        Member? rootMember = null;
        foreach (var pid in AllPids())
        {
            if (!TryReadStat(pid, out var parent, out var startTime))
            {
                continue;
            }

            var member = new Member(pid, startTime);
            if (member == root)
            {
                rootMember = member;
            }

            if (!children.TryGetValue(parent, out var siblings))
            {
                children[parent] = siblings = [];
            }

            siblings.Add(member);
        }

        var tree = new List<Member>();
        if (rootMember is not { } first)
        {
            return tree;
        }

        var pending = new Queue<Member>([first]);
        var seen = new HashSet<int>();
        while (pending.TryDequeue(out var member))
        {
            if (!seen.Add(member.Pid))
            {
                continue;
            }

            tree.Add(member);
            foreach (var child in children.GetValueOrDefault(member.Pid) ?? [])
            {
                pending.Enqueue(child);
            }
        }

        return tree;
    }

    /// <summary>
    /// Every process other than this one with an open descriptor on one of <paramref name="pipes"/>
    /// (links as /proc shows them, "pipe:[INODE]").
    /// </summary>
    public static List<Member> HoldersOf(IReadOnlyCollection<string> pipes)
    {
        var holders = new List<Member>();
        if (pipes.Count == 0)
        {
            return holders;
        }

        var self = Environment.ProcessId;
        foreach (var pid in AllPids())
        {
            if (pid != self && HoldsAny(pid, pipes) && TryReadStat(pid, out _, out var startTime))
            {
                holders.Add(new Member(pid, startTime));
            }
        }

        return holders;
    }

    /// <summary>The /proc link of one of this process's descriptors ("pipe:[INODE]"), or null.</summary>
    public static string? LinkOf(SafeHandle handle)
    {
        try
        {
            return new FileInfo($"/proc/self/fd/{handle.DangerousGetHandle()}").LinkTarget;
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>Sends <paramref name="signal"/> to each member still running under the same start time.</summary>
    public static void Signal(IEnumerable<Member> members, int signal)
    {
        foreach (var member in members)
        {
            if (TryReadStat(member.Pid, out _, out var startTime) && startTime == member.StartTime)
            {
                _ = Kill(member.Pid, signal);
            }
        }
    }

    /// <summary>Whether <paramref name="pid"/> is running: it exists and is not a zombie.</summary>
    public static bool IsRunning(int pid)
    {
        var stat = ReadStat(pid);
        var end = stat?.LastIndexOf(')') ?? -1;
        return end > 0 && end + 2 < stat!.Length && stat[end + 2] != 'Z';
    }

    private static bool HoldsAny(int pid, IReadOnlyCollection<string> pipes)
    {
        try
        {
            foreach (var fd in Directory.EnumerateFileSystemEntries($"/proc/{pid}/fd"))
            {
                // LinkTarget is the raw text ("pipe:[INODE]"); ResolveLinkTarget would make it a path.
                var target = new FileInfo(fd).LinkTarget;
                if (target is not null && pipes.Contains(target))
                {
                    return true;
                }
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // The process ended meanwhile, or its descriptors are not ours to read.
        }

        return false;
    }

    private static IEnumerable<int> AllPids()
    {
        foreach (var entry in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(entry.AsSpan()), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
            {
                yield return pid;
            }
        }
    }

    /// <summary>The parent pid and start time from /proc/PID/stat (fields 4 and 22; the name in field 2 may hold spaces and parentheses).</summary>
    private static bool TryReadStat(int pid, out int parent, out ulong startTime)
    {
        parent = 0;
        startTime = 0;
        var stat = ReadStat(pid);
        var end = stat?.LastIndexOf(')') ?? -1;
        if (end < 0)
        {
            return false;
        }

        var fields = stat!.AsSpan(end + 1).Trim().ToString().Split(' ');
        return fields.Length > 19
            && int.TryParse(fields[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out parent)
            && ulong.TryParse(fields[19], NumberStyles.None, CultureInfo.InvariantCulture, out startTime);
    }

    private static string? ReadStat(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/stat");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}
