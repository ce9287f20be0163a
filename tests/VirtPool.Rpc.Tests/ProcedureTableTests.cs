using System.Buffers;
using VirtPool.Core.Errors;
using VirtPool.Rpc.Xdr;

namespace VirtPool.Rpc.Tests;

public class ProcedureTableTests
{
    private static RpcHeader CallOf(int procedure, uint serial = 5)
        => new(RpcPrograms.Remote, 1, procedure, RpcMessageType.Call, serial, RpcMessageStatus.Ok);

    /// <summary>CONNECT_SUPPORTS_FEATURE: i32 feature → i32 supported (1 for keepalive only).</summary>
    private static ValueTask SupportsFeature(RpcCallContext context, ReadOnlyMemory<byte> args)
    {
        var reader = new XdrReader(args.Span);
        int feature = reader.ReadInt32();
        context.ReplyWriter.WriteInt32(feature == 10 ? 1 : 0);
        return ValueTask.CompletedTask;
    }

    private static async Task<(RpcHeader Header, byte[] Payload)> Dispatch(ProcedureTable<RpcCallContext> table, RpcHeader call, byte[] args)
    {
        using var output = new PooledBufferWriter();
        output.Write<byte>([0xAA]); // earlier output stays as it is
        await table.DispatchAsync(new RpcCallContext(call, output), args);
        Assert.Equal(0xAA, output.WrittenSpan[0]);
        var buffer = new ReadOnlySequence<byte>(output.WrittenMemory[1..]);
        Assert.True(RpcFrame.TryReadPacket(ref buffer, out var packet));
        Assert.True(buffer.IsEmpty);
        return (packet.Header, packet.Payload.ToArray());
    }

    [Fact]
    public void Register_and_try_get()
    {
        var table = new ProcedureTable<RpcCallContext>();
        table.Register(RemoteProcedure.ConnectSupportsFeature, SupportsFeature);
        table.Register(RemoteProcedure.ConnectGetStoragePoolCapabilities, (_, _) => ValueTask.CompletedTask);

        Assert.True(table.TryGet(60, out var handler));
        Assert.NotNull(handler);
        Assert.True(table.IsRegistered(RemoteProcedure.ConnectGetStoragePoolCapabilities));
        Assert.Equal(2, table.Count);
        Assert.Equal([RemoteProcedure.ConnectSupportsFeature, RemoteProcedure.ConnectGetStoragePoolCapabilities], table.Procedures);

        foreach (int unknown in new[] { 0, 1, 61, 402, 404, 100_000, int.MaxValue, -1, int.MinValue })
        {
            Assert.False(table.TryGet(unknown, out _));
        }
    }

    [Fact]
    public void Duplicate_or_nonsense_registration_throws()
    {
        var table = new ProcedureTable<RpcCallContext>();
        table.Register(RemoteProcedure.AuthList, (_, _) => ValueTask.CompletedTask);
        Assert.Throws<InvalidOperationException>(() => table.Register(RemoteProcedure.AuthList, (_, _) => ValueTask.CompletedTask));
        Assert.Throws<ArgumentOutOfRangeException>(() => table.Register((RemoteProcedure)(-3), (_, _) => ValueTask.CompletedTask));
        Assert.Throws<ArgumentOutOfRangeException>(() => table.Register((RemoteProcedure)1_000_000, (_, _) => ValueTask.CompletedTask));
    }

    [Fact]
    public async Task Dispatch_writes_the_reply()
    {
        var table = new ProcedureTable<RpcCallContext>();
        table.Register(RemoteProcedure.ConnectSupportsFeature, SupportsFeature);
        var (header, payload) = await Dispatch(table, CallOf(60, serial: 1), Hex.Parse("0000000a"));
        Assert.Equal(CallOf(60, serial: 1).ToReply(), header);
        Assert.Equal(Hex.Parse("00000001"), payload);
    }

