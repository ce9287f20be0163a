using System.Buffers;
using Microsoft.Win32.SafeHandles;
using VirtPool.Core.Backends;
using VirtPool.Core.Errors;
using VirtPool.Core.Interop;
using VirtPool.Formats.Copy;

namespace VirtPool.Backends.Local;

/// <summary>Uploads and downloads over libvirt's sparse RPC streams (data and hole packets).</summary>
internal static partial class LocalVolumeData
{
    /// <summary>
    /// Where an RPC upload writes: a file, whose holes are punched (or skipped past its old end, and the
    /// file extended at the end), or a device, on which a hole is made zeroes.
    /// </summary>
    private sealed class UploadTarget(SafeFileHandle handle, string path, bool isDevice)
    {
        private BlockDeviceZeroing? _zeroing;

        public SafeFileHandle Handle => handle;

        public string Path => path;

        public bool IsDevice => isDevice;

        public BlockDeviceZeroing Zeroing => _zeroing ??= new BlockDeviceZeroing((int)handle.DangerousGetHandle(), path);
    }

    /// <summary>Largest data piece sent on a download stream: what every libvirt client accepts (spec 6.3).</summary>
    private const int SparseStreamChunk = 256 * 1024;

    /// <summary>Upload pieces are taken in up to this many bytes (a client packet larger than this arrives in parts).</summary>
    private const int SparseUploadBuffer = 1 << 20;

    private static readonly byte[] StreamZeros = new byte[SparseStreamChunk];

