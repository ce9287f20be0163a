namespace VirtPool.Backends.Iscsi;

/// <summary>One line of <c>iscsiadm --mode session</c>: <c>tcp: [ID] PORTAL TARGET …</c>.</summary>
public readonly record struct IscsiSession(string Id, string Portal, string Target);

/// <summary>One line of sendtargets discovery: <c>PORTAL TARGET</c> (the portal as <c>HOST:PORT,TPGT</c>).</summary>
public readonly record struct IscsiDiscoveredTarget(string Portal, string Target);

/// <summary>
/// One line of <c>iscsiadm --mode iface</c>: <c>NAME TRANSPORT,HWADDRESS,IPADDRESS,NET_IFACE,INITIATOR</c>,
/// each field as printed (iscsiadm prints an unset one as <c>&lt;empty&gt;</c>).
/// </summary>
public readonly record struct IscsiIface(string Name, string Transport, string InitiatorName);

/// <summary>
/// The parsers of iscsiadm's output, pure and total (no input throws), read the way libvirt 9.0's
/// viriscsi.c reads it: the session and sendtargets listings line by line with libvirt's regular
/// expressions (a line that does not match is skipped), the iface listing with its stricter
/// field count (a malformed line is an error).
/// </summary>
public static class IscsiadmOutput
{
    /// <summary>
    /// libvirt's <c>^tcp:\s+\[(\S+)\]\s+\S+\s+(\S+).*$</c> on each line: a "tcp:" session, its id in
    /// brackets, the portal, the target. Other transports (iser, flash nodes) and other lines are skipped.
    /// </summary>
    public static IReadOnlyList<IscsiSession> ParseSessions(string? text)
    {
        var sessions = new List<IscsiSession>();
        foreach (var line in Lines(text))
        {
            if (!line.StartsWith("tcp:", StringComparison.Ordinal))
            {
                continue;
            }

            var rest = line.AsSpan(4);
            if (rest.Length == 0 || !IsSpace(rest[0]))
            {
                continue;
            }

            var tokens = Tokens(rest.ToString());
            if (tokens.Count < 3 || tokens[0].Length < 3 || tokens[0][0] != '[' || tokens[0][^1] != ']')
            {
                continue;
            }

            sessions.Add(new IscsiSession(tokens[0][1..^1], tokens[1], tokens[2]));
        }

        return sessions;
    }

    /// <summary>The first session of <paramref name="target"/>, as libvirt's virISCSIGetSession picks it; null when none.</summary>
    public static string? FindSession(string? text, string target)
        => ParseSessions(text).FirstOrDefault(s => s.Target == target).Id;

    /// <summary>
    /// libvirt's <c>^\s*(\S+)\s+(\S+)\s*$</c>: lines of exactly two words, the portal and the target,
    /// in the order printed (a target reachable through two portals is listed twice, as by libvirt).
    /// </summary>
    public static IReadOnlyList<IscsiDiscoveredTarget> ParseSendTargets(string? text)
    {
        var targets = new List<IscsiDiscoveredTarget>();
        foreach (var line in Lines(text))
        {
            var tokens = Tokens(line);
            if (tokens.Count == 2)
            {
                targets.Add(new IscsiDiscoveredTarget(tokens[0], tokens[1]));
            }
        }

        return targets;
    }

    /// <summary>
    /// The iface listing as libvirt 9.0's virStorageBackendIQNFound reads it: only lines ended by a
    /// newline; the name up to the first space; after it five comma-separated fields, the fifth (the
    /// initiator name) being everything after the fourth comma. False, with the lines read before it
    /// and the malformed line, at the first line without a space or with fewer than four commas.
    /// </summary>
    public static bool TryParseIfaces(string? text, out IReadOnlyList<IscsiIface> ifaces, out string? malformedLine)
    {
        var parsed = new List<IscsiIface>();
        ifaces = parsed;
        malformedLine = null;
        var rest = (text ?? string.Empty).AsSpan();
        while (rest.Length > 0)
        {
            var newline = rest.IndexOf('\n');
            if (newline < 0)
            {
                break;
            }

            var line = rest[..newline];
            rest = rest[(newline + 1)..];
            var space = line.IndexOf(' ');
            if (space < 0)
            {
                malformedLine = line.ToString();
                return false;
            }

            var fields = line[(space + 1)..];
            var commas = 0;
            var initiator = fields;
            while (commas < 4)
            {
                var comma = initiator.IndexOf(',');
                if (comma < 0)
                {
                    malformedLine = line.ToString();
                    return false;
                }

                initiator = initiator[(comma + 1)..];
                commas++;
            }

            var transportEnd = fields.IndexOf(',');
            parsed.Add(new IscsiIface(line[..space].ToString(), fields[..transportEnd].ToString(), initiator.ToString()));
        }

        return true;
    }

    /// <summary>
    /// The iface whose initiator name is <paramref name="initiatorIqn"/>, as libvirt looks for it: the
    /// first match wins even when a later line is malformed; a malformed line before any match is an
    /// error (<paramref name="malformedLine"/> set, result null).
    /// </summary>
    public static string? FindIface(string? text, string initiatorIqn, out string? malformedLine)
    {
        var wellFormed = TryParseIfaces(text, out var ifaces, out malformedLine);
        var found = ifaces.FirstOrDefault(i => i.InitiatorName == initiatorIqn).Name;
        if (found is not null || wellFormed)
        {
            malformedLine = null;
        }

        return found;
    }

    /// <summary>Lines as g_strsplit(…, "\n") gives them, the last one too when it has no newline.</summary>
    private static string[] Lines(string? text) => (text ?? string.Empty).Split('\n');

    /// <summary>The words of a line, split on what C's isspace calls space (POSIX \s in the C locale).</summary>
    private static List<string> Tokens(string line)
    {
        var tokens = new List<string>();
        var start = -1;
        for (var i = 0; i <= line.Length; i++)
        {
            var space = i == line.Length || IsSpace(line[i]);
            if (space && start >= 0)
            {
                tokens.Add(line[start..i]);
                start = -1;
            }
            else if (!space && start < 0)
            {
                start = i;
            }
        }

        return tokens;
    }

    private static bool IsSpace(char c) => c is ' ' or '\t' or '\n' or '\v' or '\f' or '\r';
}
