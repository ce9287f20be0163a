using System.Text.RegularExpressions;

namespace VirtPool.Backends.Netfs;

/// <summary>
/// <c>showmount --no-headers --exports HOST</c>'s lines, read as libvirt reads them (the regex
/// <c>^(/.*\S) +\S+$</c>: an absolute export path, spaces, one client list); other lines are skipped.
/// </summary>
public static partial class ShowmountOutput
{
    [GeneratedRegex(@"^(/.*\S) +\S+$")]
    private static partial Regex ExportLine();

    /// <summary>The exported paths in showmount's order.</summary>
    public static IReadOnlyList<string> ParseExports(string stdout)
    {
        ArgumentNullException.ThrowIfNull(stdout);
        var exports = new List<string>();
        foreach (var line in stdout.Split('\n'))
        {
            var match = ExportLine().Match(line.TrimEnd('\r'));
            if (match.Success)
            {
                exports.Add(match.Groups[1].Value);
            }
        }

        return exports;
    }
}
