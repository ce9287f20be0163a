using VirtPool.Backends.Iscsi;
using VirtPool.Core.Process;

namespace VirtPool.Backends.Tests.Iscsi;

/// <summary>
/// iscsiadm played back: each command answered with what iscsiadm 2.1.8 answered on this machine
/// (Golden/captured: no initiator in the kernel, no iscsid), unless a test gives a session listing, an
/// iface listing or an answer of its own (what a host with an initiator would print: Golden/represented).
/// Keeps the state iscsiadm keeps: an iface made by <c>--op new</c> appears in later listings.
/// </summary>
internal sealed class IscsiReplay
{
    public const string Target = "iqn.2024-01.test.infra:disk1";
    public const string Initiator = "iqn.2024-01.test.infra:client1";
    public const string Iface = "libvirt-iface-0badc0de";
    public const string Program = IscsiCommands.LibvirtPath;

    private bool _ifaceMade;

    /// <summary>stdout of <c>--mode session</c>; null: none (exit 21, as captured).</summary>
    public string? Sessions { get; init; }

    /// <summary>stdout of <c>--mode iface</c> before and after this run made an iface; null: as captured.</summary>
    public string? Ifaces { get; init; }

    public string? IfacesAfterNew { get; init; }

    /// <summary>Answers by the argv's words after the program, checked before the captured ones.</summary>
    public Dictionary<string, ProcessResult> Answers { get; } = new(StringComparer.Ordinal);

    public static ProcessResult Captured(string name) => new(
        int.Parse(IscsiadmOutputTests.Golden($"captured/{name}.rc").Trim(), System.Globalization.CultureInfo.InvariantCulture),
        IscsiadmOutputTests.Golden($"captured/{name}.out"),
        IscsiadmOutputTests.Golden($"captured/{name}.err"));

    public static ProcessResult Ok(string stdout = "") => new(0, stdout, string.Empty);

    public ProcessResult Respond(IReadOnlyList<string> argv)
    {
        var words = string.Join(' ', argv.Skip(1));
        if (Answers.TryGetValue(words, out var answer))
        {
            return answer;
        }

        if (argv[0] != Program)
        {
            return Ok();
        }

        return words switch
        {
            "--mode session" => Sessions is null ? Captured("session-none") : Ok(Sessions),
            "--mode iface" => _ifaceMade
                ? (IfacesAfterNew is null ? Captured("iface-with-libvirt-iface") : Ok(IfacesAfterNew))
                : (Ifaces is null ? Captured("iface-default") : Ok(Ifaces)),
            _ when words.EndsWith("--op new", StringComparison.Ordinal) && words.StartsWith("--mode iface", StringComparison.Ordinal) => New(),
            _ when words.Contains("--name iface.initiatorname", StringComparison.Ordinal) => Captured("iface-update-no-transport"),
            _ when words.StartsWith("--mode iface", StringComparison.Ordinal) && words.EndsWith("--op delete", StringComparison.Ordinal) => Captured("iface-delete"),
            _ when words.StartsWith("--mode discovery", StringComparison.Ordinal) => words.Contains("--interface", StringComparison.Ordinal)
                ? Captured("discovery-iface-no-driver")
                : Captured("discovery-no-driver"),
            _ when words.EndsWith("--op new", StringComparison.Ordinal) => Captured("node-new"),
            _ when words.Contains("--op update", StringComparison.Ordinal) => Captured("node-update-authmethod"),
            _ when words.EndsWith("--op delete", StringComparison.Ordinal) => Captured("node-delete"),
            _ when words.Contains("--login", StringComparison.Ordinal) => Captured("login-no-iscsid"),
            _ when words.Contains("--logout", StringComparison.Ordinal) => Captured("logout-no-session"),
            _ when words.EndsWith(" -R", StringComparison.Ordinal) => Captured("rescan-no-session"),
            _ when words.StartsWith("--mode node --portal", StringComparison.Ordinal) => Captured("node-show-missing"),
            _ => throw new InvalidOperationException($"no answer recorded for {words}"),
        };
    }

    private ProcessResult New()
    {
        _ifaceMade = true;
        return Captured("iface-new");
    }
}
