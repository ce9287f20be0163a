using VirtPool.Core.Backends;
using VirtPool.Core.Errors;
using VirtPool.Core.Model;
using VirtPool.Core.Secrets;

namespace VirtPool.Core.Manager;

/// <summary>
/// The storage operations the CLI's commands use: the embedded <see cref="PoolManager"/> implements
/// them directly, the CLI's remote mode over libvirt's RPC protocol (virtpool -c URI). Pools are named
/// by name; a remote implementation keeps the handles (name + uuid) it was given.
/// <para>
/// A few operations exist only in VirtPool's embedded mode (labels, checksums, reconciliation of the
/// state folder); a remote implementation answers them with NO_SUPPORT or, for reconciliation, does
/// nothing.
/// </para>
/// </summary>
public interface IStorageApi
{
    /// <summary>Brings recorded state in line with the system, as a daemon does when it starts (embedded only).</summary>
    Task<IReadOnlyList<string>> ReconcileAsync(CancellationToken ct = default);

    /// <summary>
    /// What a command runs first: <see cref="ReconcileAsync"/> only when the recorded state needs it (a
    /// new boot, a state folder never reconciled), found out without taking any lock (embedded only).
    /// </summary>
    Task<IReadOnlyList<string>> ReconcileIfNeededAsync(CancellationToken ct = default) => ReconcileAsync(ct);

    // ----- pools ---------------------------------------------------------------------------------

    Task<IReadOnlyList<PoolSummary>> ListPoolsAsync(PoolListFilter filter = PoolListFilter.None, CancellationToken ct = default);

    Task<PoolRef> LookupPoolByNameAsync(string name, CancellationToken ct = default);

    Task<PoolRef> LookupPoolByUuidAsync(Guid uuid, CancellationToken ct = default);

    /// <summary>Active, persistent and autostart (and, where known, type and sizes) of one pool.</summary>
    Task<PoolSummary> GetPoolSummaryAsync(string name, CancellationToken ct = default);

    Task<PoolInfo> GetPoolInfoAsync(string name, CancellationToken ct = default);

    Task<string> GetPoolXmlAsync(string name, bool inactive, CancellationToken ct = default);

    Task<PoolRef> DefinePoolAsync(string xml, CancellationToken ct = default);

    Task<PoolRef> CreatePoolAsync(string xml, PoolBuildFlags build, bool doBuild, CancellationToken ct = default);

    Task BuildPoolAsync(string name, PoolBuildFlags flags, CancellationToken ct = default);

    Task StartPoolAsync(string name, PoolBuildFlags build, bool doBuild, CancellationToken ct = default);

    Task DestroyPoolAsync(string name, CancellationToken ct = default);

    /// <summary>storagePoolDelete; the pool's backend checks <paramref name="flags"/>.</summary>
    Task DeletePoolAsync(string name, PoolDeleteFlags flags = PoolDeleteFlags.None, CancellationToken ct = default);

    Task UndefinePoolAsync(string name, CancellationToken ct = default);

    Task RefreshPoolAsync(string name, CancellationToken ct = default);

    Task SetAutostartAsync(string name, bool autostart, CancellationToken ct = default);

    /// <summary>
    /// The storagepoolCapabilities document as the connection's driver reports it: supported='yes' for
    /// the pool types it has a backend for.
    /// </summary>
    Task<string> GetPoolCapabilitiesXmlAsync(CancellationToken ct = default);

    /// <summary>
    /// virConnectFindStoragePoolSources: the &lt;sources&gt; document listing what a pool of
    /// <paramref name="type"/> could use, optionally where the srcSpec &lt;source&gt; document points.
    /// </summary>
    Task<string> FindPoolSourcesAsync(string type, string? sourceSpecXml, uint flags, CancellationToken ct = default);

    // ----- volumes -------------------------------------------------------------------------------

    Task<IReadOnlyList<VolumeRef>> ListVolumesAsync(string poolName, CancellationToken ct = default);

    Task<VolumeRef> LookupVolumeByNameAsync(string poolName, string volName, CancellationToken ct = default);

    Task<VolumeRef> LookupVolumeByKeyAsync(string key, CancellationToken ct = default);

    Task<VolumeRef> LookupVolumeByPathAsync(string path, CancellationToken ct = default);

