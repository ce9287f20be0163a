using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using VirtPool.Core.Backends;
using VirtPool.Core.Manager;
using VirtPool.Core.Secrets;
using VirtPool.Core.State;
using VirtPool.Backends;
using VirtPool.Core.Process;
using VirtPool.Daemon.Connections;
using VirtPool.Daemon.Events;
using VirtPool.Daemon.Host;
using VirtPool.Rpc;
using VirtPool.Rpc.Xdr;

namespace VirtPool.Daemon.Tests;

/// <summary>A temp folder short enough for UNIX socket paths (108 bytes), removed on dispose.</summary>
internal sealed class TempDir : IDisposable
{
    public TempDir()
    {
        Path = System.IO.Path.Combine("/tmp", "vpdt-" + Guid.NewGuid().ToString("N")[..10]);
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>The daemon started in-process on a temp socket (and optionally TCP on 127.0.0.1, any port).</summary>
internal sealed class TestDaemon : IAsyncDisposable
{
    private readonly TempDir _dir;

    private TestDaemon(TempDir dir, VirtPoolDaemon daemon, string socket)
    {
        _dir = dir;
        Daemon = daemon;
        Socket = socket;
    }

    public VirtPoolDaemon Daemon { get; }

    public string Socket { get; }

    public string Dir => _dir.Path;

    public string Uri => $"qemu+unix:///system?socket={Socket}";

    public string ReadOnlyUri => $"qemu+unix:///system?socket={Socket}-ro";

    public string TcpUri => $"qemu+tcp://127.0.0.1:{Daemon.TcpEndPoint!.Port}/system";

    /// <param name="configure">Changes to the options (limits, timeouts) before the daemon starts.</param>
    /// <param name="loggers">Where the daemon logs (tests that count log lines); nowhere by default.</param>
    public static async Task<TestDaemon> StartAsync(bool tcp = false, Func<DaemonOptions, DaemonOptions>? configure = null,
        Microsoft.Extensions.Logging.ILoggerFactory? loggers = null)
    {
        var dir = new TempDir();
        try
        {
            var options = new DaemonOptions
            {
                SocketPath = System.IO.Path.Combine(dir.Path, "sock"),
                StateDirOption = System.IO.Path.Combine(dir.Path, "state"),
                Listen = tcp ? new IPEndPoint(IPAddress.Loopback, 0) : null,
                AuthNone = tcp,
            };
            options = configure?.Invoke(options) ?? options;
            var daemon = await VirtPoolDaemon.StartAsync(options, loggers);
            return new TestDaemon(dir, daemon, options.SocketPath);
        }
        catch
        {
            dir.Dispose();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await Daemon.DisposeAsync();
        }
        finally
        {
            _dir.Dispose();
        }
    }
}

/// <summary>
/// One <see cref="ClientConnection"/> over a socket pair, with a procedure table the test chooses: exercises the
/// connection machinery (dispatch, keepalive, streams) without the storage handlers.
/// </summary>
internal sealed class ConnectionHarness : IAsyncDisposable
{
    private readonly TempDir _dir;
    private readonly PoolManager _manager;

    private ConnectionHarness(TempDir dir, PoolManager manager, ClientConnection connection, Task run, RawClient client)
    {
        _dir = dir;
        _manager = manager;
        Connection = connection;
        Run = run;
        Client = client;
    }

    public ClientConnection Connection { get; }

    public Task Run { get; }

    public RawClient Client { get; }

    public PoolManager Manager => _manager;

    public string Root => _dir.Path;

    public static async Task<ConnectionHarness> StartAsync(Action<ProcedureTable<DaemonCallContext>> register, Action<ClientConnection>? configure = null, int busyPollMicros = 0,
        ConnectionLimits? limits = null, BackendRegistry? backends = null)
    {
        var dir = new TempDir();
        var table = new ProcedureTable<DaemonCallContext>();
        ConnectProcedures.Register(table);
        register(table);
        var store = new StateStore(System.IO.Path.Combine(dir.Path, "state"));
        var manager = new PoolManager(store, backends ?? BackendCatalog.Create(ProcessRunner.Instance));
        var services = new DaemonServices(manager, new SecretStore(store.Root, store.StatusDir), new EventHub(NullLogger<EventHub>.Instance));

        string path = System.IO.Path.Combine(dir.Path, "h.sock");
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(path));
        listener.Listen(1);
        var client = RawClient.Unix(path);
        Socket server = await listener.AcceptAsync();
        var connection = new ClientConnection(server, false, "harness", table, services, NullLogger.Instance,
            (limits ?? new ConnectionLimits()) with { BusyPollMicros = busyPollMicros });
        configure?.Invoke(connection);
        var run = Task.Run(connection.RunAsync);
        return new ConnectionHarness(dir, manager, connection, run, client);
    }

    /// <summary>AUTH_LIST + CONNECT_OPEN, as every client does first.</summary>
    public async Task OpenAsync()
    {
        await Client.CallAsync(RemoteProcedure.AuthList, 100, []);
        var reply = await Client.CallAsync(RemoteProcedure.ConnectOpen, 101, Payload.Open("qemu:///system"));
        Assert.Equal(RpcMessageStatus.Ok, reply.Header.Status);
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await Connection.CloseAsync().WaitAsync(TimeSpan.FromSeconds(30));
        _manager.Dispose();
        _dir.Dispose();
    }
}

/// <summary>Builds CALL payloads.</summary>
internal static class Payload
{
    public static byte[] Build(Action<XdrWriter> write)
    {
        using var buffer = new PooledBufferWriter();
        write(new XdrWriter(buffer));
        return buffer.WrittenSpan.ToArray();
    }

