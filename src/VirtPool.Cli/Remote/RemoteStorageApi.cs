using Microsoft.Win32.SafeHandles;
using VirtPool.Core.Backends;
using VirtPool.Core.Errors;
using VirtPool.Core.Interop;
using VirtPool.Core.Manager;
using VirtPool.Core.Model;
using VirtPool.Formats.Copy;
using VirtPool.Rpc;
using VirtPool.Rpc.Client;
using VirtPool.Rpc.Xdr;

namespace VirtPool.Cli.Remote;

/// <summary>
/// The CLI's storage operations over libvirt's remote protocol (virtpool -c URI), with the procedures
/// virsh uses for each (spec 5.7): pools are handles { name, uuid } as the server returned them,
/// volumes { pool, name, key }. VirtPool's embedded-only extras answer NO_SUPPORT.
/// </summary>
public sealed class RemoteStorageApi : IStorageApi
{
    private readonly RemoteConnection _conn;
    private readonly Dictionary<string, PoolRef> _pools = new(StringComparer.Ordinal);

    public RemoteStorageApi(RemoteConnection connection)
    {
        ArgumentNullException.ThrowIfNull(connection);
        _conn = connection;
    }

    public RemoteConnection Connection => _conn;

    public Task<IReadOnlyList<string>> ReconcileAsync(CancellationToken ct = default) => Task.FromResult<IReadOnlyList<string>>([]);

    // ----- pools ---------------------------------------------------------------------------------

    public async Task<IReadOnlyList<PoolSummary>> ListPoolsAsync(PoolListFilter filter = PoolListFilter.None, CancellationToken ct = default)
    {
        var pools = await _conn.CallAsync(RemoteProcedure.ConnectListAllStoragePools, w =>
        {
            w.WriteInt32(1);
            w.WriteUInt32((uint)filter);
        }, static (ref XdrReader r) =>
        {
            var list = r.ReadArray(RpcLimits.StoragePoolListMax, ReadPool);
            r.ReadUInt32();
            return list;
        }, ct).ConfigureAwait(false);

        var result = new List<PoolSummary>(pools.Length);
        foreach (var pool in pools)
        {
            Remember(pool);
            result.Add(await SummaryAsync(pool, ct).ConfigureAwait(false));
        }

        return result;
    }

    public async Task<PoolRef> LookupPoolByNameAsync(string name, CancellationToken ct = default)
        => Remember(await _conn.CallAsync(RemoteProcedure.StoragePoolLookupByName, w => w.WriteString(name), ReadPool, ct).ConfigureAwait(false));

    public async Task<PoolRef> LookupPoolByUuidAsync(Guid uuid, CancellationToken ct = default)
        => Remember(await _conn.CallAsync(RemoteProcedure.StoragePoolLookupByUuid, w => w.WriteUuid(uuid), ReadPool, ct).ConfigureAwait(false));

    public async Task<PoolSummary> GetPoolSummaryAsync(string name, CancellationToken ct = default)
        => await SummaryAsync(await HandleAsync(name, ct).ConfigureAwait(false), ct).ConfigureAwait(false);

    public async Task<PoolInfo> GetPoolInfoAsync(string name, CancellationToken ct = default)
        => await InfoAsync(await HandleAsync(name, ct).ConfigureAwait(false), ct).ConfigureAwait(false);

    public async Task<string> GetPoolXmlAsync(string name, bool inactive, CancellationToken ct = default)
    {
        var pool = await HandleAsync(name, ct).ConfigureAwait(false);
        return await _conn.CallAsync(RemoteProcedure.StoragePoolGetXmlDesc, w =>
        {
            WritePool(w, pool);
            w.WriteUInt32(inactive ? 1u : 0u);
        }, static (ref XdrReader r) => r.ReadString(), ct).ConfigureAwait(false);
    }

