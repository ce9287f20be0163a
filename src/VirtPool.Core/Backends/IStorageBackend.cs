using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using VirtPool.Core.Model;

namespace VirtPool.Core.Backends;

/// <summary>
/// One pool's backend: it only talks to that pool's storage. Validation, locking, accounting,
/// persistence and events belong to <see cref="Manager.PoolManager"/>. The manager loads one instance
/// per pool (<see cref="BackendType.Load"/>), keeps it while the pool's definition stays the same, and
/// disposes it (when it is <see cref="IDisposable"/>) once the pool goes or is redefined. This small
/// interface is what every type implements; everything else is an optional interface
/// (<see cref="IPoolBuilder"/>, <see cref="IVolumeCreator"/>, …) from which <see cref="BackendCapabilities"/>
/// is derived, and the manager refuses what a backend lacks in one place.
/// </summary>
public interface IStorageBackend
{
    /// <summary>libvirt's checkPool: is the pool's storage present and usable (used on reconcile)?</summary>
    Task<bool> CheckPoolAsync(PoolContext pool, CancellationToken cancellationToken);

    /// <summary>
    /// Makes the pool usable (mount, connect, activate). <paramref name="flags"/> are the call's; the
    /// build they may ask for has been done by the manager.
    /// </summary>
    Task StartPoolAsync(PoolContext pool, PoolStartFlags flags, CancellationToken cancellationToken);

    /// <summary>Undoes <see cref="StartPoolAsync"/>; never deletes data.</summary>
    Task StopPoolAsync(PoolContext pool, CancellationToken cancellationToken);

    /// <summary>
    /// Lists the volumes the storage holds now, with sizes, the pool's capacity and, for types whose
    /// source the storage describes (free extents, physical volumes, devices), the live source.
    /// </summary>
    Task<PoolScan> RefreshPoolAsync(PoolContext pool, CancellationToken cancellationToken);

    /// <summary>Re-reads one volume's capacity, allocation, format and timestamps from storage.</summary>
    Task<VolumeDefinition> RefreshVolumeAsync(PoolContext pool, VolumeDefinition volume, CancellationToken cancellationToken);

    /// <summary>
    /// The space the volume takes now, for the pool's accounting when it is deleted. By default what a
    /// refresh reports; a backend that can tell for less (a stat instead of a header probe) says so here.
    /// </summary>
    async Task<ulong> GetAllocationAsync(PoolContext pool, VolumeDefinition volume, CancellationToken cancellationToken)
        => (await RefreshVolumeAsync(pool, volume, cancellationToken).ConfigureAwait(false)).Allocation ?? 0;
}

/// <summary>
/// Optional: a backend that holds a connection to a storage server says whether the server answers.
/// An active pool whose backend says no is reported as libvirt's VIR_STORAGE_POOL_INACCESSIBLE (libvirt
/// itself never reports that state for storage: it keeps showing such a pool as running).
/// </summary>
public interface IConnectionHealth
{
    /// <summary>False after a failed connect, a timed-out call or a lost connection; true once a call succeeds again.</summary>
    bool IsReachable { get; }
}

/// <summary>Optional (libvirt's createVol + buildVol): makes new volumes.</summary>
public interface IVolumeCreator
{
    /// <summary>
    /// Fills in what the backend decides before anything is created: key, target path, type, default
    /// format. Pure: no I/O that changes storage.
    /// </summary>
    VolumeDefinition PrepareVolume(PoolContext pool, VolumeDefinition volume);

    /// <summary>
    /// Creates the volume described by a prepared definition and returns it as storage now has it
    /// (as <see cref="IStorageBackend.RefreshVolumeAsync"/> would); removes what it made if it fails.
    /// </summary>
    Task<VolumeDefinition> CreateVolumeAsync(PoolContext pool, VolumeDefinition volume, VolumeCreateFlags flags, IProgress<long>? progress, CancellationToken cancellationToken);
}

/// <summary>
/// Optional marker, libvirt's buildVol: the backend builds a new volume's storage from its definition
/// alone, as a file is made (open, qemu-img), so even a volume of capacity 0 (an empty file) can be
/// made. storageVolCreateXML refuses capacity 0 on a backend without buildVol ("volume capacity
/// required for this storage pool"): disk, logical and zfs carve a partition, LV or zvol of the
/// size asked and implement only <see cref="IVolumeCreator"/> (libvirt's createVol).
/// </summary>
public interface IVolumeBuilder;

/// <summary>
/// Optional marker: the manager rescans the pool after each volume create and delete, as libvirt's disk
/// backend re-reads the partition table on both (its free extents and sizes follow the table, not the
/// volume's allocation).
/// </summary>
public interface IRescanOnVolumeChange;