    Task<VolumeRef> CreateVolumeAsync(string poolName, string xml, VolumeCreateFlags flags = VolumeCreateFlags.None, IProgress<long>? progress = null, CancellationToken ct = default);

    Task<VolumeRef> CreateVolumeFromAsync(string poolName, string xml, VolumeRef source, VolumeCreateFlags flags = VolumeCreateFlags.None, IProgress<long>? progress = null, CancellationToken ct = default);

    Task ResizeVolumeAsync(VolumeRef vol, ulong capacity, VolumeResizeFlags flags, CancellationToken ct = default);

    Task DeleteVolumeAsync(VolumeRef vol, VolumeDeleteFlags flags = VolumeDeleteFlags.None, CancellationToken ct = default);

    Task WipeVolumeAsync(VolumeRef vol, VolumeWipeAlgorithm algorithm, IProgress<long>? progress = null, CancellationToken ct = default);

    /// <summary>
    /// The volume's definition. A remote implementation fills what the protocol reports without the
    /// XML: type, capacity, allocation and the target path.
    /// </summary>
    Task<VolumeDefinition> GetVolumeAsync(VolumeRef vol, CancellationToken ct = default);

    /// <summary>virStorageVolGetInfoFlags: type, capacity, and allocation (or the physical size).</summary>
    async Task<VolumeInfo> GetVolumeSizesAsync(VolumeRef vol, bool physical, CancellationToken ct = default)
    {
        var def = await GetVolumeAsync(vol, ct).ConfigureAwait(false);
        return new VolumeInfo(def.Type, def.Capacity, physical ? def.Physical : def.Allocation ?? 0);
    }

    Task<string> GetVolumeXmlAsync(VolumeRef vol, CancellationToken ct = default);

    Task<string> GetVolumePathAsync(VolumeRef vol, CancellationToken ct = default);

    Task<long> UploadVolumeAsync(VolumeRef vol, VolumeDataEndpoint source, ulong offset, ulong length, bool sparse, IProgress<long>? progress = null, CancellationToken ct = default);

    Task<long> DownloadVolumeAsync(VolumeRef vol, VolumeDataEndpoint target, ulong offset, ulong length, bool sparse, IProgress<long>? progress = null, CancellationToken ct = default);

    // ----- embedded-only extras ------------------------------------------------------------------

    Task<byte[]> ChecksumVolumeAsync(VolumeRef vol, IProgress<long>? progress = null, CancellationToken ct = default);

    Task<IReadOnlyDictionary<string, string>> GetVolumeLabelsAsync(VolumeRef vol, CancellationToken ct = default);

    Task<IReadOnlyDictionary<string, SortedDictionary<string, string>>> GetPoolLabelsAsync(string pool, CancellationToken ct = default);

    Task<IReadOnlyDictionary<string, string>> UpdateVolumeLabelsAsync(VolumeRef vol, IReadOnlyDictionary<string, string> set, IReadOnlyCollection<string> remove, CancellationToken ct = default);
}

/// <summary>The secret operations of virsh's secret-* commands (embedded: the secret store; remote: the secret API).</summary>
public interface ISecretApi
{
    Task<SecretDefinition> DefineSecretAsync(string xml, CancellationToken ct = default);

    Task<SecretDefinition> LookupSecretByUuidAsync(Guid uuid, CancellationToken ct = default);

    Task<string> GetSecretXmlAsync(SecretDefinition secret, CancellationToken ct = default);

    Task SetSecretValueAsync(SecretDefinition secret, byte[] value, CancellationToken ct = default);

    Task<byte[]> GetSecretValueAsync(SecretDefinition secret, CancellationToken ct = default);

    Task<IReadOnlyList<SecretDefinition>> ListSecretsAsync(SecretListFlags flags, CancellationToken ct = default);

    Task UndefineSecretAsync(SecretDefinition secret, CancellationToken ct = default);
}

/// <summary>What remote mode answers for VirtPool's embedded-only commands.</summary>
public static class StorageApiErrors
{
    /// <summary>libvirt's NO_SUPPORT wording, naming what the connection cannot do.</summary>
    public static VirtPoolException EmbeddedOnly(string what)
        => VirtPoolException.NoSupport($"{what} is only available without a connection URI (embedded mode)");
}