    public async Task<PoolRef> DefinePoolAsync(string xml, CancellationToken ct = default)
        => Remember(await _conn.CallAsync(RemoteProcedure.StoragePoolDefineXml, w =>
        {
            w.WriteString(xml);
            w.WriteUInt32(0);
        }, ReadPool, ct).ConfigureAwait(false));

    public async Task<PoolRef> CreatePoolAsync(string xml, PoolBuildFlags build, bool doBuild, CancellationToken ct = default)
    {
        var flags = CreateFlags(build, doBuild);
        return Remember(await _conn.CallAsync(RemoteProcedure.StoragePoolCreateXml, w =>
        {
            w.WriteString(xml);
            w.WriteUInt32(flags);
        }, ReadPool, ct).ConfigureAwait(false));
    }

    public Task BuildPoolAsync(string name, PoolBuildFlags flags, CancellationToken ct = default)
        => PoolCallAsync(RemoteProcedure.StoragePoolBuild, name, w => w.WriteUInt32((uint)flags), ct);

    public Task StartPoolAsync(string name, PoolBuildFlags build, bool doBuild, CancellationToken ct = default)
    {
        var flags = CreateFlags(build, doBuild);
        return PoolCallAsync(RemoteProcedure.StoragePoolCreate, name, w => w.WriteUInt32(flags), ct);
    }

    public Task DestroyPoolAsync(string name, CancellationToken ct = default) => PoolCallAsync(RemoteProcedure.StoragePoolDestroy, name, null, ct);

    public Task DeletePoolAsync(string name, PoolDeleteFlags flags = PoolDeleteFlags.None, CancellationToken ct = default) => PoolCallAsync(RemoteProcedure.StoragePoolDelete, name, w => w.WriteUInt32((uint)flags), ct);

    public Task UndefinePoolAsync(string name, CancellationToken ct = default) => PoolCallAsync(RemoteProcedure.StoragePoolUndefine, name, null, ct);

    public Task RefreshPoolAsync(string name, CancellationToken ct = default) => PoolCallAsync(RemoteProcedure.StoragePoolRefresh, name, w => w.WriteUInt32(0), ct);

    public Task SetAutostartAsync(string name, bool autostart, CancellationToken ct = default)
        => PoolCallAsync(RemoteProcedure.StoragePoolSetAutostart, name, w => w.WriteInt32(autostart ? 1 : 0), ct);

    public async Task<string> GetPoolCapabilitiesXmlAsync(CancellationToken ct = default)
        => await _conn.CallAsync(RemoteProcedure.ConnectGetStoragePoolCapabilities, w => w.WriteUInt32(0), static (ref XdrReader r) => r.ReadString(), ct).ConfigureAwait(false);

    public Task<string> FindPoolSourcesAsync(string type, string? sourceSpecXml, uint flags, CancellationToken ct = default)
        => _conn.CallAsync(RemoteProcedure.ConnectFindStoragePoolSources, w =>
        {
            w.WriteString(type);
            w.WriteOptionalString(sourceSpecXml);
            w.WriteUInt32(flags);
        }, static (ref XdrReader r) => r.ReadString(), ct);

    // ----- volumes -------------------------------------------------------------------------------

    public async Task<IReadOnlyList<VolumeRef>> ListVolumesAsync(string poolName, CancellationToken ct = default)
    {
        var pool = await HandleAsync(poolName, ct).ConfigureAwait(false);
        return await _conn.CallAsync(RemoteProcedure.StoragePoolListAllVolumes, w =>
        {
            WritePool(w, pool);
            w.WriteInt32(1);
            w.WriteUInt32(0);
        }, static (ref XdrReader r) =>
        {
            var list = r.ReadArray(RpcLimits.StorageVolListMax, ReadVol);
            r.ReadUInt32();
            return list;
        }, ct).ConfigureAwait(false);
    }