/// <summary>Optional (libvirt's deleteVol): removes volumes.</summary>
public interface IVolumeDeleter
{
    /// <summary>
    /// libvirt's virCheckFlags at the top of deleteVol, with the backend's own function name in the
    /// message: called before the manager changes anything, so a refused flag changes nothing.
    /// </summary>
    void CheckDeleteFlags(VolumeDefinition volume, VolumeDeleteFlags flags);

    Task DeleteVolumeAsync(PoolContext pool, VolumeDefinition volume, VolumeDeleteFlags flags, CancellationToken cancellationToken);
}

/// <summary>
/// Optional: prepares storage before first start (mkdir, mkfs, vgcreate, label a disk). The backend
/// checks <paramref name="flags"/> itself (<see cref="BackendFlags"/>), as each libvirt buildPool does.
/// </summary>
public interface IPoolBuilder
{
    Task BuildPoolAsync(PoolContext pool, PoolBuildFlags flags, CancellationToken cancellationToken);
}

/// <summary>Optional: destroys the pool's storage itself (rmdir, vgremove, wipe a label); checks its flags itself.</summary>
public interface IPoolDeleter
{
    Task DeletePoolAsync(PoolContext pool, PoolDeleteFlags flags, CancellationToken cancellationToken);
}

/// <summary>Optional: changes a volume's capacity (libvirt's resizeVol).</summary>
public interface IVolumeResizer
{
    /// <param name="capacity">The new capacity in bytes, already validated by the manager.</param>
    /// <param name="allocate">Allocate the new space rather than leaving it sparse.</param>
    Task ResizeVolumeAsync(PoolContext pool, VolumeDefinition volume, ulong capacity, bool allocate, CancellationToken cancellationToken);
}

/// <summary>
/// Optional: libvirt's buildVolFrom (vol-clone, vol-create-from). The new volume is prepared (path,
/// key, format) and its capacity and allocation already settled by the manager; the backend makes it
/// from the source's data and removes what it made if it fails or is cancelled.
/// </summary>
public interface IVolumeCloner : IVolumeCreator
{
    Task<VolumeDefinition> CreateVolumeFromAsync(PoolContext pool, VolumeDefinition volume, VolumeDefinition source, VolumeCreateFlags flags, IProgress<long>? progress, CancellationToken cancellationToken);
}

/// <summary>Optional: libvirt's wipeVol, every algorithm.</summary>
public interface IVolumeWiper
{
    /// <returns>
    /// The volume as a pool refresh would now discover it (libvirt re-probes a wiped file: a zeroed
    /// qcow2 becomes raw).
    /// </returns>
    Task<VolumeDefinition> WipeVolumeAsync(PoolContext pool, VolumeDefinition volume, VolumeWipeAlgorithm algorithm, IProgress<long>? progress, CancellationToken cancellationToken);
}

/// <summary>
/// Optional: libvirt's uploadVol/downloadVol, plus a streamed checksum. Offsets and lengths are
/// bytes; a length of 0 means "to the end" (of the source for uploads, of the volume for downloads).
/// </summary>
public interface IVolumeTransfer
{
    /// <returns>The bytes written (holes included).</returns>
    Task<long> UploadAsync(PoolContext pool, VolumeDefinition volume, VolumeDataEndpoint source, ulong offset, ulong length, bool sparse, IProgress<long>? progress, CancellationToken cancellationToken);

    /// <returns>The bytes read (holes included).</returns>
    Task<long> DownloadAsync(PoolContext pool, VolumeDefinition volume, VolumeDataEndpoint target, ulong offset, ulong length, bool sparse, IProgress<long>? progress, CancellationToken cancellationToken);

    /// <summary>SHA-256 of the volume's bytes as a guest sees them (raw contents, whatever the format).</summary>
    Task<byte[]> Sha256Async(PoolContext pool, VolumeDefinition volume, IProgress<long>? progress, CancellationToken cancellationToken);
}

/// <summary>Where volume data comes from or goes to.</summary>
public abstract record VolumeDataEndpoint;

/// <summary>A local file or block device (the embedded CLI's vol-upload/vol-download): copied with copy_file_range, holes kept.</summary>
public sealed record LocalFileEndpoint(Microsoft.Win32.SafeHandles.SafeFileHandle Handle) : VolumeDataEndpoint;

/// <summary>A byte stream (a pipe, a socket, an RPC stream).</summary>
public sealed record StreamEndpoint(Stream Stream) : VolumeDataEndpoint;

