using System.Security.Cryptography;
using Microsoft.Win32.SafeHandles;
using VirtPool.Backends.Network;
using VirtPool.Core.Backends;
using VirtPool.Core.Errors;
using VirtPool.Core.Interop;
using VirtPool.Core.Model;
using VirtPool.Formats.Copy;

namespace VirtPool.Backends.IscsiDirect;

/// <summary>
/// vol-upload, vol-download and checksums of a LUN (an addition: libvirt's iscsi-direct pool has
/// none). One session held for the whole transfer, one bounded call per 1 MiB command. Holes: a sparse
/// download leaves all-zero 64 KiB blocks out (holes in a file, hole packets on a sparse stream); an
/// upload writes the source's holes as zeroes, and on a thin provisioned LUN whose unmapped blocks read
/// as zeroes a sparse upload deallocates them (UNMAP) instead.
/// </summary>
public sealed partial class IscsiDirectBackend
{
    /// <summary>Zero detection granularity of sparse downloads.</summary>
    private const int ZeroBlock = 64 * 1024;

    /// <summary>Largest data packet sent on an RPC stream: what every libvirt client accepts.</summary>
    private const int StreamPacket = 256 * 1024;

    public async Task<long> UploadAsync(PoolContext pool, VolumeDefinition volume, VolumeDataEndpoint source, ulong offset, ulong length, bool sparse, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        var lun = LunOf(volume);
        Settle(pool);
        var (lease, capacity) = await OpenLunAsync(lun, cancellationToken).ConfigureAwait(false);
        using var held = lease;
        var io = new LunIo(this, lease, lun, capacity);
        var size = io.Capacity.Bytes;
        var room = size - Math.Min(offset, size);
        var writer = new LunWriter(io, offset, unmapHoles: sparse && io.Capacity.ThinProvisioned && io.Capacity.UnmappedReadsZero);
        switch (source)
        {
            case LocalFileEndpoint file:
                var available = (ulong)DataExtents.GetSize(file.Handle);
                var count = length == 0 ? available : Math.Min(length, available);
                if (count > room)
                {
                    throw VirtPoolException.System("cannot write to stream", Errno.ENOSPC);
                }

                await UploadFileAsync(file.Handle, (long)count, writer, progress, cancellationToken).ConfigureAwait(false);
                break;
            case StreamEndpoint stream:
                var limit = length == 0 ? room : Math.Min(length, room);
                await UploadStreamAsync(stream.Stream, limit, writer, progress, cancellationToken).ConfigureAwait(false);

                // More than the LUN holds fails as libvirt's stream does when it overruns (what fitted is written).
                if (length == 0 && writer.Written == limit && await stream.Stream.ReadAsync(new byte[1], cancellationToken).ConfigureAwait(false) > 0)
                {
                    await writer.FlushAsync(cancellationToken).ConfigureAwait(false);
                    throw VirtPoolException.System("cannot write to stream", Errno.ENOSPC);
                }

                break;
            case SparseStreamEndpoint rpc:
                await UploadSparseStreamAsync(rpc.Stream, length == 0 ? room : Math.Min(length, room), writer, progress, cancellationToken).ConfigureAwait(false);
                break;
            default:
                throw VirtPoolException.Internal("unknown upload source");
        }

        await writer.FlushAsync(cancellationToken).ConfigureAwait(false);
        return (long)writer.Written;
    }

    public async Task<long> DownloadAsync(PoolContext pool, VolumeDefinition volume, VolumeDataEndpoint target, ulong offset, ulong length, bool sparse, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        var lun = LunOf(volume);
        Settle(pool);
        var (lease, capacity) = await OpenLunAsync(lun, cancellationToken).ConfigureAwait(false);
        using var held = lease;
        var io = new LunIo(this, lease, lun, capacity);
        var size = io.Capacity.Bytes;
        var rest = size - Math.Min(offset, size);
        var count = length == 0 ? rest : Math.Min(length, rest);
        DownloadSink sink = target switch
        {
            LocalFileEndpoint file => new FileSink(file.Handle, sparse && IsRegularFile(file.Handle)),
            StreamEndpoint stream => new StreamSink(stream.Stream),
            SparseStreamEndpoint rpc => new RpcSink(rpc.Stream, sparse && rpc.Stream.AcceptsHoles),
            _ => throw VirtPoolException.Internal("unknown download target"),
        };
        await ReadRangeAsync(io, offset, count, sink.FindsHoles, sink.DataAsync, sink.HoleAsync, progress, cancellationToken).ConfigureAwait(false);
        await sink.CompleteAsync(cancellationToken).ConfigureAwait(false);
        return (long)count;
    }

