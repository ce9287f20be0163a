using System.Net;
using VirtPool.Daemon.Host;
using VirtPool.Rpc;
using VirtPool.TestSupport;

namespace VirtPool.Daemon.Tests;

/// <summary>Per-connection machinery: keepalive, concurrency, malformed input, TCP (spec 1, 4.5, 6.4).</summary>
public sealed class ConnectionTests
{
    private static readonly string PingHex = "0000001c 6b656570 00000001 00000001 00000002 00000000 00000000";
    private static readonly string PongHex = "0000001c 6b656570 00000001 00000002 00000002 00000000 00000000";

    [Fact]
    public async Task Ping_gets_a_pong_even_before_any_call()
    {
        await using var daemon = await TestDaemon.StartAsync();
        using var client = RawClient.Unix(daemon.Socket);
        client.SendRaw(Convert.FromHexString(PingHex.Replace(" ", "", StringComparison.Ordinal)));
        var pong = await client.ReadAsync();
        Assert.NotNull(pong);
        Assert.Equal((RpcPrograms.Keepalive, (int)KeepaliveProcedure.Pong, RpcMessageType.Message, 0u),
            (pong.Header.Program, pong.Header.Procedure, pong.Header.Type, pong.Header.Serial));
        Assert.Empty(pong.Payload);
        using var frame = new PooledBufferWriter();
        RpcFrame.WritePacket(frame, pong.Header, pong.Payload);
        Assert.Equal(PongHex, Tool.Hex(frame.WrittenSpan));
    }

    /// <summary>
    /// A call that fails with an exception no libvirt error describes (a defect): the client gets what
    /// libvirtd sends for a failure without a virError, never .NET's words (which may name internals),
    /// and the connection goes on serving calls.
    /// </summary>
    [Fact]
    public async Task An_unexpected_exception_reaches_the_client_as_libvirts_unset_error_not_its_text()
    {
        await using var harness = await ConnectionHarness.StartAsync(table => table.Register(RemoteProcedure.StorageVolWipe, (ctx, _) =>
        {
            ctx.ReplyWriter.WriteInt32(7);
            throw new ArgumentOutOfRangeException("offset", -1L, "c11fix .NET detail");
        }));
        await harness.OpenAsync();
        var reply = await harness.Client.CallAsync(RemoteProcedure.StorageVolWipe, 1, []);
        Assert.Equal(RpcMessageStatus.Error, reply.Header.Status);
        var error = reply.Error;
        Assert.Equal(
            (VirtPool.Core.Errors.VirErrorCode.InternalError, VirtPool.Core.Errors.VirErrorDomain.Rpc, "Library function returned error but did not set virError"),
            (error.Code, error.Domain, error.Message));
        Assert.DoesNotContain("c11fix", error.Str1 + error.Str2 + error.Str3, StringComparison.Ordinal);

        var lib = await harness.Client.CallAsync(RemoteProcedure.ConnectGetLibVersion, 2, []);
        Assert.Equal(RpcMessageStatus.Ok, lib.Header.Status);
    }

    [Fact]
    public async Task A_slow_call_blocks_neither_keepalive_nor_other_calls()
    {
        var release = new TaskCompletionSource();
        var started = new TaskCompletionSource();
        await using var harness = await ConnectionHarness.StartAsync(table => table.Register(RemoteProcedure.StorageVolWipe, async (ctx, _) =>
        {
            started.TrySetResult();
            await release.Task.WaitAsync(ctx.CancellationToken);
        }));
        await harness.OpenAsync();
        var client = harness.Client;
        client.SendCall(RemoteProcedure.StorageVolWipe, 1, []);
        await started.Task.WaitAsync(TimeSpan.FromSeconds(10));

        client.Send(RpcHeader.Keepalive(KeepaliveProcedure.Ping), []);
        var pong = await client.ReadAsync(TimeSpan.FromSeconds(5));
        Assert.Equal((int)KeepaliveProcedure.Pong, pong!.Header.Procedure);

        var lib = await client.CallAsync(RemoteProcedure.ConnectGetLibVersion, 2, []);
        Assert.Equal(RpcMessageStatus.Ok, lib.Header.Status);

        release.SetResult();
        var slow = await client.ReplyAsync(1);
        Assert.Equal((RpcMessageStatus.Ok, (int)RemoteProcedure.StorageVolWipe), (slow.Header.Status, slow.Header.Procedure));
    }