    public async Task<VolumeRef> LookupVolumeByNameAsync(string poolName, string volName, CancellationToken ct = default)
    {
        var pool = await HandleAsync(poolName, ct).ConfigureAwait(false);
        return await _conn.CallAsync(RemoteProcedure.StorageVolLookupByName, w =>
        {
            WritePool(w, pool);
            w.WriteString(volName);
        }, ReadVol, ct).ConfigureAwait(false);
    }

    public Task<VolumeRef> LookupVolumeByKeyAsync(string key, CancellationToken ct = default)
        => _conn.CallAsync(RemoteProcedure.StorageVolLookupByKey, w => w.WriteString(key), ReadVol, ct);

    public Task<VolumeRef> LookupVolumeByPathAsync(string path, CancellationToken ct = default)
        => _conn.CallAsync(RemoteProcedure.StorageVolLookupByPath, w => w.WriteString(path), ReadVol, ct);

    public async Task<VolumeRef> CreateVolumeAsync(string poolName, string xml, VolumeCreateFlags flags = VolumeCreateFlags.None, IProgress<long>? progress = null, CancellationToken ct = default)
    {
        var pool = await HandleAsync(poolName, ct).ConfigureAwait(false);
        return await _conn.CallAsync(RemoteProcedure.StorageVolCreateXml, w =>
        {
            WritePool(w, pool);
            w.WriteString(xml);
            w.WriteUInt32((uint)flags);
        }, ReadVol, ct).ConfigureAwait(false);
    }

    public async Task<VolumeRef> CreateVolumeFromAsync(string poolName, string xml, VolumeRef source, VolumeCreateFlags flags = VolumeCreateFlags.None, IProgress<long>? progress = null, CancellationToken ct = default)
    {
        var pool = await HandleAsync(poolName, ct).ConfigureAwait(false);
        return await _conn.CallAsync(RemoteProcedure.StorageVolCreateXmlFrom, w =>
        {
            WritePool(w, pool);
            w.WriteString(xml);
            WriteVol(w, source);
            w.WriteUInt32((uint)flags);
        }, ReadVol, ct).ConfigureAwait(false);
    }

    public Task ResizeVolumeAsync(VolumeRef vol, ulong capacity, VolumeResizeFlags flags, CancellationToken ct = default)
        => _conn.CallAsync(RemoteProcedure.StorageVolResize, w =>
        {
            WriteVol(w, vol);
            w.WriteUInt64(capacity);
            w.WriteUInt32((uint)flags);
        }, ct);

    public Task DeleteVolumeAsync(VolumeRef vol, VolumeDeleteFlags flags = VolumeDeleteFlags.None, CancellationToken ct = default)
        => _conn.CallAsync(RemoteProcedure.StorageVolDelete, w =>
        {
            WriteVol(w, vol);
            w.WriteUInt32((uint)flags);
        }, ct);

    /// <summary>cmdVolWipe: virStorageVolWipe for the default algorithm, virStorageVolWipePattern otherwise.</summary>
    public Task WipeVolumeAsync(VolumeRef vol, VolumeWipeAlgorithm algorithm, IProgress<long>? progress = null, CancellationToken ct = default)
        => algorithm == VolumeWipeAlgorithm.Zero
            ? _conn.CallAsync(RemoteProcedure.StorageVolWipe, w =>
            {
                WriteVol(w, vol);
                w.WriteUInt32(0);
            }, ct)
            : _conn.CallAsync(RemoteProcedure.StorageVolWipePattern, w =>
            {
                WriteVol(w, vol);
                w.WriteUInt32((uint)algorithm);
                w.WriteUInt32(0);
            }, ct);

    /// <summary>What the protocol reports without the XML: the path (VOL_GET_PATH), then type and sizes (VOL_GET_INFO), as vol-list --details asks.</summary>
    public async Task<VolumeDefinition> GetVolumeAsync(VolumeRef vol, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(vol);
        var path = await GetVolumePathAsync(vol, ct).ConfigureAwait(false);
        var info = await GetVolumeSizesAsync(vol, physical: false, ct).ConfigureAwait(false);
        return new VolumeDefinition
        {
            Name = vol.Name,
            Key = vol.Key,
            Type = info.Type,
            Capacity = info.Capacity,
            HasCapacity = true,
            Allocation = info.Allocation,
            Target = new VolumeTarget { Path = path },
        };
    }