/// <summary>virStorageVolWipeAlgorithm, with libvirt's numbering (the value virsh vol-wipe sends).</summary>
public enum VolumeWipeAlgorithm
{
    /// <summary>1-pass, all zeroes.</summary>
    Zero = 0,

    /// <summary>scrub's "nnsa": 4-pass NNSA Policy Letter NAP-14.1-C (XVI-8).</summary>
    Nnsa = 1,

    /// <summary>scrub's "dod": 4-pass DoD 5220.22-M section 8-306 procedure.</summary>
    Dod = 2,

    /// <summary>scrub's "bsi": 9-pass method recommended by the German BSI.</summary>
    Bsi = 3,

    /// <summary>scrub's "gutmann": the canonical 35-pass sequence.</summary>
    Gutmann = 4,

    /// <summary>scrub's "schneier": 7-pass method (0x00, 0xff, five random).</summary>
    Schneier = 5,

    /// <summary>scrub's "pfitzner7": 7 random passes.</summary>
    Pfitzner7 = 6,

    /// <summary>scrub's "pfitzner33": 33 random passes.</summary>
    Pfitzner33 = 7,

    /// <summary>scrub's "random": 1 random pass.</summary>
    Random = 8,

    /// <summary>Discard the volume's blocks (BLKDISCARD; hole punching for a file).</summary>
    Trim = 9,
}

/// <summary>virStorageVolDeleteFlags (libvirt's numbering).</summary>
[Flags]
public enum VolumeDeleteFlags
{
    None = 0,
    ZeroedOut = 1,
    WithSnapshots = 2,
}

/// <summary>virStorageVolResizeFlags (libvirt's numbering).</summary>
[Flags]
public enum VolumeResizeFlags
{
    None = 0,
    Allocate = 1,
    Delta = 2,
    Shrink = 4,
}

/// <summary>virStorageVolCreateFlags (libvirt's numbering).</summary>
[Flags]
public enum VolumeCreateFlags
{
    None = 0,
    PreallocMetadata = 1,
    Reflink = 2,
    Validate = 4,
}

/// <summary>virStoragePoolDeleteFlags (libvirt's numbering).</summary>
[Flags]
public enum PoolDeleteFlags
{
    None = 0,
    Zeroed = 1,
}

/// <summary>virStoragePoolCreateFlags (libvirt's numbering): pool-start's and pool-create's.</summary>
[Flags]
public enum PoolStartFlags
{
    None = 0,
    WithBuild = 1,
    WithBuildOverwrite = 2,
    WithBuildNoOverwrite = 4,
}

/// <summary>virStoragePoolBuildFlags (libvirt's numbering).</summary>
[Flags]
public enum PoolBuildFlags
{
    None = 0,
    Repair = 1,
    Resize = 2,
    NoOverwrite = 4,
    Overwrite = 8,
}

/// <summary>The pool as a backend sees it: its definition and the folder its runtime files may use.</summary>
public sealed record PoolContext(PoolDefinition Definition)
{
    public string Name => Definition.Name;

    public string? TargetPath => Definition.Target.Path;

    /// <summary>
    /// The passphrase an encrypted volume's &lt;secret&gt; names (libvirt's virSecretGetSecretString), with
    /// libvirt's errors when there is no such secret or value; null where the operation was given none.
    /// </summary>
    public Func<EncryptionSecret, byte[]>? Passphrases { get; init; }

    /// <summary>
    /// The raw value of the secret the pool's &lt;auth&gt; names (ceph: the cephx key; chap: the password),
    /// checked against the usage type its auth type needs, with libvirt's errors for a missing secret,
    /// a secret of another usage and a secret without a value. Set by the manager on every context; a
    /// backend gets this accessor, never the secret store.
    /// </summary>
    public Func<PoolAuth, byte[]>? AuthSecret { get; init; }

    /// <summary>
    /// The manager's logger, for what a backend decides on its own and would otherwise keep silent (an
    /// entry a refresh skips). Failures are thrown, not logged: the manager logs those.
    /// </summary>
    public ILogger Log { get; init; } = NullLogger.Instance;
}

/// <summary>
/// The result of a pool refresh: sizes, the volumes found, and for pools with a target directory its
/// mode and owner as found (libvirt shows those in the live XML, whatever the definition said).
/// <para>
/// <see cref="Source"/> is the pool's source as the storage describes it now (libvirt's refreshPool
/// rewrites the live &lt;source&gt;: a disk's free extents, a volume group's physical volumes, a zfs
/// pool's devices); null keeps the defined one.
/// </para>
/// </summary>
public sealed record PoolScan(PoolSizes Sizes, IReadOnlyList<VolumeDefinition> Volumes, Permissions? TargetPermissions = null, PoolSource? Source = null);