    [Fact]
    public async Task Many_concurrent_calls_are_all_answered_by_serial()
    {
        int running = 0, peak = 0;
        var fiveRunning = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var harness = await ConnectionHarness.StartAsync(table => table.Register(RemoteProcedure.StorageVolWipe, async (ctx, _) =>
        {
            int now = Interlocked.Increment(ref running);
            InterlockedMax(ref peak, now);
            if (now == 5)
            {
                fiveRunning.TrySetResult();
            }

            // Held until five run at once: the bound is reached for certain, and a sixth would show.
            await fiveRunning.Task.WaitAsync(ctx.CancellationToken);
            Interlocked.Decrement(ref running);
            ctx.ReplyWriter.WriteUInt32(ctx.Call.Serial);
        }));
        await harness.OpenAsync();
        for (uint serial = 1; serial <= 60; serial++)
        {
            harness.Client.SendCall(RemoteProcedure.StorageVolWipe, serial, []);
        }

        var seen = new HashSet<uint>();
        while (seen.Count < 60)
        {
            var reply = await harness.Client.ReadAsync();
            Assert.NotNull(reply);
            Assert.Equal(RpcMessageStatus.Ok, reply.Header.Status);
            Assert.Equal(reply.Header.Serial, System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(reply.Payload));
            Assert.True(seen.Add(reply.Header.Serial));
        }

        // Bounded like libvirt's worker pool (5 per connection).
        Assert.Equal(5, peak);
    }

    /// <summary>
    /// Found by a review: with every worker of a connection busy with slow calls, a quick call the
    /// reader runs itself must not wait for one of them, or the reader (keepalive, stream data, the
    /// daemon's own idle check) would stop behind the slow calls.
    /// </summary>
    [Fact]
    public async Task A_quick_call_is_answered_while_every_worker_is_busy_with_slow_ones()
    {
        const int Workers = 5;
        int entered = 0;
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var harness = await ConnectionHarness.StartAsync(
            table =>
            {
                table.Register(RemoteProcedure.StorageVolWipe, async (_, _) =>
                {
                    Interlocked.Increment(ref entered);
                    await release.Task;
                });
                table.Register(RemoteProcedure.StorageVolGetPath, (ctx, _) =>
                {
                    ctx.ReplyWriter.WriteString("/quick");
                    return ValueTask.CompletedTask;
                });
            },
            limits: new VirtPool.Daemon.Connections.ConnectionLimits { MaxCalls = Workers });
        await harness.OpenAsync();
        for (uint i = 0; i < Workers; i++)
        {
            harness.Client.SendCall(RemoteProcedure.StorageVolWipe, 100 + i, []);
        }

        await Eventually.UntilAsync(() => Volatile.Read(ref entered) == Workers, "every worker to be busy");
        var quick = await harness.Client.CallAsync(RemoteProcedure.StorageVolGetPath, 200, []);
        Assert.Equal((RpcMessageStatus.Ok, 200u), (quick.Header.Status, quick.Header.Serial));

        release.SetResult();
        for (var i = 0; i < Workers; i++)
        {
            var reply = await harness.Client.ReadAsync(TimeSpan.FromSeconds(20));
            Assert.NotNull(reply);
            Assert.Equal(RpcMessageStatus.Ok, reply.Header.Status);
        }
    }

