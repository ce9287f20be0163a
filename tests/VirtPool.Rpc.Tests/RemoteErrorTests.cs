using System.Buffers;
using CsCheck;
using VirtPool.Core.Errors;
using VirtPool.Rpc.Xdr;

namespace VirtPool.Rpc.Tests;

public class RemoteErrorTests
{
    /// <summary>
    /// Spec 3.1's example, laid out by hand: code 49, domain 18, message, level 2, dom absent, str1 template,
    /// str2 detail, str3 absent, int1 = int2 = -1, net absent.
    /// </summary>
    private const string PoolNotFound =
        "00000031 00000012 00000001 00000047 53746f72 61676520 706f6f6c 206e6f74 20666f75 6e643a20 6e6f2073" +
        "746f7261 67652070 6f6f6c20 77697468 206d6174 6368696e 67206e61 6d652027 6e6f7375 6368706f 6f6c2700" +
        "00000002 00000000 00000001 0000001a 53746f72 61676520 706f6f6c 206e6f74 20666f75 6e643a20 25730000" +
        "00000001 0000002f 6e6f2073 746f7261 67652070 6f6f6c20 77697468 206d6174 6368696e 67206e61 6d652027" +
        "6e6f7375 6368706f 6f6c2700 00000000 ffffffff ffffffff 00000000";

    /// <summary>REPLY/ERROR to a CALL of procedure 9999, serial 7: "unknown procedure: 9999", code 39, domain 7.</summary>
    private const string UnknownProcedureReply =
        "00000088 20008086 00000001 0000270f 00000001 00000007 00000001 | 00000027 00000007 00000001 00000017" +
        "756e6b6e 6f776e20 70726f63 65647572 653a2039 39393900 00000002 00000000 00000001 00000002 25730000" +
        "00000001 00000017 756e6b6e 6f776e20 70726f63 65647572 653a2039 39393900 00000000 ffffffff ffffffff 00000000";

    private static byte[] Encode(RemoteError error)
    {
        var output = new ArrayBufferWriter<byte>();
        error.Encode(new XdrWriter(output));
        return output.WrittenSpan.ToArray();
    }

    [Fact]
    public void Pool_not_found_maps_and_encodes_like_libvirtd()
    {
        var ex = new VirtPoolException(VirErrorCode.NoStoragePool, "no storage pool with matching name 'nosuchpool'");
        var error = RemoteError.FromException(ex);

        Assert.Equal(VirErrorCode.NoStoragePool, error.Code);
        Assert.Equal(VirErrorDomain.Storage, error.Domain);
        Assert.Equal("Storage pool not found: no storage pool with matching name 'nosuchpool'", error.Message);
        Assert.Equal(VirErrorLevel.Error, error.Level);
        Assert.Equal("Storage pool not found: %s", error.Str1);
        Assert.Equal("no storage pool with matching name 'nosuchpool'", error.Str2);
        Assert.Null(error.Str3);
        Assert.Equal((-1, -1), (error.Int1, error.Int2));

        Assert.Equal(Hex.Format(Hex.Parse(PoolNotFound)), Hex.Format(Encode(error)));
        Assert.Equal(error, RemoteError.Decode(Hex.Parse(PoolNotFound)));
    }

    [Fact]
    public void Unknown_procedure_reply_is_byte_exact()
    {
        var call = new RpcHeader(RpcPrograms.Remote, 1, 9999, RpcMessageType.Call, 7, RpcMessageStatus.Ok);
        var output = new ArrayBufferWriter<byte>();
        RpcReplies.WriteUnknownProcedure(output, call);
        Assert.Equal(Hex.Format(Hex.Parse(UnknownProcedureReply)), Hex.Format(output.WrittenSpan));

        var buffer = new ReadOnlySequence<byte>(output.WrittenMemory);
        Assert.True(RpcFrame.TryReadPacket(ref buffer, out var packet));
        Assert.Equal(call.ToReply(RpcMessageStatus.Error), packet.Header);
        var error = RemoteError.Decode(packet.Payload.ToArray());
        Assert.Equal((VirErrorCode.Rpc, VirErrorDomain.Rpc, VirErrorLevel.Error), (error.Code, error.Domain, error.Level));
        Assert.Equal("unknown procedure: 9999", error.Message);
    }

