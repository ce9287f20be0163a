using System.Diagnostics;
using VirtPool.Cli.Tests.Support;
using Xunit.Abstractions;
using Xunit.Sdk;

namespace VirtPool.Cli.Tests.CrashSafety;

/// <summary>
/// SIGKILLs virtpool at seeded random moments during pool-define, pool-undefine, vol-create-as and
/// pool-start, and after every kill checks the state folder: every pool listed can be dumped and shown,
/// every running pool's volumes can be listed, every pool file on disk is listed (and nothing else is),
/// and the interrupted operation either happened completely or not at all.
/// <para>
/// The kill moment is drawn from 0 to the operation's own uninterrupted duration (at least 50 ms), so
/// it falls anywhere in the run with the NativeAOT binary (CI) as with <c>dotnet virtpool.dll</c>;
/// every other round it is drawn from the end of that window, where the state is written.
/// Checks are batched in one process with virsh's "cmd1; cmd2" form to keep the test short.
/// </para>
/// </summary>
public sealed class KillDuringWriteTests(ITestOutputHelper output)
{
    private const int Seed = 20261125;
    private const int IterationsPerOperation = 25;

    private enum Operation
    {
        Define,
        Undefine,
        VolCreate,
        Start,
    }

    [Fact]
    public async Task Killed_at_random_moments_the_state_folder_stays_consistent()
    {
        using var tmp = new TempDir("vpcrash");
        var ctx = new Context(tmp);
        var rng = new Random(Seed);
        var stats = new Dictionary<Operation, (int Happened, int NotHappened)>();
        var failures = new List<string>();
        var clock = Stopwatch.StartNew();

        await File.WriteAllTextAsync(ctx.DefineXml, $"""
            <pool type='dir'>
              <name>cs-def</name>
              <uuid>c5c5c5c5-0000-4000-8000-000000000001</uuid>
              <target>
                <path>{tmp.Sub("def")}</path>
                <permissions><mode>0750</mode></permissions>
              </target>
            </pool>
            """);
        await MustAsync(ctx.State, $"pool-define-as cs-vols dir --target {tmp.Sub("vols")}; pool-build cs-vols; pool-start cs-vols");
        await MustAsync(ctx.State, $"pool-define-as cs-start dir --target {tmp.Sub("start")}; pool-build cs-start");

        // what a completed define prints, to compare an interrupted one with
        await MustAsync(tmp.Sub("reference"), "pool-define", ctx.DefineXml);
        ctx.ExpectedDump = (await MustAsync(tmp.Sub("reference"), "pool-dumpxml", "--inactive", "cs-def")).Stdout;

        // each operation's kill window: 0 .. max(50 ms, its uninterrupted duration)
        var windows = new Dictionary<Operation, int>();
        foreach (var op in Enum.GetValues<Operation>())
        {
            // the median of three runs (raw and qcow2 for vol-create-as)
            var durations = new List<long>();
            for (var i = 0; i < 3; i++)
            {
                await PrepareAsync(ctx, op);
                var sw = Stopwatch.StartNew();
                await MustAsync(ctx.State, Command(ctx, op, -i));
                durations.Add(sw.ElapsedMilliseconds);
                await ResetAsync(ctx, op, -i, await ListAsync(ctx.State, []));
            }

            durations.Sort();
            windows[op] = Math.Max(50, (int)durations[1]);
        }

        var iteration = 0;
        for (var round = 0; round < IterationsPerOperation; round++)
        {
            foreach (var op in Enum.GetValues<Operation>())
            {
                iteration++;
                // half the kills anywhere in the window, half late in it, where the writes happen
                // when process start-up takes most of the run (dotnet virtpool.dll)
                var delay = round % 2 == 0
                    ? rng.Next(0, windows[op] + 1)
                    : rng.Next(windows[op] * 7 / 10, (windows[op] * 12 / 10) + 1);
                await PrepareAsync(ctx, op);
                using (var run = VirtPoolCli.Start(ctx.State, Command(ctx, op, iteration)))
                {
                    await Task.Delay(delay);
                    run.Kill();
                    await run.WaitAsync(TimeSpan.FromSeconds(30));
                }

                var problems = new List<string>();
                var pools = await ListAsync(ctx.State, problems);
                CheckFilesMatchListing(ctx.State, pools, problems);
                var happened = await CheckPoolsAndOutcomeAsync(ctx, op, iteration, pools, problems);
                if (problems.Count > 0)
                {
                    failures.Add($"iteration {iteration} ({op}, killed after {delay} ms):\n  " + string.Join("\n  ", problems));
                }

                var (yes, no) = stats.GetValueOrDefault(op);
                stats[op] = happened ? (yes + 1, no) : (yes, no + 1);
                await ResetAsync(ctx, op, iteration, pools);
            }
        }

        var leftovers = Directory.EnumerateFiles(ctx.State, "*", SearchOption.AllDirectories).Count(f => Path.GetFileName(f).StartsWith('.'));
        output.WriteLine($"{iteration} kills in {clock.Elapsed.TotalSeconds:0.0} s, seed {Seed}, CLI {VirtPoolCli.Describe}");
        foreach (var (op, (yes, no)) in stats)
        {
            output.WriteLine($"  {op}: kill window 0..{windows[op]} ms, completed {yes}, not done {no}");
        }

        output.WriteLine($"  hidden temporary files left in the state folder: {leftovers}");
        output.WriteLine($"  interrupted vol-create-as that left an unlisted file in the pool folder: {ctx.Orphans}");
        if (failures.Count > 0)
        {
            throw new XunitException($"{failures.Count} of {iteration} kills left an inconsistent state folder:\n" + string.Join('\n', failures));
        }
    }

