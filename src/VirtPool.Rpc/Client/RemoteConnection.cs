using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;
using VirtPool.Core.Errors;
using VirtPool.Core.Interop;
using VirtPool.Rpc.Xdr;

namespace VirtPool.Rpc.Client;

/// <summary>Decodes a reply payload (the procedure's ret struct).</summary>
public delegate T RpcReplyReader<out T>(ref XdrReader reader);

/// <summary>
/// A client connection to libvirtd or virtpoold over libvirt's remote protocol, opened as virsh opens
/// one (AUTH_LIST, SUPPORTS_FEATURE 10, CONNECT_OPEN, SUPPORTS_FEATURE 14/15, REGISTER_CLOSE_CALLBACK)
/// and closed as virsh closes it (UNREGISTER_CLOSE_CALLBACK, CONNECT_CLOSE).
/// <para>
/// Calls carry serial numbers from 0 upwards; a background reader matches replies by serial, answers
/// the server's keepalive PINGs, drops events, and queues stream packets for the stream they belong to.
/// Error replies become <see cref="VirtPoolException"/>s with the server's code, domain and message
/// (an "unknown procedure" answer becomes NO_SUPPORT, as libvirt's client library rewrites it).
/// </para>
/// </summary>
public sealed class RemoteConnection : IAsyncDisposable
{
    /// <summary>Data packets sent in an upload carry at most this many bytes (libvirt's own stream chunk).</summary>
    public const int StreamChunkSize = RpcLimits.LegacyPayloadMax;

    private const int FeatureKeepalive = 10;
    private const int FeatureEventCallback = 14;
    private const int FeatureCloseCallback = 15;

    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly Lock _sync = new();
    private readonly Dictionary<uint, TaskCompletionSource<RpcReply>> _pending = [];
    private readonly Dictionary<uint, Channel<RpcReply>> _streams = [];
    private readonly CancellationTokenSource _shutdown = new();
    private readonly Task _reader;
    private uint _nextSerial;
    private Exception? _failure;
    private bool _opened;
    private bool _closing;
    private bool _closeCallbackRegistered;
    private int _disposed;

