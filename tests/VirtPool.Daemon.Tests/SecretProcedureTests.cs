using VirtPool.Core.Errors;
using VirtPool.Rpc;
using VirtPool.Rpc.Xdr;

namespace VirtPool.Daemon.Tests;

/// <summary>Secret procedures (spec 10) through the procedure table onto a real secret store.</summary>
public sealed class SecretProcedureTests : IDisposable
{
    private static readonly Guid Uuid = Guid.Parse("8373c908-83bb-48dd-93fb-30aba0a32fe6");

    private readonly StorageHarness _h = new();

    public void Dispose() => _h.Dispose();

    private static (Guid Uuid, int UsageType, string UsageId) ReadSecret(ref XdrReader r)
    {
        var uuid = r.ReadUuid();
        var type = r.ReadInt32();
        return (uuid, type, r.ReadString());
    }

    private static void Secret(XdrWriter w, Guid uuid, int usageType = 0, string usageId = "")
    {
        w.WriteUuid(uuid);
        w.WriteInt32(usageType);
        w.WriteString(usageId);
    }

    private static string CephXml(Guid uuid, string usage, bool isPrivate = false)
        => $"<secret ephemeral='no' private='{(isPrivate ? "yes" : "no")}'><uuid>{uuid:D}</uuid><usage type='ceph'><name>{usage}</name></usage></secret>";

    private async Task DefineAsync(string xml)
        => (await _h.CallAsync(RemoteProcedure.SecretDefineXml, w =>
        {
            w.WriteString(xml);
            w.WriteUInt32(0);
        })).Ret(ReadSecret);

    [Fact]
    public void All_secret_procedures_except_event_registration_are_registered()
    {
        foreach (var proc in new[] { 139, 140, 141, 142, 143, 144, 145, 146, 147, 287 })
        {
            Assert.True(_h.Table.TryGet(proc, out _), $"procedure {proc} is not registered");
        }
    }

    [Fact]
    public async Task Define_set_get_list_lookup_undefine()
    {
        var handle = (await _h.CallAsync(RemoteProcedure.SecretDefineXml, w =>
        {
            w.WriteString(CephXml(Uuid, "spec-fcc444ca-ceph"));
            w.WriteUInt32(0);
        })).Ret(ReadSecret);
        Assert.Equal((Uuid, 2, "spec-fcc444ca-ceph"), handle);

        // The captured SET_VALUE: 00 01 "binary" ff.
        byte[] value = [0x00, 0x01, .. "binary"u8, 0xff];
        (await _h.CallAsync(RemoteProcedure.SecretSetValue, w =>
        {
            Secret(w, Uuid, 2, "spec-fcc444ca-ceph");
            w.WriteVariableOpaque(value, 65536);
            w.WriteUInt32(0);
        })).AssertVoid();

        // Handles resolve by UUID only: a wrong usage is ignored.
        var got = (await _h.CallAsync(RemoteProcedure.SecretGetValue, w =>
        {
            Secret(w, Uuid, 4, "whatever");
            w.WriteUInt32(0);
        })).Ret(static (ref XdrReader r) => r.ReadVariableOpaque(65536).ToArray());
        Assert.Equal(value, got);

        Assert.Equal(1, (await _h.CallAsync(RemoteProcedure.ConnectNumOfSecrets)).Ret(static (ref XdrReader r) => r.ReadInt32()));
        var uuids = (await _h.CallAsync(RemoteProcedure.ConnectListSecrets, w => w.WriteInt32(10)))
            .Ret(static (ref XdrReader r) => r.ReadArray(16384, static (ref XdrReader e) => e.ReadString()));
        Assert.Equal(["8373c908-83bb-48dd-93fb-30aba0a32fe6"], uuids);
        var (all, count) = (await _h.CallAsync(RemoteProcedure.ConnectListAllSecrets, w =>
        {
            w.WriteInt32(1);
            w.WriteUInt32(0);
        })).Ret(static (ref XdrReader r) => (r.ReadArray(16384, ReadSecret, 24), r.ReadUInt32()));
        Assert.Equal([handle], all);
        Assert.Equal(1u, count);

        Assert.Equal(handle, (await _h.CallAsync(RemoteProcedure.SecretLookupByUuid, w => w.WriteUuid(Uuid))).Ret(ReadSecret));
        Assert.Equal(handle, (await _h.CallAsync(RemoteProcedure.SecretLookupByUsage, w =>
        {
            w.WriteInt32(2);
            w.WriteString("spec-fcc444ca-ceph");
        })).Ret(ReadSecret));
        (await _h.CallAsync(RemoteProcedure.SecretLookupByUsage, w =>
        {
            w.WriteInt32(3);
            w.WriteString("spec-fcc444ca-ceph");
        })).AssertError(VirErrorCode.NoSecret, VirErrorDomain.Secret, "Secret not found: no secret with matching usage 'spec-fcc444ca-ceph'");

        var xml = (await _h.CallAsync(RemoteProcedure.SecretGetXmlDesc, w =>
        {
            Secret(w, Uuid);
            w.WriteUInt32(0);
        })).Ret(static (ref XdrReader r) => r.ReadString());
        Assert.Contains("<name>spec-fcc444ca-ceph</name>", xml, StringComparison.Ordinal);
        Assert.DoesNotContain("binary", xml, StringComparison.Ordinal);

        (await _h.CallAsync(RemoteProcedure.SecretUndefine, w => Secret(w, Uuid))).AssertVoid();
        (await _h.CallAsync(RemoteProcedure.SecretLookupByUuid, w => w.WriteUuid(Uuid)))
            .AssertError(VirErrorCode.NoSecret, VirErrorDomain.Secret, $"Secret not found: no secret with matching uuid '{Uuid:D}'");

        Assert.Equal(
            [$"secret {Uuid:D} 2 spec-fcc444ca-ceph lifecycle 0 0", $"secret {Uuid:D} 2 spec-fcc444ca-ceph value-changed", $"secret {Uuid:D} 2 spec-fcc444ca-ceph lifecycle 1 0"],
            _h.Events.Events);
    }

