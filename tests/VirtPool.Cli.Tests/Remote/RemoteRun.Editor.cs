using System.Text.RegularExpressions;
using VirtPool.Cli.Tests.Support;

namespace VirtPool.Cli.Tests.Remote;

/// <summary>Remote steps that run the user's editor (pool-edit): an environment of the test's on both tools.</summary>
public sealed partial class RemoteRun
{
    /// <summary>As <see cref="StepAsync"/>, with <paramref name="env"/> (EDITOR, …) added on both sides; edit temp-file names normalised.</summary>
    public async Task<(RunResult Oracle, RunResult Cli)> StepWithEnvAsync(IReadOnlyDictionary<string, string?> env, params string[] args)
    {
        ArgumentNullException.ThrowIfNull(env);
        var shown = string.Join(' ', args) + " [" + string.Join(' ', env.Select(e => $"{e.Key}={e.Value}")) + "]";
        var step = _log.AddStep(shown);
        var oracle = await ChildProcess.RunAsync("virsh", ["-c", _uri, .. Expand(args, _o)], env).ConfigureAwait(false);
        var psi = VirtPoolCli.CreateStartInfo(_stateDir, ["-c", _uri, .. Expand(args, _v)]);
        foreach (var (key, value) in env)
        {
            psi.Environment[key] = value;
        }

        RunResult cli;
        using (var running = ChildProcess.Running.Start(psi))
        {
            cli = await running.WaitAsync(ChildProcess.DefaultTimeout).ConfigureAwait(false);
        }

        Compare(
            step,
            shown,
            oracle,
            cli,
            EditTempName(Normalise(Bytes.Exact(oracle.StdoutBytes), _o)),
            EditTempName(Normalise(Bytes.Exact(cli.StdoutBytes), _v)),
            EditTempName(Normalise(Bytes.Exact(oracle.StderrBytes), _o)),
            EditTempName(Normalise(Bytes.Exact(cli.StderrBytes), _v)));
        return (oracle, cli);
    }

    private static string EditTempName(string text) => EditTempNameRegex().Replace(text, "/virsh@TEMP@.xml");

    [GeneratedRegex("/virsh[A-Za-z0-9]{6}\\.xml")]
    private static partial Regex EditTempNameRegex();
}