    private RemoteConnection(RemoteUri uri, Socket socket)
    {
        Uri = uri;
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: true);
        _reader = Task.Run(ReadLoopAsync);
    }

    public RemoteUri Uri { get; }

    /// <summary>Whether the server answered 1 to VIR_DRV_FEATURE_PROGRAM_KEEPALIVE.</summary>
    public bool ServerKeepalive { get; private set; }

    /// <summary>Connects and opens the connection; failures carry libvirt's messages (virsh prints them after "failed to connect to the hypervisor").</summary>
    public static async Task<RemoteConnection> OpenAsync(string uri, CancellationToken ct = default)
    {
        var parsed = RemoteUri.Parse(uri);
        var socket = await ConnectAsync(parsed, ct).ConfigureAwait(false);
        var connection = new RemoteConnection(parsed, socket);
        try
        {
            await connection.HandshakeAsync(ct).ConfigureAwait(false);
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        return connection;
    }

    // ----- calls ---------------------------------------------------------------------------------

    /// <summary>One CALL and its REPLY payload (the ret struct, possibly empty).</summary>
    public async Task<byte[]> CallAsync(RemoteProcedure procedure, Action<XdrWriter>? args = null, CancellationToken ct = default)
    {
        var (serial, reply) = Register(stream: null);
        try
        {
            await SendPacketAsync(RpcHeader.Call(procedure, serial), args, ct).ConfigureAwait(false);
        }
        catch
        {
            Unregister(serial);
            throw;
        }

        var answer = await reply.Task.WaitAsync(ct).ConfigureAwait(false);
        return CheckReply(answer);
    }

    /// <summary>One CALL whose ret struct is decoded by <paramref name="read"/>.</summary>
    public async Task<T> CallAsync<T>(RemoteProcedure procedure, Action<XdrWriter>? args, RpcReplyReader<T> read, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(read);
        var payload = await CallAsync(procedure, args, ct).ConfigureAwait(false);
        return Decode(payload, read);
    }

    /// <summary>
    /// A CALL that opens a stream (VOL_UPLOAD, VOL_DOWNLOAD): the stream is registered before the CALL
    /// goes out, so no packet that follows the REPLY is lost.
    /// </summary>
    public async Task<RemoteStream> OpenStreamAsync(RemoteProcedure procedure, Action<XdrWriter>? args, CancellationToken ct = default)
    {
        var channel = Channel.CreateBounded<RpcReply>(new BoundedChannelOptions(64) { SingleReader = true, SingleWriter = true });
        var (serial, reply) = Register(channel);
        var header = RpcHeader.Call(procedure, serial);
        try
        {
            await SendPacketAsync(header, args, ct).ConfigureAwait(false);
            CheckReply(await reply.Task.WaitAsync(ct).ConfigureAwait(false));
        }
        catch
        {
            RemoveStream(serial);
            throw;
        }

        return new RemoteStream(this, header, channel);
    }

    internal static T Decode<T>(byte[] payload, RpcReplyReader<T> read)
    {
        try
        {
            var reader = new XdrReader(payload);
            return read(ref reader);
        }
        catch (XdrFormatException ex)
        {
            throw new VirtPoolException(VirErrorCode.Rpc, $"Unable to decode message payload: {ex.Message}", VirErrorDomain.Rpc);
        }
    }

    /// <summary>The exception a remote_error stands for, as libvirt's client reports it.</summary>
    public static VirtPoolException ToException(RemoteError error)
    {
        ArgumentNullException.ThrowIfNull(error);
        if (error.Domain is VirErrorDomain.Remote or VirErrorDomain.Rpc && error.Code == VirErrorCode.Rpc
            && error.Level == VirErrorLevel.Error && error.Message is { } message && message.StartsWith("unknown procedure", StringComparison.Ordinal))
        {
            // remote_driver.c: an unknown procedure is "this function is not supported by the connection driver".
            return new VirtPoolException(VirErrorCode.NoSupport, message, VirErrorDomain.Remote);
        }

        return error.ToException();
    }

    internal static byte[] CheckReply(RpcReply reply)
    {
        switch (reply.Header.Status)
        {
            case RpcMessageStatus.Ok:
                return reply.Payload;
            case RpcMessageStatus.Error:
                RemoteError error;
                try
                {
                    error = RemoteError.Decode(reply.Payload);
                }
                catch (XdrFormatException)
                {
                    throw new VirtPoolException(VirErrorCode.Rpc, "Unable to decode message payload", VirErrorDomain.Rpc);
                }

                throw ToException(error);
            default:
                throw new VirtPoolException(VirErrorCode.Rpc, $"Unexpected message status {(int)reply.Header.Status}", VirErrorDomain.Rpc);
        }
    }

    private (uint Serial, TaskCompletionSource<RpcReply> Reply) Register(Channel<RpcReply>? stream)
    {
        var tcs = new TaskCompletionSource<RpcReply>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_sync)
        {
            if (_failure is not null)
            {
                throw Rethrowable(_failure);
            }

            var serial = _nextSerial++;
            _pending[serial] = tcs;
            if (stream is not null)
            {
                _streams[serial] = stream;
            }

            return (serial, tcs);
        }
    }

    private void Unregister(uint serial)
    {
        lock (_sync)
        {
            _pending.Remove(serial);
        }
    }

    internal void RemoveStream(uint serial)
    {
        lock (_sync)
        {
            _pending.Remove(serial);
            _streams.Remove(serial);
        }
    }

    internal async Task SendPacketAsync(RpcHeader header, Action<XdrWriter>? payload, CancellationToken ct)
    {
        using var buffer = new PooledBufferWriter();
        var start = RpcFrame.BeginPacket(buffer, header);
        try
        {
            payload?.Invoke(new XdrWriter(buffer));
            RpcFrame.EndPacket(buffer, start);
        }
        catch (XdrEncodeException)
        {
            // libvirt's client fails the call in its encoder the same way; nothing was sent.
            throw new VirtPoolException(VirErrorCode.Rpc, RemoteError.PayloadEncodeFailedMessage, VirErrorDomain.Rpc);
        }

        await WriteAsync(buffer.WrittenMemory, ct).ConfigureAwait(false);
    }

    internal async Task SendRawAsync(RpcHeader header, ReadOnlyMemory<byte> payload, CancellationToken ct)
    {
        var frame = new byte[RpcLimits.MinPacketLength + payload.Length];
        BinaryPrimitives.WriteUInt32BigEndian(frame, (uint)frame.Length);
        header.Write(frame.AsSpan(RpcLimits.LengthWordSize));
        payload.Span.CopyTo(frame.AsSpan(RpcLimits.MinPacketLength));
        await WriteAsync(frame, ct).ConfigureAwait(false);
    }

    private async Task WriteAsync(ReadOnlyMemory<byte> frame, CancellationToken ct)
    {
        await _writeLock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            lock (_sync)
            {
                if (_failure is not null)
                {
                    throw Rethrowable(_failure);
                }
            }

            await _stream.WriteAsync(frame, ct).ConfigureAwait(false);
        }
        catch (IOException ex)
        {
            throw SendError(ex);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    // ----- the reader ----------------------------------------------------------------------------

    private async Task ReadLoopAsync()
    {
        var word = new byte[RpcLimits.LengthWordSize];
        var headerBytes = new byte[RpcLimits.HeaderSize];
        try
        {
            while (true)
            {
                if (!await ReadExactAsync(word).ConfigureAwait(false))
                {
                    throw VirtPoolException.Verbatim(VirErrorCode.SystemError, "End of file while reading data: Input/output error", VirErrorDomain.Rpc);
                }

                var length = BinaryPrimitives.ReadUInt32BigEndian(word);
                try
                {
                    RpcFrame.ValidateLength(length);
                }
                catch (RpcProtocolException)
                {
                    throw new VirtPoolException(VirErrorCode.Rpc, $"packet {length} bytes received from server too large, want {RpcLimits.MaxPacketLength}", VirErrorDomain.Rpc);
                }

                // The header first, then the payload straight into its own array: one allocation and
                // no copy per packet (stream packets are 256 KiB, large-object-heap sized).
                if (!await ReadExactAsync(headerBytes).ConfigureAwait(false))
                {
                    throw VirtPoolException.Verbatim(VirErrorCode.SystemError, "End of file while reading data: Input/output error", VirErrorDomain.Rpc);
                }

                var payload = new byte[length - RpcLimits.MinPacketLength];
                if (!await ReadExactAsync(payload).ConfigureAwait(false))
                {
                    throw VirtPoolException.Verbatim(VirErrorCode.SystemError, "End of file while reading data: Input/output error", VirErrorDomain.Rpc);
                }

                var header = RpcHeader.Read(headerBytes);
                await DispatchAsync(header, payload).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is VirtPoolException or IOException or ObjectDisposedException or OperationCanceledException or SocketException or RpcProtocolException)
        {
            Fail(ex is VirtPoolException ? ex : ReceiveError(ex));
        }
    }

    private async Task<bool> ReadExactAsync(byte[] buffer)
    {
        var read = 0;
        while (read < buffer.Length)
        {
            var n = await _stream.ReadAsync(buffer.AsMemory(read), _shutdown.Token).ConfigureAwait(false);
            if (n == 0)
            {
                return false;
            }

            read += n;
        }

        return true;
    }

    private async Task DispatchAsync(RpcHeader header, byte[] payload)
    {
        if (header.IsKeepaliveProgram)
        {
            if (header.Procedure == (int)KeepaliveProcedure.Ping)
            {
                await SendPacketAsync(RpcHeader.Keepalive(KeepaliveProcedure.Pong), null, _shutdown.Token).ConfigureAwait(false);
            }

            return;
        }

        if (!header.IsRemoteProgram)
        {
            return;
        }

        var packet = new RpcReply(header, payload);
        switch (header.Type)
        {
            case RpcMessageType.Reply:
            case RpcMessageType.ReplyWithFds:
                TaskCompletionSource<RpcReply>? waiting;
                lock (_sync)
                {
                    _pending.Remove(header.Serial, out waiting);
                }

                if (waiting is null)
                {
                    throw new VirtPoolException(VirErrorCode.Rpc, $"no call waiting for reply with prog {header.Program} vers {header.Version} serial {header.Serial}", VirErrorDomain.Rpc);
                }

                waiting.TrySetResult(packet);
                break;
            case RpcMessageType.Stream:
            case RpcMessageType.StreamHole:
                Channel<RpcReply>? stream;
                lock (_sync)
                {
                    _streams.TryGetValue(header.Serial, out stream);
                }

                // Packets of a stream nobody holds any more are dropped, as libvirt drops them.
                if (stream is not null)
                {
                    try
                    {
                        await stream.Writer.WriteAsync(packet, _shutdown.Token).ConfigureAwait(false);
                    }
                    catch (ChannelClosedException)
                    {
                    }
                }

                break;
            default:
                // Events (MESSAGE) are not subscribed to; anything else is ignored.
                break;
        }
    }

    private void Fail(Exception error)
    {
        List<TaskCompletionSource<RpcReply>> pending;
        List<Channel<RpcReply>> streams;
        lock (_sync)
        {
            _failure ??= error;
            pending = [.. _pending.Values];
            streams = [.. _streams.Values];
            _pending.Clear();
            _streams.Clear();
        }

        foreach (var tcs in pending)
        {
            tcs.TrySetException(Rethrowable(_failure));
        }

        foreach (var channel in streams)
        {
            channel.Writer.TryComplete(Rethrowable(_failure));
        }
    }

    private Exception Rethrowable(Exception failure)
    {
        if (_closing && failure is not VirtPoolException)
        {
            return new ObjectDisposedException(nameof(RemoteConnection));
        }

        return failure is VirtPoolException v ? VirtPoolException.Verbatim(v.Code, v.Message, v.Domain) : failure;
    }

    private static VirtPoolException ReceiveError(Exception ex)
        => VirtPoolException.Verbatim(VirErrorCode.SystemError, $"Cannot recv data: {SocketText(ex)}", VirErrorDomain.Rpc);

    private static VirtPoolException SendError(Exception ex)
        => VirtPoolException.Verbatim(VirErrorCode.SystemError, $"Cannot write data: {SocketText(ex)}", VirErrorDomain.Rpc);

    private static string SocketText(Exception ex)
        => ex is SocketException s || ex.InnerException is SocketException { } inner && (s = inner) is not null
            ? StrError.Describe(Errno(s, unix: false))
            : ex.Message;

    // ----- open and close ------------------------------------------------------------------------

    private static async Task<Socket> ConnectAsync(RemoteUri uri, CancellationToken ct)
    {
        if (uri.Transport == RemoteTransport.Unix)
        {
            var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                await socket.ConnectAsync(new UnixDomainSocketEndPoint(uri.SocketPath), ct).ConfigureAwait(false);
                return socket;
            }
            catch (SocketException ex)
            {
                socket.Dispose();
                throw VirtPoolException.Verbatim(VirErrorCode.SystemError, $"Failed to connect socket to '{uri.SocketPath}': {StrError.Describe(Errno(ex, unix: true))}", VirErrorDomain.Rpc);
            }
        }

        IPAddress[] addresses;
        try
        {
            addresses = IPAddress.TryParse(uri.Host, out var literal) ? [literal] : await Dns.GetHostAddressesAsync(uri.Host, ct).ConfigureAwait(false);
        }
        catch (SocketException ex)
        {
            var why = ex.SocketErrorCode switch
            {
                SocketError.TryAgain => "Temporary failure in name resolution",
                SocketError.NoData => "No address associated with hostname",
                _ => "Name or service not known",
            };
            throw VirtPoolException.Verbatim(VirErrorCode.SystemError, $"Unable to resolve address '{uri.Host}' service '{uri.Port}': {why}", VirErrorDomain.Rpc);
        }

        SocketException? last = null;
        foreach (var address in addresses)
        {
            var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(new IPEndPoint(address, uri.Port), ct).ConfigureAwait(false);
                return socket;
            }
            catch (SocketException ex)
            {
                socket.Dispose();
                last = ex;
            }
        }

        var errno = last is null ? 101 : Errno(last, unix: false);
        throw VirtPoolException.Verbatim(VirErrorCode.SystemError, $"unable to connect to server at '{uri.Host}:{uri.Port}': {StrError.Describe(errno)}", VirErrorDomain.Rpc);
    }

    /// <summary>The errno behind a socket error (.NET reports its own enumeration).</summary>
    private static int Errno(SocketException ex, bool unix) => ex.SocketErrorCode switch
    {
        SocketError.AddressNotAvailable => unix ? 2 : 99, // ENOENT for a missing socket file
        SocketError.ConnectionRefused => 111,
        SocketError.AccessDenied => 13,
        SocketError.TimedOut => 110,
        SocketError.HostUnreachable => 113,
        SocketError.NetworkUnreachable => 101,
        SocketError.ConnectionReset => 104,
        SocketError.Shutdown => 32,
        SocketError.NotSocket => 88,
        _ => 5,
    };

    private async Task HandshakeAsync(CancellationToken ct)
    {
        int[] authTypes;
        try
        {
            authTypes = await CallAsync(RemoteProcedure.AuthList, null, static (ref XdrReader r) => r.ReadArray(RpcLimits.AuthTypeListMax, static (ref XdrReader e) => e.ReadInt32()), ct).ConfigureAwait(false);
        }
        catch (VirtPoolException ex) when (ex.Code == VirErrorCode.NoSupport)
        {
            // An old server without AUTH_LIST: no authentication.
            authTypes = [];
        }

        if (authTypes.Length > 0 && authTypes[0] != 0)
        {
            if (authTypes[0] == 2)
            {
                var complete = await CallAsync(RemoteProcedure.AuthPolkit, null, static (ref XdrReader r) => r.ReadInt32(), ct).ConfigureAwait(false);
                if (complete != 1)
                {
                    throw new VirtPoolException(VirErrorCode.AuthFailed, "polkit authentication did not complete", (VirErrorDomain)46);
                }
            }
            else
            {
                throw new VirtPoolException(VirErrorCode.AuthFailed, $"authentication type {authTypes[0]} (SASL) is not supported by virtpool's remote client", (VirErrorDomain)46);
            }
        }

        try
        {
            ServerKeepalive = await SupportsFeatureAsync(FeatureKeepalive, ct).ConfigureAwait(false);
        }
        catch (VirtPoolException)
        {
            ServerKeepalive = false;
        }

        var name = Uri.OpenName;
        await CallAsync(RemoteProcedure.ConnectOpen, w =>
        {
            w.WriteOptionalString(name);
            w.WriteUInt32(0);
        }, ct).ConfigureAwait(false);
        _opened = true;

        await SupportsFeatureAsync(FeatureEventCallback, ct).ConfigureAwait(false);
        if (await SupportsFeatureAsync(FeatureCloseCallback, ct).ConfigureAwait(false))
        {
            await CallAsync(RemoteProcedure.ConnectRegisterCloseCallback, null, ct).ConfigureAwait(false);
            _closeCallbackRegistered = true;
        }
    }

    private Task<bool> SupportsFeatureAsync(int feature, CancellationToken ct)
        => CallAsync(RemoteProcedure.ConnectSupportsFeature, w => w.WriteInt32(feature), static (ref XdrReader r) => r.ReadInt32() != 0, ct);

    /// <summary>UNREGISTER_CLOSE_CALLBACK and CONNECT_CLOSE (when the connection is still usable), then the socket is closed.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        bool usable;
        lock (_sync)
        {
            usable = _opened && _failure is null;
        }

        if (usable)
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            try
            {
                if (_closeCallbackRegistered)
                {
                    await CallAsync(RemoteProcedure.ConnectUnregisterCloseCallback, null, timeout.Token).ConfigureAwait(false);
                }

                _closing = true;
                await CallAsync(RemoteProcedure.ConnectClose, null, timeout.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is VirtPoolException or OperationCanceledException or ObjectDisposedException)
            {
                // closing anyway
            }
        }

        _closing = true;
        await _shutdown.CancelAsync().ConfigureAwait(false);
        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (SocketException)
        {
        }

        await _stream.DisposeAsync().ConfigureAwait(false);
        try
        {
            await _reader.ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException)
        {
        }

        _shutdown.Dispose();
        _writeLock.Dispose();
    }
}

/// <summary>A packet for a call or a stream: its header and payload.</summary>
internal readonly record struct RpcReply(RpcHeader Header, byte[] Payload);