    /// <summary>VOL_GET_INFO, or VOL_GET_INFO_FLAGS with GET_PHYSICAL (vol-info --physical).</summary>
    public Task<VolumeInfo> GetVolumeSizesAsync(VolumeRef vol, bool physical, CancellationToken ct = default)
        => physical
            ? _conn.CallAsync(RemoteProcedure.StorageVolGetInfoFlags, w =>
            {
                WriteVol(w, vol);
                w.WriteUInt32(1);
            }, ReadVolInfo, ct)
            : _conn.CallAsync(RemoteProcedure.StorageVolGetInfo, w => WriteVol(w, vol), ReadVolInfo, ct);

    public Task<string> GetVolumeXmlAsync(VolumeRef vol, CancellationToken ct = default)
        => _conn.CallAsync(RemoteProcedure.StorageVolGetXmlDesc, w =>
        {
            WriteVol(w, vol);
            w.WriteUInt32(0);
        }, static (ref XdrReader r) => r.ReadString(), ct);

    public Task<string> GetVolumePathAsync(VolumeRef vol, CancellationToken ct = default)
        => _conn.CallAsync(RemoteProcedure.StorageVolGetPath, w => WriteVol(w, vol), static (ref XdrReader r) => r.ReadString(), ct);

    /// <summary>
    /// cmdVolUpload over a stream: the local data in pieces, holes as STREAM_HOLE when sparse (found with
    /// SEEK_DATA/SEEK_HOLE, as virsh finds them), then finish and wait for the server's confirmation.
    /// </summary>
    public async Task<long> UploadVolumeAsync(VolumeRef vol, VolumeDataEndpoint source, ulong offset, ulong length, bool sparse, IProgress<long>? progress = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(source);
        var stream = await OpenTransferAsync(RemoteProcedure.StorageVolUpload, vol, offset, length, sparse, ct).ConfigureAwait(false);
        await using (stream.ConfigureAwait(false))
        {
            long sent = 0;
            var buffer = new byte[RemoteConnection.StreamChunkSize];
            switch (source)
            {
                case LocalFileEndpoint file when sparse && length > 0:
                    foreach (var segment in DataExtents.Enumerate(file.Handle, 0, (long)length, ZeroScan.Never))
                    {
                        if (segment.IsHole)
                        {
                            await stream.SendHoleAsync(segment.Length, ct).ConfigureAwait(false);
                            sent += segment.Length;
                        }
                        else
                        {
                            sent = await SendFileRangeAsync(stream, file.Handle, segment.Offset, segment.End, buffer, sent, progress, ct).ConfigureAwait(false);
                        }

                        progress?.Report(sent);
                    }

                    break;
                case LocalFileEndpoint file:
                    sent = await SendFileRangeAsync(stream, file.Handle, 0, length > 0 ? (long)length : long.MaxValue, buffer, sent, progress, ct).ConfigureAwait(false);
                    break;
                case StreamEndpoint pipe:
                    int n;
                    while ((n = await pipe.Stream.ReadAsync(buffer, ct).ConfigureAwait(false)) > 0)
                    {
                        await stream.SendAsync(buffer.AsMemory(0, n), ct).ConfigureAwait(false);
                        sent += n;
                        progress?.Report(sent);
                    }

                    break;
                default:
                    throw VirtPoolException.NoSupport("this upload source cannot be sent over a remote connection");
            }

            await stream.FinishAsync(ct).ConfigureAwait(false);
            return sent;
        }
    }

