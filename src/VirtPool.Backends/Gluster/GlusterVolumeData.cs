using System.Security.Cryptography;
using VirtPool.Core.Backends;
using VirtPool.Core.Errors;
using VirtPool.Core.Interop;
using VirtPool.Formats.Copy;

namespace VirtPool.Backends.Gluster;

/// <summary>
/// Upload, download and checksum of a gluster volume's bytes over gfapi, holes kept: a download asks the
/// server where the data is (SEEK_DATA/SEEK_HOLE) and sends holes as holes (a local file's are left
/// unwritten, a sparse RPC stream gets hole packets); a sparse upload punches the source's holes
/// (glfs_discard), a plain one has the server write them as zeros (glfs_zerofill). Every gfapi call is
/// one bounded session call of at most <see cref="Chunk"/> bytes.
/// </summary>
public static class GlusterVolumeData
{
    /// <summary>Bytes per gfapi read or write.</summary>
    public const int Chunk = 1 << 20;

    /// <summary>Largest data piece sent on a sparse RPC stream (what every libvirt client accepts).</summary>
    private const int SparseStreamChunk = 256 * 1024;

    private static readonly byte[] Zeros = new byte[Chunk];

    /// <summary>
    /// A buffer of one operation's own, never one from ArrayPool: a gfapi call the connection's time limit
    /// abandoned keeps running on its worker (a brick answers after its ping-timeout) and still reads or
    /// writes the buffer, so handing it back to a shared pool would give another user an array a late read
    /// overwrites. The abandoned call's lambda keeps this array alive (and pinned) until it returns.
    /// </summary>
    internal static byte[] TransferBuffer(int length) => GC.AllocateUninitializedArray<byte>(length);

    /// <summary>libvirt's uploadVol semantics: written in place at the offset, never past the capacity, nothing truncated.</summary>
    public static async Task<long> UploadAsync(IGlusterSession session, string path, string uri, ulong capacity, VolumeDataEndpoint source, ulong offset, ulong length, bool sparse, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(session);
        var file = await session.RunAsync(m => m.Open(path, LibC.O_WRONLY, uri), "open", cancellationToken).ConfigureAwait(false);
        try
        {
            var originalEnd = await session.RunAsync(_ => file.Stat().Size, "stat", cancellationToken).ConfigureAwait(false);
            var writer = new Writer(session, file, (long)offset, originalEnd, sparse);
            var room = capacity - Math.Min(offset, capacity);
            var buffer = GlusterVolumeData.TransferBuffer(Chunk);
            long written;
            switch (source)
            {
                case LocalFileEndpoint local:
                    var available = (ulong)DataExtents.GetSize(local.Handle);
                    var count = length == 0 ? available : Math.Min(length, available);
                    if (count > room)
                    {
                        throw VirtPoolException.System("cannot write to stream", Errno.ENOSPC);
                    }

                    foreach (var segment in DataExtents.Enumerate(local.Handle, 0, (long)count, ZeroScan.Never))
                    {
                        if (segment.IsHole)
                        {
                            await writer.HoleAsync(segment.Length, cancellationToken).ConfigureAwait(false);
                            continue;
                        }

                        for (var at = segment.Offset; at < segment.End;)
                        {
                            var n = RandomAccess.Read(local.Handle, buffer.AsSpan(0, (int)Math.Min(Chunk, segment.End - at)), at);
                            if (n <= 0)
                            {
                                throw VirtPoolException.System("cannot read from stream", Errno.EIO);
                            }

                            await writer.DataAsync(buffer.AsMemory(0, n), cancellationToken).ConfigureAwait(false);
                            at += n;
                            progress?.Report(writer.Position - (long)offset);
                        }
                    }

                    written = writer.Position - (long)offset;
                    break;
                case StreamEndpoint plain:
                    var limit = (long)(length == 0 ? room : Math.Min(length, room));
                    while (writer.Position - (long)offset < limit)
                    {
                        var want = (int)Math.Min(Chunk, limit - (writer.Position - (long)offset));
                        var n = await ReadBlockAsync(plain.Stream, buffer.AsMemory(0, want), cancellationToken).ConfigureAwait(false);
                        if (n == 0)
                        {
                            break;
                        }

                        // A sparse upload of a plain stream leaves its all-zero blocks holes.
                        if (sparse && ZeroBlocks.IsAllZero(buffer.AsSpan(0, n)))
                        {
                            await writer.HoleAsync(n, cancellationToken).ConfigureAwait(false);
                        }
                        else
                        {
                            await writer.DataAsync(buffer.AsMemory(0, n), cancellationToken).ConfigureAwait(false);
                        }

                        progress?.Report(writer.Position - (long)offset);
                    }

                    if (length == 0 && writer.Position - (long)offset == limit && await plain.Stream.ReadAsync(new byte[1], cancellationToken).ConfigureAwait(false) > 0)
                    {
                        throw VirtPoolException.System("cannot write to stream", Errno.ENOSPC);
                    }

                    written = writer.Position - (long)offset;
                    break;
                case SparseStreamEndpoint rpc:
                    var end = (long)(length == 0 ? room : Math.Min(length, room));
                    while (true)
                    {
                        var piece = await rpc.Stream.ReadAsync(buffer.AsMemory(0, Chunk), cancellationToken).ConfigureAwait(false);
                        if (piece.IsEnd)
                        {
                            break;
                        }

                        var size = piece.DataLength > 0 ? piece.DataLength : piece.HoleLength;
                        if (size < 0 || size > end - (writer.Position - (long)offset))
                        {
                            throw VirtPoolException.System("cannot write to stream", Errno.ENOSPC);
                        }

                        if (piece.DataLength > 0)
                        {
                            await writer.DataAsync(buffer.AsMemory(0, piece.DataLength), cancellationToken).ConfigureAwait(false);
                        }
                        else
                        {
                            await writer.HoleAsync(size, cancellationToken).ConfigureAwait(false);
                        }

                        progress?.Report(writer.Position - (long)offset);
                    }

                    written = writer.Position - (long)offset;
                    break;
                default:
                    throw VirtPoolException.Internal("unknown upload source");
            }

            await writer.FinishAsync(cancellationToken).ConfigureAwait(false);
            return written;
        }
        finally
        {
            await session.CloseAsync(file).ConfigureAwait(false);
        }
    }

