using System.Security.Cryptography;
using Microsoft.Win32.SafeHandles;
using VirtPool.Backends.Network;
using VirtPool.Core.Backends;
using VirtPool.Core.Errors;
using VirtPool.Core.Interop;
using VirtPool.Core.Model;
using VirtPool.Formats.Copy;

namespace VirtPool.Backends.Rbd;

/// <summary>
/// The volume data operations: wipe (libvirt's zero and trim), and the additions libvirt refuses on
/// rbd (upload, download, checksum). Holes stay holes both ways: a download finds the image's
/// allocated ranges with rbd_diff_iterate2 and never reads the rest; a sparse upload writes only the
/// source's data and zeroes only those of its holes where the image holds data now.
/// </summary>
public sealed partial class RbdBackend
{
    private static byte[]? _zeros;

    /// <summary>One pinned chunk of zeros, for plain uploads' holes; made on first use only, and always the one stored (requests point into it).</summary>
    private static byte[] Zeros => LazyInitializer.EnsureInitialized(ref _zeros, static () => GC.AllocateArray<byte>(RbdAio.Chunk, pinned: true));

    /// <summary>libvirt's wipeVol: zero (here rbd_write_zeroes, which frees whole objects) or trim (rbd_discard); other algorithms refused.</summary>
    public async Task<VolumeDefinition> WipeVolumeAsync(PoolContext pool, VolumeDefinition volume, VolumeWipeAlgorithm algorithm, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        var kind = algorithm switch
        {
            VolumeWipeAlgorithm.Zero => RbdRequestKind.WriteZeroes,
            VolumeWipeAlgorithm.Trim => RbdRequestKind.Discard,
            _ => throw VirtPoolException.InvalidArg($"unsupported algorithm {(int)algorithm}"),
        };

        using (var lease = await AcquireAsync(pool, cancellationToken).ConfigureAwait(false))
        {
            var work = new RbdWork();
            try
            {
                var image = await CallAsync(lease, c => work.Open(() => RbdImage.Open(c, volume.Name, readOnly: false)), "vol-wipe", cancellationToken).ConfigureAwait(false);
                var size = await CallAsync(lease, _ => image.Stat().Size, "vol-wipe", cancellationToken).ConfigureAwait(false);
                var requests = RbdAio.Ranges(kind, 0, size).ToList();
                for (var start = 0; start < requests.Count; start += RbdAio.Depth)
                {
                    var batch = requests.GetRange(start, Math.Min(RbdAio.Depth, requests.Count - start));
                    await CallAsync(lease, _ => work.Run(() => { RbdAio.Run(image, batch); return 0; }), "vol-wipe", cancellationToken).ConfigureAwait(false);
                    progress?.Report((long)(batch[^1].Offset + batch[^1].Length));
                }
            }
            finally
            {
                await work.EndAsync(lease).ConfigureAwait(false);
            }
        }

        _images.TryRemove(volume.Name, out _);
        return await RefreshVolumeAsync(pool, volume, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// An addition (libvirt: "storage pool doesn't support volume upload"): written in place at the
    /// offset, never past the capacity. Sparse: the source's holes (a file's, a sparse stream's, a
    /// plain stream's all-zero chunks) are zeroed only where the image has data there now, so they stay
    /// unallocated; plain: holes are written as zeros.
    /// </summary>
    public async Task<long> UploadAsync(PoolContext pool, VolumeDefinition volume, VolumeDataEndpoint source, ulong offset, ulong length, bool sparse, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        using var lease = await AcquireAsync(pool, cancellationToken).ConfigureAwait(false);
        var work = new RbdWork();
        try
        {
            var image = await CallAsync(lease, c => work.Open(() => RbdImage.Open(c, volume.Name, readOnly: false)), "vol-upload", cancellationToken).ConfigureAwait(false);
            var size = await CallAsync(lease, _ => image.Stat().Size, "vol-upload", cancellationToken).ConfigureAwait(false);
            var room = size - Math.Min(offset, size);
            RbdPieceSource pieces;
            ulong limit;
            switch (source)
            {
                case LocalFileEndpoint file:
                    var available = (ulong)DataExtents.GetSize(file.Handle);
                    limit = length == 0 ? available : Math.Min(length, available);
                    if (limit > room)
                    {
                        throw VirtPoolException.System("cannot write to stream", Errno.ENOSPC);
                    }

                    pieces = RbdPieceSource.FromFile(file.Handle, (long)limit);
                    break;
                case StreamEndpoint stream:
                    limit = length == 0 ? room : Math.Min(length, room);
                    pieces = RbdPieceSource.FromStream(stream.Stream, sparse);
                    break;
                case SparseStreamEndpoint rpc:
                    limit = length == 0 ? room : Math.Min(length, room);
                    pieces = RbdPieceSource.FromSparseStream(rpc.Stream);
                    break;
                default:
                    throw VirtPoolException.Internal("unknown upload source");
            }

            using (pieces)
            {
                var holder = sparse
                    ? await CallAsync(lease, _ => image.AllocatedExtents(offset, limit, wholeObject: image.UsesFastDiff(), includeParent: true), "vol-upload", cancellationToken).ConfigureAwait(false)
                    : null;
                var written = await WriteAsync(lease, work, image, pieces, offset, limit, holder, progress, cancellationToken).ConfigureAwait(false);
                if (source is StreamEndpoint plain && length == 0 && (ulong)written == limit
                    && await plain.Stream.ReadAsync(new byte[1], cancellationToken).ConfigureAwait(false) > 0)
                {
                    throw VirtPoolException.System("cannot write to stream", Errno.ENOSPC);
                }

                return written;
            }
        }
        finally
        {
            await work.EndAsync(lease).ConfigureAwait(false);
            _images.TryRemove(volume.Name, out _);
        }
    }

    /// <summary>
    /// An addition (libvirt: "storage pool doesn't support volume download"): from the offset to the
    /// end, or <paramref name="length"/> bytes. Only the image's allocated ranges (its parent's too,
    /// for a clone) are read; the rest are holes in a new output file or hole packets on a sparse
    /// stream, zeros elsewhere.
    /// </summary>
    public async Task<long> DownloadAsync(PoolContext pool, VolumeDefinition volume, VolumeDataEndpoint target, ulong offset, ulong length, bool sparse, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        var sink = target switch
        {
            LocalFileEndpoint file => RbdPieceSink.ToFile(file.Handle, sparse),
            StreamEndpoint stream => RbdPieceSink.ToStream(stream.Stream),
            SparseStreamEndpoint rpc => RbdPieceSink.ToSparseStream(rpc.Stream, sparse),
            _ => throw VirtPoolException.Internal("unknown download target"),
        };
        return await ReadAsync(pool, volume, offset, length, sink, progress, "vol-download", cancellationToken).ConfigureAwait(false);
    }

    /// <summary>SHA-256 of the image's bytes; its holes are hashed as zeros without being read.</summary>
    public async Task<byte[]> Sha256Async(PoolContext pool, VolumeDefinition volume, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        await ReadAsync(pool, volume, 0, 0, RbdPieceSink.ToHash(hash), progress, "vol-checksum", cancellationToken).ConfigureAwait(false);
        return hash.GetHashAndReset();
    }

    /// <summary>
    /// The full copy of a clone whose source is no image of this pool: a new image of the capacity
    /// asked, the source's data uploaded sparsely from its local path; removed again if that fails.
    /// </summary>
    private async Task<VolumeDefinition> CopyIntoAsync(PoolContext pool, VolumeDefinition volume, VolumeDefinition source, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        if (source.Type is not (VolumeType.File or VolumeType.Block) || source.Target.Path is not { Length: > 0 } path)
        {
            throw VirtPoolException.NoSupport($"cannot copy volume '{source.Name}' into RBD pool '{PoolName(pool)}': only images of the same RADOS pool and local volumes can be cloned into it");
        }

        if (source.Target.Format is { } format && format != "raw")
        {
            throw VirtPoolException.NoSupport($"cannot copy volume '{source.Name}' of format '{format}' into an RBD pool: only raw volumes");
        }

        var created = await CreateVolumeAsync(pool, volume with { Target = volume.Target with { Encryption = null } }, VolumeCreateFlags.None, null, cancellationToken).ConfigureAwait(false);
        try
        {
            var fd = LibC.Open(path, LibC.O_RDONLY | LibC.O_CLOEXEC, 0);
            if (fd < 0)
            {
                throw VirtPoolException.System($"cannot open volume '{path}'", LibC.Errno);
            }

            using var handle = new SafeFileHandle(fd, ownsHandle: true);
            await UploadAsync(pool, created, new LocalFileEndpoint(handle), 0, 0, sparse: true, progress, cancellationToken).ConfigureAwait(false);
            return await RefreshVolumeAsync(pool, created, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await CallAsync(pool, c => RbdNative.Remove(c.Ioctx, volume.Name), "vol-clone", CancellationToken.None).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// The write loop of an upload: pieces gathered into batches of <see cref="RbdAio.Depth"/>
    /// requests; two sets of buffers, so the next batch is read from the source while this one is
    /// written to the cluster.
    /// </summary>
    private async Task<long> WriteAsync(NetworkLease<RbdCluster> lease, RbdWork work, RbdImage image, RbdPieceSource pieces, ulong offset, ulong limit, List<(ulong Offset, ulong Length)>? holder, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        // The work owns the buffers: they go back once no write that uses them runs, not when this loop gives up.
        byte[][][] sets = [work.RentBuffers(), work.RentBuffers()];
        var current = 0;
        var requests = new List<RbdRequest>();
        Task? pending = null;
        var used = 0;
        var end = offset + limit;
        var pos = offset;
        try
        {
            while (true)
            {
                if (used == RbdAio.Depth || requests.Count >= RbdAio.Depth)
                {
                    await FlushAsync().ConfigureAwait(false);
                }

                var buffer = sets[current][used];
                var piece = await pieces.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
                if (piece.IsEnd)
                {
                    break;
                }

                var size = (ulong)(piece.DataLength > 0 ? piece.DataLength : piece.HoleLength);
                if (piece.DataLength < 0 || piece.HoleLength < 0 || size > end - pos)
                {
                    // As libvirt's stream fails when the sender brings more than the volume (or length) holds.
                    await FlushAsync().ConfigureAwait(false);
                    throw VirtPoolException.System("cannot write to stream", Errno.ENOSPC);
                }

                if (piece.DataLength > 0)
                {
                    requests.Add(new RbdRequest(RbdRequestKind.Write, pos, size, Pinned(buffer)));
                    used++;
                }
                else if (holder is not null)
                {
                    foreach (var (start, length) in Overlaps(holder, pos, size))
                    {
                        requests.AddRange(RbdAio.Ranges(RbdRequestKind.WriteZeroes, start, length));
                    }
                }
                else
                {
                    for (var at = pos; at < pos + size; at += RbdAio.Chunk)
                    {
                        requests.Add(new RbdRequest(RbdRequestKind.Write, at, Math.Min(RbdAio.Chunk, pos + size - at), Pinned(Zeros)));
                        if (requests.Count >= RbdAio.Depth)
                        {
                            await FlushAsync().ConfigureAwait(false);
                        }
                    }
                }

                pos += size;
            }

            await FlushAsync().ConfigureAwait(false);
            if (pending is not null)
            {
                await pending.ConfigureAwait(false);
                pending = null;
            }

            return (long)(pos - offset);
        }
        finally
        {
            // Not to free anything (the work does, once the write really ended): only so no batch is still being sent when this returns.
            if (pending is not null)
            {
                await pending.ContinueWith(static _ => { }, CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default).ConfigureAwait(false);
            }
        }

        // Sends this batch once the one before it is written, and gathers the next in the other buffers.
        async Task FlushAsync()
        {
            if (pending is not null)
            {
                var previous = pending;
                pending = null;
                await previous.ConfigureAwait(false);
            }

            if (requests.Count > 0)
            {
                var batch = requests.ToList();
                var done = (long)(batch[^1].Offset + batch[^1].Length - offset);
                pending = Send(batch, done);
                requests.Clear();
            }

            current = 1 - current;
            used = 0;
        }

        async Task Send(List<RbdRequest> batch, long done)
        {
            await CallAsync(lease, _ => work.Run(() => { RbdAio.Run(image, batch); return 0; }), "vol-upload", cancellationToken).ConfigureAwait(false);
            progress?.Report(done);
        }
    }

    /// <summary>
    /// The read loop of a download or checksum: the allocated ranges read in batches of
    /// <see cref="RbdAio.Depth"/> chunks, handed to the sink in order with the holes between them.
    /// Two sets of buffers: the next batch is read from the cluster while the sink takes this one.
    /// </summary>
    private async Task<long> ReadAsync(PoolContext pool, VolumeDefinition volume, ulong offset, ulong length, RbdPieceSink sink, IProgress<long>? progress, string operation, CancellationToken cancellationToken)
    {
        using var lease = await AcquireAsync(pool, cancellationToken).ConfigureAwait(false);
        var work = new RbdWork();
        Task? next = null;
        try
        {
            var image = await CallAsync(lease, c => work.Open(() => RbdImage.Open(c, volume.Name, readOnly: true)), operation, cancellationToken).ConfigureAwait(false);
            var size = await CallAsync(lease, _ => image.Stat().Size, operation, cancellationToken).ConfigureAwait(false);
            var available = size - Math.Min(offset, size);
            var count = length == 0 ? available : Math.Min(length, available);
            var data = await CallAsync(lease, _ => image.AllocatedExtents(offset, count, wholeObject: image.UsesFastDiff(), includeParent: true), operation, cancellationToken).ConfigureAwait(false);
            var plan = ReadPlan(data, offset, offset + count);
            byte[][][] sets = [work.RentBuffers(), work.RentBuffers()];
            var batches = plan.Where(p => p.Batch is not null).Select(p => p.Batch!).ToList();
            next = batches.Count > 0 ? Start(0) : null;
            var taken = 0;
            var pos = offset;
            foreach (var (hole, batch) in plan)
            {
                if (batch is null)
                {
                    await sink.HoleAsync((long)hole, cancellationToken).ConfigureAwait(false);
                    pos += hole;
                    progress?.Report((long)(pos - offset));
                    continue;
                }

                await next!.ConfigureAwait(false);
                var buffers = sets[taken % 2];
                taken++;
                next = taken < batches.Count ? Start(taken) : null;
                for (var i = 0; i < batch.Count; i++)
                {
                    await sink.DataAsync(buffers[i].AsMemory(0, (int)batch[i].Length), cancellationToken).ConfigureAwait(false);
                }

                pos = batch[^1].Offset + batch[^1].Length;
                progress?.Report((long)(pos - offset));
            }

            // Removed by another client while it was read: what was read after that are zeros, not its data.
            await CallAsync(lease, c => work.Run(() => { image.CheckStillThere(c); return 0; }), operation, cancellationToken).ConfigureAwait(false);
            await sink.FinishAsync((long)count, cancellationToken).ConfigureAwait(false);
            return (long)count;

            Task Start(int index)
            {
                var buffers = sets[index % 2];
                var requests = batches[index].Select((r, i) => r with { Buffer = Pinned(buffers[i]) }).ToList();
                return CallAsync(lease, _ => work.Run(() => { RbdAio.Run(image, requests); return 0; }), operation, cancellationToken);
            }
        }
        finally
        {
            // The read ahead's caller side settles first; the work frees image and buffers once no read of it runs any more.
            if (next is not null)
            {
                await next.ContinueWith(static _ => { }, CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default).ConfigureAwait(false);
            }

            await work.EndAsync(lease).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// [offset, end) as holes and batches of reads (no buffers yet): a batch never spans a hole, so
    /// the pieces reach the sink in order.
    /// </summary>
    private static List<(ulong Hole, List<RbdRequest>? Batch)> ReadPlan(List<(ulong Offset, ulong Length)> data, ulong offset, ulong end)
    {
        var plan = new List<(ulong Hole, List<RbdRequest>? Batch)>();
        var pos = offset;
        foreach (var (start, extentLength) in data.Append((end, 0UL)))
        {
            var from = Math.Max(start, pos);
            var extentEnd = Math.Min(start + extentLength, end);
            if (from > pos)
            {
                plan.Add((from - pos, null));
                pos = from;
            }

            List<RbdRequest>? batch = null;
            for (var at = from; at < extentEnd; at += RbdAio.Chunk)
            {
                batch ??= [];
                batch.Add(new RbdRequest(RbdRequestKind.Read, at, Math.Min(RbdAio.Chunk, extentEnd - at)));
                if (batch.Count == RbdAio.Depth)
                {
                    plan.Add((0, batch));
                    batch = null;
                }
            }

            if (batch is not null)
            {
                plan.Add((0, batch));
            }

            pos = Math.Max(pos, extentEnd);
        }

        return plan;
    }

    /// <summary>The parts of [offset, offset+length) that the ranges cover.</summary>
    private static IEnumerable<(ulong Offset, ulong Length)> Overlaps(List<(ulong Offset, ulong Length)> ranges, ulong offset, ulong length)
    {
        var end = offset + length;
        foreach (var (start, size) in ranges)
        {
            var from = Math.Max(start, offset);
            var to = Math.Min(start + size, end);
            if (from < to)
            {
                yield return (from, to - from);
            }
        }
    }

    private static unsafe nint Pinned(byte[] buffer)
    {
        fixed (byte* p = buffer)
        {
            // Allocated on the pinned object heap: the address stays valid after this scope.
            return (nint)p;
        }
    }
}
