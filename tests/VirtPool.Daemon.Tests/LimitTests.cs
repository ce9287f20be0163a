using System.Buffers.Binary;
using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using VirtPool.Daemon.Connections;
using VirtPool.Daemon.Host;
using VirtPool.Rpc;

namespace VirtPool.Daemon.Tests;

/// <summary>
/// What hostile or broken clients may hold (issue 10, section 2): max_clients, anonymous connections,
/// the frame and handshake timeouts, the incoming budget and the rate limit on their log lines.
/// Every wait is for a condition; the timeouts are short only so the conditions come soon.
/// </summary>
public sealed class LimitTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task A_connection_over_max_clients_is_closed_and_the_others_are_served()
    {
        await using var daemon = await TestDaemon.StartAsync(configure: o => o with { MaxClients = 2 });
        using var first = await OpenedClientAsync(daemon.Socket);
        using var second = await OpenedClientAsync(daemon.Socket);

        using var third = RawClient.Unix(daemon.Socket);
        Assert.True(await third.ClosedByServerAsync(Patience));

        Assert.Equal(RpcMessageStatus.Ok, (await first.CallAsync(RemoteProcedure.ConnectGetLibVersion, 10, [])).Header.Status);
        Assert.Equal(RpcMessageStatus.Ok, (await second.CallAsync(RemoteProcedure.ConnectGetLibVersion, 10, [])).Header.Status);

        // A place freed is a place for the next client.
        first.Dispose();
        await WaitUntilAsync(() => daemon.Daemon.ConnectionCount < 2);
        using var fourth = await OpenedClientAsync(daemon.Socket);
        Assert.Equal(RpcMessageStatus.Ok, (await fourth.CallAsync(RemoteProcedure.ConnectGetLibVersion, 10, [])).Header.Status);
    }

    [Fact]
    public async Task Beyond_max_anonymous_clients_the_oldest_unopened_connection_is_closed()
    {
        await using var daemon = await TestDaemon.StartAsync(configure: o => o with { MaxAnonymousClients = 2 });

        // Opened connections do not count.
        using var opened = await OpenedClientAsync(daemon.Socket);
        await WaitUntilAsync(() => daemon.Daemon.AnonymousCount == 0);
        using var oldest = RawClient.Unix(daemon.Socket);
        await WaitUntilAsync(() => daemon.Daemon.AnonymousCount == 1);
        using var younger = RawClient.Unix(daemon.Socket);
        await WaitUntilAsync(() => daemon.Daemon.AnonymousCount == 2);
        using var newest = RawClient.Unix(daemon.Socket);
        Assert.True(await oldest.ClosedByServerAsync(Patience));

        Assert.Equal(RpcMessageStatus.Ok, (await younger.CallAsync(RemoteProcedure.ConnectOpen, 1, Payload.Open("qemu:///system"))).Header.Status);
        Assert.Equal(RpcMessageStatus.Ok, (await newest.CallAsync(RemoteProcedure.ConnectOpen, 1, Payload.Open("qemu:///system"))).Header.Status);
        Assert.Equal(RpcMessageStatus.Ok, (await opened.CallAsync(RemoteProcedure.ConnectGetLibVersion, 10, [])).Header.Status);
        Assert.Equal(0, daemon.Daemon.AnonymousCount);
    }

    [Fact]
    public async Task A_half_sent_packet_is_dropped_after_the_frame_timeout_while_an_idle_client_stays()
    {
        await using var daemon = await TestDaemon.StartAsync(configure: o => o with { FrameTimeout = TimeSpan.FromMilliseconds(300) });
        using var idle = await OpenedClientAsync(daemon.Socket);
        using var stalled = await OpenedClientAsync(daemon.Socket);
        using var big = await OpenedClientAsync(daemon.Socket);

        // A small call cut short, and a large one (its own buffer, reserved from the budget) cut short.
        stalled.SendRaw(Frame(RemoteProcedure.ConnectGetLibVersion, 20, new byte[100]).AsSpan(0, 40));
        big.SendRaw(Frame(RemoteProcedure.StoragePoolLookupByName, 20, XdrString(new string('x', 100_000))).AsSpan(0, 60_000));
        Assert.True(await stalled.ClosedByServerAsync(Patience));
        Assert.True(await big.ClosedByServerAsync(Patience));
        await WaitUntilAsync(() => daemon.Daemon.IncomingBudget.ReservedBytes == 0 && daemon.Daemon.IncomingBudget.BufferedBytes == 0);

        // Idle between packets for longer than the frame timeout is no offence.
        Assert.Equal(RpcMessageStatus.Ok, (await idle.CallAsync(RemoteProcedure.ConnectGetLibVersion, 10, [])).Header.Status);
    }

    [Fact]
    public async Task A_connection_that_never_opens_is_closed_after_the_handshake_timeout()
    {
        await using var daemon = await TestDaemon.StartAsync(configure: o => o with { HandshakeTimeout = TimeSpan.FromMilliseconds(300) });
        using var opened = await OpenedClientAsync(daemon.Socket);
        using var silent = RawClient.Unix(daemon.Socket);
        using var chatty = RawClient.Unix(daemon.Socket);

        // Calls allowed before CONNECT_OPEN do not count as opening.
        Assert.Equal(RpcMessageStatus.Ok, (await chatty.CallAsync(RemoteProcedure.AuthList, 1, [])).Header.Status);
        Assert.True(await silent.ClosedByServerAsync(Patience));
        Assert.True(await chatty.ClosedByServerAsync(Patience));

        Assert.Equal(RpcMessageStatus.Ok, (await opened.CallAsync(RemoteProcedure.ConnectGetLibVersion, 10, [])).Header.Status);
    }

    [Fact]
    public async Task Partial_big_packets_never_make_the_daemon_buffer_more_than_its_budget_and_a_whole_one_still_gets_through()
    {
        const long Budget = 2 << 20;
        await using var daemon = await TestDaemon.StartAsync(configure: o => o with
        {
            MaxBufferedBytes = Budget,
            FrameTimeout = TimeSpan.FromSeconds(2),
        });
        var budget = daemon.Daemon.IncomingBudget;

        // Packets of 1.25 MiB: over the medium share, so they queue for the large one (1.5 MiB), one at a time.
        byte[] bigCall = Frame(RemoteProcedure.StoragePoolLookupByName, 30, XdrString(new string('n', (5 << 18) - 64)));
        Assert.InRange(bigCall.Length, IncomingBudget.MediumFrameLimit + 1, Budget * 3 / 4);
        const int Hogs = 5;
        var hogs = new List<RawClient>();
        var sends = new List<Task>();
        try
        {
            for (int i = 0; i < Hogs; i++)
            {
                var hog = await OpenedClientAsync(daemon.Socket);
                hogs.Add(hog);

                // All but the last 1000 bytes, then silence; the daemon stops reading most of them.
                sends.Add(hog.SendRawIgnoringCloseAsync(bigCall.AsMemory(0, bigCall.Length - 1000)));
            }

            // Some are held back unread (the frame timeout frees the one being read after 2 s).
            await WaitUntilAsync(() => budget.Waiting >= 1);
            Assert.InRange(budget.BufferedBytes, 0, Budget);

            // A client with a whole packet gets its reply once its turn comes: the hogs ahead of it are
            // dropped by the frame timeout one after the other.
            using var patient = await OpenedClientAsync(daemon.Socket);
            var send = patient.SendRawIgnoringCloseAsync(bigCall);
            var reply = await patient.ReplyAsync(30, TimeSpan.FromSeconds(60));
            await send;
            Assert.Equal(RpcMessageStatus.Error, reply.Header.Status);
            Assert.Contains("no storage pool with matching name 'nnn", reply.Error.Message, StringComparison.Ordinal);

            foreach (var hog in hogs)
            {
                Assert.True(await hog.ClosedByServerAsync(Patience));
            }

            Assert.InRange(budget.PeakBufferedBytes, bigCall.Length - 1000, Budget);
            await WaitUntilAsync(() => budget.ReservedBytes == 0 && budget.BufferedBytes == 0 && budget.Waiting == 0);
        }
        finally
        {
            foreach (var hog in hogs)
            {
                hog.Dispose();
            }

            await Task.WhenAll(sends);
        }
    }

    [Fact]
    public async Task Packets_of_a_call_over_the_small_buffer_keep_their_budget_until_the_call_is_done()
    {
        var release = new TaskCompletionSource();
        var started = new TaskCompletionSource<int>();
        var budget = new IncomingBudget(8 << 20);
        await using var harness = await ConnectionHarness.StartAsync(table => table.Register(RemoteProcedure.StorageVolWipe, async (ctx, args) =>
        {
            started.TrySetResult(args.Length);
            await release.Task.WaitAsync(ctx.CancellationToken);

            // The arguments are still intact when the call finally reads them.
            ctx.ReplyWriter.WriteUInt32(args.Span[^1]);
        }), limits: new ConnectionLimits { Budget = budget });
        await harness.OpenAsync();
        var payload = new byte[100_000];
        payload[^1] = 0x5a;
        harness.Client.SendCall(RemoteProcedure.StorageVolWipe, 40, payload);
        Assert.Equal(payload.Length, await started.Task.WaitAsync(Patience));

        // The reader has moved on (this call is answered inline), yet the big call's packet is still held.
        Assert.Equal(RpcMessageStatus.Ok, (await harness.Client.CallAsync(RemoteProcedure.ConnectGetLibVersion, 41, [])).Header.Status);
        Assert.Equal(payload.Length + RpcLimits.MinPacketLength, budget.ReservedBytes);
        release.SetResult();
        var reply = await harness.Client.ReplyAsync(40);
        Assert.Equal(0x5au, BinaryPrimitives.ReadUInt32BigEndian(reply.Payload));
        await WaitUntilAsync(() => budget.ReservedBytes == 0 && budget.BufferedBytes == 0);
    }

    [Fact]
    public async Task Malformed_packets_are_logged_at_most_the_limit_per_minute()
    {
        var lines = new LogLines();
        using var loggers = LoggerFactory.Create(b => b.AddProvider(lines));
        await using var daemon = await TestDaemon.StartAsync(configure: o => o with { ProtocolErrorLogLimit = 3 }, loggers: loggers);
        for (int i = 0; i < 10; i++)
        {
            using var bad = RawClient.Unix(daemon.Socket);
            bad.SendRaw([0, 0, 0, 3, 1, 2, 3, 4]);
            Assert.True(await bad.ClosedByServerAsync(Patience));
        }

        await WaitUntilAsync(() => daemon.Daemon.ProtocolErrors.TotalSuppressed == 7);
        Assert.Equal(3, lines.Count("malformed packet"));
    }

    [Fact]
    public void The_rate_limited_log_writes_a_summary_of_what_it_suppressed()
    {
        var lines = new LogLines();
        var clock = new ManualClock();
        var log = new RateLimitedLog(lines.CreateLogger("test"), 2, TimeSpan.FromMinutes(1), clock);
        for (int i = 0; i < 5; i++)
        {
            log.Warn("bad packet {Number}", i);
        }

        log.Flush();
        Assert.Equal(new[] { "bad packet 0", "bad packet 1" }, lines.All);

        clock.Advance(TimeSpan.FromSeconds(61));
        log.Flush();
        Assert.Equal("Suppressed 3 more such messages in the last 60 s", lines.All[^1]);
        log.Warn("bad packet {Number}", 5);
        Assert.Equal("bad packet 5", lines.All[^1]);
        Assert.Equal(3, log.TotalSuppressed);
    }

    [Fact]
    public void Limits_are_options_with_libvirt_defaults_and_validated()
    {
        var defaults = DaemonOptions.Parse(["--socket", "/tmp/x/sock"]);
        Assert.Equal((5000, 20, 5, 20, 128L << 20, TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(10), 10, 1L << 20),
            (defaults.MaxClients, defaults.MaxAnonymousClients, defaults.MaxCallsPerConnection, defaults.MaxQueuedCallsPerConnection,
             defaults.MaxBufferedBytes, defaults.FrameTimeout, defaults.HandshakeTimeout, defaults.ProtocolErrorLogLimit, defaults.MaxUnsentOutputBytes));

        var set = DaemonOptions.Parse(["--socket", "/tmp/x/sock", "--max-clients", "7", "--max-anonymous-clients=3", "--max-client-requests", "2",
            "--max-queued-client-requests", "4", "--max-buffered-mib", "64", "--frame-timeout", "0", "--handshake-timeout", "5", "--protocol-error-log-limit", "0",
            "--max-unsent-output-kib", "256"]);
        Assert.Equal((7, 3, 2, 4, 64L << 20, TimeSpan.Zero, TimeSpan.FromSeconds(5), 0, 256L << 10),
            (set.MaxClients, set.MaxAnonymousClients, set.MaxCallsPerConnection, set.MaxQueuedCallsPerConnection,
             set.MaxBufferedBytes, set.FrameTimeout, set.HandshakeTimeout, set.ProtocolErrorLogLimit, set.MaxUnsentOutputBytes));

        string[][] refused = [["--max-clients", "0"], ["--max-clients", "-1"], ["--max-buffered-mib", "x"], ["--frame-timeout", "1.5"],
            ["--max-client-requests", "1001"], ["--handshake-timeout"], ["--max-unsent-output-kib", "63"]];
        foreach (var bad in refused)
        {
            Assert.Throws<ArgumentException>(() => DaemonOptions.Parse(bad));
        }

        var queue = Assert.Throws<ArgumentException>(() => DaemonOptions.Parse(["--max-client-requests", "8", "--max-queued-client-requests", "4"]));
        Assert.Contains("--max-queued-client-requests 4 is less than --max-client-requests 8", queue.Message, StringComparison.Ordinal);
        Assert.Matches(@"^virtpoold \(VirtPool\) \d+\.\d+\.\d+$", DaemonOptions.VersionText);
    }

    private static async Task<RawClient> OpenedClientAsync(string socket)
    {
        var client = RawClient.Unix(socket);
        try
        {
            var reply = await client.CallAsync(RemoteProcedure.ConnectOpen, 1, Payload.Open("qemu:///system"));
            Assert.Equal(RpcMessageStatus.Ok, reply.Header.Status);
            return client;
        }
        catch
        {
            client.Dispose();
            throw;
        }
    }

    private static byte[] Frame(RemoteProcedure procedure, uint serial, byte[] payload)
    {
        using var buffer = new PooledBufferWriter();
        RpcFrame.WritePacket(buffer, RpcHeader.Call(procedure, serial), payload);
        return buffer.WrittenSpan.ToArray();
    }

    private static byte[] XdrString(string value) => Payload.Build(w => w.WriteString(value));

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        using var cts = new CancellationTokenSource(Patience);
        while (!condition())
        {
            await Task.Delay(20, cts.Token);
        }
    }

    /// <summary>Log lines as formatted, for counting.</summary>
    private sealed class LogLines : ILoggerProvider, ILogger
    {
        private readonly ConcurrentQueue<string> _lines = new();

        public string[] All => [.. _lines];

        public int Count(string fragment) => _lines.Count(l => l.Contains(fragment, StringComparison.Ordinal));

        public ILogger CreateLogger(string categoryName) => this;

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
            {
                _lines.Enqueue(formatter(state, exception));
            }
        }

        public void Dispose()
        {
        }
    }

    /// <summary>A clock the test moves by hand (the rate limit's interval is a minute).</summary>
    private sealed class ManualClock : TimeProvider
    {
        private long _ticks = 1_000_000;

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;

        public override long GetTimestamp() => _ticks;

        public void Advance(TimeSpan by) => _ticks += by.Ticks;
    }
}