    private static string[] Command(Context ctx, Operation op, int iteration) => op switch
    {
        Operation.Define => ["pool-define", ctx.DefineXml],
        Operation.Undefine => ["pool-undefine", "cs-undef"],
        Operation.VolCreate => iteration % 2 == 0
            ? ["vol-create-as", "cs-vols", VolumeName(iteration), "2M"]
            : ["vol-create-as", "cs-vols", VolumeName(iteration), "64M", "--format", "qcow2"],
        _ => ["pool-start", "cs-start"],
    };

    private static string VolumeName(int iteration) => iteration % 2 == 0 ? $"v{iteration}.img" : $"v{iteration}.qcow2";

    private static async Task PrepareAsync(Context ctx, Operation op)
    {
        if (op == Operation.Undefine)
        {
            await MustAsync(ctx.State, $"pool-define-as cs-undef dir --target {ctx.Tmp.Sub("undef")}; pool-autostart cs-undef");
        }
    }

    /// <summary>Puts things back (uninterrupted) so the next iteration starts from the same state.</summary>
    private static async Task ResetAsync(Context ctx, Operation op, int iteration, Dictionary<string, bool> pools)
    {
        switch (op)
        {
            case Operation.Define when pools.ContainsKey("cs-def"):
                await MustAsync(ctx.State, "pool-undefine", "cs-def");
                break;
            case Operation.Undefine when pools.ContainsKey("cs-undef"):
                await MustAsync(ctx.State, "pool-undefine", "cs-undef");
                break;
            case Operation.VolCreate:
                var file = Path.Combine(ctx.Tmp.Sub("vols"), VolumeName(iteration));
                var delete = await RunAsync(ctx.State, "vol-delete", VolumeName(iteration), "--pool", "cs-vols");
                if (delete.ExitCode != 0 && File.Exists(file))
                {
                    // an interrupted create may leave its file unlisted: remove it, then let the pool see that
                    ctx.Orphans++;
                    File.Delete(file);
                    await MustAsync(ctx.State, "pool-refresh", "cs-vols");
                }

                break;
            case Operation.Start when pools.GetValueOrDefault("cs-start"):
                await MustAsync(ctx.State, "pool-destroy", "cs-start");
                break;
        }
    }

    /// <summary>pool-list --all --details: every pool and whether it runs.</summary>
    private static async Task<Dictionary<string, bool>> ListAsync(string state, List<string> problems)
    {
        var list = await RunAsync(state, "pool-list", "--all", "--details");
        var pools = new Dictionary<string, bool>(StringComparer.Ordinal);
        if (list.ExitCode != 0 || list.Stderr.Length > 0)
        {
            problems.Add($"pool-list --all --details failed: {list}");
            return pools;
        }

        var lines = list.Stdout.Split('\n');
        foreach (var line in lines.SkipWhile(l => !l.StartsWith("---", StringComparison.Ordinal)).Skip(1))
        {
            var cells = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (cells.Length >= 2)
            {
                pools[cells[0]] = cells[1] == "running";
            }
        }

        return pools;
    }

    /// <summary>Every pool file on disk is a listed pool and every listed pool has its file.</summary>
    private static void CheckFilesMatchListing(string state, Dictionary<string, bool> pools, List<string> problems)
    {
        var onDisk = new HashSet<string>(StringComparer.Ordinal);
        foreach (var folder in new[] { "pools", "status" })
        {
            var dir = Path.Combine(state, folder);
            foreach (var file in Directory.Exists(dir) ? Directory.EnumerateFiles(dir) : [])
            {
                var name = Path.GetFileName(file);
                if (name.EndsWith(".xml", StringComparison.Ordinal) && !name.StartsWith('.'))
                {
                    onDisk.Add(name[..^4]);
                }
            }
        }

        foreach (var missing in onDisk.Except(pools.Keys))
        {
            problems.Add($"{missing}.xml is in the state folder but pool-list does not show it");
        }

        foreach (var phantom in pools.Keys.Except(onDisk))
        {
            problems.Add($"pool-list shows '{phantom}' but the state folder has no {phantom}.xml");
        }
    }

