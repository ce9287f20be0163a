using System.Buffers;
using VirtPool.Rpc.Xdr;

namespace VirtPool.Rpc.Tests;

/// <summary>
/// The annotated captures of spec 1.9: each is parsed, its payload decoded field by field, then re-encoded
/// from the decoded values and compared byte for byte.
/// </summary>
public class WireExampleTests
{
    /// <summary>Decodes the payload and writes it back from the decoded values.</summary>
    private delegate void Reencode(ref XdrReader reader, XdrWriter writer);

    internal const string AuthListCall = "0000001c 20008086 00000001 00000042 00000000 00000000 00000000";
    internal const string AuthListReply = "00000024 20008086 00000001 00000042 00000001 00000000 00000000 | 00000001 00000000";
    internal const string SupportsFeatureCall = "00000020 20008086 00000001 0000003c 00000000 00000001 00000000 | 0000000a";
    internal const string SupportsFeatureReply = "00000020 20008086 00000001 0000003c 00000001 00000001 00000000 | 00000001";

    internal const string ConnectOpenCall =
        "00000038 20008086 00000001 00000001 00000000 00000002 00000000 |" +
        "00000001 0000000e 71656d75 3a2f2f2f 73797374 656d0000 00000000";

    internal const string ConnectOpenReply = "0000001c 20008086 00000001 00000001 00000001 00000002 00000000";
    internal const string ListAllPoolsCall = "00000024 20008086 00000001 00000119 00000000 00000006 00000000 | 00000001 00000003";

    internal const string ListAllPoolsReply =
        "0000003c 20008086 00000001 00000119 00000001 00000006 00000000 |" +
        "00000001 00000004 63617074 51ba6aa6 162e4404 a7f3b932 553be85e 00000001";

    internal const string PoolGetInfoReply =
        "00000038 20008086 00000001 00000057 00000001 00000008 00000000 |" +
        "00000002 0000003e fe39d000 00000004 14881000 0000003a e9b1c000";

    internal const string KeepalivePing = "0000001c 6b656570 00000001 00000001 00000002 00000000 00000000";

    internal const string StreamHoleDownload =
        "00000028 20008086 00000001 000000d1 00000006 0000000a 00000002 | 00000000 01000000 00000000";

    internal static readonly string[] All =
    [
        AuthListCall, AuthListReply, SupportsFeatureCall, SupportsFeatureReply, ConnectOpenCall, ConnectOpenReply,
        ListAllPoolsCall, ListAllPoolsReply, PoolGetInfoReply, KeepalivePing, StreamHoleDownload,
    ];

    private static RpcHeader Remote(RemoteProcedure procedure, RpcMessageType type, uint serial, RpcMessageStatus status = RpcMessageStatus.Ok)
        => new(RpcPrograms.Remote, 1, (int)procedure, type, serial, status);

    /// <summary>Parses the one packet in <paramref name="hex"/>, checks its header, re-encodes it.</summary>
    private static void RoundTrip(string hex, RpcHeader expectedHeader, Reencode reencode)
    {
        byte[] wire = Hex.Parse(hex);
        var buffer = new ReadOnlySequence<byte>(wire);
        Assert.True(RpcFrame.TryReadPacket(ref buffer, out var packet));
        Assert.True(buffer.IsEmpty);
        Assert.Equal(expectedHeader, packet.Header);
        Assert.Equal(wire.Length, packet.Length);

        byte[] payload = packet.Payload.ToArray();
        var reader = new XdrReader(payload);
        var encoded = new ArrayBufferWriter<byte>();
        reencode(ref reader, new XdrWriter(encoded));
        Assert.True(reader.IsAtEnd, $"{reader.Remaining} payload bytes not decoded");

        byte[] rebuilt = Packets.Build(packet.Header, encoded.WrittenSpan);
        Assert.Equal(Hex.Format(wire), Hex.Format(rebuilt));
    }

    [Fact]
    public void Auth_list_call_and_reply()
    {
        RoundTrip(AuthListCall, Remote(RemoteProcedure.AuthList, RpcMessageType.Call, 0), (ref XdrReader r, XdrWriter w) => { });
        RoundTrip(AuthListReply, Remote(RemoteProcedure.AuthList, RpcMessageType.Reply, 0), (ref XdrReader r, XdrWriter w) =>
        {
            int[] types = r.ReadArray(RpcLimits.AuthTypeListMax, (ref XdrReader e) => e.ReadInt32());
            Assert.Equal(new[] { 0 }, types); // REMOTE_AUTH_NONE
            w.WriteArray<int>(types, RpcLimits.AuthTypeListMax, (x, v) => x.WriteInt32(v));
        });
    }

    [Fact]
    public void Supports_feature_call_and_reply()
    {
        RoundTrip(SupportsFeatureCall, Remote(RemoteProcedure.ConnectSupportsFeature, RpcMessageType.Call, 1), (ref XdrReader r, XdrWriter w) =>
        {
            int feature = r.ReadInt32();
            Assert.Equal(10, feature); // PROGRAM_KEEPALIVE
            w.WriteInt32(feature);
        });
        RoundTrip(SupportsFeatureReply, Remote(RemoteProcedure.ConnectSupportsFeature, RpcMessageType.Reply, 1), (ref XdrReader r, XdrWriter w) =>
        {
            bool supported = r.ReadBool();
            Assert.True(supported);
            w.WriteBool(supported);
        });
    }

