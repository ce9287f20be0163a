using VirtPool.Cli.Tests.Support;

namespace VirtPool.Cli.Tests.Remote;

/// <summary>
/// virtpool's remote mode against the differential suite's private libvirtd 9.0 (a unix socket; the
/// oracle script does not listen on TCP): every step runs through <c>virsh -c URI</c> on one pool and
/// through <c>virtpool -c URI</c> on another of the same daemon, and must print the same bytes.
/// </summary>
[Collection(LibvirtCollection.Name)]
public sealed class RemoteModeDifferentialTests(LibvirtOracle oracle)
{
    [Fact]
    public async Task Storage_scenario_over_unix_socket_matches_virsh()
    {
        await using var sandbox = await oracle.NewSandboxAsync();
        using var run = new RemoteRun(oracle.Uri, sandbox.OracleRoot, sandbox.CliRoot, sandbox.StateDir);
        await RemoteScenario.RunAsync(run);
        run.AssertNoDifferences();
        Assert.True(run.StepCount > 60, $"only {run.StepCount} steps ran");
    }

    [Fact]
    public async Task Connection_failures_match_virsh()
    {
        await using var sandbox = await oracle.NewSandboxAsync();
        using var run = new RemoteRun(oracle.Uri, sandbox.OracleRoot, sandbox.CliRoot, sandbox.StateDir);
        foreach (var uri in new[]
        {
            $"qemu+unix:///system?socket={sandbox.OracleRoot}/no-such-sock",
            "qemu+tcp://127.0.0.1:1/system",
            "bogus",
            $"qemu+unix:///system?socket={sandbox.OracleRoot}/x",
        })
        {
            var oracleRun = await ChildProcess.RunAsync("virsh", ["-c", uri, "pool-list"]);
            var cliRun = await VirtPoolCli.RunAsync(sandbox.StateDir, "-c", uri, "pool-list");
            Assert.Equal(1, oracleRun.ExitCode);
            Assert.Equal(oracleRun.ExitCode, cliRun.ExitCode);
            Assert.Equal(oracleRun.Stdout, cliRun.Stdout);
            Assert.Equal(oracleRun.Stderr, cliRun.Stderr);
        }

        Assert.Equal(0, run.StepCount);
    }

    /// <summary>
    /// An argument larger than an RPC string may be (a 5 MiB pool XML, under virsh's 10 MiB file limit):
    /// libvirt's client fails the call in its encoder ("Unable to encode message payload") and sends
    /// nothing; virtpool's client threw its XDR writer's .NET text instead.
    /// </summary>
    [Fact]
    public async Task An_argument_too_large_to_encode_fails_as_in_virsh()
    {
        await using var sandbox = await oracle.NewSandboxAsync();
        var xml = Path.Combine(sandbox.CliRoot, "c11fix-big-pool.xml");
        Directory.CreateDirectory(sandbox.CliRoot);
        await File.WriteAllTextAsync(xml, $"<pool type='dir'><name>c11fixbig</name><description>{new string('x', 5 << 20)}</description><target><path>/nonexistent</path></target></pool>");
        var oracleRun = await ChildProcess.RunAsync("virsh", ["-c", oracle.Uri, "pool-define", xml]);
        var cliRun = await VirtPoolCli.RunAsync(sandbox.StateDir, "-c", oracle.Uri, "pool-define", xml);
        Assert.Equal((1, "\n", $"error: Failed to define pool from {xml}\nerror: Unable to encode message payload\n"), (oracleRun.ExitCode, oracleRun.Stdout, oracleRun.Stderr));
        Assert.Equal((oracleRun.ExitCode, oracleRun.Stdout, oracleRun.Stderr), (cliRun.ExitCode, cliRun.Stdout, cliRun.Stderr));
    }
}

