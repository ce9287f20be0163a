using System.Buffers;
using System.Diagnostics;
using System.Net.Sockets;
using VirtPool.Rpc;
using VirtPool.Rpc.Xdr;

namespace VirtPool.Bench;

/// <summary>
/// The same raw RPC client against libvirtd and virtpoold, so the server is all that differs: each
/// connection opens like virsh does, then loops STORAGE_POOL_LOOKUP_BY_NAME + STORAGE_POOL_GET_INFO,
/// one call in flight per connection (what a management tool does), for a fixed time.
/// </summary>
internal static class RpcLoad
{
    public static async Task<(long Calls, double Seconds)> LookupInfoAsync(string socketPath, string pool, TimeSpan duration, int connections)
    {
        if (pool == "-")
        {
            // The protocol's own cost: a call the server answers from memory.
            return await NoopAsync(socketPath, duration).ConfigureAwait(false);
        }

        var deadline = Stopwatch.GetTimestamp() + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        var started = Stopwatch.GetTimestamp();
        var counts = await Task.WhenAll(Enumerable.Range(0, connections).Select(_ => Task.Run(() => RunOne(socketPath, pool, deadline))));
        return (counts.Sum(), Stopwatch.GetElapsedTime(started).TotalSeconds);
    }

    private static Task<(long, double)> NoopAsync(string socketPath, TimeSpan duration) => Task.Run(() =>
    {
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        socket.Connect(new UnixDomainSocketEndPoint(socketPath));
        using var client = new Client(socket);
        client.Call(RemoteProcedure.AuthList, _ => { });
        client.Call(RemoteProcedure.ConnectOpen, w =>
        {
            w.WriteBool(true);
            w.WriteString("qemu:///system");
            w.WriteUInt32(0);
        });
        var sw = Stopwatch.StartNew();
        long calls = 0;
        while (sw.Elapsed < duration)
        {
            client.Call(RemoteProcedure.ConnectGetLibVersion, _ => { });
            calls++;
        }

        return (calls, sw.Elapsed.TotalSeconds);
    });

    /// <summary>
    /// The client's own floor: the same no-op loop against a stub server that busy-polls its socket and
    /// answers every call with an empty OK reply, doing no work at all. The stub is a process of its
    /// own, as a daemon is (a thread of the client's process is scheduled more kindly), so no server
    /// can answer this client faster over one connection: it bounds any one-connection ratio.
    /// </summary>
    public static async Task<(long Calls, double Seconds)> FloorAsync(TimeSpan duration, string stubCommand, IEnumerable<string> stubPrefix)
    {
        var dir = Directory.CreateTempSubdirectory("virtpool-floor-");
        var path = Path.Combine(dir.FullName, "stub.sock");
        var psi = new ProcessStartInfo(stubCommand) { UseShellExecute = false };
        foreach (var arg in stubPrefix.Append("rpc-stub").Append(path))
        {
            psi.ArgumentList.Add(arg);
        }

        using var stub = Process.Start(psi)!;
        try
        {
            var waited = Stopwatch.StartNew();
            while (!File.Exists(path))
            {
                if (stub.HasExited || waited.Elapsed > TimeSpan.FromSeconds(30))
                {
                    throw new InvalidOperationException("the stub server did not start");
                }

                await Task.Delay(10).ConfigureAwait(false);
            }

            return await NoopAsync(path, duration).ConfigureAwait(false);
        }
        finally
        {
            if (!stub.HasExited)
            {
                stub.Kill();
            }

            await stub.WaitForExitAsync().ConfigureAwait(false);
            dir.Delete(recursive: true);
        }
    }