    /// <summary>The stream of a vol-upload or vol-download: the volume, offset, length and sparse flag.</summary>
    private Task<RemoteStream> OpenTransferAsync(RemoteProcedure procedure, VolumeRef vol, ulong offset, ulong length, bool sparse, CancellationToken ct)
        => _conn.OpenStreamAsync(procedure, w =>
        {
            WriteVol(w, vol);
            w.WriteUInt64(offset);
            w.WriteUInt64(length);
            w.WriteUInt32(sparse ? 1u : 0u);
        }, ct);

    /// <summary>
    /// cmdVolDownload over a stream: data written in order, holes skipped (the file is extended over
    /// them, so they stay holes), until the empty CONTINUE; then finish.
    /// </summary>
    public async Task<long> DownloadVolumeAsync(VolumeRef vol, VolumeDataEndpoint target, ulong offset, ulong length, bool sparse, IProgress<long>? progress = null, CancellationToken ct = default)
    {
        if (target is not LocalFileEndpoint file)
        {
            throw VirtPoolException.NoSupport("this download target cannot be written from a remote connection");
        }

        var stream = await OpenTransferAsync(RemoteProcedure.StorageVolDownload, vol, offset, length, sparse, ct).ConfigureAwait(false);
        await using (stream.ConfigureAwait(false))
        {
            long position = 0;
            while (true)
            {
                var piece = await stream.ReceiveAsync(ct).ConfigureAwait(false);
                if (piece.IsEnd)
                {
                    break;
                }

                try
                {
                    if (piece.HoleLength > 0)
                    {
                        position += piece.HoleLength;
                        if (RandomAccess.GetLength(file.Handle) < position)
                        {
                            RandomAccess.SetLength(file.Handle, position);
                        }
                    }
                    else
                    {
                        await RandomAccess.WriteAsync(file.Handle, piece.Data, position, ct).ConfigureAwait(false);
                        position += piece.Data.Length;
                    }
                }
                catch (IOException ex)
                {
                    throw VirtPoolException.System("cannot write to stream", ex);
                }

                progress?.Report(position);
            }

            await stream.FinishAsync(ct).ConfigureAwait(false);
            return position;
        }
    }

    // ----- embedded-only extras ------------------------------------------------------------------

    public Task<byte[]> ChecksumVolumeAsync(VolumeRef vol, IProgress<long>? progress = null, CancellationToken ct = default)
        => throw StorageApiErrors.EmbeddedOnly("vol-checksum");

    public Task<IReadOnlyDictionary<string, string>> GetVolumeLabelsAsync(VolumeRef vol, CancellationToken ct = default)
        => throw StorageApiErrors.EmbeddedOnly("volume labels");

    public Task<IReadOnlyDictionary<string, SortedDictionary<string, string>>> GetPoolLabelsAsync(string pool, CancellationToken ct = default)
        => throw StorageApiErrors.EmbeddedOnly("volume labels");

    public Task<IReadOnlyDictionary<string, string>> UpdateVolumeLabelsAsync(VolumeRef vol, IReadOnlyDictionary<string, string> set, IReadOnlyCollection<string> remove, CancellationToken ct = default)
        => throw StorageApiErrors.EmbeddedOnly("vol-label");

    // ----- helpers -------------------------------------------------------------------------------

    private static async Task<long> SendFileRangeAsync(RemoteStream stream, SafeFileHandle handle, long from, long end, byte[] buffer, long sent, IProgress<long>? progress, CancellationToken ct)
    {
        var position = from;
        while (position < end)
        {
            int n;
            try
            {
                n = await RandomAccess.ReadAsync(handle, buffer.AsMemory(0, (int)Math.Min(buffer.Length, end - position)), position, ct).ConfigureAwait(false);
            }
            catch (IOException ex)
            {
                throw VirtPoolException.System("cannot read from file", ex);
            }

            if (n == 0)
            {
                break;
            }

            await stream.SendAsync(buffer.AsMemory(0, n), ct).ConfigureAwait(false);
            position += n;
            sent += n;
            progress?.Report(sent);
        }

        return sent;
    }

