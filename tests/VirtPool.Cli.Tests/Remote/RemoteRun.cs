using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using VirtPool.Cli.Tests.Support;
using VirtPool.Core.Interop;
using Xunit.Sdk;

namespace VirtPool.Cli.Tests.Remote;

/// <summary>
/// A differential run of virtpool's remote mode: the same command lines through <c>virsh -c URI</c> and
/// <c>virtpool -c URI</c> against the same daemon, each side with its own pool (<c>@POOL@</c>: rmto for
/// virsh, rmtv for virtpool) and its own folder (<c>@ROOT@</c>, both the same length), compared byte for
/// byte after replacing each side's root, pool name (<c>@POOL@</c>, the other side's <c>@OTHER@</c>),
/// generated UUIDs (numbered per side) and volume timestamps. <see cref="SameAsync"/> runs one command
/// line unchanged on both tools (listings that show both pools). Differences fail the test at
/// <see cref="AssertNoDifferences"/> and, for the steps after it, when the run is disposed.
/// </summary>
public sealed partial class RemoteRun : IDisposable
{
    public const string OraclePool = "rmto";
    public const string CliPool = "rmtv";

    private readonly string _uri;
    private readonly string _stateDir;
    private readonly Side _o;
    private readonly Side _v;
    private readonly DifferenceLog _log = new("virtpool -c differs from virsh -c");

    public RemoteRun(string uri, string oracleRoot, string cliRoot, string stateDir)
    {
        if (oracleRoot.Length != cliRoot.Length)
        {
            throw new ArgumentException("both side roots must have the same length");
        }

        _uri = uri;
        _stateDir = stateDir;
        _o = new Side(oracleRoot, OraclePool, CliPool);
        _v = new Side(cliRoot, CliPool, OraclePool);
    }

    public string OracleRoot => _o.Root;

    public string CliRoot => _v.Root;

    public int StepCount => _log.StepCount;

    public IReadOnlyList<string> Differences => _log.Differences;

    /// <summary>Each side's own pool and folder substituted for @POOL@ and @ROOT@.</summary>
    public Task<(RunResult Oracle, RunResult Cli)> StepAsync(params string[] args)
        => RunAsync(args, Expand(args, _o), Expand(args, _v));

    /// <summary>Exactly the same command line on both tools; outputs compared as they are.</summary>
    public async Task<(RunResult Oracle, RunResult Cli)> SameAsync(params string[] args)
    {
        var shown = "[same] " + string.Join(' ', args);
        var step = _log.AddStep(shown);
        var oracle = await ChildProcess.RunAsync("virsh", ["-c", _uri, .. args]).ConfigureAwait(false);
        var cli = await VirtPoolCli.RunAsync(_stateDir, ["-c", _uri, .. args]).ConfigureAwait(false);
        Compare(step, shown, oracle, cli, Bytes.Exact(oracle.StdoutBytes), Bytes.Exact(cli.StdoutBytes), Bytes.Exact(oracle.StderrBytes), Bytes.Exact(cli.StderrBytes));
        return (oracle, cli);
    }

    /// <summary>Writes the same bytes to ROOT/RELATIVE on both sides.</summary>
    public void WriteBoth(string relativePath, byte[] content, long sparseTail = 0)
    {
        foreach (var side in new[] { _o, _v })
        {
            var path = Path.Combine(side.Root, relativePath);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            using var file = new FileStream(path, FileMode.Create, FileAccess.Write);
            file.Write(content);
            if (sparseTail > 0)
            {
                file.SetLength(content.Length + sparseTail);
                file.Seek(0, SeekOrigin.End);
                file.Write("tail"u8);
            }
        }
    }