    /// <summary>The stub server of <see cref="FloorAsync"/>: serves one connection on <paramref name="path"/>, then exits.</summary>
    public static void RunStub(string path)
    {
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(path));
        listener.Listen(1);
        ServeStub(listener);
    }

    private static void ServeStub(Socket listener)
    {
        using var peer = listener.Accept();
        var input = new byte[64 * 1024];
        var output = new byte[RpcLimits.MinPacketLength];
        var have = 0;
        while (true)
        {
            if (peer.Available == 0)
            {
                continue; // busy-poll: never sleep, so waking the server costs nothing
            }

            var n = peer.Receive(input.AsSpan(have));
            if (n == 0)
            {
                return;
            }

            have += n;
            while (have >= 4)
            {
                var length = (int)System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(input);
                if (have < length)
                {
                    break;
                }

                // The call's header with type REPLY and status OK, and no body.
                System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(output, RpcLimits.MinPacketLength);
                input.AsSpan(4, 24).CopyTo(output.AsSpan(4));
                System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(output.AsSpan(16), 1);
                System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(output.AsSpan(24), 0);
                peer.Send(output);
                input.AsSpan(length, have - length).CopyTo(input);
                have -= length;
            }
        }
    }

    /// <summary>Whether a server on <paramref name="socketPath"/> answers AUTH_LIST now.</summary>
    public static bool Answers(string socketPath)
    {
        try
        {
            using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            socket.Connect(new UnixDomainSocketEndPoint(socketPath));
            using var client = new Client(socket);
            client.Call(RemoteProcedure.AuthList, _ => { });
            return true;
        }
        catch (Exception ex) when (ex is SocketException or IOException)
        {
            return false;
        }
    }

    private static long RunOne(string socketPath, string pool, long deadline)
    {
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        socket.Connect(new UnixDomainSocketEndPoint(socketPath));
        using var client = new Client(socket);
        client.Call(RemoteProcedure.AuthList, _ => { });
        client.Call(RemoteProcedure.ConnectOpen, w =>
        {
            w.WriteBool(true);
            w.WriteString("qemu:///system");
            w.WriteUInt32(0);
        });

        long calls = 0;
        while (Stopwatch.GetTimestamp() < deadline)
        {
            var handle = client.Call(RemoteProcedure.StoragePoolLookupByName, w => w.WriteString(pool));
            client.Call(RemoteProcedure.StoragePoolGetInfo, w => w.WriteFixedOpaque(handle));
            calls += 2;
        }

        client.Call(RemoteProcedure.ConnectClose, _ => { });
        return calls;
    }

    /// <summary>One connection: serial-numbered calls, replies read back in order (one call in flight).</summary>
    private sealed class Client(Socket socket) : IDisposable
    {
        private readonly PooledBufferWriter _out = new();
        private byte[] _in = new byte[64 * 1024];
        private uint _serial;

        public byte[] Call(RemoteProcedure procedure, Action<XdrWriter> args)
        {
            _out.Clear();
            var start = RpcFrame.BeginPacket(_out, RpcHeader.Call(procedure, _serial++));
            args(new XdrWriter(_out));
            RpcFrame.EndPacket(_out, start);
            socket.Send(_out.WrittenSpan);

            ReadExactly(_in.AsSpan(0, 4));
            var length = (int)System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(_in);
            if (_in.Length < length)
            {
                Array.Resize(ref _in, length);
            }

            ReadExactly(_in.AsSpan(4, length - 4));
            var header = RpcFrame.ReadHeader(_in.AsSpan(0, length));
            if (header.Status != RpcMessageStatus.Ok)
            {
                throw new InvalidOperationException($"{procedure} failed: {RemoteError.Decode(_in.AsSpan(RpcLimits.MinPacketLength, length - RpcLimits.MinPacketLength)).Message}");
            }

            return _in.AsSpan(RpcLimits.MinPacketLength, length - RpcLimits.MinPacketLength).ToArray();
        }

        public void Dispose() => _out.Dispose();

        private void ReadExactly(Span<byte> buffer)
        {
            while (buffer.Length > 0)
            {
                var n = socket.Receive(buffer);
                if (n == 0)
                {
                    throw new IOException("the server closed the connection");
                }

                buffer = buffer[n..];
            }
        }
    }
}
