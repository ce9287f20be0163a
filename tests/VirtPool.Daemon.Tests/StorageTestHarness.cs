using VirtPool.Core.Backends;
using VirtPool.Core.Errors;
using VirtPool.Core.Manager;
using VirtPool.Core.Process;
using VirtPool.Core.Secrets;
using VirtPool.Core.State;
using VirtPool.Backends;
using VirtPool.Daemon.Secrets;
using VirtPool.Daemon.Storage;
using VirtPool.Rpc;
using VirtPool.Rpc.Xdr;

namespace VirtPool.Daemon.Tests;

/// <summary>A connection stand-in: read-only or not, and the streams handlers asked it to run.</summary>
internal sealed class FakeConnection : IClientConnection
{
    public bool IsReadOnly { get; set; }

    public string? OpenedUri => "qemu:///system";

    public List<(RpcHeader Call, bool Sparse, Func<ISparseStream, CancellationToken, Task> Work)> Uploads { get; } = [];

    public List<(RpcHeader Call, bool Sparse, Func<ISparseStream, CancellationToken, Task> Work)> Downloads { get; } = [];

    public void StartUpload(RpcHeader call, bool sparse, Func<ISparseStream, CancellationToken, Task> consumer) => Uploads.Add((call, sparse, consumer));

    public void StartDownload(RpcHeader call, bool sparse, Func<ISparseStream, CancellationToken, Task> producer) => Downloads.Add((call, sparse, producer));
}

/// <summary>Records events as short strings, in order.</summary>
internal sealed class RecordingEventHub : IEventHub
{
    public List<string> Events { get; } = [];

    public void PoolLifecycle(PoolRef pool, int lifecycleEvent, int detail) => Events.Add($"pool {pool.Name} lifecycle {lifecycleEvent} {detail}");

    public void PoolRefresh(PoolRef pool) => Events.Add($"pool {pool.Name} refresh");

    public void SecretLifecycle(Guid uuid, int usageType, string usageId, int lifecycleEvent, int detail)
        => Events.Add($"secret {uuid:D} {usageType} {usageId} lifecycle {lifecycleEvent} {detail}");

    public void SecretValueChanged(Guid uuid, int usageType, string usageId)
        => Events.Add($"secret {uuid:D} {usageType} {usageId} value-changed");
}

/// <summary>A decoded REPLY: header plus either the ret payload or the remote_error.</summary>
internal sealed record StorageReply(RpcHeader Header, byte[] Payload)
{
    public bool IsOk => Header.Status == RpcMessageStatus.Ok;

    public RemoteError Error
    {
        get
        {
            Assert.Equal(RpcMessageStatus.Error, Header.Status);
            return RemoteError.Decode(Payload);
        }
    }

    /// <summary>Asserts success and decodes the ret with <paramref name="read"/>, which must consume it all.</summary>
    public T Ret<T>(XdrElementReader<T> read)
    {
        Assert.True(IsOk, IsOk ? null : $"error reply: {RemoteError.Decode(Payload).Message}");
        var reader = new XdrReader(Payload);
        var value = read(ref reader);
        Assert.True(reader.IsAtEnd, $"{reader.Remaining} bytes left after the ret struct");
        return value;
    }

    public void AssertVoid()
    {
        Assert.True(IsOk, IsOk ? null : $"error reply: {RemoteError.Decode(Payload).Message}");
        Assert.Empty(Payload);
    }

    public void AssertError(VirErrorCode code, VirErrorDomain domain, string message)
    {
        Assert.False(IsOk, "expected an error reply");
        var error = Error;
        Assert.Equal(message, error.Message);
        Assert.Equal(code, error.Code);
        Assert.Equal(domain, error.Domain);
        Assert.Equal(VirErrorLevel.Error, error.Level);
    }
}

/// <summary>
/// The storage and secret procedures on a real pool manager and secret store in a temporary state
/// folder, dispatched through a <see cref="ProcedureTable{TContext}"/> exactly as the daemon will.
/// </summary>
internal sealed class StorageHarness : IDisposable
{
    private uint _serial;