    /// <summary>
    /// An RPC upload: data written at the position, holes punched (sparse) or zeroed, never beyond
    /// <paramref name="limit"/> bytes (the room up to the capacity, or the requested length).
    /// </summary>
    private static async Task<long> UploadFromSparseStreamAsync(ISparseStream stream, UploadTarget into, long offset, long limit, bool sparse, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(SparseUploadBuffer);
        var target = into.Handle;
        var path = into.Path;
        try
        {
            var fd = (int)target.DangerousGetHandle();
            var originalEnd = into.IsDevice ? long.MaxValue : FileLength(fd);
            var end = offset + limit;
            var pos = offset;
            while (true)
            {
                var piece = await stream.ReadAsync(buffer.AsMemory(0, SparseUploadBuffer), cancellationToken).ConfigureAwait(false);
                if (piece.IsEnd)
                {
                    break;
                }

                var size = piece.DataLength > 0 ? piece.DataLength : piece.HoleLength;
                if (size < 0 || size > end - pos)
                {
                    // As libvirt's stream fails when the client sends more than the volume (or length) holds.
                    throw VirtPoolException.System("cannot write to stream", Errno.ENOSPC);
                }

                if (piece.DataLength > 0)
                {
                    await WriteAtAsync(target, path, buffer.AsMemory(0, piece.DataLength), pos, cancellationToken).ConfigureAwait(false);
                }
                else if (into.IsDevice)
                {
                    // A device has no holes: zeroes, deallocated where the device can when sparse.
                    into.Zeroing.Zero(pos, size, deallocate: sparse, cancellationToken);
                }
                else if (sparse)
                {
                    await PunchAsync(target, path, pos, Math.Min(pos + size, originalEnd) - pos, cancellationToken).ConfigureAwait(false);
                }
                else
                {
                    await WriteZerosAsync(target, path, pos, size, cancellationToken).ConfigureAwait(false);
                }

                pos += size;
                progress?.Report(pos - offset);
            }

            // A trailing hole past the old end leaves the file short: it must still end where the data does.
            if (!into.IsDevice && FileLength(fd) < pos && LibC.FTruncate(fd, pos) < 0)
            {
                throw VirtPoolException.System($"cannot extend file '{path}'", LibC.Errno);
            }

            // No fdatasync, as libvirt's upload and the local upload here: the data is in the page cache
            // (coherent for every reader, a VM included) and reaches the disk with writeback; syncing
            // here made a 64 MiB upload to ext4 a third slower than libvirtd's.
            return pos - offset;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Makes a range read as zeros without writing it: punched, or written where punching is unsupported.</summary>
    private static Task PunchAsync(SafeFileHandle target, string path, long offset, long length, CancellationToken cancellationToken)
    {
        if (length <= 0)
        {
            // Entirely past the old end: it already reads as zeros once the file is extended.
            return Task.CompletedTask;
        }

        const int punchHoleKeepSize = 0x02 | 0x01; // FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE
        while (LibC.FAllocate((int)target.DangerousGetHandle(), punchHoleKeepSize, offset, length) < 0)
        {
            var errno = LibC.Errno;
            if (errno == Errno.EINTR)
            {
                continue;
            }

            if (errno is Errno.EOPNOTSUPP or Errno.ENOSYS)
            {
                return WriteZerosAsync(target, path, offset, length, cancellationToken);
            }

            throw VirtPoolException.System($"cannot punch a hole in file '{path}'", errno);
        }

        return Task.CompletedTask;
    }

    private static async Task WriteZerosAsync(SafeFileHandle target, string path, long offset, long length, CancellationToken cancellationToken)
    {
        for (var done = 0L; done < length;)
        {
            var n = (int)Math.Min(length - done, StreamZeros.Length);
            await WriteAtAsync(target, path, StreamZeros.AsMemory(0, n), offset + done, cancellationToken).ConfigureAwait(false);
            done += n;
        }
    }

    private static async Task WriteAtAsync(SafeFileHandle target, string path, ReadOnlyMemory<byte> data, long offset, CancellationToken cancellationToken)
    {
        try
        {
            await RandomAccess.WriteAsync(target, data, offset, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // EPERM and EACCES (a read-only device) reach .NET as UnauthorizedAccessException.
            throw VirtPoolException.System($"failed writing to file '{path}'", ex);
        }
    }

    /// <summary>
    /// An RPC download: the range's data in pieces of at most 256 KiB; holes as hole packets when the
    /// receiver takes them, else as zeros. Never more than one piece in memory.
    /// </summary>
    private static async Task<long> DownloadToSparseStreamAsync(SafeFileHandle source, string path, long offset, long count, bool holes, ISparseStream stream, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(SparseStreamChunk);
        try
        {
            // Without holes on the wire, a zero scan would only cost reads.
            using var reader = DataExtents.Open(source, offset, count, holes ? ZeroScan.Auto : ZeroScan.Never);
            while (reader.MoveNext())
            {
                var seg = reader.Current;
                var pos = seg.Offset;
                while (pos < seg.End)
                {
                    var n = (int)Math.Min(seg.End - pos, SparseStreamChunk);
                    var got = seg.IsHole ? 0 : await ReadAtAsync(source, path, buffer.AsMemory(0, n), pos, cancellationToken).ConfigureAwait(false);
                    if (got > 0)
                    {
                        await stream.WriteAsync(buffer.AsMemory(0, got), cancellationToken).ConfigureAwait(false);
                        pos += got;
                    }
                    else if (holes)
                    {
                        // A hole, or the file shrank under us: the rest of the segment reads as zeros.
                        await stream.WriteHoleAsync(seg.End - pos, cancellationToken).ConfigureAwait(false);
                        pos = seg.End;
                    }
                    else
                    {
                        await stream.WriteAsync(StreamZeros.AsMemory(0, n), cancellationToken).ConfigureAwait(false);
                        pos += n;
                    }

                    progress?.Report(pos - offset);
                }
            }

            return count;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static async Task<int> ReadAtAsync(SafeFileHandle source, string path, Memory<byte> buffer, long offset, CancellationToken cancellationToken)
    {
        try
        {
            return await RandomAccess.ReadAsync(source, buffer, offset, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw VirtPoolException.System($"failed reading from file '{path}'", ex);
        }
    }
}
