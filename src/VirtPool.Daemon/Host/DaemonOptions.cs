using System.Net;
using VirtPool.Core.Interop;
using VirtPool.Core.State;

namespace VirtPool.Daemon.Host;

/// <summary>Command line of virtpoold. Parsed by hand: the options are few and must not be mistaken for host configuration keys.</summary>
public sealed record DaemonOptions
{
    public const string DefaultSocketName = "libvirt-sock";

    /// <summary>The read-write UNIX socket; the read-only one is this path plus "-ro" (libvirt's naming).</summary>
    public required string SocketPath { get; init; }

    /// <summary>Whether to serve PATH-ro as well.</summary>
    public bool ReadOnlySocket { get; init; } = true;

    /// <summary>Plain TCP endpoint; only allowed with <see cref="AuthNone"/>, because TCP carries no credentials.</summary>
    public IPEndPoint? Listen { get; init; }

    public bool AuthNone { get; init; }

    /// <summary>The --state-dir value as given (null = CLI defaults), kept raw because the runtime dir depends on it.</summary>
    public string? StateDirOption { get; init; }

    public string? PidFile { get; init; }

    /// <summary>Concurrent CALLs per connection (libvirt's max_client_requests, default 5); more wait in a bounded queue.</summary>
    public int MaxCallsPerConnection { get; init; } = DefaultMaxClientRequests;

    /// <summary>Calls read from a connection whose REPLY is not yet written; beyond it the connection's reader pauses.</summary>
    public int MaxQueuedCallsPerConnection { get; init; } = DefaultMaxQueuedClientRequests;

    /// <summary>
    /// Output of one connection its socket has not taken yet (a client that does not read): beyond it
    /// the daemon stops reading the connection, and a connection with more unread events is closed.
    /// </summary>
    public long MaxUnsentOutputBytes { get; init; } = DefaultMaxUnsentOutputBytes;

    /// <summary>Connections served at once (libvirt's max_clients); a connection beyond it is closed at once.</summary>
    public int MaxClients { get; init; } = DefaultMaxClients;

    /// <summary>
    /// Connections not yet opened (no CONNECT_OPEN yet; libvirt's max_anonymous_clients). When a new one
    /// would exceed it, the one that has waited longest is closed: a real client opens within
    /// milliseconds, so the oldest is the likeliest to be idle on purpose.
    /// </summary>
    public int MaxAnonymousClients { get; init; } = DefaultMaxAnonymousClients;

    /// <summary>Budget for buffered incoming frames larger than 16 KiB, all connections together.</summary>
    public long MaxBufferedBytes { get; init; } = DefaultMaxBufferedBytes;

    /// <summary>How long a packet may wait on the socket for the rest of its bytes; zero: forever.</summary>
    public TimeSpan FrameTimeout { get; init; } = DefaultFrameTimeout;

    /// <summary>How long a connection may go without a successful CONNECT_OPEN; zero: forever.</summary>
    public TimeSpan HandshakeTimeout { get; init; } = DefaultHandshakeTimeout;

    /// <summary>Client-caused warnings (malformed packets, timeouts, refused connections) logged per minute, each kind.</summary>
    public int ProtocolErrorLogLimit { get; init; } = DefaultProtocolErrorLogLimit;

    public const int DefaultMaxClientRequests = 5;

    public const int DefaultMaxQueuedClientRequests = 20;

    public const int DefaultMaxClients = 5000;

    public const int DefaultMaxAnonymousClients = 20;

    public const long DefaultMaxBufferedBytes = 128L << 20;

    public const long DefaultMaxUnsentOutputBytes = 1L << 20;

    public static readonly TimeSpan DefaultFrameTimeout = TimeSpan.FromSeconds(30);

    public static readonly TimeSpan DefaultHandshakeTimeout = TimeSpan.FromSeconds(10);

    public const int DefaultProtocolErrorLogLimit = 10;

    /// <summary>
    /// How long (µs) a connection whose client calls in a tight loop polls for its next call before
    /// sleeping in epoll; 0 turns polling off. Only such connections poll, and never longer than this.
    /// </summary>
    public int BusyPollMicros { get; init; } = DefaultBusyPollMicros;

    public const int DefaultBusyPollMicros = 40;

    public string StateDir => ResolveStateDir(StateDirOption);

    public string? RuntimeDir => ResolveRuntimeDir(StateDirOption);

    public string ReadOnlySocketPath => SocketPath + "-ro";

