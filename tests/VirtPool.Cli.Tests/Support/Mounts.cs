using System.Globalization;
using System.Text;

namespace VirtPool.Cli.Tests.Support;

/// <summary>mount/umount through the real tools (the differential tests run as root, as CI does).</summary>
public static class Mounts
{
    public static async Task RunOrThrowAsync(string file, params string[] args)
    {
        var result = await ChildProcess.RunAsync(file, args, timeout: TimeSpan.FromSeconds(60)).ConfigureAwait(false);
        if (result.ExitCode != 0)
        {
            throw new InvalidOperationException($"'{file} {string.Join(' ', args)}' failed (exit {result.ExitCode}): {result.Stderr.Trim()}");
        }
    }

    /// <summary>A private tmpfs: its statvfs figures depend only on what the test writes into it.</summary>
    public static Task MountTmpfsAsync(string path, string size) =>
        RunOrThrowAsync("mount", "-t", "tmpfs", "-o", $"size={size},mode=0755", "vptest", path);

    /// <summary>What statvfs reports as used: (f_blocks - f_bfree) × f_frsize, as libvirt computes a dir pool's allocation.</summary>
    public static async Task<long> UsedBytesAsync(string path)
    {
        var result = await ChildProcess.RunAsync("stat", ["-f", "-c", "%b %f %S", path]).ConfigureAwait(false);
        var parts = result.Stdout.Trim().Split(' ');
        if (result.ExitCode != 0 || parts.Length != 3)
        {
            throw new InvalidOperationException($"stat -f {path} failed: {result.Stderr}");
        }

        return (long.Parse(parts[0], CultureInfo.InvariantCulture) - long.Parse(parts[1], CultureInfo.InvariantCulture)) * long.Parse(parts[2], CultureInfo.InvariantCulture);
    }

    /// <summary>Every mount point at or below <paramref name="root"/>, deepest first.</summary>
    public static IReadOnlyList<string> MountPointsUnder(string root)
    {
        var found = new List<string>();
        foreach (var line in File.ReadLines("/proc/self/mountinfo"))
        {
            var fields = line.Split(' ');
            if (fields.Length < 5)
            {
                continue;
            }

            var point = Unescape(fields[4]);
            if (point == root || point.StartsWith(root + "/", StringComparison.Ordinal))
            {
                found.Add(point);
            }
        }

        return [.. found.OrderByDescending(p => p.Length)];
    }

    /// <summary>Unmounts everything at or below <paramref name="root"/> (lazily if busy); never throws.</summary>
    public static async Task UnmountAllUnderAsync(string root)
    {
        foreach (var point in MountPointsUnder(root))
        {
            try
            {
                var result = await ChildProcess.RunAsync("umount", [point], timeout: TimeSpan.FromSeconds(30)).ConfigureAwait(false);
                if (result.ExitCode != 0)
                {
                    await ChildProcess.RunAsync("umount", ["-l", point], timeout: TimeSpan.FromSeconds(30)).ConfigureAwait(false);
                }
            }
            catch (Exception ex) when (ex is TimeoutException or InvalidOperationException or System.ComponentModel.Win32Exception)
            {
                // leave it: the folder is under /tmp and the next boot clears it
            }
        }
    }

    /// <summary>/proc/self/mountinfo escapes space, tab, newline and backslash as \ooo.</summary>
    private static string Unescape(string field)
    {
        if (!field.Contains('\\', StringComparison.Ordinal))
        {
            return field;
        }

        var sb = new StringBuilder(field.Length);
        for (var i = 0; i < field.Length; i++)
        {
            if (field[i] == '\\' && i + 3 < field.Length
                && IsOctal(field[i + 1]) && IsOctal(field[i + 2]) && IsOctal(field[i + 3]))
            {
                sb.Append((char)(((field[i + 1] - '0') * 64) + ((field[i + 2] - '0') * 8) + (field[i + 3] - '0')));
                i += 3;
            }
            else
            {
                sb.Append(field[i]);
            }
        }

        return sb.ToString();
    }

    private static bool IsOctal(char c) => c is >= '0' and <= '7';
}