    [Fact]
    public void Connect_open_call_and_reply()
    {
        RoundTrip(ConnectOpenCall, Remote(RemoteProcedure.ConnectOpen, RpcMessageType.Call, 2), (ref XdrReader r, XdrWriter w) =>
        {
            string? name = r.ReadOptionalString();
            uint flags = r.ReadUInt32();
            Assert.Equal("qemu:///system", name);
            Assert.Equal(0u, flags);
            w.WriteOptionalString(name);
            w.WriteUInt32(flags);
        });
        RoundTrip(ConnectOpenReply, Remote(RemoteProcedure.ConnectOpen, RpcMessageType.Reply, 2), (ref XdrReader r, XdrWriter w) => { });
    }

    [Fact]
    public void Connect_open_accepts_go_libvirt_present_marker()
    {
        // go-libvirt sends the optional's discriminant as 0x01000000 (spec 2.2).
        byte[] payload = Hex.Parse("01000000 0000000e 71656d75 3a2f2f2f 73797374 656d0000 00000000");
        var reader = new XdrReader(payload);
        Assert.Equal("qemu:///system", reader.ReadOptionalString());
        Assert.Equal(0u, reader.ReadUInt32());
    }

    [Fact]
    public void List_all_storage_pools_call_and_reply()
    {
        RoundTrip(ListAllPoolsCall, Remote(RemoteProcedure.ConnectListAllStoragePools, RpcMessageType.Call, 6), (ref XdrReader r, XdrWriter w) =>
        {
            int needResults = r.ReadInt32();
            uint flags = r.ReadUInt32();
            Assert.Equal((1, 3u), (needResults, flags));
            w.WriteInt32(needResults);
            w.WriteUInt32(flags);
        });
        RoundTrip(ListAllPoolsReply, Remote(RemoteProcedure.ConnectListAllStoragePools, RpcMessageType.Reply, 6), (ref XdrReader r, XdrWriter w) =>
        {
            var pools = r.ReadArray(RpcLimits.StoragePoolListMax, (ref XdrReader e) => (Name: e.ReadString(), Uuid: e.ReadUuid()), minElementSize: 20);
            uint ret = r.ReadUInt32();
            Assert.Equal(new[] { ("capt", Guid.Parse("51ba6aa6-162e-4404-a7f3-b932553be85e")) }, pools);
            Assert.Equal(1u, ret);
            w.WriteArray<(string Name, Guid Uuid)>(pools, RpcLimits.StoragePoolListMax, (x, p) =>
            {
                x.WriteString(p.Name);
                x.WriteUuid(p.Uuid);
            });
            w.WriteUInt32(ret);
        });
    }

    [Fact]
    public void Pool_get_info_reply()
    {
        RoundTrip(PoolGetInfoReply, Remote(RemoteProcedure.StoragePoolGetInfo, RpcMessageType.Reply, 8), (ref XdrReader r, XdrWriter w) =>
        {
            int state = r.ReadInt32(); // unsigned char, widened to 4 bytes
            ulong capacity = r.ReadUInt64();
            ulong allocation = r.ReadUInt64();
            ulong available = r.ReadUInt64();
            Assert.Equal(2, state); // RUNNING
            Assert.Equal(0x3efe39d000ul, capacity);
            Assert.Equal(0x414881000ul, allocation);
            Assert.Equal(0x3ae9b1c000ul, available);
            w.WriteInt32(state);
            w.WriteUInt64(capacity);
            w.WriteUInt64(allocation);
            w.WriteUInt64(available);
        });
    }

    [Fact]
    public void Keepalive_ping()
    {
        RoundTrip(KeepalivePing, RpcHeader.Keepalive(KeepaliveProcedure.Ping), (ref XdrReader r, XdrWriter w) => { });

        var output = new ArrayBufferWriter<byte>();
        RpcReplies.WriteKeepalive(output, KeepaliveProcedure.Ping);
        Assert.Equal(Hex.Parse(KeepalivePing), output.WrittenSpan.ToArray());
    }

    [Fact]
    public void Stream_hole_during_sparse_download()
    {
        var download = Remote(RemoteProcedure.StorageVolDownload, RpcMessageType.Call, 10);
        RoundTrip(StreamHoleDownload, download with { Type = RpcMessageType.StreamHole, Status = RpcMessageStatus.Continue }, (ref XdrReader r, XdrWriter w) =>
        {
            var hole = StreamHole.Decode(ref r);
            Assert.Equal(new StreamHole(16 * 1024 * 1024, 0), hole);
            hole.Encode(w);
        });

        // The same packet from the stream helper, given the CALL that opened the stream.
        var output = new ArrayBufferWriter<byte>();
        RpcStream.WriteHole(output, download, new StreamHole(16 * 1024 * 1024));
        Assert.Equal(Hex.Parse(StreamHoleDownload), output.WrittenSpan.ToArray());
    }
}