/// <summary>The command lines every remote differential run goes through.</summary>
public static class RemoteScenario
{
    public static async Task RunAsync(RemoteRun run, bool includePoolCapabilities = true)
    {
        ArgumentNullException.ThrowIfNull(run);

        // 3 MiB of data, a 5 MiB hole, then 4 bytes: the sparse transfers must keep the hole.
        var data = new byte[3 * 1024 * 1024];
        new Random(20240601).NextBytes(data);
        run.WriteBoth("x/data.bin", data, sparseTail: 5 * 1024 * 1024);

        ExpectOk(await run.StepAsync("pool-define-as", "@POOL@", "dir", "--target", "@ROOT@/p/pool"));
        ExpectOk(await run.StepAsync("pool-build", "@POOL@"));
        ExpectOk(await run.StepAsync("pool-start", "@POOL@"));
        await run.StepAsync("pool-autostart", "@POOL@");
        await run.SameAsync("pool-list", "--all");
        await run.SameAsync("pool-list", "--all", "--details");
        await run.SameAsync("pool-list");
        await run.StepAsync("pool-info", "@POOL@");
        await run.StepAsync("pool-info", "@POOL@", "--bytes");
        await run.StepAsync("pool-dumpxml", "@POOL@");
        await run.StepAsync("pool-uuid", "@POOL@");
        await PoolEditRemoteSteps.RunAsync(run);

        await run.StepAsync("vol-create-as", "@POOL@", "a.raw", "10M");
        await run.StepAsync("vol-create-as", "@POOL@", "b.qcow2", "20M", "--format", "qcow2");
        await run.StepAsync("vol-create-as", "@POOL@", "a.raw", "1M");
        await run.StepAsync("vol-list", "@POOL@");
        await run.StepAsync("vol-list", "@POOL@", "--details");
        await run.StepAsync("vol-info", "a.raw", "--pool", "@POOL@");
        await run.StepAsync("vol-info", "b.qcow2", "--pool", "@POOL@", "--bytes");
        await run.StepAsync("vol-info", "--pool", "@POOL@", "b.qcow2", "--physical", "--bytes");
        await run.StepAsync("vol-dumpxml", "b.qcow2", "--pool", "@POOL@");
        await run.StepAsync("vol-path", "a.raw", "--pool", "@POOL@");
        await run.StepAsync("vol-key", "@ROOT@/p/pool/a.raw");
        await run.StepAsync("vol-name", "@ROOT@/p/pool/a.raw");
        await run.StepAsync("vol-pool", "@ROOT@/p/pool/a.raw");

        await run.StepAsync("vol-upload", "a.raw", "@ROOT@/x/data.bin", "--pool", "@POOL@");
        await run.StepAsync("vol-download", "a.raw", "@ROOT@/x/dl-plain", "--pool", "@POOL@");
        run.CompareFiles("x/dl-plain");
        await run.StepAsync("vol-info", "a.raw", "--pool", "@POOL@", "--bytes");
        await run.StepAsync("vol-wipe", "a.raw", "--pool", "@POOL@");
        ExpectOk(await run.StepAsync("vol-upload", "a.raw", "@ROOT@/x/data.bin", "--pool", "@POOL@", "--sparse"));
        ExpectOk(await run.StepAsync("vol-download", "a.raw", "@ROOT@/x/dl-sparse", "--pool", "@POOL@", "--sparse"));
        run.CompareFiles("x/dl-sparse");
        run.CompareFiles("p/pool/a.raw");
        await run.StepAsync("vol-download", "a.raw", "@ROOT@/x/dl-part", "--pool", "@POOL@", "--offset", "1024", "--length", "4096");
        run.CompareFiles("x/dl-part");
        await run.StepAsync("vol-info", "a.raw", "--pool", "@POOL@", "--bytes");

        await run.StepAsync("vol-clone", "a.raw", "c.raw", "--pool", "@POOL@");
        run.CompareFiles("p/pool/c.raw");
        await run.StepAsync("vol-resize", "c.raw", "30M", "--pool", "@POOL@");
        await run.StepAsync("vol-resize", "c.raw", "1M", "--pool", "@POOL@");
        await run.StepAsync("vol-info", "c.raw", "--pool", "@POOL@", "--bytes");
        await run.StepAsync("vol-wipe", "c.raw", "--pool", "@POOL@");
        await run.StepAsync("vol-wipe", "c.raw", "--pool", "@POOL@", "--algorithm", "nnsa");
        await run.StepAsync("vol-list", "@POOL@", "--details");
        await run.StepAsync("vol-delete", "c.raw", "--pool", "@POOL@");

        // errors
        await run.StepAsync("vol-info", "nosuch", "--pool", "@POOL@");
        await run.StepAsync("vol-delete", "nosuch", "--pool", "@POOL@");
        await run.StepAsync("vol-upload", "nosuch", "@ROOT@/x/data.bin", "--pool", "@POOL@");
        await run.StepAsync("pool-info", "nosuch");
        await run.StepAsync("pool-start", "@POOL@");
        await run.StepAsync("pool-undefine", "@POOL@");
        await run.StepAsync("pool-info", "00000000-0000-0000-0000-000000000000");
        if (includePoolCapabilities)
        {
            await run.SameAsync("pool-capabilities");
        }

        await run.StepAsync("vol-delete", "a.raw", "--pool", "@POOL@");
        await run.StepAsync("vol-delete", "@ROOT@/p/pool/b.qcow2");
        await run.StepAsync("pool-autostart", "@POOL@", "--disable");
        await run.StepAsync("pool-destroy", "@POOL@");
        await run.StepAsync("vol-list", "@POOL@");
        await run.SameAsync("pool-list", "--all", "--details");
        await run.StepAsync("pool-delete", "@POOL@");
        await run.StepAsync("pool-undefine", "@POOL@");
        await run.StepAsync("pool-info", "@POOL@");
        await run.SameAsync("pool-list", "--all");
    }

    /// <summary>Guards the scenario itself: virsh must have succeeded where the steps assume it.</summary>
    private static void ExpectOk((RunResult Oracle, RunResult Cli) step)
    {
        if (step.Oracle.ExitCode != 0)
        {
            throw new InvalidOperationException($"test scenario broken: virsh failed\n{step.Oracle}");
        }
    }
}
