using VirtPool.Core.Errors;
using VirtPool.Daemon.Connections;
using VirtPool.Rpc;

namespace VirtPool.Daemon.Tests;

/// <summary>Connection set-up (spec 4, 7): exact bytes on a raw socket, then the real virsh and libvirt-python.</summary>
public sealed class HandshakeTests
{
    private static byte[] FromHex(string hex) => Convert.FromHexString(hex.Replace(" ", string.Empty, StringComparison.Ordinal));

    [Fact]
    public async Task Raw_handshake_matches_the_captured_bytes()
    {
        await using var daemon = await TestDaemon.StartAsync();
        using var client = RawClient.Unix(daemon.Socket);

        // Spec 1.9, captured from virsh 9.0 against libvirtd 9.0.
        client.SendRaw(FromHex("0000001c 20008086 00000001 00000042 00000000 00000000 00000000"));
        var auth = await client.ReadAsync();
        Assert.Equal("00000024 20008086 00000001 00000042 00000001 00000000 00000000 00000001 00000000", Frame(auth!));

        client.SendRaw(FromHex("00000020 20008086 00000001 0000003c 00000000 00000001 00000000 0000000a"));
        Assert.Equal("00000020 20008086 00000001 0000003c 00000001 00000001 00000000 00000001", Frame((await client.ReadAsync())!));

        client.SendRaw(FromHex("00000038 20008086 00000001 00000001 00000000 00000002 00000000 00000001 0000000e 71656d75 3a2f2f2f 73797374 656d0000 00000000"));
        Assert.Equal("0000001c 20008086 00000001 00000001 00000001 00000002 00000000", Frame((await client.ReadAsync())!));

        var uri = await client.CallAsync(RemoteProcedure.ConnectGetUri, 3, []);
        Assert.Equal(RpcMessageStatus.Ok, uri.Header.Status);
        Assert.Equal("0000000e 71656d75 3a2f2f2f 73797374 656d0000", Tool.Hex(uri.Payload));

        var lib = await client.CallAsync(RemoteProcedure.ConnectGetLibVersion, 4, []);
        Assert.Equal("00000000 00895440", Tool.Hex(lib.Payload));

        // CONNECT_CLOSE: the reply, then EOF (spec 4.5).
        var close = await client.CallAsync(RemoteProcedure.ConnectClose, 5, []);
        Assert.Equal(RpcMessageStatus.Ok, close.Header.Status);
        Assert.True(await client.ClosedByServerAsync(TimeSpan.FromSeconds(10)));
    }

    private static string Frame(Packet packet)
    {
        using var buffer = new PooledBufferWriter();
        RpcFrame.WritePacket(buffer, packet.Header, packet.Payload);
        return Tool.Hex(buffer.WrittenSpan);
    }

    [Fact]
    public async Task Calls_before_open_follow_libvirtd()
    {
        await using var daemon = await TestDaemon.StartAsync();
        using var client = RawClient.Unix(daemon.Socket);

        var uri = await client.CallAsync(RemoteProcedure.ConnectGetUri, 1, []);
        Assert.Equal(RpcMessageStatus.Error, uri.Header.Status);
        Assert.Equal((VirErrorCode.InternalError, VirErrorDomain.Rpc, "internal error: connection not open"),
            (uri.Error.Code, uri.Error.Domain, uri.Error.Message));

        var feature14 = await client.CallAsync(RemoteProcedure.ConnectSupportsFeature, 2, Payload.Int(14));
        Assert.Equal("internal error: hypervisor connection not open", feature14.Error.Message);

        var pools = await client.CallAsync(RemoteProcedure.ConnectListAllStoragePools, 3, Payload.Build(w => { w.WriteInt32(1); w.WriteUInt32(0); }));
        Assert.Equal("internal error: connection not open", pools.Error.Message);

        // go-libvirt's "present" marker is 0x01000000 (spec 2.2).
        byte[] open = Payload.Open("qemu:///system");
        open[0] = 1;
        open[3] = 0;
        Assert.Equal(RpcMessageStatus.Ok, (await client.CallAsync(RemoteProcedure.ConnectOpen, 4, open)).Header.Status);

        var again = await client.CallAsync(RemoteProcedure.ConnectOpen, 5, Payload.Open("qemu:///system"));
        Assert.Equal("internal error: connection already open", again.Error.Message);

        // Still open and usable after the refused second open.
        var type = await client.CallAsync(RemoteProcedure.ConnectGetType, 6, []);
        Assert.Equal(RpcMessageStatus.Ok, type.Header.Status);
    }

