using System.Text.RegularExpressions;
using VirtPool.Cli.Tests.Support;

namespace VirtPool.Cli.Tests.Differential;

/// <summary>Step sequences several differential tests share.</summary>
internal static partial class PoolSteps
{
    /// <summary>The listings each defined document goes through (the filters are combined in PoolListDifferentialTests).</summary>
    public static readonly string[][] Listings =
    [
        ["pool-list"],
        ["pool-list", "--all"],
        ["pool-list", "--all", "--details"],
        ["pool-list", "--details"],
        ["pool-list", "--persistent"],
        ["pool-list", "--transient"],
        ["pool-list", "--inactive"],
        ["pool-list", "--all", "--autostart"],
        ["pool-list", "--all", "--type", "dir,fs"],
        ["pool-list", "--all", "--name"],
        ["pool-list", "--all", "--uuid"],
    ];

    /// <summary>Everything virsh shows about one pool; <c>pool-name</c> by each side's own UUID.</summary>
    public static async Task InspectAsync(DiffSandbox s, string name)
    {
        await s.StepAsync("pool-dumpxml", "--inactive", name);
        var dump = await s.StepAsync("pool-dumpxml", name);
        await s.StepAsync("pool-info", name);
        await s.StepAsync("pool-info", "--bytes", name);
        var uuid = await s.StepAsync("pool-uuid", name);
        if (uuid.OracleOk && uuid.Cli.ExitCode == 0)
        {
            await s.StepAsync(["pool-name", uuid.Oracle.Stdout.Trim()], ["pool-name", uuid.Cli.Stdout.Trim()]);
            await s.StepAsync(["pool-dumpxml", uuid.Oracle.Stdout.Trim()], ["pool-dumpxml", uuid.Cli.Stdout.Trim()]);
        }

        var type = TypeRegex().Match(dump.Oracle.Stdout);
        if (type.Success)
        {
            await s.StepAsync("pool-list", "--all", "--type", type.Groups[1].Value);
            await s.StepAsync("pool-list", "--all", "--details", "--type", type.Groups[1].Value);
        }
    }

    public static async Task ListAllWaysAsync(DiffSandbox s)
    {
        foreach (var listing in Listings)
        {
            await s.StepAsync(listing);
        }
    }

    [GeneratedRegex("^<pool type='([^']*)'")]
    private static partial Regex TypeRegex();
}