    public async Task<byte[]> Sha256Async(PoolContext pool, VolumeDefinition volume, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        var lun = LunOf(volume);
        Settle(pool);
        var (lease, capacity) = await OpenLunAsync(lun, cancellationToken).ConfigureAwait(false);
        using var held = lease;
        var io = new LunIo(this, lease, lun, capacity);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        await ReadRangeAsync(
            io,
            0,
            io.Capacity.Bytes,
            findHoles: false,
            (data, _) =>
            {
                hash.AppendData(data.Span);
                return ValueTask.CompletedTask;
            },
            (_, _) => ValueTask.CompletedTask,
            progress,
            cancellationToken).ConfigureAwait(false);
        return hash.GetHashAndReset();
    }

    /// <summary>
    /// Reads [<paramref name="offset"/>, +<paramref name="count"/>) in aligned 1 MiB commands and hands
    /// on its bytes in order; with <paramref name="findHoles"/>, runs of all-zero 64 KiB blocks as holes.
    /// </summary>
    private static async Task ReadRangeAsync(LunIo io, ulong offset, ulong count, bool findHoles, Func<ReadOnlyMemory<byte>, CancellationToken, ValueTask> data, Func<long, CancellationToken, ValueTask> hole, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        if (count == 0)
        {
            // Nothing to read: also a LUN without blocks (tgt's LUN 0 controller, block size 0).
            return;
        }

        var buffer = new byte[LunIo.ChunkBytes];
        var end = offset + count;
        var position = io.AlignDown(offset);
        while (position < end)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var readable = (int)Math.Min((ulong)buffer.Length, io.Capacity.Bytes - position);
            await io.ReadAsync(position, buffer.AsMemory(0, readable), cancellationToken).ConfigureAwait(false);
            var from = (int)(Math.Max(offset, position) - position);
            var to = (int)(Math.Min(end, position + (ulong)readable) - position);
            var piece = buffer.AsMemory(from, to - from);
            if (!findHoles)
            {
                await data(piece, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                await SplitZerosAsync(piece, data, hole, cancellationToken).ConfigureAwait(false);
            }

            position += (ulong)readable;
            progress?.Report((long)(Math.Min(end, position) - offset));
        }
    }

    private static async Task SplitZerosAsync(ReadOnlyMemory<byte> piece, Func<ReadOnlyMemory<byte>, CancellationToken, ValueTask> data, Func<long, CancellationToken, ValueTask> hole, CancellationToken cancellationToken)
    {
        var runStart = 0;
        bool? runIsHole = null;
        for (var at = 0; at < piece.Length; at += ZeroBlock)
        {
            var block = piece.Span.Slice(at, Math.Min(ZeroBlock, piece.Length - at));
            var isHole = ZeroBlocks.IsAllZero(block);
            if (runIsHole is { } current && current != isHole)
            {
                await Emit(runStart, at, current).ConfigureAwait(false);
                runStart = at;
            }

            runIsHole = isHole;
        }

        if (runIsHole is { } last)
        {
            await Emit(runStart, piece.Length, last).ConfigureAwait(false);
        }

        ValueTask Emit(int from, int to, bool isHole)
            => isHole ? hole(to - from, cancellationToken) : data(piece[from..to], cancellationToken);
    }