    [Theory]
    [InlineData("qemu:///system", "qemu:///system")]
    [InlineData("qemu:///session", "qemu:///session")]
    [InlineData("storage:///system", "storage:///system")]
    [InlineData("", "qemu:///system")]
    [InlineData(null, "qemu:///system")]
    public async Task Open_accepts_the_storage_uris(string? name, string expected)
    {
        await using var daemon = await TestDaemon.StartAsync();
        using var client = RawClient.Unix(daemon.Socket);
        Assert.Equal(RpcMessageStatus.Ok, (await client.CallAsync(RemoteProcedure.ConnectOpen, 1, Payload.Open(name))).Header.Status);
        var uri = await client.CallAsync(RemoteProcedure.ConnectGetUri, 2, []);
        var reader = new VirtPool.Rpc.Xdr.XdrReader(uri.Payload);
        // A probe picks qemu:///system as root (what libvirtd answers); tests run as root in CI.
        string got = reader.ReadString();
        Assert.Equal(VirtPool.Core.Interop.LibC.GetEuid() == 0 || name is { Length: > 0 } ? expected : "qemu:///session", got);
    }

    [Fact]
    public async Task Open_refuses_other_drivers_and_unknown_calls_get_libvirt_errors()
    {
        await using var daemon = await TestDaemon.StartAsync();
        using var client = RawClient.Unix(daemon.Socket);
        var xen = await client.CallAsync(RemoteProcedure.ConnectOpen, 1, Payload.Open("xen:///system"));
        Assert.Equal((VirErrorCode.NoConnect, VirErrorDomain.None, "no connection driver available for xen:///system"),
            (xen.Error.Code, xen.Error.Domain, xen.Error.Message));

        Assert.Equal(RpcMessageStatus.Ok, (await client.CallAsync(RemoteProcedure.ConnectOpen, 2, Payload.Open("qemu:///system"))).Header.Status);
        var vcpus = await client.CallAsync(RemoteProcedure.ConnectGetMaxVcpus, 3, Payload.Build(w => w.WriteOptionalString(null)));
        Assert.Equal((VirErrorCode.Rpc, VirErrorDomain.Rpc, "unknown procedure: 5"), (vcpus.Error.Code, vcpus.Error.Domain, vcpus.Error.Message));

        // A different program: the error echoes prog/vers/proc/serial (spec 1.6).
        client.Send(new RpcHeader(RpcPrograms.Qemu, 1, 1, RpcMessageType.Call, 7, RpcMessageStatus.Ok), []);
        var qemu = await client.ReplyAsync(7);
        Assert.Equal((RpcPrograms.Qemu, 1u, 1, RpcMessageStatus.Error), (qemu.Header.Program, qemu.Header.Version, qemu.Header.Procedure, qemu.Header.Status));
        Assert.Equal($"Cannot find program {(int)RpcPrograms.Qemu} version 1", qemu.Error.Message);

        // Bad status on a CALL, and a short payload.
        client.Send(RpcHeader.Call(RemoteProcedure.ConnectGetUri, 8) with { Status = RpcMessageStatus.Continue }, []);
        Assert.Equal("Unexpected message status 2", (await client.ReplyAsync(8)).Error.Message);
        var shortArgs = await client.CallAsync(RemoteProcedure.ConnectSupportsFeature, 9, [0, 0]);
        Assert.Equal("Unable to decode message payload", shortArgs.Error.Message);
    }