    /// <summary>virStoragePoolCreateFlags from the build options: WITH_BUILD, plus OVERWRITE / NO_OVERWRITE.</summary>
    private static uint CreateFlags(PoolBuildFlags build, bool doBuild)
    {
        uint flags = 0;
        if (doBuild && (build & (PoolBuildFlags.Overwrite | PoolBuildFlags.NoOverwrite)) == 0)
        {
            flags |= 1;
        }

        if (build.HasFlag(PoolBuildFlags.Overwrite))
        {
            flags |= 2;
        }

        if (build.HasFlag(PoolBuildFlags.NoOverwrite))
        {
            flags |= 4;
        }

        return flags;
    }

    private async Task PoolCallAsync(RemoteProcedure procedure, string name, Action<XdrWriter>? more, CancellationToken ct)
    {
        var pool = await HandleAsync(name, ct).ConfigureAwait(false);
        await _conn.CallAsync(procedure, w =>
        {
            WritePool(w, pool);
            more?.Invoke(w);
        }, ct).ConfigureAwait(false);
    }

    private async Task<PoolSummary> SummaryAsync(PoolRef pool, CancellationToken ct)
    {
        var autostart = await _conn.CallAsync(RemoteProcedure.StoragePoolGetAutostart, w => WritePool(w, pool), ReadBool, ct).ConfigureAwait(false);
        var info = await InfoAsync(pool, ct).ConfigureAwait(false);
        var active = await _conn.CallAsync(RemoteProcedure.StoragePoolIsActive, w => WritePool(w, pool), ReadBool, ct).ConfigureAwait(false);
        var persistent = await _conn.CallAsync(RemoteProcedure.StoragePoolIsPersistent, w => WritePool(w, pool), ReadBool, ct).ConfigureAwait(false);
        return new PoolSummary(pool, default, active, persistent, autostart, new PoolSizes(info.Capacity, info.Allocation, info.Available));
    }

    private Task<PoolInfo> InfoAsync(PoolRef pool, CancellationToken ct)
        => _conn.CallAsync(RemoteProcedure.StoragePoolGetInfo, w => WritePool(w, pool), static (ref XdrReader r) =>
        {
            var state = (PoolState)r.ReadInt32();
            return new PoolInfo(state, r.ReadUInt64(), r.ReadUInt64(), r.ReadUInt64());
        }, ct);

    /// <summary>The handle of a pool named earlier in this command, else looked up by name.</summary>
    private async Task<PoolRef> HandleAsync(string name, CancellationToken ct)
        => _pools.TryGetValue(name, out var pool) ? pool : await LookupPoolByNameAsync(name, ct).ConfigureAwait(false);

    private PoolRef Remember(PoolRef pool)
    {
        _pools[pool.Name] = pool;
        return pool;
    }

    private static bool ReadBool(ref XdrReader r) => r.ReadInt32() != 0;

    private static VolumeInfo ReadVolInfo(ref XdrReader r)
    {
        var type = (VolumeType)r.ReadInt32();
        return new VolumeInfo(type, r.ReadUInt64(), r.ReadUInt64());
    }

    private static PoolRef ReadPool(ref XdrReader r)
    {
        var name = r.ReadString();
        return new PoolRef(name, r.ReadUuid());
    }

    private static void WritePool(XdrWriter w, PoolRef pool)
    {
        w.WriteString(pool.Name);
        w.WriteUuid(pool.Uuid);
    }

    private static VolumeRef ReadVol(ref XdrReader r)
    {
        var pool = r.ReadString();
        var name = r.ReadString();
        return new VolumeRef(pool, name, r.ReadString());
    }

    private static void WriteVol(XdrWriter w, VolumeRef vol)
    {
        w.WriteString(vol.Pool);
        w.WriteString(vol.Name);
        w.WriteString(vol.Key);
    }
}
