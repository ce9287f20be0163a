using VirtPool.Cli.Tests.Support;

namespace VirtPool.Cli.Tests.Differential;

/// <summary>
/// Pool documents of every type, valid and invalid (Data/differential/pools), through pool-define and
/// everything that shows a defined pool, then pool-undefine; and pairs or triples of documents that
/// clash by name, UUID or source (Data/differential/dups/CASE/a.xml, b.xml, …, defined in order).
/// </summary>
[Collection(LibvirtCollection.Name)]
public sealed class PoolXmlDifferentialTests(LibvirtOracle oracle)
{
    public static TheoryData<string> PoolCases() => CaseNames("pools", file: true);

    public static TheoryData<string> DuplicateCases() => CaseNames("dups", file: false);

    [Theory]
    [MemberData(nameof(PoolCases))]
    public async Task Define_show_list_undefine(string caseName)
    {
        await using var s = await oracle.NewSandboxAsync();
        var file = s.UseCase($"pools/{caseName}");

        var define = await s.StepAsync("pool-define", file);
        if (define.OracleOk)
        {
            var names = await oracle.PoolNamesAsync();
            foreach (var name in names)
            {
                await PoolSteps.InspectAsync(s, name);
            }

            await PoolSteps.ListAllWaysAsync(s);

            // the same document again: libvirt takes it as an update of the same pool
            await s.StepAsync("pool-define", file);
            await s.StepAsync("pool-list", "--all", "--uuid");

            foreach (var name in names)
            {
                await s.StepAsync("pool-autostart", name);
                await s.StepAsync("pool-list", "--all", "--autostart", "--details");
                await s.StepAsync("pool-info", name);
                await s.StepAsync("pool-autostart", "--disable", name);
                await s.StepAsync("pool-undefine", name);
                await s.StepAsync("pool-info", name);
            }

            await s.StepAsync("pool-list", "--all", "--details");
        }
        else
        {
            // nothing may have been left behind by the refused definition
            await s.StepAsync("pool-list", "--all", "--details");
        }

        s.AssertNoDifferences();
    }

    [Theory]
    [MemberData(nameof(DuplicateCases))]
    public async Task Clashing_definitions(string caseName)
    {
        await using var s = await oracle.NewSandboxAsync();
        var dir = Path.Combine(TestPaths.DifferentialData, "dups", caseName);
        var files = Directory.GetFiles(dir, "*.xml").Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList();

        foreach (var f in files)
        {
            await s.StepAsync("pool-define", s.UseCase($"dups/{caseName}/{f}"));
            await s.StepAsync("pool-list", "--all", "--uuid");
        }

        await s.StepAsync("pool-list", "--all", "--details");
        foreach (var name in await oracle.PoolNamesAsync())
        {
            await s.StepAsync("pool-dumpxml", "--inactive", name);
            await s.StepAsync("pool-uuid", name);
        }

        // the clash is also checked against a running pool (not only a defined one) where one can run
        // here: a dir pool, with a dir document to clash with
        var existing = await oracle.PoolNamesAsync();
        if (files.Count >= 2 && existing.Count > 0 && IsDir(Path.Combine(dir, files[1]!)))
        {
            var first = existing[0];
            var dump = await oracle.VirshAsync("pool-dumpxml", first);
            if (dump.Stdout.StartsWith("<pool type='dir'>", StringComparison.Ordinal))
            {
                await s.StepAsync("pool-build", first);
                await s.StepAsync("pool-start", first);
                await s.StepAsync("pool-define", s.UseCase($"dups/{caseName}/{files[1]}"));
                await s.StepAsync("pool-create", s.UseCase($"dups/{caseName}/{files[1]}"));
                await s.StepAsync("pool-list", "--all", "--details");
                await s.StepAsync("pool-destroy", first);
            }
        }

        foreach (var name in await oracle.PoolNamesAsync())
        {
            await s.StepAsync("pool-undefine", name);
        }

        await s.StepAsync("pool-list", "--all");
        s.AssertNoDifferences();
    }

    private static bool IsDir(string file) => File.ReadAllText(file).Contains("<pool type='dir'>", StringComparison.Ordinal);

    private static TheoryData<string> CaseNames(string folder, bool file)
    {
        var root = Path.Combine(TestPaths.DifferentialData, folder);
        var names = file
            ? Directory.GetFiles(root, "*.xml").Select(Path.GetFileName)
            : Directory.GetDirectories(root).Select(Path.GetFileName);
        var data = new TheoryData<string>();
        foreach (var name in names.Order(StringComparer.Ordinal))
        {
            data.Add(name!);
        }

        return data;
    }
}
