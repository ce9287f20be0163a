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