    [Fact]
    public async Task Private_value_is_never_returned_but_can_be_set()
    {
        await DefineAsync(CephXml(Uuid, "priv", isPrivate: true));
        (await _h.CallAsync(RemoteProcedure.SecretGetValue, w =>
        {
            Secret(w, Uuid);
            w.WriteUInt32(0);
        })).AssertError(VirErrorCode.InvalidSecret, VirErrorDomain.Secret, "Invalid secret: secret is private");

        (await _h.CallAsync(RemoteProcedure.SecretSetValue, w =>
        {
            Secret(w, Uuid);
            w.WriteVariableOpaque("AQBy..."u8, 65536);
            w.WriteUInt32(0);
        })).AssertVoid();
        var reply = await _h.CallAsync(RemoteProcedure.SecretGetValue, w =>
        {
            Secret(w, Uuid);
            w.WriteUInt32(0);
        });
        reply.AssertError(VirErrorCode.InvalidSecret, VirErrorDomain.Secret, "Invalid secret: secret is private");
        Assert.True(reply.Payload.AsSpan().IndexOf("AQBy"u8) < 0, "the private value leaked into the reply");

        // The daemon itself may still read it (a pool start does).
        Assert.Equal("AQBy..."u8.ToArray(), _h.Secrets.GetValue(Uuid, internalCall: true));
    }

    [Fact]
    public async Task Get_value_checks_read_only_then_flags_then_existence_then_value()
    {
        var unknown = Guid.Parse("fbdfb8b3-d66c-4220-b125-3e0655aaad6e");
        _h.Connection.IsReadOnly = true;
        (await _h.CallAsync(RemoteProcedure.SecretGetValue, w =>
        {
            Secret(w, unknown);
            w.WriteUInt32(1);
        })).AssertError(VirErrorCode.OperationDenied, VirErrorDomain.Secret, "operation forbidden: read only access prevents virSecretGetValue");
        (await _h.CallAsync(RemoteProcedure.SecretDefineXml, w =>
        {
            w.WriteString(CephXml(Uuid, "x"));
            w.WriteUInt32(0);
        })).AssertError(VirErrorCode.OperationDenied, VirErrorDomain.Secret, "operation forbidden: read only access prevents virSecretDefineXML");

        _h.Connection.IsReadOnly = false;
        (await _h.CallAsync(RemoteProcedure.SecretGetValue, w =>
        {
            Secret(w, unknown);
            w.WriteUInt32(1);
        })).AssertError(VirErrorCode.InvalidArg, VirErrorDomain.Secret, "unsupported flags (0x1) in function secretGetValue");
        (await _h.CallAsync(RemoteProcedure.SecretGetValue, w =>
        {
            Secret(w, unknown);
            w.WriteUInt32(0);
        })).AssertError(VirErrorCode.NoSecret, VirErrorDomain.Secret, $"Secret not found: no secret with matching uuid '{unknown:D}'");

        await DefineAsync(CephXml(Uuid, "novalue"));
        (await _h.CallAsync(RemoteProcedure.SecretGetValue, w =>
        {
            Secret(w, Uuid);
            w.WriteUInt32(0);
        })).AssertError(VirErrorCode.NoSecret, VirErrorDomain.Secret, $"Secret not found: secret '{Uuid:D}' does not have a value");
    }