    /// <summary>libvirt's downloadVol semantics: from the offset to the end of the file, or <paramref name="length"/> bytes.</summary>
    public static async Task<long> DownloadAsync(IGlusterSession session, string path, string uri, VolumeDataEndpoint target, ulong offset, ulong length, bool sparse, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(session);
        var file = await session.RunAsync(m => m.Open(path, LibC.O_RDONLY, uri), "open", cancellationToken).ConfigureAwait(false);
        var buffer = GlusterVolumeData.TransferBuffer(Chunk);
        try
        {
            var size = (ulong)await session.RunAsync(_ => file.Stat().Size, "stat", cancellationToken).ConfigureAwait(false);
            var start = (long)Math.Min(offset, size);
            var count = (long)(length == 0 ? size - (ulong)start : Math.Min(length, size - (ulong)start));
            var end = start + count;
            var holesAsHoles = sparse && target switch
            {
                SparseStreamEndpoint rpc => rpc.Stream.AcceptsHoles,
                LocalFileEndpoint => true,
                _ => false,
            };

            for (var pos = start; pos < end;)
            {
                var at = pos;
                var data = await session.RunAsync(_ => file.NextData(at, end), "seek", cancellationToken).ConfigureAwait(false);
                var dataStart = data?.Start ?? end;
                if (dataStart > pos)
                {
                    await HoleOutAsync(target, pos - start, dataStart - pos, holesAsHoles, cancellationToken).ConfigureAwait(false);
                    pos = dataStart;
                }

                var dataEnd = data?.End ?? end;
                while (pos < dataEnd)
                {
                    var want = (int)Math.Min(Chunk, dataEnd - pos);
                    var from = pos;
                    var n = await session.RunAsync(_ => file.ReadFully(buffer.AsSpan(0, want), from), "read", cancellationToken).ConfigureAwait(false);
                    if (n == 0)
                    {
                        // The file shrank under the download: what is left reads as nothing.
                        return pos - start;
                    }

                    await DataOutAsync(target, buffer.AsMemory(0, n), pos - start, cancellationToken).ConfigureAwait(false);
                    pos += n;
                    progress?.Report(pos - start);
                }
            }

            if (target is LocalFileEndpoint local && holesAsHoles && RandomAccess.GetLength(local.Handle) < count)
            {
                // A trailing hole: the output ends where the volume does.
                RandomAccess.SetLength(local.Handle, count);
            }

            return count;
        }
        finally
        {
            await session.CloseAsync(file).ConfigureAwait(false);
        }
    }

