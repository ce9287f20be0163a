using System.Runtime.CompilerServices;
using CsCheck;
using VirtPool.Backends.Iscsi;

namespace VirtPool.Backends.Tests.Iscsi;

/// <summary>
/// The iscsiadm parsers on text captured from iscsiadm 2.1.8 on this machine (Golden/captured, by
/// tests/oracle/record-iscsi.sh) and, where this kernel lets iscsiadm print nothing (no session, no
/// discovery without an initiator), text shaped as iscsiadm prints it (Golden/represented, README.md);
/// then fuzzed: no input throws, and generated well-formed lines parse back to what made them.
/// </summary>
public sealed class IscsiadmOutputTests
{
    internal static string Golden(string relative, [CallerFilePath] string thisFile = "")
        => File.ReadAllText(Path.Combine(Path.GetDirectoryName(thisFile)!, "Golden", relative));

    [Fact]
    public void No_session_here_is_an_empty_listing_whatever_stderr_says()
    {
        // Captured: "iscsiadm: No active sessions." on stderr, nothing on stdout, exit 21.
        Assert.Equal("21", Golden("captured/session-none.rc").Trim());
        Assert.Equal(string.Empty, Golden("captured/session-none.out"));
        Assert.Empty(IscsiadmOutput.ParseSessions(Golden("captured/session-none.out")));
        Assert.Empty(IscsiadmOutput.ParseSessions(Golden("captured/session-none.err")));
    }

    [Fact]
    public void Sessions_give_id_portal_and_target_and_the_first_of_a_target_wins()
    {
        var sessions = IscsiadmOutput.ParseSessions(Golden("represented/session.out"));
        Assert.Equal(
            [
                new IscsiSession("1", "192.0.2.10:3260,1", "iqn.2024-01.example.san:storage.alpha"),
                new IscsiSession("2", "192.0.2.11:3260,1", "iqn.2024-01.example.san:storage.beta"),
                new IscsiSession("4", "127.0.0.1:3260,1", "iqn.2024-01.test.infra:disk1"),
                new IscsiSession("9", "[::1]:3260,1", "iqn.2024-01.test.infra:chap1"),
            ],
            sessions);
        Assert.Equal("4", IscsiadmOutput.FindSession(Golden("represented/session.out"), "iqn.2024-01.test.infra:disk1"));
        Assert.Null(IscsiadmOutput.FindSession(Golden("represented/session.out"), "iqn.2024-01.test.infra:disk"));
        Assert.Equal("3", IscsiadmOutput.FindSession("tcp: [3] a:1,1 t\ntcp: [5] b:1,1 t\n", "t"));
    }

    [Fact]
    public void Newer_iscsiadms_non_flash_suffix_is_ignored_and_other_transports_are_skipped()
    {
        var text = Golden("represented/session-non-flash.out");
        Assert.Equal(["1", "4"], IscsiadmOutput.ParseSessions(text).Select(s => s.Id));
        Assert.Equal("iqn.2024-01.test.infra:disk1", IscsiadmOutput.ParseSessions(text)[1].Target);
        Assert.Null(IscsiadmOutput.FindSession(text, "iqn.2024-01.example.san:storage.iser"));
    }

    [Theory]
    [InlineData("tcp:[1] p t")]            // no space after "tcp:"
    [InlineData("tcp: 1 p t")]             // id not in brackets
    [InlineData("tcp: [] p t")]            // empty id
    [InlineData("tcp: [1] p")]             // no target
    [InlineData(" tcp: [1] p t")]          // not at the start of the line
    [InlineData("TCP: [1] p t")]
    public void Lines_libvirts_expression_does_not_match_are_skipped(string line)
        => Assert.Empty(IscsiadmOutput.ParseSessions(line + "\n"));

    [Fact]
    public void Tabs_and_carriage_returns_separate_words_as_posix_space_does()
        => Assert.Equal(new IscsiSession("7", "h:3260,1", "iqn.x"), Assert.Single(IscsiadmOutput.ParseSessions("tcp:\t[7]\th:3260,1  iqn.x\r\n")));

    [Fact]
    public void Sendtargets_lists_each_portal_and_target_line_in_order()
    {
        Assert.Equal(
            [
                new IscsiDiscoveredTarget("127.0.0.1:3260,1", "iqn.2024-01.test.infra:disk1"),
                new IscsiDiscoveredTarget("127.0.0.1:3260,1", "iqn.2024-01.test.infra:chap1"),
            ],
            IscsiadmOutput.ParseSendTargets(Golden("represented/sendtargets.out")));

        // Only lines of exactly two words (leading and trailing space allowed); the last line needs no newline.
        Assert.Equal(
            [new("a:1,1", "t1"), new("[::1]:3260,1", "t2")],
            IscsiadmOutput.ParseSendTargets("  a:1,1 t1  \nthree words here\nlonely\n\n[::1]:3260,1\tt2"));
    }