    /// <summary>The two sides' ROOT/RELATIVE must hold the same bytes, with the same allocation (holes kept alike).</summary>
    public void CompareFiles(string relativePath)
    {
        var o = Path.Combine(_o.Root, relativePath);
        var v = Path.Combine(_v.Root, relativePath);
        var step = _log.AddStep($"[files] {relativePath}");
        if (!File.Exists(o) || !File.Exists(v))
        {
            _log.AddDifference(step, $"\n[files] {relativePath}: virsh's exists {File.Exists(o)}, virtpool's exists {File.Exists(v)}\n");
            return;
        }

        if (!File.ReadAllBytes(o).AsSpan().SequenceEqual(File.ReadAllBytes(v)))
        {
            _log.AddDifference(step, $"\n[files] {relativePath}: contents differ (virsh {new FileInfo(o).Length} bytes, virtpool {new FileInfo(v).Length} bytes)\n");
        }

        FileStat.TryStat(o, out var so, out _);
        FileStat.TryStat(v, out var sv, out _);
        if (so.AllocatedBytes != sv.AllocatedBytes)
        {
            _log.AddDifference(step, $"\n[files] {relativePath}: allocation differs (virsh {so.AllocatedBytes}, virtpool {sv.AllocatedBytes})\n");
        }
    }

    public void AssertNoDifferences() => _log.ThrowIfAny();

    /// <summary>Fails with the differences of the steps no <see cref="AssertNoDifferences"/> looked at.</summary>
    public void Dispose() => _log.ThrowIfUnreported();

    private async Task<(RunResult Oracle, RunResult Cli)> RunAsync(string[] shownArgs, string[] oracleArgs, string[] cliArgs)
    {
        var shown = string.Join(' ', shownArgs);
        var step = _log.AddStep(shown);
        var oracle = await ChildProcess.RunAsync("virsh", ["-c", _uri, .. oracleArgs]).ConfigureAwait(false);
        var cli = await VirtPoolCli.RunAsync(_stateDir, ["-c", _uri, .. cliArgs]).ConfigureAwait(false);
        Compare(
            step,
            shown,
            oracle,
            cli,
            Normalise(Bytes.Exact(oracle.StdoutBytes), _o),
            Normalise(Bytes.Exact(cli.StdoutBytes), _v),
            Normalise(Bytes.Exact(oracle.StderrBytes), _o),
            Normalise(Bytes.Exact(cli.StderrBytes), _v));
        return (oracle, cli);
    }

    private void Compare(int step, string shown, RunResult oracle, RunResult cli, string oOut, string vOut, string oErr, string vErr)
    {
        if (oracle.ExitCode == cli.ExitCode && oOut == vOut && oErr == vErr)
        {
            return;
        }

        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"\n#{step} {shown}\n");
        if (oracle.ExitCode != cli.ExitCode)
        {
            sb.Append(CultureInfo.InvariantCulture, $"  exit code: virsh {oracle.ExitCode}, virtpool {cli.ExitCode}\n");
        }

        if (oOut != vOut)
        {
            sb.Append("  stdout:\n").Append(TextDiff.Lines(oOut, vOut));
        }

        if (oErr != vErr)
        {
            sb.Append("  stderr:\n").Append(TextDiff.Lines(oErr, vErr));
        }

        _log.AddDifference(step, sb.ToString());
    }

    private static string[] Expand(string[] args, Side side)
        => [.. args.Select(a => a.Replace("@ROOT@", side.Root, StringComparison.Ordinal).Replace("@POOL@", side.Pool, StringComparison.Ordinal))];

    private static string Normalise(string text, Side side)
    {
        text = text.Replace(side.Root, "@ROOT@", StringComparison.Ordinal)
            .Replace(side.Pool, "@POOL@", StringComparison.Ordinal)
            .Replace(side.Other, "@OTHER@", StringComparison.Ordinal);
        text = TimestampRegex().Replace(text, m => $"<{m.Groups[1].Value}>@TIME@</{m.Groups[1].Value}>");
        return UuidRegex().Replace(text, m =>
        {
            var uuid = m.Value.ToLowerInvariant();
            if (!side.Generated.TryGetValue(uuid, out var token))
            {
                token = $"@UUID{side.Generated.Count + 1}@";
                side.Generated[uuid] = token;
            }

            return token;
        });
    }

    [GeneratedRegex("[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")]
    private static partial Regex UuidRegex();

    [GeneratedRegex("<(atime|mtime|ctime|btime)>[^<]*</(?:atime|mtime|ctime|btime)>")]
    private static partial Regex TimestampRegex();

    private sealed class Side(string root, string pool, string other)
    {
        public string Root { get; } = root;

        public string Pool { get; } = pool;

        public string Other { get; } = other;

        public Dictionary<string, string> Generated { get; } = new(StringComparer.Ordinal);
    }
}