    /// <summary>SHA-256 of the file's bytes; holes are hashed as zeros without being read.</summary>
    public static async Task<byte[]> Sha256Async(IGlusterSession session, string path, string uri, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(session);
        var file = await session.RunAsync(m => m.Open(path, LibC.O_RDONLY, uri), "open", cancellationToken).ConfigureAwait(false);
        var buffer = GlusterVolumeData.TransferBuffer(Chunk);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        try
        {
            var end = await session.RunAsync(_ => file.Stat().Size, "stat", cancellationToken).ConfigureAwait(false);
            for (var pos = 0L; pos < end;)
            {
                var at = pos;
                var data = await session.RunAsync(_ => file.NextData(at, end), "seek", cancellationToken).ConfigureAwait(false);
                for (var holeEnd = data?.Start ?? end; pos < holeEnd;)
                {
                    var n = (int)Math.Min(Zeros.Length, holeEnd - pos);
                    hash.AppendData(Zeros, 0, n);
                    pos += n;
                }

                for (var dataEnd = data?.End ?? end; pos < dataEnd;)
                {
                    var want = (int)Math.Min(Chunk, dataEnd - pos);
                    var from = pos;
                    var n = await session.RunAsync(_ => file.ReadFully(buffer.AsSpan(0, want), from), "read", cancellationToken).ConfigureAwait(false);
                    if (n == 0)
                    {
                        throw VirtPoolException.System($"unable to read '{uri}'", Errno.EIO);
                    }

                    hash.AppendData(buffer, 0, n);
                    pos += n;
                    progress?.Report(pos);
                }
            }

            return hash.GetHashAndReset();
        }
        finally
        {
            await session.CloseAsync(file).ConfigureAwait(false);
        }
    }

    private static async ValueTask DataOutAsync(VolumeDataEndpoint target, ReadOnlyMemory<byte> data, long at, CancellationToken cancellationToken)
    {
        switch (target)
        {
            case LocalFileEndpoint local:
                await RandomAccess.WriteAsync(local.Handle, data, at, cancellationToken).ConfigureAwait(false);
                break;
            case StreamEndpoint plain:
                await plain.Stream.WriteAsync(data, cancellationToken).ConfigureAwait(false);
                break;
            case SparseStreamEndpoint rpc:
                for (var i = 0; i < data.Length; i += SparseStreamChunk)
                {
                    await rpc.Stream.WriteAsync(data.Slice(i, Math.Min(SparseStreamChunk, data.Length - i)), cancellationToken).ConfigureAwait(false);
                }

                break;
            default:
                throw VirtPoolException.Internal("unknown download target");
        }
    }

    private static async ValueTask HoleOutAsync(VolumeDataEndpoint target, long at, long length, bool asHole, CancellationToken cancellationToken)
    {
        if (asHole)
        {
            if (target is SparseStreamEndpoint rpc)
            {
                await rpc.Stream.WriteHoleAsync(length, cancellationToken).ConfigureAwait(false);
            }

            // A local file: left unwritten (the output is new and extended at the end).
            return;
        }

        for (var done = 0L; done < length;)
        {
            var n = (int)Math.Min(SparseStreamChunk, length - done);
            await DataOutAsync(target, Zeros.AsMemory(0, n), at + done, cancellationToken).ConfigureAwait(false);
            done += n;
        }
    }

    private static async Task<int> ReadBlockAsync(Stream stream, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        var done = 0;
        while (done < buffer.Length)
        {
            var n = await stream.ReadAsync(buffer[done..], cancellationToken).ConfigureAwait(false);
            if (n == 0)
            {
                break;
            }

            done += n;
        }

        return done;
    }

    /// <summary>Writes an upload at advancing positions: data as it comes, holes punched or zero-filled on the server.</summary>
    private sealed class Writer(IGlusterSession session, GlusterFile file, long position, long originalEnd, bool sparse)
    {
        public long Position { get; private set; } = position;

        public async Task DataAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
        {
            var at = Position;
            await session.RunAsync(_ => file.WriteFully(data.Span, at), "write", cancellationToken).ConfigureAwait(false);
            Position += data.Length;
        }

        public async Task HoleAsync(long length, CancellationToken cancellationToken)
        {
            var at = Position;

            // Past the file's old end nothing needs doing: the final truncate makes it read as zeros.
            var inside = Math.Min(at + length, originalEnd) - at;
            if (inside > 0)
            {
                await session.RunAsync(_ => Clear(file, at, inside, sparse), "zero", cancellationToken).ConfigureAwait(false);
            }

            Position += length;
        }

        public async Task FinishAsync(CancellationToken cancellationToken)
        {
            var end = Position;
            await session.RunAsync(
                _ =>
                {
                    if (file.Stat().Size < end)
                    {
                        file.Truncate(end);
                    }
                },
                "truncate",
                cancellationToken).ConfigureAwait(false);
        }

        /// <summary>Sparse: punched; plain: zeros written by the server; either way zeros written here if the server cannot.</summary>
        private static void Clear(GlusterFile file, long offset, long length, bool sparse)
        {
            var errno = sparse ? file.TryDiscard(offset, length) : file.TryZeroFill(offset, length);
            if (errno == 0)
            {
                return;
            }

            if (errno is not (Errno.EOPNOTSUPP or Errno.ENOSYS or Errno.EINVAL))
            {
                throw VirtPoolException.System($"failed writing to file '{file.Name}'", errno);
            }

            for (var done = 0L; done < length;)
            {
                var n = (int)Math.Min(Zeros.Length, length - done);
                file.WriteFully(Zeros.AsSpan(0, n), offset + done);
                done += n;
            }
        }
    }
}
