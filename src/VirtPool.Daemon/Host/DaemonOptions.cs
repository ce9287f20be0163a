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

    /// <summary>Concurrent CALLs per connection (libvirt's max_workers default 5); more wait in a bounded queue.</summary>
    public int MaxCallsPerConnection { get; init; } = 5;

    /// <summary>Calls read from a connection but not yet finished; beyond it the connection's reader pauses.</summary>
    public int MaxQueuedCallsPerConnection { get; init; } = 20;

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
          --help                   show this help
        """;

    /// <summary>Parses the command line; throws <see cref="ArgumentException"/> with a user-facing message.</summary>
    public static DaemonOptions Parse(IReadOnlyList<string> args)
    {
        string? socket = null, listen = null, auth = null, stateDir = null, pidFile = null;
        int busyPoll = DefaultBusyPollMicros;
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
                default: throw new ArgumentException($"unknown option '{args[i]}'");
            }
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
        };
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
