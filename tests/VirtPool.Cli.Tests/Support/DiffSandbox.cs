using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Xunit.Sdk;

namespace VirtPool.Cli.Tests.Support;

/// <summary>
/// One differential test: the same virsh command lines run through virsh → libvirtd (the oracle) and
/// through virtpool (a state folder of its own), compared byte for byte: exit code, stdout, stderr.
/// <para>
/// Each side has a root folder on its own tmpfs, <c>FIXTURE/o/tNNNN</c> for libvirtd and
/// <c>FIXTURE/v/tNNNN</c> for virtpool: the same length, so table widths do not depend on the side.
/// <c>@ROOT@</c> in arguments and in data files stands for the side's root; in outputs the side's root
/// is replaced back by <c>@ROOT@</c>. Pool targets go to <c>ROOT/p</c>, data files to <c>ROOT/x</c>
/// (written identically on both sides): both tmpfs start empty, so pool capacity, allocation and
/// available come out the same on both sides and are compared as they are.
/// </para>
/// <para>
/// Normalised, and nothing else: the side's root; where each keeps its pool configuration (libvirtd's
/// /etc/libvirt/storage, its autostart folder and /run/libvirt/storage are virtpool's STATE/pools,
/// STATE/autostart and STATE/status), as they show in error messages; the values of &lt;atime&gt;, &lt;mtime&gt;, &lt;ctime&gt;,
/// &lt;btime&gt; (vol-dumpxml), and UUIDs the test did not fix (libvirt generated them): each side's
/// generated UUIDs are numbered in order of appearance, so they must still appear in the same places.
/// </para>
/// <para>
/// Every difference fails the test: at <see cref="AssertNoDifferences"/>, and when the sandbox is
/// disposed for the steps after the last such call. A step where virtpool differs on purpose (a known
/// difference, see Data/known-differences/README.md) says so with <see cref="Step.ExpectDifference"/>.
/// </para>
/// </summary>
public sealed partial class DiffSandbox : IAsyncDisposable
{
    public const string RootToken = "@ROOT@";

    private readonly LibvirtOracle _oracle;
    private readonly Side _o;
    private readonly Side _v;
    private readonly HashSet<string> _fixedUuids = new(StringComparer.Ordinal);
    private readonly DifferenceLog _log = new("virtpool differs from virsh+libvirtd 9.0");

    internal DiffSandbox(LibvirtOracle oracle, string oracleRoot, string cliRoot, string stateDir)
    {
        if (oracleRoot.Length != cliRoot.Length)
        {
            throw new ArgumentException("both side roots must have the same length");
        }

        _oracle = oracle;
        StateDir = stateDir;
        _o = new Side(oracleRoot, [("/etc/libvirt/storage/autostart", "@AUTOSTART@"), ("/etc/libvirt/storage", "@CONFIG@"), ("/run/libvirt/storage", "@STATUS@")]);
        _v = new Side(cliRoot, [(stateDir + "/autostart", "@AUTOSTART@"), (stateDir + "/pools", "@CONFIG@"), (stateDir + "/status", "@STATUS@")]);
    }

    public string OracleRoot => _o.Root;

    public string CliRoot => _v.Root;

    /// <summary>virtpool's state folder for this test (not on the side file systems).</summary>
    public string StateDir { get; }

    public int StepCount => _log.StepCount;

    public IReadOnlyList<string> Differences => _log.Differences;

    internal void Initialize()
    {
        foreach (var side in new[] { _o, _v })
        {
            Directory.CreateDirectory(Path.Combine(side.Root, "p"));
            Directory.CreateDirectory(Path.Combine(side.Root, "x"));
        }

        Directory.CreateDirectory(StateDir);
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await _oracle.RemoveAllPoolsAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is InvalidOperationException or TimeoutException)
        {
            // the next sandbox tries again and fails loudly if it cannot clean
        }

        TestPaths.DeleteTree(_o.Root);
        TestPaths.DeleteTree(_v.Root);
        TestPaths.DeleteTree(StateDir);

