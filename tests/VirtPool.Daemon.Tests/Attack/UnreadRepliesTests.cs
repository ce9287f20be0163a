using System.Net.Sockets;
using VirtPool.Rpc;

namespace VirtPool.Daemon.Tests.Attack;

/// <summary>
/// ATTACK FINDING (fails today): a client that sends calls and never reads the replies makes virtpoold
/// queue every reply in memory (ClientConnection._pendingWrites has no bound, and a call leaves the
/// --max-queued-client-requests count as soon as its reply is queued, not when it was written). Any
/// local user can do it through the 0666 read-only socket: 40,000 CONNECT_LIST_ALL_STORAGE_POOLS
/// calls (1.7 MB sent) with 100 pools defined took virtpoold from 17 MiB to 1.3 GiB RSS. libvirtd
/// 9.0 counts a call against max_client_requests until its reply has been written, so it stops
/// reading such a client: the same client's sends block after ~1,800 calls and its RSS stays at 35 MiB.
/// Expected: the daemon stops reading a connection whose replies pile up unread (back-pressure), and
/// every call it did read is answered once the client reads.
/// </summary>
public sealed class UnreadRepliesTests
{
    /// <summary>Far more calls than the kernel's socket buffers can hold in both directions (~200 KiB each).</summary>
    private const int CallsNoBufferHolds = 100_000;

    /// <summary>How long the daemon must go on refusing more before the sender concludes it stopped reading.</summary>
    private static readonly TimeSpan StoppedReading = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task A_client_that_never_reads_its_replies_is_no_longer_read_from()
    {
        await using var daemon = await TestDaemon.StartAsync();
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        socket.Connect(new UnixDomainSocketEndPoint(daemon.Socket + "-ro"));
        socket.ReceiveBufferSize = 4096;
        socket.Send(Frame(RemoteProcedure.ConnectOpen, 1, Payload.Open("qemu:///system", 1)));

        byte[] call = Frame(RemoteProcedure.ConnectGetLibVersion, 2, []);
        byte[] batch = [.. Enumerable.Range(0, 100).SelectMany(_ => call)];
        socket.SendTimeout = (int)StoppedReading.TotalMilliseconds;
        int sent = 0;
        try
        {
            while (sent < CallsNoBufferHolds)
            {
                int n = socket.Send(batch);
                Assert.Equal(batch.Length, n);
                sent += 100;
            }
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.TimedOut || ex.SocketErrorCode == SocketError.WouldBlock)
        {
            // The daemon stopped reading: what we want.
        }

        Assert.True(sent < CallsNoBufferHolds, $"the daemon read {sent} calls from a client that read none of their replies");

        // Once the client reads, every call it managed to send is answered (back-pressure loses nothing).
        socket.ReceiveTimeout = 30_000;
        var replies = 0;
        var stream = new NetworkStream(socket, ownsSocket: false);
        byte[] word = new byte[4];
        while (replies < sent + 1)
        {
            await stream.ReadExactlyAsync(word);
            int length = System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(word);
            byte[] rest = new byte[length - 4];
            await stream.ReadExactlyAsync(rest);
            replies++;
        }

        Assert.Equal(sent + 1, replies);
    }

    private static byte[] Frame(RemoteProcedure procedure, uint serial, byte[] payload)
    {
        using var buffer = new PooledBufferWriter();
        RpcFrame.WritePacket(buffer, RpcHeader.Call(procedure, serial), payload);
        return buffer.WrittenSpan.ToArray();
    }
}