    [Fact]
    public void A_failed_discovery_here_prints_nothing_on_stdout()
    {
        Assert.Equal("12", Golden("captured/discovery-no-driver.rc").Trim());
        Assert.Empty(IscsiadmOutput.ParseSendTargets(Golden("captured/discovery-no-driver.out")));
        Assert.Contains("iSCSI driver tcp is not loaded", Golden("captured/discovery-no-driver.err"), StringComparison.Ordinal);
    }

    [Fact]
    public void Ifaces_as_captured_here_default_iser_and_one_libvirt_made_without_its_iqn()
    {
        Assert.True(IscsiadmOutput.TryParseIfaces(Golden("captured/iface-default.out"), out var ifaces, out var bad));
        Assert.Null(bad);
        Assert.Equal([new IscsiIface("default", "tcp", "<empty>"), new IscsiIface("iser", "iser", "<empty>")], ifaces);

        // iscsiadm made the iface but could not set its initiator name on this kernel (no transport).
        Assert.True(IscsiadmOutput.TryParseIfaces(Golden("captured/iface-with-libvirt-iface.out"), out ifaces, out _));
        Assert.Equal(new IscsiIface("libvirt-iface-0badc0de", "tcp", "<empty>"), ifaces[0]);
        Assert.Null(IscsiadmOutput.FindIface(Golden("captured/iface-with-libvirt-iface.out"), "iqn.2024-01.test.infra:client1", out bad));
        Assert.Null(bad);
    }

    [Fact]
    public void The_iface_of_an_initiator_is_found_by_its_fifth_field()
    {
        Assert.Equal("libvirt-iface-0badc0de", IscsiadmOutput.FindIface(Golden("represented/iface-with-initiator.out"), "iqn.2024-01.test.infra:client1", out var bad));
        Assert.Null(bad);

        // Everything after the fourth comma is the name, commas included; a last line without newline is not read.
        Assert.Equal("a", IscsiadmOutput.FindIface("a tcp,h,i,n,iqn.x,y\n", "iqn.x,y", out _));
        Assert.Null(IscsiadmOutput.FindIface("a tcp,h,i,n,iqn.x", "iqn.x", out bad));
        Assert.Null(bad);
    }

    [Theory]
    [InlineData("nospace\n", "nospace")]
    [InlineData("a tcp,h,i\n", "a tcp,h,i")]
    [InlineData("default tcp,<empty>,<empty>,<empty>,<empty>\nbroken line\nx tcp,,,,iqn.x\n", "broken line")]
    public void A_malformed_line_before_any_match_is_libvirts_error(string text, string line)
    {
        Assert.False(IscsiadmOutput.TryParseIfaces(text, out _, out var bad));
        Assert.Equal(line, bad);
        Assert.Null(IscsiadmOutput.FindIface(text, "iqn.x", out bad));
        Assert.Equal(line, bad);
    }

    [Fact]
    public void A_match_before_a_malformed_line_wins_as_libvirt_stops_reading_there()
    {
        Assert.Equal("x", IscsiadmOutput.FindIface("x tcp,,,,iqn.x\nbroken\n", "iqn.x", out var bad));
        Assert.Null(bad);
    }

    [Fact]
    public void Fuzzed_text_never_throws()
    {
        var chars = Gen.Char["tcp:[] \t\n\r,1iqn.<>\0é"];
        Gen.String[chars, 0, 300].Sample(text =>
        {
            _ = IscsiadmOutput.ParseSessions(text);
            _ = IscsiadmOutput.ParseSendTargets(text);
            _ = IscsiadmOutput.TryParseIfaces(text, out _, out _);
            _ = IscsiadmOutput.FindIface(text, "iqn", out _);
        }, iter: 20_000);
    }

    [Fact]
    public void Generated_listings_parse_back_to_what_made_them()
    {
        var word = Gen.String[Gen.Char['!', '~'], 1, 12];
        var id = Gen.String[Gen.Char['!', '~'].Where(c => c != ']'), 1, 6];
        Gen.Select(id, word, word).Array[0, 8].Sample(rows =>
        {
            var text = string.Concat(rows.Select(r => $"tcp: [{r.Item1}] {r.Item2} {r.Item3}\n"));
            Assert.Equal(rows.Select(r => new IscsiSession(r.Item1, r.Item2, r.Item3)), IscsiadmOutput.ParseSessions(text));
            var discovery = string.Concat(rows.Select(r => $"{r.Item2} {r.Item3}\n"));
            Assert.Equal(rows.Select(r => new IscsiDiscoveredTarget(r.Item2, r.Item3)), IscsiadmOutput.ParseSendTargets(discovery));
        }, iter: 2_000);

        var field = Gen.String[Gen.Char['!', '~'].Where(c => c != ','), 1, 10];
        Gen.Select(field, field, word).Array[0, 8].Sample(rows =>
        {
            var text = string.Concat(rows.Select(r => $"{r.Item1} {r.Item2},<empty>,<empty>,<empty>,{r.Item3}\n"));
            Assert.True(IscsiadmOutput.TryParseIfaces(text, out var ifaces, out _));
            Assert.Equal(rows.Select(r => new IscsiIface(r.Item1, r.Item2, r.Item3)), ifaces);
        }, iter: 2_000);
    }
}
