using System.Text;
using VirtPool.Core.Errors;

namespace VirtPool.Rpc.Client;

/// <summary>How the client reaches the daemon.</summary>
public enum RemoteTransport
{
    Unix,
    Tcp,
}

/// <summary>
/// A libvirt connection URI as the remote driver reads it (<c>driver[+transport]://[host][:port]/path[?params]</c>):
/// where to connect, and the name sent in CONNECT_OPEN (transport, host and the client's own parameters
/// removed, other parameters forwarded; <c>name=</c> overrides it).
/// </summary>
public sealed record RemoteUri(string Original, RemoteTransport Transport, string Host, int Port, string SocketPath, string OpenName)
{
    /// <summary>libvirtd's plain TCP port.</summary>
    public const int DefaultTcpPort = 16509;

    /// <summary>The read-write socket of a system libvirtd.</summary>
    public const string DefaultSystemSocket = "/run/libvirt/libvirt-sock";

    /// <summary>Parameters the remote driver consumes itself (never forwarded to the server).</summary>
    private static readonly HashSet<string> ClientParameters = new(StringComparer.OrdinalIgnoreCase)
    {
        "name", "command", "socket", "auth", "netcat", "keyfile", "known_hosts", "known_hosts_verify",
        "no_sanity", "no_verify", "no_tty", "pkipath", "tls_priority", "mode", "proxy", "sshauth", "tls",
    };

    /// <summary>Parses <paramref name="uri"/>; errors are worded as libvirt words them.</summary>
    /// <exception cref="VirtPoolException">Not a URI the remote client can use.</exception>
    public static RemoteUri Parse(string uri)
    {
        ArgumentNullException.ThrowIfNull(uri);
        var schemeEnd = uri.IndexOf("://", StringComparison.Ordinal);
        if (schemeEnd <= 0)
        {
            throw new VirtPoolException(VirErrorCode.NoConnect, $"URI '{uri}' does not include a driver name", VirErrorDomain.None);
        }

        var scheme = uri[..schemeEnd];
        var rest = uri[(schemeEnd + 3)..];
        string? query = null;
        var q = rest.IndexOf('?', StringComparison.Ordinal);
        if (q >= 0)
        {
            query = rest[(q + 1)..];
            rest = rest[..q];
        }

        var slash = rest.IndexOf('/', StringComparison.Ordinal);
        var authority = slash >= 0 ? rest[..slash] : rest;
        var path = slash >= 0 ? rest[slash..] : string.Empty;
        var at = authority.LastIndexOf('@');
        if (at >= 0)
        {
            authority = authority[(at + 1)..];
        }

        string host = authority;
        int port = 0;
        if (authority.StartsWith('['))
        {
            var close = authority.IndexOf(']', StringComparison.Ordinal);
            host = close > 0 ? authority[1..close] : authority;
            if (close > 0 && close + 1 < authority.Length && authority[close + 1] == ':')
            {
                port = ParsePort(uri, authority[(close + 2)..]);
            }
        }
        else
        {
            var colon = authority.LastIndexOf(':');
            if (colon >= 0)
            {
                host = authority[..colon];
                port = ParsePort(uri, authority[(colon + 1)..]);
            }
        }

        var plus = scheme.IndexOf('+', StringComparison.Ordinal);
        var driver = plus >= 0 ? scheme[..plus] : scheme;
        var transportName = plus >= 0 ? scheme[(plus + 1)..].ToLowerInvariant() : (host.Length > 0 ? "tls" : "unix");

        var parameters = ParseQuery(query);
        string? socket = null;
        string? nameOverride = null;
        var forwarded = new List<string>();
        foreach (var (key, value, raw) in parameters)
        {
            if (string.Equals(key, "socket", StringComparison.OrdinalIgnoreCase))
            {
                socket = value;
            }
            else if (string.Equals(key, "name", StringComparison.OrdinalIgnoreCase))
            {
                nameOverride = value;
            }
            else if (!ClientParameters.Contains(key))
            {
                forwarded.Add(raw);
            }
        }

        RemoteTransport transport;
        switch (transportName)
        {
            case "unix":
                transport = RemoteTransport.Unix;
                break;
            case "tcp":
                transport = RemoteTransport.Tcp;
                break;
            case "tls" or "ssh" or "libssh" or "libssh2" or "ext":
                throw VirtPoolException.NoSupport($"transport '{transportName}' of URI '{uri}' is not supported by virtpool's remote client (use qemu+unix or qemu+tcp)");
            default:
                throw VirtPoolException.Verbatim(
                    VirErrorCode.InvalidArg,
                    "remote_open: transport in URL not recognised (should be tls|unix|ssh|ext|tcp|libssh2|libssh)",
                    VirErrorDomain.Remote);
        }

        var openName = nameOverride ?? BuildOpenName(driver, path, forwarded);
        if (transport == RemoteTransport.Unix && socket is null)
        {
            socket = DefaultSocket(path);
        }

        return new RemoteUri(uri, transport, host.Length == 0 ? "localhost" : host, port == 0 ? DefaultTcpPort : port, socket ?? string.Empty, openName);
    }

    private static string BuildOpenName(string driver, string path, List<string> forwarded)
    {
        if (string.Equals(driver, "remote", StringComparison.OrdinalIgnoreCase))
        {
            // remote:// asks the server to choose its default driver.
            return string.Empty;
        }

        var sb = new StringBuilder(driver).Append("://").Append(path);
        if (forwarded.Count > 0)
        {
            sb.Append('?').AppendJoin('&', forwarded);
        }

        return sb.ToString();
    }

    private static string DefaultSocket(string path)
    {
        if (path == "/session")
        {
            var runtime = Environment.GetEnvironmentVariable("XDG_RUNTIME_DIR");
            if (!string.IsNullOrEmpty(runtime))
            {
                return Path.Combine(runtime, "libvirt", "libvirt-sock");
            }
        }

        return DefaultSystemSocket;
    }

    private static int ParsePort(string uri, string text)
    {
        if (text.Length == 0)
        {
            return 0;
        }

        if (!int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var port) || port > 65535)
        {
            throw new VirtPoolException(VirErrorCode.InternalError, $"Unable to parse URI {uri}", (VirErrorDomain)45);
        }

        return port;
    }

    private static List<(string Key, string Value, string Raw)> ParseQuery(string? query)
    {
        var result = new List<(string, string, string)>();
        if (string.IsNullOrEmpty(query))
        {
            return result;
        }

        foreach (var part in query.Split('&', ';'))
        {
            if (part.Length == 0)
            {
                continue;
            }

            var eq = part.IndexOf('=', StringComparison.Ordinal);
            var key = Uri.UnescapeDataString(eq >= 0 ? part[..eq] : part);
            var value = eq >= 0 ? Uri.UnescapeDataString(part[(eq + 1)..].Replace('+', ' ')) : string.Empty;
            result.Add((key, value, part));
        }

        return result;
    }
}