    [Fact]
    public async Task Virsh_uri_hostname_version_and_pool_list()
    {
        if (!Tool.Available(Tool.Virsh))
        {
            Assert.Fail("virsh (libvirt-clients) is not installed");
        }

        await using var daemon = await TestDaemon.StartAsync();
        var uri = await Tool.VirshAsync(daemon.Uri, "uri");
        Assert.True(uri.Exit == 0, uri.Err);
        Assert.Equal(daemon.Uri, uri.Out.Trim());

        var host = await Tool.VirshAsync(daemon.Uri, "hostname");
        Assert.True(host.Exit == 0, host.Err);
        Assert.Equal(ConnectProcedures.Hostname(), host.Out.Trim());

        var version = await Tool.VirshAsync(daemon.Uri, "version");
        Assert.True(version.Exit == 0, version.Err);
        Assert.Equal(
            """
            Compiled against library: libvirt 9.0.0
            Using library: libvirt 9.0.0
            Using API: QEMU 9.0.0
            Cannot extract running QEMU hypervisor version
            """, version.Out.Trim());

        var pools = await Tool.VirshAsync(daemon.Uri, "pool-list", "--all");
        Assert.True(pools.Exit == 0, pools.Err);
        Assert.Equal("", pools.Out.Trim());

        var domains = await Tool.VirshAsync(daemon.Uri, "list", "--all");
        Assert.True(domains.Exit == 0, domains.Err);
    }

    [Fact]
    public async Task Virsh_pool_lifecycle_through_the_daemon()
    {
        await using var daemon = await TestDaemon.StartAsync();
        string target = Path.Combine(daemon.Dir, "pool");
        Directory.CreateDirectory(target);
        var define = await Tool.VirshAsync(daemon.Uri, "pool-define-as", "hs", "dir", "--target", target);
        Assert.True(define.Exit == 0, define.Err);
        Assert.True((await Tool.VirshAsync(daemon.Uri, "pool-start", "hs")).Exit == 0);
        var list = await Tool.VirshAsync(daemon.Uri, "pool-list", "--all");
        Assert.True(list.Exit == 0, list.Err);
        Assert.Matches(@"^\s*hs\s+active\s+no\s*$", list.Out.Trim());

        // The read-only socket refuses changes whatever the client asked for.
        var ro = await Tool.VirshAsync(daemon.ReadOnlyUri, "pool-destroy", "hs");
        Assert.NotEqual(0, ro.Exit);
        Assert.Contains("read only access prevents", ro.Err, StringComparison.Ordinal);
        Assert.True((await Tool.VirshAsync(daemon.ReadOnlyUri, "pool-list", "--all")).Exit == 0);
    }

    [Fact]
    public async Task Python_libvirt_open_close_uri_and_versions()
    {
        if (!Tool.Available(Tool.Python))
        {
            Assert.Fail("/usr/bin/python3 is missing");
        }

        await using var daemon = await TestDaemon.StartAsync();
        string output = await Tool.PythonAsync($$"""
            import libvirt
            c = libvirt.open('{{daemon.Uri}}')
            print(c.getURI())
            print(c.getLibVersion())
            print(c.getType())
            print(c.isAlive())
            print(len(c.listAllStoragePools(0)))
            c.close()
            r = libvirt.openReadOnly('{{daemon.Uri}}')
            print(r.getURI())
            r.close()
            try:
                libvirt.open('{{daemon.Uri.Replace("qemu+unix", "xen+unix", StringComparison.Ordinal)}}')
            except libvirt.libvirtError as e:
                print(e.get_error_code(), e.get_error_domain())
            """);
        Assert.Equal(
            [daemon.Uri, "9000000", "QEMU", "1", "0", daemon.Uri, "5 0"],
            output.Trim().Split('\n'));
    }
}
