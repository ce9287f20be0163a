using Microsoft.Win32.SafeHandles;
using VirtPool.Core.Backends;
using VirtPool.Core.Errors;
using VirtPool.Core.Interop;
using VirtPool.Core.Model;
using VirtPool.Formats.Copy;
using VirtPool.Formats.Wipe;

namespace VirtPool.Backends.Local;

/// <summary>Data operations on file volumes: clone, wipe, upload, download, checksum.</summary>
public sealed partial class LocalFileVolumes
{
    /// <summary>
    /// libvirt's buildVolFrom for file pools: raw to raw natively (reflink when the filesystem can,
    /// else copy_file_range over the source's data, holes kept), anything else with qemu-img convert.
    /// </summary>
    /// <param name="passphrases">Where encrypted volumes' passphrases come from (the pool context's).</param>
    public async Task<VolumeDefinition> CreateFromAsync(VolumeDefinition volume, VolumeDefinition source, VolumeCreateFlags flags, Func<EncryptionSecret, byte[]>? passphrases, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        if (volume.Target.Encryption is not null || source.Target.Encryption is not null)
        {
            await ConvertEncryptedAsync(volume, source, flags, passphrases, cancellationToken).ConfigureAwait(false);
            return Refresh(volume);
        }

        var rawToRaw = volume.Type == VolumeType.File && volume.Target.Format is "raw" or null
                       && source.Type == VolumeType.File && source.Target.Format is "raw" or null && source.Target.Encryption is null;
        if (!rawToRaw)
        {
            await ConvertWithQemuImgAsync(volume, source, flags, cancellationToken).ConfigureAwait(false);
            return Refresh(volume);
        }

        if (flags.HasFlag(VolumeCreateFlags.PreallocMetadata))
        {
            throw VirtPoolException.Unsupported("metadata preallocation is not supported for raw volumes");
        }

        if (volume.BackingStore is not null)
        {
            throw VirtPoolException.NoSupport("backing storage not supported for raw volumes");
        }

        var path = volume.Target.Path!;
        var mode = volume.Target.Permissions.Mode ?? DefaultVolumeMode;
        var fd = ReserveExclusive(path, LibC.O_RDWR, mode);
        using var target = new SafeFileHandle(fd, ownsHandle: true);
        try
        {
            ApplyOwnerAndMode(fd, volume.Target.Permissions, mode, path);
            var options = new CopyOptions
            {
                // Without --reflink a clone still shares extents where the filesystem can: the result
                // is the same bytes, in O(1). --reflink demands it, as libvirt's FICLONE does.
                Reflink = flags.HasFlag(VolumeCreateFlags.Reflink) ? ReflinkMode.Always : ReflinkMode.Auto,
                Holes = HoleMode.Preserve,
                SourceName = source.Target.Path,
                TargetName = path,
            };
            var copied = await SparseCopy.CloneFileAsync(source.Target.Path!, target, options, progress, cancellationToken).ConfigureAwait(false);

            // libvirt's createRawFile: capacity up front, and unless the new allocation is below the
            // original's capacity (a sparse clone), the whole allocation is reserved.
            if (LibC.FTruncate(fd, Math.Max((long)volume.Capacity, FileLength(fd))) < 0)
            {
                throw VirtPoolException.System($"cannot extend file '{path}'", LibC.Errno);
            }

            // A reflinked clone shares the original's extents: libvirt's up-front allocation is replaced
            // by FICLONE there too, so nothing more is reserved.
            var allocation = (long)(volume.Allocation ?? volume.Capacity);
            if (!copied.Reflinked && volume.Allocation >= source.Capacity && allocation > 0
                && LibC.FAllocate(fd, 0, 0, allocation) < 0 && LibC.PosixFAllocate(fd, 0, allocation) != 0)
            {
                throw VirtPoolException.System($"cannot allocate {allocation} bytes in file '{path}'", LibC.Errno);
            }

            if (LibC.FSync(fd) < 0)
            {
                throw VirtPoolException.System($"cannot sync file '{path}'", LibC.Errno);
            }
        }
        catch
        {
            // Also on Ctrl-C: no half-made volume stays behind.
            LibC.Unlink(path);
            throw;
        }

        return Refresh(volume);
    }

    /// <summary>libvirt's wipeVol for files, every algorithm natively; the file is then re-discovered.</summary>
    public static async Task<VolumeDefinition> WipeAsync(VolumeDefinition volume, VolumeWipeAlgorithm algorithm, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        RefusePloop(volume, "unable to find ploop tools, please install them");
        await VolumeWiper.WipeAsync(volume.Target.Path!, algorithm, volume.Allocation ?? 0, progress, cancellationToken).ConfigureAwait(false);
        return Rediscover(volume);
    }