    [Fact]
    public async Task Unknown_procedure_gets_libvirts_error()
    {
        var table = new ProcedureTable<RpcCallContext>();
        var (header, payload) = await Dispatch(table, CallOf(273), []);
        Assert.Equal(CallOf(273).ToReply(RpcMessageStatus.Error), header);
        var error = RemoteError.Decode(payload);
        Assert.Equal((VirErrorCode.Rpc, VirErrorDomain.Rpc, "unknown procedure: 273"), (error.Code, error.Domain, error.Message));
    }

    [Fact]
    public async Task Short_args_get_the_decode_error_and_no_partial_reply()
    {
        var table = new ProcedureTable<RpcCallContext>();
        table.Register(RemoteProcedure.ConnectSupportsFeature, SupportsFeature);
        var (header, payload) = await Dispatch(table, CallOf(60), Hex.Parse("0000"));
        Assert.Equal(RpcMessageStatus.Error, header.Status);
        Assert.Equal("Unable to decode message payload", RemoteError.Decode(payload).Message);
    }

    [Fact]
    public async Task Virtpool_exception_becomes_its_remote_error_replacing_partial_output()
    {
        var table = new ProcedureTable<RpcCallContext>();
        table.Register(RemoteProcedure.StoragePoolLookupByName, async (context, args) =>
        {
            context.ReplyWriter.WriteString("half a reply");
            await Task.Yield();
            throw new VirtPoolException(VirErrorCode.NoStoragePool, "no storage pool with matching name 'x'");
        });
        var (header, payload) = await Dispatch(table, CallOf(84), []);
        Assert.Equal(RpcMessageStatus.Error, header.Status);
        var error = RemoteError.Decode(payload);
        Assert.Equal((VirErrorCode.NoStoragePool, VirErrorDomain.Storage), (error.Code, error.Domain));
        Assert.Equal("Storage pool not found: no storage pool with matching name 'x'", error.Message);
    }

    /// <summary>
    /// A ret struct too large to send, whichever procedure and however it is too large (one string over
    /// 4 MiB, an array over its count, strings within their limit that add up past 16 MiB): libvirtd's
    /// encoder answers all alike (virNetMessageEncodePayload), never with the writer's own words.
    /// </summary>
    [Theory]
    [InlineData("string")]
    [InlineData("array")]
    [InlineData("message")]
    public async Task A_reply_too_large_to_encode_gets_libvirts_rpc_error(string tooLarge)
    {
        var table = new ProcedureTable<RpcCallContext>();
        table.Register(RemoteProcedure.ConnectFindStoragePoolSources, (context, args) =>
        {
            var writer = context.ReplyWriter;
            switch (tooLarge)
            {
                case "string":
                    writer.WriteString(new string('x', RpcLimits.StringMax + 1));
                    break;
                case "array":
                    writer.WriteArray<int>(new int[RpcLimits.StoragePoolListMax + 1], RpcLimits.StoragePoolListMax, (w, v) => w.WriteInt32(v));
                    break;
                default:
                    var part = new string('x', RpcLimits.StringMax);
                    for (var i = 0; i < 5; i++)
                    {
                        writer.WriteString(part);
                    }

                    break;
            }

            return ValueTask.CompletedTask;
        });
        var (header, payload) = await Dispatch(table, CallOf((int)RemoteProcedure.ConnectFindStoragePoolSources), []);
        Assert.Equal(CallOf((int)RemoteProcedure.ConnectFindStoragePoolSources).ToReply(RpcMessageStatus.Error), header);
        var error = RemoteError.Decode(payload);
        Assert.Equal((VirErrorCode.Rpc, VirErrorDomain.Rpc, "Unable to encode message payload"), (error.Code, error.Domain, error.Message));
    }

    [Fact]
    public async Task Other_exceptions_propagate_and_leave_no_partial_packet()
    {
        var table = new ProcedureTable<RpcCallContext>();
        table.Register(RemoteProcedure.StoragePoolRefresh, (context, args) =>
        {
            context.ReplyWriter.WriteInt32(1);
            throw new InvalidCastException("bug");
        });
        using var output = new PooledBufferWriter();
        await Assert.ThrowsAsync<InvalidCastException>(async () => await table.DispatchAsync(new RpcCallContext(CallOf(83), output), ReadOnlyMemory<byte>.Empty));
        Assert.Equal(0, output.WrittenCount);
    }
}