    public const string Usage = """
        Usage: virtpoold [OPTIONS]
          --socket PATH            read-write UNIX socket (default /run/virtpool/libvirt-sock); PATH-ro is read-only
          --no-ro-socket           do not create PATH-ro
          --listen ADDR:PORT       also listen on plain TCP at ADDR (requires --auth none)
          --auth none              authentication for TCP (only "none" is supported)
          --state-dir DIR          state folder (default: VIRTPOOL_STATE_DIR, /var/lib/virtpool as root)
          --pid-file FILE          write the process id to FILE
          --busy-poll-us N         poll up to N µs for the next call of a client calling in a tight
                                   loop, instead of sleeping (default 40; 0 = never poll)
        Limits (libvirtd.conf's names in brackets):
          --max-clients N          connections served at once; more are closed at once (default 5000)
                                   [max_clients]
          --max-anonymous-clients N
                                   connections not yet opened; beyond it the longest-waiting one is
                                   closed (default 20) [max_anonymous_clients]
          --max-client-requests N  calls of one connection running at once (default 5)
                                   [max_client_requests]
          --max-queued-client-requests N
                                   calls of one connection read whose replies are not yet written;
                                   then its reading pauses (default 20; at least --max-client-requests)
          --max-unsent-output-kib N
                                   KiB of output of one connection its client has not read; beyond it
                                   the connection is not read, and one with more unread events is
                                   closed (default 1024)
          --max-buffered-mib N     MiB of incoming packets over 16 KiB buffered, all connections
                                   together; a connection whose packet does not fit waits, unread
                                   (default 128)
          --frame-timeout S        drop a connection whose packet has waited S seconds for its
                                   remaining bytes (default 30; 0 = never)
          --handshake-timeout S    drop a connection not opened S seconds after it connected
                                   (default 10; 0 = never)
          --protocol-error-log-limit N
                                   warnings per minute about misbehaving clients (malformed packets,
                                   timeouts, refused connections), each kind; the rest are counted
                                   in one summary line (default 10)
          --version                print the version
          --help                   show this help
        """;

    /// <summary>
    /// "virtpoold (VirtPool) X.Y.Z": the assembly's informational version (the build's Version property),
    /// without the source revision the SDK appends after a '+'.
    /// </summary>
    public static string VersionText
    {
        get
        {
            var assembly = typeof(DaemonOptions).Assembly;
            string version = assembly.GetCustomAttributes(typeof(System.Reflection.AssemblyInformationalVersionAttribute), false) is [System.Reflection.AssemblyInformationalVersionAttribute info, ..]
                ? info.InformationalVersion
                : assembly.GetName().Version?.ToString(3) ?? "0.0.0";
            int plus = version.IndexOf('+', StringComparison.Ordinal);
            return $"virtpoold (VirtPool) {(plus < 0 ? version : version[..plus])}";
        }
    }