    [Fact]
    public void Unknown_program_message()
    {
        var call = new RpcHeader(RpcPrograms.Qemu, 1, 1, RpcMessageType.Call, 3, RpcMessageStatus.Ok);
        var output = new ArrayBufferWriter<byte>();
        RpcReplies.WriteUnknownProgram(output, call);
        var buffer = new ReadOnlySequence<byte>(output.WrittenMemory);
        Assert.True(RpcFrame.TryReadPacket(ref buffer, out var packet));
        Assert.Equal(call.ToReply(RpcMessageStatus.Error), packet.Header);
        var error = RemoteError.Decode(packet.Payload.ToArray());
        Assert.Equal("Cannot find program 536903815 version 1", error.Message);
        Assert.Equal((VirErrorCode.Rpc, VirErrorDomain.Rpc), (error.Code, error.Domain));
    }

    [Fact]
    public void Rpc_level_errors_have_libvirt_texts()
    {
        Assert.Equal("Unable to decode message payload", RemoteError.PayloadDecodeFailed().Message);
        Assert.Equal("Unexpected message status 2", RemoteError.UnexpectedStatus(RpcMessageStatus.Continue).Message);
        Assert.Equal("Unexpected message type 4", RemoteError.UnexpectedType(RpcMessageType.CallWithFds).Message);
        Assert.Equal("%s", RemoteError.PayloadDecodeFailed().Str1);
    }

    [Fact]
    public void Error_without_detail_uses_the_bare_prefix()
    {
        var error = RemoteError.FromException(new VirtPoolException(VirErrorCode.NoStorageVol, null));
        Assert.Equal("Storage volume not found", error.Message);
        Assert.Equal("Storage volume not found", error.Str1);
        Assert.Null(error.Str2);
    }

    [Fact]
    public void Verbatim_error_keeps_its_message_without_template()
    {
        var ex = VirtPoolException.Verbatim(VirErrorCode.InvalidArg, "unsupported flags (0x8) in function virStoragePoolRefresh");
        var error = RemoteError.FromException(ex);
        Assert.Equal("unsupported flags (0x8) in function virStoragePoolRefresh", error.Message);
        Assert.Equal((VirErrorCode.InvalidArg, VirErrorDomain.Storage), (error.Code, error.Domain));
        Assert.Null(error.Str1);
        Assert.Equal((0, 0), (error.Int1, error.Int2));
    }

    [Fact]
    public void To_exception_keeps_code_domain_and_message()
    {
        var original = new VirtPoolException(VirErrorCode.OperationInvalid, "storage pool 'p' is not active");
        var back = RemoteError.FromException(original).ToException();
        Assert.Equal(original.Code, back.Code);
        Assert.Equal(original.Domain, back.Domain);
        Assert.Equal(original.Message, back.Message);
    }

    [Fact]
    public void Present_dom_and_net_are_skipped()
    {
        byte[] bytes = Hex.Parse(
            "00000001 00000000 00000000 00000002" + // code, domain, message absent, level
            "00000001 00000002 766d0000 00112233 44556677 8899aabb ccddeeff 00000005" + // dom { "vm", uuid, id 5 }
            "00000000 00000000 00000000 00000003 00000004" + // str1..3 absent, int1, int2
            "00000001 00000003 6e657400 00112233 44556677 8899aabb ccddeeff"); // net { "net", uuid }
        var reader = new XdrReader(bytes);
        var error = RemoteError.Decode(ref reader);
        Assert.True(reader.IsAtEnd);
        Assert.Equal(VirErrorCode.InternalError, error.Code);
        Assert.Null(error.Message);
        Assert.Equal((3, 4), (error.Int1, error.Int2));
    }

    [Fact]
    public void Every_truncation_fails_with_xdr_format_exception()
    {
        byte[] bytes = Hex.Parse(PoolNotFound);
        for (int length = 0; length < bytes.Length; length++)
        {
            byte[] prefix = bytes[..length];
            Assert.Throws<XdrFormatException>(() => RemoteError.Decode(prefix));
        }
    }

    [Fact]
    public void Random_errors_round_trip()
    {
        var text = Gen.OneOf(Gen.Const((string?)null), Gen.Char['a', 'z'].Array[0, 30].Select(c => (string?)new string(c)));
        Gen.Select(Gen.Int, Gen.Int, text, Gen.Int[0, 2], Gen.Select(text, text, text), Gen.Int, Gen.Int).Sample((code, domain, message, level, strs, int1, int2) =>
        {
            var error = new RemoteError
            {
                Code = (VirErrorCode)code,
                Domain = (VirErrorDomain)domain,
                Message = message,
                Level = (VirErrorLevel)level,
                Str1 = strs.Item1,
                Str2 = strs.Item2,
                Str3 = strs.Item3,
                Int1 = int1,
                Int2 = int2,
            };
            Assert.Equal(error, RemoteError.Decode(Encode(error)));
        });
    }
}
