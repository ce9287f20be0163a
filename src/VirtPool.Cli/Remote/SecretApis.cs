using VirtPool.Core.Manager;
using VirtPool.Core.Secrets;
using VirtPool.Rpc;
using VirtPool.Rpc.Client;
using VirtPool.Rpc.Xdr;

namespace VirtPool.Cli.Remote;

/// <summary>The secret commands on the embedded <see cref="SecretStore"/> (what virtpool did before it had a remote mode).</summary>
public sealed class EmbeddedSecretApi(SecretStore store) : ISecretApi
{
    public Task<SecretDefinition> DefineSecretAsync(string xml, CancellationToken ct = default) => Task.FromResult(store.Define(xml));

    public Task<SecretDefinition> LookupSecretByUuidAsync(Guid uuid, CancellationToken ct = default) => Task.FromResult(store.LookupByUuid(uuid));

    public Task<string> GetSecretXmlAsync(SecretDefinition secret, CancellationToken ct = default) => Task.FromResult(SecretXml.Format(secret));

    public Task SetSecretValueAsync(SecretDefinition secret, byte[] value, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(secret);
        store.SetValue(secret.Uuid, value);
        return Task.CompletedTask;
    }

    public Task<byte[]> GetSecretValueAsync(SecretDefinition secret, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(secret);
        return Task.FromResult(store.GetValue(secret.Uuid));
    }

    public Task<IReadOnlyList<SecretDefinition>> ListSecretsAsync(SecretListFlags flags, CancellationToken ct = default) => Task.FromResult(store.List(flags));

    public Task UndefineSecretAsync(SecretDefinition secret, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(secret);
        store.Undefine(secret.Uuid);
        return Task.CompletedTask;
    }
}

/// <summary>
/// The secret commands over a remote connection (spec 10.9): handles are { uuid, usageType, usageID };
/// the XML comes from the server as it formats it.
/// </summary>
public sealed class RemoteSecretApi(RemoteConnection connection) : ISecretApi
{
    public Task<SecretDefinition> DefineSecretAsync(string xml, CancellationToken ct = default)
        => connection.CallAsync(RemoteProcedure.SecretDefineXml, w =>
        {
            w.WriteString(xml);
            w.WriteUInt32(0);
        }, ReadSecret, ct);

    public Task<SecretDefinition> LookupSecretByUuidAsync(Guid uuid, CancellationToken ct = default)
        => connection.CallAsync(RemoteProcedure.SecretLookupByUuid, w => w.WriteUuid(uuid), ReadSecret, ct);

    public Task<string> GetSecretXmlAsync(SecretDefinition secret, CancellationToken ct = default)
        => connection.CallAsync(RemoteProcedure.SecretGetXmlDesc, w =>
        {
            WriteSecret(w, secret);
            w.WriteUInt32(0);
        }, static (ref XdrReader r) => r.ReadString(), ct);

    public Task SetSecretValueAsync(SecretDefinition secret, byte[] value, CancellationToken ct = default)
        => connection.CallAsync(RemoteProcedure.SecretSetValue, w =>
        {
            WriteSecret(w, secret);
            w.WriteVariableOpaque(value, RpcLimits.SecretValueMax);
            w.WriteUInt32(0);
        }, ct);

    public Task<byte[]> GetSecretValueAsync(SecretDefinition secret, CancellationToken ct = default)
        => connection.CallAsync(RemoteProcedure.SecretGetValue, w =>
        {
            WriteSecret(w, secret);
            w.WriteUInt32(0);
        }, static (ref XdrReader r) => r.ReadVariableOpaque(RpcLimits.SecretValueMax).ToArray(), ct);

    public async Task<IReadOnlyList<SecretDefinition>> ListSecretsAsync(SecretListFlags flags, CancellationToken ct = default)
        => await connection.CallAsync(RemoteProcedure.ConnectListAllSecrets, w =>
        {
            w.WriteInt32(1);
            w.WriteUInt32((uint)flags);
        }, static (ref XdrReader r) =>
        {
            var list = r.ReadArray(RpcLimits.SecretListMax, ReadSecret);
            r.ReadUInt32();
            return list;
        }, ct).ConfigureAwait(false);

    public Task UndefineSecretAsync(SecretDefinition secret, CancellationToken ct = default)
        => connection.CallAsync(RemoteProcedure.SecretUndefine, w => WriteSecret(w, secret), ct);

    private static SecretDefinition ReadSecret(ref XdrReader r)
    {
        var uuid = r.ReadUuid();
        var type = (SecretUsageType)r.ReadInt32();
        var id = r.ReadString();
        return new SecretDefinition { Uuid = uuid, UsageType = type, UsageId = type == SecretUsageType.None ? null : id };
    }

    private static void WriteSecret(XdrWriter w, SecretDefinition secret)
    {
        w.WriteUuid(secret.Uuid);
        w.WriteInt32((int)secret.UsageType);
        w.WriteString(secret.UsageId ?? string.Empty);
    }
}
