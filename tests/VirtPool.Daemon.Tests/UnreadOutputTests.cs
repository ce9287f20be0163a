using System.Buffers.Binary;
using System.Net.Sockets;
using VirtPool.Daemon.Connections;
using VirtPool.Daemon.Host;
using VirtPool.Rpc;
using VirtPool.TestSupport;

namespace VirtPool.Daemon.Tests;

/// <summary>
/// Clients that send and never read what the daemon answers: what the daemon queues for them stays
/// bounded. Found by an adversarial run: 40,000 CONNECT_LIST_ALL_STORAGE_POOLS calls through the 0666
/// read-only socket, replies unread, took virtpoold from 17 MiB to 1.3 GiB RSS, while libvirtd 9.0 (which
/// counts a call against max_client_requests until its reply is written) stopped reading that client
/// after ~1,800 calls. Each test sends far more than the kernel's socket buffers hold in both directions
/// (~200 KiB each): a daemon that keeps reading queues it all; one with back-pressure stops reading and
/// the client's send blocks. Once the client reads, everything the daemon did read is answered.
/// </summary>
public sealed class UnreadOutputTests
{
    /// <summary>How long the daemon must go on refusing more before the sender concludes it stopped reading.</summary>
    private static readonly TimeSpan StoppedReading = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task A_client_that_never_reads_its_replies_is_no_longer_read_from()
    {
        await using var daemon = await TestDaemon.StartAsync();
        using var socket = await OpenReadOnlyAsync(daemon);

        const int CallsNoBufferHolds = 100_000;
        int sent = await SendUntilNotReadAsync(socket, Frame(RpcHeader.Call(RemoteProcedure.ConnectGetLibVersion, 2), []), CallsNoBufferHolds);
        Assert.True(sent < CallsNoBufferHolds, $"the daemon read {sent} calls from a client that read none of their replies");

        // Only the queued calls' replies wait in the daemon (20 small packets), not one per call sent.
        var connection = daemon.Daemon.Connections.Single();
        Assert.True(connection.UnsentOutputBytes <= DaemonOptions.DefaultMaxQueuedClientRequests * 1024,
            $"{connection.UnsentOutputBytes} bytes of replies queued");

        // Once the client reads, every call it managed to send is answered (back-pressure loses nothing).
        Assert.Equal(sent, await CountPacketsAsync(socket, sent, RpcMessageType.Reply));
    }

    [Fact]
    public async Task A_client_that_floods_pings_and_never_reads_the_pongs_is_no_longer_read_from()
    {
        await using var daemon = await TestDaemon.StartAsync();
        using var socket = await OpenReadOnlyAsync(daemon);

        // PONGs are answered by the reader itself, outside the call limits: only the output bound stops it.
        const int PingsNoBufferHolds = 200_000;
        int sent = await SendUntilNotReadAsync(socket, Frame(RpcHeader.Keepalive(KeepaliveProcedure.Ping), []), PingsNoBufferHolds);
        Assert.True(sent < PingsNoBufferHolds, $"the daemon read {sent} PINGs from a client that read none of the PONGs");

        var connection = daemon.Daemon.Connections.Single();
        Assert.True(connection.UnsentOutputBytes <= DaemonOptions.DefaultMaxUnsentOutputBytes + 1024,
            $"{connection.UnsentOutputBytes} bytes of PONGs queued");
        Assert.Equal(sent, await CountPacketsAsync(socket, sent, RpcMessageType.Message));
    }