    /// <summary>
    /// Replies are sent at once when the socket takes them and queued when it does not: replies much
    /// larger than the socket buffer, to a client that reads nothing for a while, mixed with small
    /// ones answered inline, must each arrive whole (never interleaved) and the inline ones in order.
    /// The limits are raised above what this burst holds (25 calls, 6 MiB of replies): with the defaults
    /// the daemon stops reading a client that leaves that much unread (<see cref="UnreadOutputTests"/>).
    /// </summary>
    [Theory]
    [InlineData(0)]
    [InlineData(40)]
    public async Task Replies_larger_than_the_socket_buffer_arrive_whole_while_small_ones_keep_their_order(int busyPollMicros)
    {
        const int Big = 512 * 1024;
        const int BigCalls = 12;
        int bigAnswered = 0;
        var allBigAnswered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var lastCallRead = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var harness = await ConnectionHarness.StartAsync(
            table =>
            {
                table.Register(RemoteProcedure.StorageVolWipe, (ctx, _) =>
                {
                    // The serial's low byte fills the payload, so a reply mixed with another shows.
                    var payload = new byte[Big];
                    payload.AsSpan().Fill((byte)ctx.Call.Serial);
                    ctx.ReplyWriter.WriteFixedOpaque(payload);
                    if (Interlocked.Increment(ref bigAnswered) == BigCalls)
                    {
                        allBigAnswered.TrySetResult();
                    }

                    return ValueTask.CompletedTask;
                });

                // An inline procedure, run by the reader in turn: every call before it has been taken.
                table.Register(RemoteProcedure.StorageVolGetPath, (_, _) =>
                {
                    lastCallRead.TrySetResult();
                    return ValueTask.CompletedTask;
                });
            },
            busyPollMicros: busyPollMicros,
            limits: new VirtPool.Daemon.Connections.ConnectionLimits { MaxQueuedCalls = 64, MaxUnsentOutputBytes = 16 << 20 });
        await harness.OpenAsync();
        for (uint i = 0; i < BigCalls; i++)
        {
            harness.Client.SendCall(RemoteProcedure.StorageVolWipe, 1000 + i, []);
            harness.Client.SendCall(RemoteProcedure.ConnectGetLibVersion, 2000 + i, []);
        }

        harness.Client.SendCall(RemoteProcedure.StorageVolGetPath, 3000, []);

        // Nothing read yet, every call answered: the socket buffer is full and the rest waits in the
        // connection's queue.
        await Task.WhenAll(allBigAnswered.Task, lastCallRead.Task).WaitAsync(Eventually.HangGuard);
        var big = new HashSet<uint>();
        var small = new List<uint>();
        while (big.Count < BigCalls || small.Count < BigCalls + 1)
        {
            var reply = await harness.Client.ReadAsync(TimeSpan.FromSeconds(20));
            Assert.NotNull(reply);
            Assert.Equal(RpcMessageStatus.Ok, reply.Header.Status);
            if (reply.Header.Procedure == (int)RemoteProcedure.StorageVolWipe)
            {
                Assert.Equal(Big, reply.Payload.Length);
                Assert.True(reply.Payload.AsSpan().IndexOfAnyExcept((byte)reply.Header.Serial) < 0, $"reply {reply.Header.Serial} holds foreign bytes");
                Assert.True(big.Add(reply.Header.Serial));
            }
            else
            {
                small.Add(reply.Header.Serial);
            }
        }

        Assert.Equal(Enumerable.Range(2000, BigCalls).Select(i => (uint)i).Append(3000u), small);
        var after = await harness.Client.CallAsync(RemoteProcedure.ConnectGetLibVersion, 4000, []);
        Assert.Equal(RpcMessageStatus.Ok, after.Header.Status);
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int current;
        while ((current = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, current) != current)
        {
        }
    }

    [Theory]
    [InlineData("00000005")] // below the 28-byte minimum
    [InlineData("01000005")] // above 16 MiB + 4
    [InlineData("ffffffff")]
    public async Task A_malformed_frame_closes_only_that_connection(string lengthWord)
    {
        await using var daemon = await TestDaemon.StartAsync();
        using var good = RawClient.Unix(daemon.Socket);
        Assert.Equal(RpcMessageStatus.Ok, (await good.CallAsync(RemoteProcedure.ConnectOpen, 1, Payload.Open("qemu:///system"))).Header.Status);

        using var bad = RawClient.Unix(daemon.Socket);
        bad.SendRaw(Convert.FromHexString(lengthWord + "2000808600000001"));
        Assert.True(await bad.ClosedByServerAsync(TimeSpan.FromSeconds(10)));

        Assert.Equal(RpcMessageStatus.Ok, (await good.CallAsync(RemoteProcedure.ConnectGetLibVersion, 2, [])).Header.Status);
        using var fresh = RawClient.Unix(daemon.Socket);
        Assert.Equal(RpcMessageStatus.Ok, (await fresh.CallAsync(RemoteProcedure.AuthList, 0, [])).Header.Status);
    }

