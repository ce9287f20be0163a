using VirtPool.Core.Backends;
using VirtPool.Core.Errors;
using VirtPool.Core.Manager;
using VirtPool.Rpc;
using VirtPool.Rpc.Xdr;

namespace VirtPool.Daemon.Storage;

/// <summary>VOL_UPLOAD / VOL_DOWNLOAD (spec 6.2, 6.3) from the handler's side.</summary>
public static partial class StorageProcedures
{
    /// <summary>VIR_STORAGE_VOL_UPLOAD_SPARSE_STREAM = VIR_STORAGE_VOL_DOWNLOAD_SPARSE_STREAM.</summary>
    private const uint SparseStream = 1;

    private static void RegisterStreams(ProcedureTable<DaemonCallContext> table)
    {
        table.Register(RemoteProcedure.StorageVolUpload, VolUploadAsync);
        table.Register(RemoteProcedure.StorageVolDownload, VolDownloadAsync);
    }

    private static (VolumeRef Vol, ulong Offset, ulong Length, uint Flags) ReadTransferArgs(ReadOnlyMemory<byte> args)
        => XdrArgs.Read(args, static (ref XdrReader r) => (RemoteStorageVol.Read(ref r), r.ReadUInt64(), r.ReadUInt64(), r.ReadUInt32()));

    /// <summary>
    /// The CALL is checked here so that what can be refused is refused in the REPLY (the client then never
    /// opens a stream); the data moves after the OK REPLY, in the consumer the connection runs. The
    /// manager repeats the checks under its lock, and refreshes the pool when the upload ends.
    /// </summary>
    private static async ValueTask VolUploadAsync(DaemonCallContext ctx, ReadOnlyMemory<byte> args)
    {
        var (handle, offset, length, flags) = ReadTransferArgs(args);
        CallGuards.RequireWritable(ctx, "virStorageVolUpload");
        CallGuards.CheckFlags(flags, SparseStream, "storageVolUpload");
        var mgr = Manager(ctx);
        var vol = await ResolveVolumeAsync(ctx, handle).ConfigureAwait(false);
        await mgr.CheckVolumeJobAsync(vol, reading: false, ctx.CancellationToken).ConfigureAwait(false);
        var info = await mgr.GetVolumeInfoAsync(vol, ctx.CancellationToken).ConfigureAwait(false);
        if (offset > info.Capacity || (length > 0 && length > info.Capacity - offset))
        {
            // The manager's own wording for the same refusal.
            throw VirtPoolException.InvalidArg($"cannot upload {length} bytes at offset {offset} into volume '{vol.Name}' of capacity {info.Capacity}");
        }

        var pool = await mgr.LookupPoolByNameAsync(vol.Pool, ctx.CancellationToken).ConfigureAwait(false);
        var sparse = (flags & SparseStream) != 0;
        var events = ctx.Services.Events;
        ctx.Connection.StartUpload(ctx.Call, sparse, async (stream, ct) =>
        {
            await mgr.UploadVolumeAsync(vol, new SparseStreamEndpoint(stream), offset, length, sparse, null, ct).ConfigureAwait(false);

            // libvirt refreshes the pool when an upload stream closes and reports it.
            events.PoolRefresh(pool);
        });
    }

    private static async ValueTask VolDownloadAsync(DaemonCallContext ctx, ReadOnlyMemory<byte> args)
    {
        var (handle, offset, length, flags) = ReadTransferArgs(args);
        CallGuards.RequireWritable(ctx, "virStorageVolDownload");
        CallGuards.CheckFlags(flags, SparseStream, "storageVolDownload");
        var mgr = Manager(ctx);
        var vol = await ResolveVolumeAsync(ctx, handle).ConfigureAwait(false);
        await mgr.CheckVolumeJobAsync(vol, reading: true, ctx.CancellationToken).ConfigureAwait(false);
        var sparse = (flags & SparseStream) != 0;
        ctx.Connection.StartDownload(ctx.Call, sparse, async (stream, ct) =>
            await mgr.DownloadVolumeAsync(vol, new SparseStreamEndpoint(stream), offset, length, sparse, null, ct).ConfigureAwait(false));
    }
}