        // Cleaned up first: a failing comparison must not leave the oracle or the side folders dirty.
        _log.ThrowIfUnreported();
    }

    /// <summary>Writes a file under ROOT/x on both sides (<c>@ROOT@</c> and alias tokens expanded); returns its path as an argument.</summary>
    public string WriteFile(string relativePath, string content)
    {
        RegisterFixedUuids(content);
        foreach (var side in new[] { _o, _v })
        {
            var path = Path.Combine(side.Root, "x", relativePath);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllText(path, ExpandText(content, side), new UTF8Encoding(false));
        }

        return $"{RootToken}/x/{relativePath}";
    }

    /// <summary>Writes raw bytes (no expansion) to ROOT/RELATIVE on both sides.</summary>
    public string WriteBytes(string relativePath, byte[] content)
    {
        foreach (var side in new[] { _o, _v })
        {
            var path = Path.Combine(side.Root, relativePath);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllBytes(path, content);
        }

        return $"{RootToken}/{relativePath}";
    }

    /// <summary>Copies Data/differential/CASE (e.g. pools/dir-basic.xml) to ROOT/x on both sides.</summary>
    public string UseCase(string caseFile) =>
        WriteFile(caseFile, File.ReadAllText(Path.Combine(TestPaths.DifferentialData, caseFile)));

    /// <summary>Creates ROOT/RELATIVE as a folder on both sides.</summary>
    public void MakeDir(string relativePath, UnixFileMode? mode = null)
    {
        foreach (var side in new[] { _o, _v })
        {
            var path = Path.Combine(side.Root, relativePath);
            Directory.CreateDirectory(path);
            if (mode is { } m)
            {
                File.SetUnixFileMode(path, m);
            }
        }
    }

    /// <summary>The UUIDs in these values are the test's own: they are compared, never normalised.</summary>
    public void RegisterFixedUuids(string text)
    {
        foreach (Match m in UuidRegex().Matches(text))
        {
            _fixedUuids.Add(m.Value.ToLowerInvariant());
        }

        // libvirt also takes UUIDs with dashes anywhere, or none: keep their canonical form too.
        foreach (Match m in UuidElementRegex().Matches(text))
        {
            var hex = new string([.. m.Groups[1].Value.Where(char.IsAsciiHexDigit)]).ToLowerInvariant();
            if (hex.Length == 32)
            {
                _fixedUuids.Add($"{hex[..8]}-{hex[8..12]}-{hex[12..16]}-{hex[16..20]}-{hex[20..]}");
            }
        }
    }

    /// <summary>
    /// Text each side has its own of by nature (each side's own loop device): <paramref name="token"/> in
    /// a command line stands for it, and it is shown as <paramref name="token"/> in both outputs.
    /// </summary>
    public void Alias(string token, string oracleText, string cliText)
    {
        _o.Aliases.Add((oracleText, token));
        _v.Aliases.Add((cliText, token));
    }

    /// <summary>
    /// <see cref="Alias"/> for each side's own device, whose names must have the same length: virsh pads
    /// table columns to the real text.
    /// </summary>
    public void NormaliseDevice(string oracleDevice, string cliDevice, string token)
    {
        if (oracleDevice.Length != cliDevice.Length)
        {
            throw new ArgumentException("both devices' names must have the same length");
        }

        Alias(token, oracleDevice, cliDevice);
    }

    /// <summary>Runs the same command line on both sides and compares what they printed.</summary>
    public Task<Step> StepAsync(params string[] args) => StepAsync(args, args);

    /// <summary>Runs per-side command lines (e.g. each side's own generated UUID) and compares.</summary>
    public async Task<Step> StepAsync(string[] oracleArgs, string[] cliArgs)
    {
        // UUIDs typed in a command line the test wrote are the test's own; per-side command lines carry
        // each side's generated UUIDs, which stay normalised.
        if (oracleArgs.SequenceEqual(cliArgs))
        {
            foreach (var a in oracleArgs)
            {
                RegisterFixedUuids(a);
            }
        }

        var oracle = await _oracle.VirshAsync(Expand(oracleArgs, _o)).ConfigureAwait(false);
        var cli = await VirtPoolCli.RunAsync(StateDir, Expand(cliArgs, _v)).ConfigureAwait(false);
        return Record(oracleArgs, oracle, cli);
    }

    /// <summary>
    /// As <see cref="StepAsync(string[])"/>, but the oracle's command runs again (at most
    /// <paramref name="attempts"/> times) while <paramref name="transient"/> says its failure was the
    /// host's (a tool of libvirt's failing at random here), not libvirt's answer to the command.
    /// </summary>
    public async Task<Step> StepRetryingOracleAsync(Func<RunResult, bool> transient, int attempts, params string[] args)
    {
        foreach (var a in args)
        {
            RegisterFixedUuids(a);
        }

        RunResult oracle;
        var attempt = 0;
        do
        {
            oracle = await _oracle.VirshAsync(Expand(args, _o)).ConfigureAwait(false);
        }
        while (oracle.ExitCode != 0 && transient(oracle) && ++attempt < attempts);

        var cli = await VirtPoolCli.RunAsync(StateDir, Expand(args, _v)).ConfigureAwait(false);
        return Record(args, oracle, cli);
    }

    private Step Record(string[] args, RunResult oracle, RunResult cli)
    {
        var shown = string.Join(' ', args.Select(Quote));
        var number = _log.AddStep(shown);
        var step = new Step(this, number, shown, oracle, cli, Normalise(oracle, _o), Normalise(cli, _v));
        if (!step.Same)
        {
            _log.AddDifference(number, step.Describe());
        }

        return step;
    }

    /// <summary>Fails with every step where virtpool differed from virsh (virsh's bytes are expected).</summary>
    public void AssertNoDifferences() => _log.ThrowIfAny();

    private void ExpectDifference(Step step, string reason)
    {
        if (!_log.Withdraw(step.Number))
        {
            _log.AddDifference(step.Number, $"\n#{step.Number} {step.Command}\n  declared to differ from virsh ({reason}), but printed the same\n");
        }
    }

    private static string[] Expand(string[] args, Side side) => [.. args.Select(a => ExpandText(a, side))];

    /// <summary>The side's own text for <c>@ROOT@</c> and each alias token.</summary>
    private static string ExpandText(string text, Side side) =>
        side.Aliases.Aggregate(text.Replace(RootToken, side.Root, StringComparison.Ordinal), (t, alias) => t.Replace(alias.Token, alias.Text, StringComparison.Ordinal));

    private static string Quote(string arg) =>
        arg.Length == 0 || arg.Any(c => char.IsWhiteSpace(c) || c is '\'' or '"' or '\\') ? "'" + arg.Replace("'", "'\\''", StringComparison.Ordinal) + "'" : arg;

    private Output Normalise(RunResult result, Side side) =>
        new(result.ExitCode, NormaliseText(Bytes.Exact(result.StdoutBytes), side), NormaliseText(Bytes.Exact(result.StderrBytes), side));

    private string NormaliseText(string text, Side side)
    {
        foreach (var (own, token) in side.Aliases)
        {
            text = text.Replace(own, token, StringComparison.Ordinal);
        }

        text = text.Replace(side.Root, RootToken, StringComparison.Ordinal);
        foreach (var (from, to) in side.ConfigFolders)
        {
            text = text.Replace(from, to, StringComparison.Ordinal);
        }

        text = TimestampRegex().Replace(text, m => $"<{m.Groups[1].Value}>@TIME@</{m.Groups[1].Value}>");
        return UuidRegex().Replace(text, m =>
        {
            var uuid = m.Value.ToLowerInvariant();
            if (_fixedUuids.Contains(uuid))
            {
                return m.Value;
            }

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

    [GeneratedRegex("<uuid>([^<]*)</uuid>")]
    private static partial Regex UuidElementRegex();

    [GeneratedRegex("<(atime|mtime|ctime|btime)>[^<]*</(?:atime|mtime|ctime|btime)>")]
    private static partial Regex TimestampRegex();

    private sealed class Side(string root, (string From, string To)[] configFolders)
    {
        public string Root { get; } = root;

        /// <summary>Where the side keeps definitions, autostart marks and live state, most specific first.</summary>
        public (string From, string To)[] ConfigFolders { get; } = configFolders;

        public Dictionary<string, string> Generated { get; } = new(StringComparer.Ordinal);

        /// <summary>This side's own text for each <see cref="Alias"/> token.</summary>
        public List<(string Text, string Token)> Aliases { get; } = [];
    }

    /// <summary>A run, normalised: exit code and byte-exact (Latin-1 decoded) outputs.</summary>
    public sealed record Output(int ExitCode, string Stdout, string Stderr);

    /// <summary>One command line run on both sides.</summary>
    public sealed class Step
    {
        private readonly DiffSandbox _sandbox;

        internal Step(DiffSandbox sandbox, int number, string command, RunResult oracle, RunResult cli, Output o, Output v)
        {
            _sandbox = sandbox;
            Number = number;
            Command = command;
            Oracle = oracle;
            Cli = cli;
            O = o;
            V = v;
        }

        public int Number { get; }

        public string Command { get; }

        /// <summary>What virsh printed, raw.</summary>
        public RunResult Oracle { get; }

        /// <summary>What virtpool printed, raw.</summary>
        public RunResult Cli { get; }

        public Output O { get; }

        public Output V { get; }

        public bool Same => O == V;

        public bool OracleOk => Oracle.ExitCode == 0;

        /// <summary>Guards the test itself: the oracle must have done what the scenario assumes.</summary>
        public Step ExpectOracle(int exitCode)
        {
            if (Oracle.ExitCode != exitCode)
            {
                throw new InvalidOperationException($"test scenario broken: step #{Number} '{Command}' exited {Oracle.ExitCode} on virsh, expected {exitCode}\n{Oracle}");
            }

            return this;
        }

        /// <summary>
        /// Declares that virtpool differs from virsh in this step on purpose (<paramref name="reason"/>:
        /// which known difference); the step then fails the test only if it printed the same after all.
        /// </summary>
        public Step ExpectDifference(string reason)
        {
            _sandbox.ExpectDifference(this, reason);
            return this;
        }

        public string Describe()
        {
            var sb = new StringBuilder();
            sb.Append(CultureInfo.InvariantCulture, $"\n#{Number} {Command}\n");
            if (O.ExitCode != V.ExitCode)
            {
                sb.Append(CultureInfo.InvariantCulture, $"  exit code: virsh {O.ExitCode}, virtpool {V.ExitCode}\n");
            }

            if (O.Stdout != V.Stdout)
            {
                sb.Append("  stdout:\n").Append(TextDiff.Lines(O.Stdout, V.Stdout));
            }

            if (O.Stderr != V.Stderr)
            {
                sb.Append("  stderr:\n").Append(TextDiff.Lines(O.Stderr, V.Stderr));
            }

            return sb.ToString();
        }
    }
}