    /// <summary>
    /// Shows every pool (dumpxml, info, and vol-list when running) in one batched run, with the
    /// operation's own check first; returns whether the interrupted operation happened.
    /// </summary>
    private static async Task<bool> CheckPoolsAndOutcomeAsync(Context ctx, Operation op, int iteration, Dictionary<string, bool> pools, List<string> problems)
    {
        var first = op switch
        {
            Operation.Define when pools.ContainsKey("cs-def") => "pool-dumpxml --inactive cs-def",
            Operation.Undefine when pools.ContainsKey("cs-undef") => "pool-info cs-undef",
            Operation.VolCreate => "vol-list cs-vols",
            _ => null,
        };
        var commands = new List<string>();
        if (first is not null)
        {
            commands.Add(first);
        }

        foreach (var (name, running) in pools)
        {
            commands.Add($"pool-dumpxml {name}");
            commands.Add($"pool-info {name}");
            if (running)
            {
                commands.Add($"vol-list {name} --details");
            }
        }

        if (op == Operation.VolCreate)
        {
            commands.Add("pool-refresh cs-vols");
            commands.Add("vol-list cs-vols --details");
        }

        var batch = await RunAsync(ctx.State, string.Join("; ", commands));
        if (batch.ExitCode != 0)
        {
            problems.Add($"a listed pool cannot be shown ({string.Join("; ", commands)}):\n{batch.Stderr.Trim()}");
        }

        var firstBlock = batch.Stdout.Split("\n\n")[0] + "\n\n";
        switch (op)
        {
            case Operation.Define:
                if (!pools.ContainsKey("cs-def"))
                {
                    return false;
                }

                if (!batch.Stdout.StartsWith(ctx.ExpectedDump, StringComparison.Ordinal))
                {
                    problems.Add($"half-defined pool: pool-dumpxml --inactive cs-def printed\n{firstBlock}expected\n{ctx.ExpectedDump}");
                }

                return true;

            case Operation.Undefine:
                if (pools.ContainsKey("cs-undef"))
                {
                    if (!firstBlock.Contains("Autostart:      yes", StringComparison.Ordinal))
                    {
                        problems.Add($"half-undefined pool: cs-undef is still defined but lost its autostart:\n{firstBlock}");
                    }

                    return false;
                }

                var marker = Path.Combine(ctx.State, "autostart", "cs-undef");
                if (File.Exists(marker) || Directory.Exists(marker))
                {
                    problems.Add("half-undefined pool: cs-undef is gone but its autostart marker stayed");
                }

                return true;

            case Operation.VolCreate:
                var name = VolumeName(iteration);
                var listed = firstBlock.Split('\n').Any(l => l.StartsWith($" {name} ", StringComparison.Ordinal));
                if (listed)
                {
                    var info = await RunAsync(ctx.State, "vol-info", name, "--pool", "cs-vols");
                    if (info.ExitCode != 0)
                    {
                        problems.Add($"half-created volume: {name} is listed but vol-info fails: {info.Stderr.Trim()}");
                    }
                }

                return listed;

            default:
                return pools.GetValueOrDefault("cs-start");
        }
    }

    private static async Task<RunResult> RunAsync(string state, params string[] args)
    {
        var result = await VirtPoolCli.RunAsync(state, args);
        if (result.Stderr.Contains("Unhandled exception", StringComparison.Ordinal) || result.ExitCode > 1)
        {
            throw new XunitException($"virtpool {string.Join(' ', args)} crashed after a kill:\n{result}");
        }

        return result;
    }

    private static async Task<RunResult> MustAsync(string state, params string[] args)
    {
        var result = await VirtPoolCli.RunAsync(state, args);
        if (result.ExitCode != 0)
        {
            throw new XunitException($"set-up step 'virtpool {string.Join(' ', args)}' failed: {result}");
        }

        return result;
    }

    private sealed class Context(TempDir tmp)
    {
        public TempDir Tmp { get; } = tmp;

        public string State { get; } = tmp.Sub("state");

        public string DefineXml { get; } = tmp.Sub("define.xml");

        public string ExpectedDump { get; set; } = string.Empty;

        public int Orphans { get; set; }
    }
}
