namespace VirtPool.Cli.Tests.Support;

/// <summary>
/// The virtpool CLI as a process, as users run it: <c>$VIRTPOOL_CLI</c> when set (CI points it at the
/// NativeAOT binary), else <c>dotnet virtpool.dll</c> from the test output folder (the test project
/// references the CLI project). Every run is given an explicit <c>--state-dir</c>.
/// </summary>
public static class VirtPoolCli
{
    private static readonly Lazy<(string File, string[] Prefix)> Command = new(Resolve);

    public static string Describe => string.Join(' ', [Command.Value.File, .. Command.Value.Prefix]);

    public static Task<RunResult> RunAsync(string stateDir, params string[] args) =>
        ChildProcess.RunAsync(Command.Value.File, Arguments(stateDir, args));

    /// <summary>Starts a run without waiting, so a test can kill it part-way.</summary>
    public static ChildProcess.Running Start(string stateDir, params string[] args) =>
        ChildProcess.Running.Start(ChildProcess.StartInfo(Command.Value.File, Arguments(stateDir, args)));

    /// <summary>
    /// Starts a run the way a terminal starts a foreground command: SIGINT at its default disposition,
    /// also when this test run was started with it ignored (as a background job of a script, such as
    /// <c>nohup ./scripts/test.sh &amp;</c>), which every child would otherwise inherit. virtpool, like dd and the .NET runtime,
    /// leaves an inherited ignored SIGINT ignored, so only this makes Ctrl-C tests mean anything there.
    /// </summary>
    public static ChildProcess.Running StartInForeground(string stateDir, params string[] args) =>
        ChildProcess.Running.Start(ChildProcess.StartInfo("env", ["--default-signal=INT", Command.Value.File, .. Arguments(stateDir, args)]));

    /// <summary>The start info of a run, for tests that feed its stdin themselves.</summary>
    public static System.Diagnostics.ProcessStartInfo CreateStartInfo(string stateDir, params string[] args) =>
        ChildProcess.StartInfo(Command.Value.File, Arguments(stateDir, args));

    private static string[] Arguments(string stateDir, string[] args) => [.. Command.Value.Prefix, "--state-dir", stateDir, .. args];

    private static (string File, string[] Prefix) Resolve()
    {
        var configured = Environment.GetEnvironmentVariable("VIRTPOOL_CLI");
        if (!string.IsNullOrEmpty(configured))
        {
            if (!File.Exists(configured))
            {
                throw new InvalidOperationException($"VIRTPOOL_CLI={configured} does not exist");
            }

            return (Path.GetFullPath(configured), []);
        }

        var dll = Path.Combine(AppContext.BaseDirectory, "virtpool.dll");
        if (!File.Exists(dll))
        {
            throw new InvalidOperationException($"{dll} is missing: the test project must reference VirtPool.Cli");
        }

        var host = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH");
        if (string.IsNullOrEmpty(host) || !File.Exists(host))
        {
            host = "dotnet";
        }

        return (host, [dll]);
    }
}