    /// <summary>Parses the command line; throws <see cref="ArgumentException"/> with a user-facing message.</summary>
    public static DaemonOptions Parse(IReadOnlyList<string> args)
    {
        string? socket = null, listen = null, auth = null, stateDir = null, pidFile = null;
        int busyPoll = DefaultBusyPollMicros;
        int maxClients = DefaultMaxClients, maxAnonymous = DefaultMaxAnonymousClients;
        int maxRequests = DefaultMaxClientRequests, maxQueued = DefaultMaxQueuedClientRequests;
        long maxBuffered = DefaultMaxBufferedBytes, maxUnsent = DefaultMaxUnsentOutputBytes;
        TimeSpan frameTimeout = DefaultFrameTimeout, handshakeTimeout = DefaultHandshakeTimeout;
        int logLimit = DefaultProtocolErrorLogLimit;
        bool roSocket = true;
        for (int i = 0; i < args.Count; i++)
        {
            string arg = args[i];
            string? inline = null;
            int eq = arg.IndexOf('=', StringComparison.Ordinal);
            if (arg.StartsWith("--", StringComparison.Ordinal) && eq > 0)
            {
                inline = arg[(eq + 1)..];
                arg = arg[..eq];
            }

            string Value()
            {
                if (inline is not null)
                {
                    return inline;
                }

                if (i + 1 >= args.Count)
                {
                    throw new ArgumentException($"option {arg} needs a value");
                }

                return args[++i];
            }

            switch (arg)
            {
                case "--socket": socket = Value(); break;
                case "--no-ro-socket": roSocket = false; break;
                case "--listen": listen = Value(); break;
                case "--auth": auth = Value(); break;
                case "--state-dir": stateDir = Value(); break;
                case "--pid-file": pidFile = Value(); break;
                case "--busy-poll-us":
                    string poll = Value();
                    if (!int.TryParse(poll, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out busyPoll) || busyPoll > 1000)
                    {
                        throw new ArgumentException($"--busy-poll-us '{poll}' is not a number of microseconds from 0 to 1000");
                    }

                    break;
                case "--max-clients": maxClients = Number(arg, Value(), 1, 1_000_000, "a number of connections"); break;
                case "--max-anonymous-clients": maxAnonymous = Number(arg, Value(), 1, 1_000_000, "a number of connections"); break;
                case "--max-client-requests": maxRequests = Number(arg, Value(), 1, 1000, "a number of calls"); break;
                case "--max-queued-client-requests": maxQueued = Number(arg, Value(), 1, 10_000, "a number of calls"); break;
                case "--max-buffered-mib": maxBuffered = (long)Number(arg, Value(), 1, 1 << 20, "a number of MiB") << 20; break;
                case "--max-unsent-output-kib": maxUnsent = (long)Number(arg, Value(), 64, 1 << 20, "a number of KiB") << 10; break;
                case "--frame-timeout": frameTimeout = TimeSpan.FromSeconds(Number(arg, Value(), 0, 86_400, "a number of seconds")); break;
                case "--handshake-timeout": handshakeTimeout = TimeSpan.FromSeconds(Number(arg, Value(), 0, 86_400, "a number of seconds")); break;
                case "--protocol-error-log-limit": logLimit = Number(arg, Value(), 0, 1_000_000, "a number of lines"); break;
                default: throw new ArgumentException($"unknown option '{args[i]}'");
            }
        }

        if (maxQueued < maxRequests)
        {
            throw new ArgumentException($"--max-queued-client-requests {maxQueued} is less than --max-client-requests {maxRequests}");
        }

        if (auth is not null && auth != "none")
        {
            throw new ArgumentException($"unsupported --auth '{auth}' (only 'none' is supported)");
        }

        IPEndPoint? endpoint = null;
        if (listen is not null)
        {
            if (!IPEndPoint.TryParse(listen, out endpoint) || endpoint.Port == 0 && !listen.EndsWith(":0", StringComparison.Ordinal))
            {
                throw new ArgumentException($"--listen '{listen}' is not ADDRESS:PORT");
            }

            // Plain TCP has no peer credentials: serving it unauthenticated must be an explicit choice.
            if (auth != "none")
            {
                throw new ArgumentException("--listen requires --auth none (plain TCP carries no authentication)");
            }
        }

        return new DaemonOptions
        {
            SocketPath = Path.GetFullPath(socket ?? DefaultSocketPath(stateDir)),
            ReadOnlySocket = roSocket,
            Listen = endpoint,
            AuthNone = auth == "none",
            StateDirOption = stateDir,
            PidFile = pidFile is null ? null : Path.GetFullPath(pidFile),
            BusyPollMicros = busyPoll,
            MaxClients = maxClients,
            MaxAnonymousClients = maxAnonymous,
            MaxCallsPerConnection = maxRequests,
            MaxQueuedCallsPerConnection = maxQueued,
            MaxUnsentOutputBytes = maxUnsent,
            MaxBufferedBytes = maxBuffered,
            FrameTimeout = frameTimeout,
            HandshakeTimeout = handshakeTimeout,
            ProtocolErrorLogLimit = logLimit,
        };
    }

    /// <summary>A whole number from <paramref name="min"/> to <paramref name="max"/>, or the option's error.</summary>
    private static int Number(string option, string text, int min, int max, string what)
    {
        if (!int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int value)
            || value < min || value > max)
        {
            throw new ArgumentException($"{option} '{text}' is not {what} from {min} to {max}");
        }

        return value;
    }

    /// <summary>/run/virtpool/libvirt-sock as root; otherwise the per-user runtime folder, as the CLI resolves it.</summary>
    public static string DefaultSocketPath(string? stateDirOption)
    {
        if (LibC.GetEuid() == 0)
        {
            return Path.Combine("/run/virtpool", DefaultSocketName);
        }

        var runtime = ResolveRuntimeDir(stateDirOption) ?? Path.Combine(ResolveStateDir(stateDirOption), "run");
        return Path.Combine(runtime, DefaultSocketName);
    }

    /// <summary>The state folder, resolved as everywhere in VirtPool (<see cref="StateLocations"/>).</summary>
    public static string ResolveStateDir(string? option) => StateLocations.ResolveStateDir(option);

    /// <summary>The runtime folder, resolved as everywhere in VirtPool (<see cref="StateLocations"/>).</summary>
    public static string? ResolveRuntimeDir(string? stateDirOption) => StateLocations.ResolveRuntimeDir(stateDirOption);
}