    [Fact]
    public async Task A_client_vanishing_mid_packet_leaves_the_daemon_serving()
    {
        await using var daemon = await TestDaemon.StartAsync();
        using (var partial = RawClient.Unix(daemon.Socket))
        {
            partial.SendRaw(Convert.FromHexString("0000004020008086"));
        }

        await Eventually.UntilAsync(() => daemon.Daemon.ConnectionCount == 0, "the daemon to drop the vanished client");
        using var client = RawClient.Unix(daemon.Socket);
        Assert.Equal(RpcMessageStatus.Ok, (await client.CallAsync(RemoteProcedure.AuthList, 0, [])).Header.Status);
    }

    [Fact]
    public async Task Server_pings_only_clients_that_asked_for_keepalive_and_drops_silent_ones()
    {
        await using var quiet = await ConnectionHarness.StartAsync(_ => { }, c => c.KeepaliveInterval = TimeSpan.FromMilliseconds(100));
        await quiet.OpenAsync();
        Assert.False(quiet.Connection.KeepaliveRequested);

        await using var asked = await ConnectionHarness.StartAsync(_ => { }, c =>
        {
            c.KeepaliveInterval = TimeSpan.FromMilliseconds(100);
            c.KeepaliveCount = 3;
        });
        var feature = await asked.Client.CallAsync(RemoteProcedure.ConnectSupportsFeature, 1, Payload.Int(10));
        Assert.Equal("00000001", Tool.Hex(feature.Payload));
        Assert.True(asked.Connection.KeepaliveRequested);
        var ping = await asked.Client.ReadAsync(TimeSpan.FromSeconds(5));
        Assert.True(ping!.IsPing);

        // Never answering: after KeepaliveCount silent intervals the server gives up on the client.
        Assert.True(await asked.Client.ClosedByServerAsync(TimeSpan.FromSeconds(10)));
        await asked.Run.WaitAsync(TimeSpan.FromSeconds(10));

        // All that while (more than KeepaliveCount intervals) the quiet client, which never asked, got
        // nothing: the first packet it reads is the answer to its next call, and it is still served.
        Assert.False(quiet.Connection.KeepaliveRequested);
        quiet.Client.SendCall(RemoteProcedure.ConnectGetLibVersion, 2, []);
        var first = await quiet.Client.ReadAsync();
        Assert.Equal((RpcMessageType.Reply, 2u, RpcMessageStatus.Ok), (first!.Header.Type, first.Header.Serial, first.Header.Status));
    }

    [Fact]
    public async Task Tcp_with_auth_none_serves_virsh_and_python()
    {
        await using var daemon = await TestDaemon.StartAsync(tcp: true);
        Assert.Equal(IPAddress.Loopback, daemon.Daemon.TcpEndPoint!.Address);
        using (var raw = RawClient.Tcp(daemon.Daemon.TcpEndPoint))
        {
            var auth = await raw.CallAsync(RemoteProcedure.AuthList, 0, []);
            Assert.Equal("00000001 00000000", Tool.Hex(auth.Payload));
        }

        var uri = await Tool.VirshAsync(daemon.TcpUri, "uri");
        Assert.True(uri.Exit == 0, uri.Err);
        Assert.Equal(daemon.TcpUri, uri.Out.Trim());
        var pools = await Tool.VirshAsync(daemon.TcpUri, "pool-list", "--all");
        Assert.True(pools.Exit == 0, pools.Err);

        string output = await Tool.PythonAsync($"""
            import libvirt
            c = libvirt.open('{daemon.TcpUri}')
            print(c.getLibVersion())
            c.close()
            """);
        Assert.Equal("9000000", output.Trim());
    }