    /// <summary>virStorageBackendRefreshVolTargetUpdate: the volume as a pool refresh would find it now.</summary>
    public static VolumeDefinition Rediscover(VolumeDefinition volume)
    {
        var path = volume.Target.Path!;
        var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(Formats.ImageProbe.HeaderBytes);
        try
        {
            return Probe(path, volume.Name, buffer) ?? throw Unprobeable(path);
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// libvirt's uploadVol: written in place at the offset, nothing truncated. Sparse uploads punch the
    /// source's holes into the volume; plain ones write them as zeros. Never past the capacity.
    /// </summary>
    public static async Task<long> UploadAsync(VolumeDefinition volume, VolumeDataEndpoint source, ulong offset, ulong length, bool sparse, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        RefusePloop(volume, PloopToolMissing);
        var path = volume.Target.Path!;
        using var target = OpenVolume(path, FileAccess.Write);
        var room = volume.Capacity - Math.Min(offset, volume.Capacity);
        switch (source)
        {
            case LocalFileEndpoint file:
                var available = (ulong)DataExtents.GetSize(file.Handle);
                var count = length == 0 ? available : Math.Min(length, available);
                if (count > room)
                {
                    throw VirtPoolException.System("cannot write to stream", Errno.ENOSPC);
                }

                var options = new CopyOptions { Reflink = ReflinkMode.Never, Holes = sparse ? HoleMode.Preserve : HoleMode.Fill, TargetName = path };
                var result = await SparseCopy.CopyAsync(file.Handle, 0, target, (long)offset, (long)count, options, progress, cancellationToken).ConfigureAwait(false);
                return result.Bytes;
            case StreamEndpoint stream:
                var limit = length == 0 ? room : Math.Min(length, room);
                var written = await VolumeTransfer.WriteFromStreamAsync(stream.Stream, target, (long)offset, (long)limit, sparse, progress, cancellationToken).ConfigureAwait(false);

                // A stream of unknown length that brings more than the volume holds fails as libvirt's
                // does when a stream overruns its length (the bytes that fitted are written).
                if (length == 0 && (ulong)written == limit && await stream.Stream.ReadAsync(new byte[1], cancellationToken).ConfigureAwait(false) > 0)
                {
                    throw VirtPoolException.System("cannot write to stream", Errno.ENOSPC);
                }

                return written;
            case SparseStreamEndpoint rpc:
                return await UploadFromSparseStreamAsync(rpc.Stream, target, path, (long)offset, (long)(length == 0 ? room : Math.Min(length, room)), sparse, progress, cancellationToken).ConfigureAwait(false);
            default:
                throw VirtPoolException.Internal("unknown upload source");
        }
    }

    /// <summary>libvirt's downloadVol: from the offset to the end, or <paramref name="length"/> bytes.</summary>
    public static async Task<long> DownloadAsync(VolumeDefinition volume, VolumeDataEndpoint target, ulong offset, ulong length, bool sparse, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        RefusePloop(volume, PloopToolMissing);
        var path = volume.Target.Path!;
        using var source = OpenVolume(path, FileAccess.Read);
        var size = (ulong)DataExtents.GetSize(source);
        var available = size - Math.Min(offset, size);
        var count = length == 0 ? available : Math.Min(length, available);
        switch (target)
        {
            case LocalFileEndpoint file:
                var options = new CopyOptions { Reflink = ReflinkMode.Auto, Holes = sparse ? HoleMode.Preserve : HoleMode.Fill, SourceName = path };
                var result = await SparseCopy.CopyAsync(source, (long)offset, file.Handle, 0, (long)count, options, progress, cancellationToken).ConfigureAwait(false);
                return result.Bytes;
            case StreamEndpoint stream:
                return await VolumeTransfer.ReadToStreamAsync(source, (long)offset, (long)count, stream.Stream, progress, cancellationToken).ConfigureAwait(false);
            case SparseStreamEndpoint rpc:
                return await DownloadToSparseStreamAsync(source, path, (long)offset, (long)count, sparse && rpc.Stream.AcceptsHoles, rpc.Stream, progress, cancellationToken).ConfigureAwait(false);
            default:
                throw VirtPoolException.Internal("unknown download target");
        }
    }

    public static async Task<byte[]> Sha256Async(VolumeDefinition volume, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        RefusePloop(volume, PloopToolMissing);
        using var source = OpenVolume(volume.Target.Path!, FileAccess.Read);
        return await VolumeChecksum.Sha256Async(source, progress, cancellationToken).ConfigureAwait(false);
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
    private static async Task<long> UploadFromSparseStreamAsync(ISparseStream stream, SafeFileHandle target, string path, long offset, long limit, bool sparse, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(SparseUploadBuffer);
        try
        {
            var fd = (int)target.DangerousGetHandle();
            var originalEnd = FileLength(fd);
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
            if (FileLength(fd) < pos && LibC.FTruncate(fd, pos) < 0)
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
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
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
        catch (IOException ex)
        {
            throw VirtPoolException.System($"failed writing to file '{path}'", ex);
        }
    }

    /// <summary>
    /// An RPC download: the range's data in pieces of at most 256 KiB; holes as hole packets when the
    /// receiver takes them, else as zeros. Never more than one piece in memory.
    /// </summary>
    private static async Task<long> DownloadToSparseStreamAsync(SafeFileHandle source, string path, long offset, long count, bool holes, ISparseStream stream, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(SparseStreamChunk);
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
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static async Task<int> ReadAtAsync(SafeFileHandle source, string path, Memory<byte> buffer, long offset, CancellationToken cancellationToken)
    {
        try
        {
            return await RandomAccess.ReadAsync(source, buffer, offset, cancellationToken).ConfigureAwait(false);
        }
        catch (IOException ex)
        {
            throw VirtPoolException.System($"failed reading from file '{path}'", ex);
        }
    }

    private static SafeFileHandle OpenVolume(string path, FileAccess access)
    {
        var fd = LibC.Open(path, (access == FileAccess.Read ? LibC.O_RDONLY : LibC.O_WRONLY) | LibC.O_CLOEXEC, 0);
        if (fd < 0)
        {
            throw VirtPoolException.System($"cannot open volume '{path}'", LibC.Errno);
        }

        return new SafeFileHandle(fd, ownsHandle: true);
    }

    private static long FileLength(int fd) => FileStat.TryFStat(fd, out var st, out _) ? st.Size : 0;
}