    /// <summary>
    /// Found by a review: a client whose queue of calls is full (their replies unread behind unread
    /// PONGs, under the output bound) must not be read further. Read, its next CALL of 15 MiB would
    /// hold that much of the daemon-wide incoming budget while waiting for a place that never comes;
    /// six such clients would stall every large packet of every other client.
    /// </summary>
    [Fact]
    public async Task A_client_whose_calls_wait_on_unread_replies_cannot_make_the_daemon_buffer_another_call()
    {
        // An output bound far above what this test queues: only the queue of calls may stop the reader.
        await using var daemon = await TestDaemon.StartAsync(configure: o => o with { MaxUnsentOutputBytes = 256 << 20 });
        using var socket = await OpenReadOnlyAsync(daemon);

        // PONGs until the socket buffers are full and some wait in the daemon.
        var connection = daemon.Daemon.Connections.Single();
        byte[] ping = Frame(RpcHeader.Keepalive(KeepaliveProcedure.Ping), []);
        byte[] pings = [.. Enumerable.Range(0, 10).SelectMany(_ => ping)];
        for (var i = 0; connection.UnsentOutputBytes == 0; i++)
        {
            Assert.True(i < 100_000, "the socket buffers never filled");
            await SendAllAsync(socket, pings);
        }

        // Calls that fill the queue: their replies wait behind the PONGs.
        byte[] calls = [.. Enumerable.Range(0, DaemonOptions.DefaultMaxQueuedClientRequests)
            .SelectMany(i => Frame(RpcHeader.Call(RemoteProcedure.ConnectGetLibVersion, (uint)(10 + i)), []))];
        await SendAllAsync(socket, calls);
        await Eventually.UntilAsync(() => connection.FreeCallPlaces == 0, "the daemon to read every call");

        // One call more, large: the daemon must leave it unread in the socket.
        byte[] big = Frame(RpcHeader.Call(RemoteProcedure.ConnectGetLibVersion, 100), new byte[15 << 20]);
        long taken = await Task.Factory.StartNew(() => SendUntilNotRead(socket, big), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        Assert.True(taken < big.Length, "the daemon read a 15 MiB call from a client with a full queue of calls");
        Assert.Equal(0, daemon.Daemon.IncomingBudget.ReservedBytes);
    }

    [Fact]
    public async Task A_client_that_leaves_its_events_unread_is_closed_and_the_others_are_served()
    {
        const long Bound = 64 << 10;
        await using var daemon = await TestDaemon.StartAsync(configure: o => o with { MaxUnsentOutputBytes = Bound });
        string target = Path.Combine(daemon.Dir, "evpool");
        Directory.CreateDirectory(target);
        var create = await Tool.VirshAsync(daemon.Uri, "pool-create-as", "ev", "dir", "--target", target);
        Assert.True(create.Exit == 0, create.Err);

        // Registers for every pool's refresh events, then never reads again.
        using var deaf = RawClient.Unix(daemon.Socket + "-ro");
        Assert.Equal(RpcMessageStatus.Ok, (await deaf.CallAsync(RemoteProcedure.ConnectOpen, 1, Payload.Open("qemu:///system", 1))).Header.Status);
        var registered = await deaf.CallAsync(RemoteProcedure.ConnectStoragePoolEventRegisterAny, 2, Payload.Build(w => { w.WriteInt32(1); w.WriteBool(false); }));
        Assert.Equal(RpcMessageStatus.Ok, registered.Header.Status);
        ClientConnection deafConnection = daemon.Daemon.Connections.Single(c => c.IsReadOnly);

        using var writer = RawClient.Unix(daemon.Socket);
        Assert.Equal(RpcMessageStatus.Ok, (await writer.CallAsync(RemoteProcedure.ConnectOpen, 1, Payload.Open("qemu:///system"))).Header.Status);
        var pool = await writer.CallAsync(RemoteProcedure.StoragePoolLookupByName, 2, Payload.Build(w => w.WriteString("ev")));
        byte[] refresh = [.. pool.Payload, 0, 0, 0, 0];

        // Each refresh sends the deaf client an event; far more than socket buffers and the bound hold.
        const int RefreshesNoBufferHolds = 20_000;
        long mostUnsent = 0;
        int refreshes = 0;
        while (refreshes < RefreshesNoBufferHolds && !deafConnection.Closing.IsCancellationRequested)
        {
            var reply = await writer.CallAsync(RemoteProcedure.StoragePoolRefresh, (uint)(10 + refreshes), refresh);
            Assert.Equal(RpcMessageStatus.Ok, reply.Header.Status);
            mostUnsent = Math.Max(mostUnsent, deafConnection.UnsentOutputBytes);
            refreshes++;
        }

        Assert.True(deafConnection.Closing.IsCancellationRequested, $"{refreshes} events queued for a client that reads none of them");
        Assert.True(mostUnsent <= Bound, $"{mostUnsent} bytes of events queued, bound {Bound}");
        Assert.True(await deaf.ClosedByServerAsync(TimeSpan.FromSeconds(30)));

        // The client that caused the events, and new ones, are served as before.
        Assert.Equal(RpcMessageStatus.Ok, (await writer.CallAsync(RemoteProcedure.StoragePoolRefresh, 5, refresh)).Header.Status);
        var list = await Tool.VirshAsync(daemon.ReadOnlyUri, "pool-list", "--name");
        Assert.True(list.Exit == 0, list.Err);
        Assert.Contains("ev", list.Out, StringComparison.Ordinal);
    }

    /// <summary>A client on the read-only socket (which any local user can reach), opened.</summary>
    private static async Task<Socket> OpenReadOnlyAsync(TestDaemon daemon)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            socket.Connect(new UnixDomainSocketEndPoint(daemon.Socket + "-ro"));
            socket.ReceiveBufferSize = 4096;
            socket.Send(Frame(RpcHeader.Call(RemoteProcedure.ConnectOpen, 1), Payload.Open("qemu:///system", 1)));
            Assert.Equal(1, await CountPacketsAsync(socket, 1, RpcMessageType.Reply));
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Sends <paramref name="packet"/> up to <paramref name="most"/> times, in batches of 100, reading
    /// nothing; stops when a batch has not gone out within <see cref="StoppedReading"/>. Returns the
    /// packets of the batches that went out whole. Blocking sends, on a thread of their own: the
    /// thread pool serves the in-process daemons of tests running alongside.
    /// </summary>
    private static Task<int> SendUntilNotReadAsync(Socket socket, byte[] packet, int most)
        => Task.Factory.StartNew(() => SendUntilNotRead(socket, packet, most), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    private static int SendUntilNotRead(Socket socket, byte[] packet, int most)
    {
        byte[] batch = [.. Enumerable.Range(0, 100).SelectMany(_ => packet)];
        socket.SendTimeout = (int)StoppedReading.TotalMilliseconds;
        int sent = 0;
        try
        {
            while (sent < most)
            {
                Assert.Equal(batch.Length, socket.Send(batch));
                sent += 100;
            }
        }
        catch (SocketException ex) when (ex.SocketErrorCode is SocketError.TimedOut or SocketError.WouldBlock)
        {
            // The daemon stopped reading.
        }

        return sent;
    }

    private static Task SendAllAsync(Socket socket, byte[] bytes)
        => Task.Factory.StartNew(
            () =>
            {
                socket.SendTimeout = 30_000;
                for (int sent = 0; sent < bytes.Length;)
                {
                    sent += socket.Send(bytes, sent, bytes.Length - sent, SocketFlags.None);
                }
            },
            CancellationToken.None,
            TaskCreationOptions.LongRunning,
            TaskScheduler.Default);

    /// <summary>Sends <paramref name="bytes"/> until they are all taken or none are for <see cref="StoppedReading"/>; returns how many were.</summary>
    private static long SendUntilNotRead(Socket socket, byte[] bytes)
    {
        socket.SendTimeout = (int)StoppedReading.TotalMilliseconds;
        long sent = 0;
        try
        {
            while (sent < bytes.Length)
            {
                sent += socket.Send(bytes, (int)sent, bytes.Length - (int)sent, SocketFlags.None);
            }
        }
        catch (SocketException ex) when (ex.SocketErrorCode is SocketError.TimedOut or SocketError.WouldBlock)
        {
            // The daemon stopped reading.
        }

        return sent;
    }

    /// <summary>Reads packets until <paramref name="count"/> of <paramref name="type"/> came; returns how many did.</summary>
    private static async Task<int> CountPacketsAsync(Socket socket, int count, RpcMessageType type)
    {
        socket.ReceiveTimeout = 30_000;
        using var stream = new NetworkStream(socket, ownsSocket: false);
        byte[] word = new byte[4];
        int seen = 0;
        while (seen < count)
        {
            await stream.ReadExactlyAsync(word);
            byte[] rest = new byte[BinaryPrimitives.ReadInt32BigEndian(word) - 4];
            await stream.ReadExactlyAsync(rest);
            if (RpcHeader.Read(rest).Type == type)
            {
                seen++;
            }
        }

        return seen;
    }

    private static byte[] Frame(RpcHeader header, byte[] payload)
    {
        using var buffer = new PooledBufferWriter();
        RpcFrame.WritePacket(buffer, header, payload);
        return buffer.WrittenSpan.ToArray();
    }
}