    public StorageHarness()
    {
        Root = Directory.CreateTempSubdirectory("vp-daemon-storage-").FullName;
        var store = new StateStore(Path.Combine(Root, "state"));
        Manager = new PoolManager(store, BackendCatalog.Create(ProcessRunner.Instance));
        Secrets = new SecretStore(store.Root, store.StatusDir);
        Services = new DaemonServices(Manager, Secrets, Events);
        StorageProcedures.Register(Table);
        SecretProcedures.Register(Table);
    }

    public string Root { get; }

    public string Images => Path.Combine(Root, "images");

    public PoolManager Manager { get; }

    public SecretStore Secrets { get; }

    public RecordingEventHub Events { get; } = new();

    public FakeConnection Connection { get; } = new();

    public DaemonServices Services { get; }

    public ProcedureTable<DaemonCallContext> Table { get; } = new();

    public void Dispose()
    {
        Manager.Dispose();
        Directory.Delete(Root, recursive: true);
    }

    public Task<StorageReply> CallAsync(RemoteProcedure procedure, Action<XdrWriter>? args = null)
    {
        using var payload = new PooledBufferWriter();
        args?.Invoke(new XdrWriter(payload));
        return CallRawAsync(procedure, payload.WrittenSpan.ToArray());
    }

    public async Task<StorageReply> CallRawAsync(RemoteProcedure procedure, byte[] args)
    {
        var call = RpcHeader.Call(procedure, ++_serial);
        using var output = new PooledBufferWriter();
        var context = new DaemonCallContext(call, output, Connection, Services, CancellationToken.None);
        await Table.DispatchAsync(context, args);
        var frame = output.WrittenSpan.ToArray();
        var header = RpcFrame.ReadHeader(frame);
        Assert.Equal(RpcMessageType.Reply, header.Type);
        Assert.Equal(call.Serial, header.Serial);
        Assert.Equal(call.Procedure, header.Procedure);
        Assert.Equal(frame.Length, (int)System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(frame));
        return new StorageReply(header, frame[RpcLimits.MinPacketLength..]);
    }

    // ----- wire encodings, written independently of the daemon's helpers ----------------------------

    public static void Pool(XdrWriter w, PoolRef pool)
    {
        w.WriteString(pool.Name);
        w.WriteUuid(pool.Uuid);
    }

    public static void Vol(XdrWriter w, VolumeRef vol)
    {
        w.WriteString(vol.Pool);
        w.WriteString(vol.Name);
        w.WriteString(vol.Key);
    }

    public static PoolRef ReadPool(ref XdrReader r)
    {
        var name = r.ReadString();
        return new PoolRef(name, r.ReadUuid());
    }

    public static VolumeRef ReadVol(ref XdrReader r)
    {
        var pool = r.ReadString();
        var name = r.ReadString();
        return new VolumeRef(pool, name, r.ReadString());
    }

    public string DirPoolXml(string name) => $"<pool type='dir'><name>{name}</name><target><path>{Path.Combine(Images, name)}</path></target></pool>";

    /// <summary>POOL_DEFINE_XML, BUILD and CREATE over RPC; returns the handle.</summary>
    public async Task<PoolRef> StartedDirPoolAsync(string name)
    {
        var pool = (await CallAsync(RemoteProcedure.StoragePoolDefineXml, w =>
        {
            w.WriteString(DirPoolXml(name));
            w.WriteUInt32(0);
        })).Ret(ReadPool);
        (await CallAsync(RemoteProcedure.StoragePoolBuild, w =>
        {
            Pool(w, pool);
            w.WriteUInt32(0);
        })).AssertVoid();
        (await CallAsync(RemoteProcedure.StoragePoolCreate, w =>
        {
            Pool(w, pool);
            w.WriteUInt32(0);
        })).AssertVoid();
        return pool;
    }

    public async Task<VolumeRef> CreateVolumeAsync(PoolRef pool, string name, long capacity, long allocation = 0)
        => (await CallAsync(RemoteProcedure.StorageVolCreateXml, w =>
        {
            Pool(w, pool);
            w.WriteString($"<volume><name>{name}</name><capacity unit='bytes'>{capacity}</capacity><allocation>{allocation}</allocation></volume>");
            w.WriteUInt32(0);
        })).Ret(ReadVol);
}