    public static byte[] Open(string? name, uint flags = 0) => Build(w =>
    {
        w.WriteOptionalString(name);
        w.WriteUInt32(flags);
    });

    public static byte[] Int(int value) => Build(w => w.WriteInt32(value));
}

/// <summary>A received packet, payload copied.</summary>
internal sealed record Packet(RpcHeader Header, byte[] Payload)
{
    public RemoteError Error => RemoteError.Decode(Payload);

    public bool IsPing => Header.Program == RpcPrograms.Keepalive && Header.Procedure == (int)KeepaliveProcedure.Ping;
}

/// <summary>A hand-driven RPC client over a raw socket: sends exact frames and reads exact frames.</summary>
internal sealed class RawClient : IDisposable
{
    private readonly Socket _socket;
    private readonly NetworkStream _stream;

    private RawClient(Socket socket)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: true);
    }

    public static RawClient Unix(string path)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        socket.Connect(new UnixDomainSocketEndPoint(path));
        return new RawClient(socket);
    }

    public static RawClient Tcp(IPEndPoint endpoint)
    {
        var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        socket.Connect(endpoint);
        return new RawClient(socket);
    }

    public void SendRaw(ReadOnlySpan<byte> bytes) => _stream.Write(bytes);

    /// <summary>Sends without blocking the test (the server may stop reading); a connection the server closes ends it quietly.</summary>
    public async Task SendRawIgnoringCloseAsync(ReadOnlyMemory<byte> bytes)
    {
        try
        {
            await _stream.WriteAsync(bytes);
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or SocketException)
        {
        }
    }

    public void Send(RpcHeader header, ReadOnlySpan<byte> payload)
    {
        using var buffer = new PooledBufferWriter();
        RpcFrame.WritePacket(buffer, header, payload);
        _stream.Write(buffer.WrittenSpan);
    }

    public void SendCall(RemoteProcedure procedure, uint serial, ReadOnlySpan<byte> payload)
        => Send(RpcHeader.Call(procedure, serial), payload);

    /// <summary>The next packet, or null at EOF; fails the test after <paramref name="timeout"/>.</summary>
    public async Task<Packet?> ReadAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(15));
        byte[] word = new byte[4];
        if (!await ReadExactlyOrEofAsync(word, cts.Token))
        {
            return null;
        }

        int length = System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(word);
        byte[] rest = new byte[length - 4];
        if (!await ReadExactlyOrEofAsync(rest, cts.Token))
        {
            return null;
        }

        return new Packet(RpcHeader.Read(rest), rest[RpcHeader.Size..]);
    }

    /// <summary>Reads packets until the REPLY for <paramref name="serial"/>; others (PINGs, events) are skipped.</summary>
    public async Task<Packet> ReplyAsync(uint serial, TimeSpan? timeout = null)
    {
        while (true)
        {
            var packet = await ReadAsync(timeout) ?? throw new InvalidOperationException("connection closed before the reply");
            if (packet.Header.Type == RpcMessageType.Reply && packet.Header.Serial == serial)
            {
                return packet;
            }
        }
    }

    public async Task<Packet> CallAsync(RemoteProcedure procedure, uint serial, byte[] payload)
    {
        SendCall(procedure, serial, payload);
        return await ReplyAsync(serial);
    }

    /// <summary>True when the server closed the connection (EOF or reset) within the timeout; skips packets before it.</summary>
    public async Task<bool> ClosedByServerAsync(TimeSpan timeout)
    {
        try
        {
            while (await ReadAsync(timeout) is not null)
            {
            }

            return true;
        }
        catch (IOException)
        {
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    private async Task<bool> ReadExactlyOrEofAsync(byte[] buffer, CancellationToken ct)
    {
        int done = 0;
        while (done < buffer.Length)
        {
            int n = await _stream.ReadAsync(buffer.AsMemory(done), ct);
            if (n == 0)
            {
                return false;
            }

            done += n;
        }

        return true;
    }

    public void Dispose() => _stream.Dispose();
}

/// <summary>Runs a real client program (virsh, python3) with a hard timeout; the process tree is killed on expiry.</summary>
internal static class Tool
{
    public const string Virsh = "/usr/bin/virsh";

    /// <summary>The system python, which has python3-libvirt (a pyenv python would not).</summary>
    public const string Python = "/usr/bin/python3";

    public static bool Available(string path) => File.Exists(path);

    public static async Task<(int Exit, string Out, string Err)> RunAsync(string file, IEnumerable<string> args, string? stdin = null, int timeoutSeconds = 60)
    {
        var psi = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = stdin is not null,
            UseShellExecute = false,
        };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        // Keep the user's libvirt defaults and client config out of the way.
        psi.Environment.Remove("LIBVIRT_DEFAULT_URI");
        psi.Environment["LC_ALL"] = "C";
        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (stdin is not null)
        {
            await process.StandardInput.WriteAsync(stdin);
            process.StandardInput.Close();
        }

        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(timeoutSeconds));
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', args)} did not finish in {timeoutSeconds} s");
        }

        return (process.ExitCode, await stdout, await stderr);
    }

    public static Task<(int Exit, string Out, string Err)> VirshAsync(string uri, params string[] command)
        => RunAsync(Virsh, new[] { "-q", "-c", uri }.Concat(command));

    public static async Task<string> PythonAsync(string script)
    {
        var (exit, stdout, stderr) = await RunAsync(Python, ["-"], script);
        Assert.True(exit == 0, $"python failed ({exit}): {stderr}\n{stdout}");
        return stdout;
    }

    public static string Hex(ReadOnlySpan<byte> bytes)
    {
        var sb = new StringBuilder();
        for (int i = 0; i < bytes.Length; i += 4)
        {
            if (i > 0)
            {
                sb.Append(' ');
            }

            sb.Append(Convert.ToHexStringLower(bytes.Slice(i, Math.Min(4, bytes.Length - i))));
        }

        return sb.ToString();
    }
}