    [Fact]
    public async Task Set_value_refuses_empty_and_oversized_values()
    {
        await DefineAsync(CephXml(Uuid, "sizes"));
        (await _h.CallAsync(RemoteProcedure.SecretSetValue, w =>
        {
            Secret(w, Uuid);
            w.WriteVariableOpaque([], 65536);
            w.WriteUInt32(0);
        })).AssertError(VirErrorCode.InvalidArg, VirErrorDomain.Secret, "value in virSecretSetValue must not be NULL");

        // 65 537 bytes cannot be decoded (opaque<65536>).
        (await _h.CallAsync(RemoteProcedure.SecretSetValue, w =>
        {
            Secret(w, Uuid);
            w.WriteVariableOpaque(new byte[65537], 65537);
            w.WriteUInt32(0);
        })).AssertError(VirErrorCode.Rpc, VirErrorDomain.Rpc, "Unable to decode message payload");

        (await _h.CallAsync(RemoteProcedure.SecretSetValue, w =>
        {
            Secret(w, Uuid);
            w.WriteVariableOpaque(new byte[65536], 65536);
            w.WriteUInt32(0);
        })).AssertVoid();
    }

    [Fact]
    public async Task List_filters_flags_and_limits()
    {
        await DefineAsync(CephXml(Uuid, "one", isPrivate: true));
        await DefineAsync(CephXml(Guid.Parse("2ec115d7-3a88-3ceb-bc12-0ac909a6fd87"), "two"));

        var (privateOnly, total) = (await _h.CallAsync(RemoteProcedure.ConnectListAllSecrets, w =>
        {
            w.WriteInt32(1);
            w.WriteUInt32(4); // PRIVATE
        })).Ret(static (ref XdrReader r) => (r.ReadArray(16384, ReadSecret, 24), r.ReadUInt32()));
        Assert.Equal(Uuid, Assert.Single(privateOnly).Uuid);
        Assert.Equal(1u, total);

        var countOnly = (await _h.CallAsync(RemoteProcedure.ConnectListAllSecrets, w =>
        {
            w.WriteInt32(0);
            w.WriteUInt32(0);
        })).Ret(static (ref XdrReader r) => (r.ReadArrayCount(16384), r.ReadUInt32()));
        Assert.Equal((0, 2u), countOnly);

        (await _h.CallAsync(RemoteProcedure.ConnectListAllSecrets, w =>
        {
            w.WriteInt32(1);
            w.WriteUInt32(0x10);
        })).AssertError(VirErrorCode.InvalidArg, VirErrorDomain.Secret, "unsupported flags (0x10) in function secretConnectListAllSecrets");
        (await _h.CallAsync(RemoteProcedure.ConnectListSecrets, w => w.WriteInt32(-1)))
            .AssertError(VirErrorCode.Rpc, VirErrorDomain.Rpc, "maxuuids must be non-negative");
        (await _h.CallAsync(RemoteProcedure.ConnectListSecrets, w => w.WriteInt32(16385)))
            .AssertError(VirErrorCode.Rpc, VirErrorDomain.Rpc, "maxuuids > REMOTE_SECRET_LIST_MAX");
        var one = (await _h.CallAsync(RemoteProcedure.ConnectListSecrets, w => w.WriteInt32(1)))
            .Ret(static (ref XdrReader r) => r.ReadArray(16384, static (ref XdrReader e) => e.ReadString()));
        Assert.Single(one);
    }

    [Fact]
    public async Task Redefinition_rules_and_flags()
    {
        await DefineAsync(CephXml(Uuid, "keep", isPrivate: true));
        (await _h.CallAsync(RemoteProcedure.SecretDefineXml, w =>
        {
            w.WriteString(CephXml(Uuid, "keep", isPrivate: false));
            w.WriteUInt32(0);
        })).AssertError(VirErrorCode.InternalError, VirErrorDomain.Secret, "internal error: cannot change private flag on existing secret");
        (await _h.CallAsync(RemoteProcedure.SecretDefineXml, w =>
        {
            w.WriteString(CephXml(Uuid, "keep"));
            w.WriteUInt32(2);
        })).AssertError(VirErrorCode.InvalidArg, VirErrorDomain.Secret, "unsupported flags (0x2) in function secretDefineXML");
        (await _h.CallAsync(RemoteProcedure.SecretGetXmlDesc, w =>
        {
            Secret(w, Uuid);
            w.WriteUInt32(1);
        })).AssertError(VirErrorCode.InvalidArg, VirErrorDomain.Secret, "unsupported flags (0x1) in function secretGetXMLDesc");
    }
}
