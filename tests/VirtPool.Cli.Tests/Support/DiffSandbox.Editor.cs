using System.Text;
using System.Text.RegularExpressions;

namespace VirtPool.Cli.Tests.Support;

/// <summary>
/// Differential steps for commands that run the user's editor (pool-edit): with an environment of the
/// test's (EDITOR, VISUAL, TMPDIR), and on a terminal where the test answers virsh's questions.
/// Also normalised here: the random part of the edit's temporary file (<c>virshXXXXXX.xml</c>), which shows
/// in error messages, and the notice libvirt's client prints on a terminal when no polkit agent runs
/// ("Authorization not available …", a property of the host, printed before any command runs).
/// </summary>
public sealed partial class DiffSandbox
{
    private const string PolkitNotice =
        "Authorization not available. Check if polkit service is running or see debug message for more information.\r\n";

    /// <summary>As <see cref="StepAsync(string[])"/>, both sides with <paramref name="env"/> added to their environment.</summary>
    public async Task<Step> StepWithEnvAsync(IReadOnlyDictionary<string, string?> env, params string[] args)
    {
        ArgumentNullException.ThrowIfNull(env);
        foreach (var a in args)
        {
            RegisterFixedUuids(a);
        }

        var oracle = await ChildProcess.RunAsync("virsh", ["-c", _oracle.Uri, .. Expand(args, _o)], env).ConfigureAwait(false);
        var psi = VirtPoolCli.CreateStartInfo(StateDir, Expand(args, _v));
        foreach (var (key, value) in env)
        {
            psi.Environment[key] = value;
        }

        RunResult cli;
        using (var running = ChildProcess.Running.Start(psi))
        {
            cli = await running.WaitAsync(ChildProcess.DefaultTimeout).ConfigureAwait(false);
        }

        return Record(args, WithoutTempNames(oracle), WithoutTempNames(cli));
    }

    /// <summary>
    /// Runs the command line on a terminal on both sides, typing <paramref name="answers"/> as the
    /// questions appear; the transcripts (stdout and stderr together) are compared.
    /// </summary>
    public async Task<Step> StepInTerminalAsync(IReadOnlyDictionary<string, string?> env, IReadOnlyList<TerminalRun.Answer> answers, params string[] args)
    {
        foreach (var a in args)
        {
            RegisterFixedUuids(a);
        }

        var oracle = await TerminalRun.RunAsync(ChildProcess.StartInfo("virsh", ["-c", _oracle.Uri, .. Expand(args, _o)]), env, answers).ConfigureAwait(false);
        var cli = await TerminalRun.RunAsync(VirtPoolCli.CreateStartInfo(StateDir, Expand(args, _v)), env, answers).ConfigureAwait(false);
        var oracleTranscript = Bytes.Exact(oracle.StdoutBytes);
        if (oracleTranscript.StartsWith(PolkitNotice, StringComparison.Ordinal))
        {
            oracle = new RunResult(oracle.ExitCode, Encoding.Latin1.GetBytes(oracleTranscript[PolkitNotice.Length..]), oracle.StderrBytes);
        }

        return Record([.. args, "[on a terminal, typing: " + string.Join(' ', answers.Select(a => a.Keys)) + "]"], WithoutTempNames(oracle), WithoutTempNames(cli));
    }

    private static RunResult WithoutTempNames(RunResult run) => new(
        run.ExitCode,
        Encoding.Latin1.GetBytes(TempNameRegex().Replace(Bytes.Exact(run.StdoutBytes), "/virsh@TEMP@.xml")),
        Encoding.Latin1.GetBytes(TempNameRegex().Replace(Bytes.Exact(run.StderrBytes), "/virsh@TEMP@.xml")));

    [GeneratedRegex("/virsh[A-Za-z0-9]{6}\\.xml")]
    private static partial Regex TempNameRegex();
}