    private static async Task UploadFileAsync(SafeFileHandle file, long count, LunWriter writer, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        var buffer = new byte[LunIo.ChunkBytes];
        foreach (var segment in DataExtents.Enumerate(file, 0, count, ZeroScan.Never))
        {
            if (segment.IsHole)
            {
                await writer.HoleAsync((ulong)segment.Length, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                for (var at = segment.Offset; at < segment.End;)
                {
                    var want = (int)Math.Min(buffer.Length, segment.End - at);
                    var got = await RandomAccess.ReadAsync(file, buffer.AsMemory(0, want), at, cancellationToken).ConfigureAwait(false);
                    if (got <= 0)
                    {
                        // The file shrank under us: the rest reads as zeroes, as past a file's end.
                        await writer.HoleAsync((ulong)(segment.End - at), cancellationToken).ConfigureAwait(false);
                        break;
                    }

                    await writer.WriteAsync(buffer.AsMemory(0, got), cancellationToken).ConfigureAwait(false);
                    at += got;
                }
            }

            progress?.Report((long)writer.Written);
        }
    }

    private static async Task UploadStreamAsync(Stream stream, ulong limit, LunWriter writer, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        var buffer = new byte[LunIo.ChunkBytes];
        while (writer.Written < limit)
        {
            var want = (int)Math.Min((ulong)buffer.Length, limit - writer.Written);
            var got = await stream.ReadAsync(buffer.AsMemory(0, want), cancellationToken).ConfigureAwait(false);
            if (got == 0)
            {
                break;
            }

            await writer.WriteAsync(buffer.AsMemory(0, got), cancellationToken).ConfigureAwait(false);
            progress?.Report((long)writer.Written);
        }
    }

    private static async Task UploadSparseStreamAsync(ISparseStream stream, ulong limit, LunWriter writer, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        var buffer = new byte[LunIo.ChunkBytes];
        while (true)
        {
            var piece = await stream.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
            if (piece.IsEnd)
            {
                return;
            }

            var size = piece.DataLength > 0 ? piece.DataLength : piece.HoleLength;
            if (size < 0 || (ulong)size > limit - writer.Written)
            {
                // As libvirt's stream fails when the client sends more than the volume (or length) holds.
                await writer.FlushAsync(cancellationToken).ConfigureAwait(false);
                throw VirtPoolException.System("cannot write to stream", Errno.ENOSPC);
            }

            if (piece.DataLength > 0)
            {
                await writer.WriteAsync(buffer.AsMemory(0, piece.DataLength), cancellationToken).ConfigureAwait(false);
            }
            else
            {
                await writer.HoleAsync((ulong)piece.HoleLength, cancellationToken).ConfigureAwait(false);
            }

            progress?.Report((long)writer.Written);
        }
    }

    private static bool IsRegularFile(SafeFileHandle handle)
        => FileStat.TryFStat((int)handle.DangerousGetHandle(), out var st, out _) && st.IsRegular;

    /// <summary>Where downloaded bytes go.</summary>
    private abstract class DownloadSink
    {
        public abstract bool FindsHoles { get; }

        public abstract ValueTask DataAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken);

        public abstract ValueTask HoleAsync(long length, CancellationToken cancellationToken);

        public virtual ValueTask CompleteAsync(CancellationToken cancellationToken) => ValueTask.CompletedTask;

        protected static async ValueTask ZerosAsync(long length, Func<ReadOnlyMemory<byte>, CancellationToken, ValueTask> data, CancellationToken cancellationToken)
        {
            var zeros = new byte[Math.Min(length, StreamPacket)];
            for (long done = 0; done < length;)
            {
                var piece = (int)Math.Min(zeros.Length, length - done);
                await data(zeros.AsMemory(0, piece), cancellationToken).ConfigureAwait(false);
                done += piece;
            }
        }
    }

    /// <summary>A local file or device from position 0 (the CLI truncated a file): holes skipped in a regular file, zeroes elsewhere.</summary>
    private sealed class FileSink(SafeFileHandle handle, bool keepHoles) : DownloadSink
    {
        private long _position;

        public override bool FindsHoles => keepHoles;

        public override async ValueTask DataAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
        {
            await RandomAccess.WriteAsync(handle, data, _position, cancellationToken).ConfigureAwait(false);
            _position += data.Length;
        }

        public override ValueTask HoleAsync(long length, CancellationToken cancellationToken)
        {
            _position += length;
            return ValueTask.CompletedTask;
        }

        /// <summary>A file that ends in a hole gets its length.</summary>
        public override ValueTask CompleteAsync(CancellationToken cancellationToken)
        {
            if (keepHoles && RandomAccess.GetLength(handle) < _position)
            {
                RandomAccess.SetLength(handle, _position);
            }

            return ValueTask.CompletedTask;
        }
    }

    private sealed class StreamSink(Stream stream) : DownloadSink
    {
        public override bool FindsHoles => false;

        public override ValueTask DataAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken) => stream.WriteAsync(data, cancellationToken);

        public override ValueTask HoleAsync(long length, CancellationToken cancellationToken) => ZerosAsync(length, DataAsync, cancellationToken);
    }

    /// <summary>An RPC stream: data in packets libvirt's clients take; holes as hole packets when the receiver asked for them.</summary>
    private sealed class RpcSink(ISparseStream stream, bool holes) : DownloadSink
    {
        public override bool FindsHoles => holes;

        public override async ValueTask DataAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
        {
            for (var at = 0; at < data.Length; at += StreamPacket)
            {
                await stream.WriteAsync(data.Slice(at, Math.Min(StreamPacket, data.Length - at)), cancellationToken).ConfigureAwait(false);
            }
        }

        public override ValueTask HoleAsync(long length, CancellationToken cancellationToken)
            => holes ? stream.WriteHoleAsync(length, cancellationToken) : ZerosAsync(length, DataAsync, cancellationToken);
    }
}