    [Fact]
    public void Tcp_requires_auth_none_and_a_real_endpoint()
    {
        var ex = Assert.Throws<ArgumentException>(() => DaemonOptions.Parse(["--listen", "127.0.0.1:16509"]));
        Assert.Contains("--auth none", ex.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => DaemonOptions.Parse(["--listen", "nonsense", "--auth", "none"]));
        Assert.Throws<ArgumentException>(() => DaemonOptions.Parse(["--auth", "sasl"]));
        var ok = DaemonOptions.Parse(["--listen", "127.0.0.1:16509", "--auth", "none", "--socket", "/tmp/x/sock", "--state-dir", "/tmp/x/state"]);
        Assert.Equal(new IPEndPoint(IPAddress.Loopback, 16509), ok.Listen);
        Assert.Equal("/tmp/x/sock-ro", ok.ReadOnlySocketPath);
        Assert.Equal("/tmp/x/state", ok.StateDir);
        if (string.IsNullOrEmpty(Environment.GetEnvironmentVariable("VIRTPOOL_RUNTIME_DIR")))
        {
            // Like the CLI: an explicit state folder keeps its runtime state inside it.
            Assert.Null(ok.RuntimeDir);
        }
    }

    [Fact]
    public async Task Pool_events_reach_registered_connections_as_messages()
    {
        await using var daemon = await TestDaemon.StartAsync();
        using var listener = RawClient.Unix(daemon.Socket);
        Assert.Equal(RpcMessageStatus.Ok, (await listener.CallAsync(RemoteProcedure.ConnectOpen, 1, Payload.Open("qemu:///system"))).Header.Status);

        var bad = await listener.CallAsync(RemoteProcedure.ConnectStoragePoolEventRegisterAny, 2, Payload.Build(w => { w.WriteInt32(7); w.WriteBool(false); }));
        Assert.Equal("internal error: unsupported storage pool event ID 7", bad.Error.Message);
        var badSecret = await listener.CallAsync(RemoteProcedure.ConnectSecretEventRegisterAny, 3, Payload.Build(w => { w.WriteInt32(2); w.WriteBool(false); }));
        Assert.Equal("internal error: unsupported secret event ID 2", badSecret.Error.Message);

        var reg = await listener.CallAsync(RemoteProcedure.ConnectStoragePoolEventRegisterAny, 4, Payload.Build(w => { w.WriteInt32(0); w.WriteBool(false); }));
        Assert.Equal(RpcMessageStatus.Ok, reg.Header.Status);
        int callbackId = System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(reg.Payload);

        string target = Path.Combine(daemon.Dir, "evpool");
        Directory.CreateDirectory(target);
        var define = await Tool.VirshAsync(daemon.Uri, "pool-define-as", "ev", "dir", "--target", target);
        Assert.True(define.Exit == 0, define.Err);

        var message = await listener.ReadAsync(TimeSpan.FromSeconds(10));
        Assert.Equal((RpcMessageType.Message, (int)RemoteProcedure.StoragePoolEventLifecycle, 0u),
            (message!.Header.Type, message.Header.Procedure, message.Header.Serial));
        var r = new VirtPool.Rpc.Xdr.XdrReader(message.Payload);
        Assert.Equal(callbackId, r.ReadInt32());
        Assert.Equal("ev", r.ReadString());
        r.ReadUuid();
        Assert.Equal(0, r.ReadInt32()); // VIR_STORAGE_POOL_EVENT_DEFINED

        Assert.Equal(RpcMessageStatus.Ok, (await listener.CallAsync(RemoteProcedure.ConnectStoragePoolEventDeregisterAny, 5, Payload.Int(callbackId))).Header.Status);
        var again = await listener.CallAsync(RemoteProcedure.ConnectStoragePoolEventDeregisterAny, 6, Payload.Int(callbackId));
        Assert.Equal($"internal error: storage pool event callback {callbackId} not registered", again.Error.Message);
    }
}
