using System.Buffers;
using Microsoft.Win32.SafeHandles;
using VirtPool.Core.Errors;
using VirtPool.Core.Interop;
using VirtPool.Formats.Interop;

namespace VirtPool.Formats.Copy;

/// <summary>
/// Copies a range between files or block devices, keeping holes: reflink when allowed and possible,
/// else copy_file_range per data extent, else pread/pwrite. The data path for vol-clone and vol-create-from.
/// </summary>
public static class SparseCopy
{
    /// <summary>copy_file_range bytes per call: large for throughput, small enough that cancel is prompt.</summary>
    private const int CopyChunk = 32 << 20;

    /// <summary>pread/pwrite buffer for the fallback path.</summary>
    private const int BufferSize = 1 << 20;

    /// <summary>
    /// Copies [<paramref name="sourceOffset"/>, +<paramref name="length"/>) of <paramref name="source"/> to
    /// <paramref name="targetOffset"/> of <paramref name="target"/> on a dedicated thread. Source bytes past
    /// its end read as zeros. A regular-file target ends at least at targetOffset+length.
    /// Progress is cumulative bytes of the range done, holes included.
    /// </summary>
    public static Task<CopyResult> CopyAsync(
        SafeFileHandle source,
        long sourceOffset,
        SafeFileHandle target,
        long targetOffset,
        long length,
        CopyOptions? options = null,
        IProgress<long>? progress = null,
        CancellationToken cancellationToken = default)
    {
        Validate(source, sourceOffset, target, targetOffset, length);
        var opts = options ?? CopyOptions.Default;

        // The work is blocking syscalls from start to end; a thread of its own keeps it off the pool.
        return Task.Factory.StartNew(
            () => Copy(source, sourceOffset, target, targetOffset, length, opts, progress, cancellationToken),
            cancellationToken,
            TaskCreationOptions.LongRunning,
            TaskScheduler.Default);
    }

    /// <summary>
    /// Copies the whole of <paramref name="sourcePath"/> (file or block device) to offset 0 of
    /// <paramref name="target"/>; <see cref="CopyOptions.SourceName"/> defaults to the path.
    /// </summary>
    public static async Task<CopyResult> CloneFileAsync(
        string sourcePath,
        SafeFileHandle target,
        CopyOptions? options = null,
        IProgress<long>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(sourcePath);
        ArgumentNullException.ThrowIfNull(target);
        using var source = OpenRead(sourcePath, "could not open input path '{0}'");
        var size = DataExtents.GetSize(source);
        var opts = options ?? CopyOptions.Default;
        if (opts.SourceName is null)
        {
            opts = opts with { SourceName = sourcePath };
        }

        return await CopyAsync(source, 0, target, 0, size, opts, progress, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The synchronous form of <see cref="CopyAsync"/>, on the calling thread.</summary>
    public static CopyResult Copy(
        SafeFileHandle source,
        long sourceOffset,
        SafeFileHandle target,
        long targetOffset,
        long length,
        CopyOptions? options = null,
        IProgress<long>? progress = null,
        CancellationToken cancellationToken = default)
    {
        Validate(source, sourceOffset, target, targetOffset, length);
        var opts = options ?? CopyOptions.Default;
        cancellationToken.ThrowIfCancellationRequested();

        using var src = new FdLease(source);
        using var dst = new FdLease(target);
        var srcSize = CopyNative.Size(src.Fd, out var srcRegular, out _);
        if (srcSize < 0)
        {
            throw VirtPoolException.System($"cannot stat file '{SourceName(opts, src.Fd)}'", (int)-srcSize);
        }

        var writer = new TargetWriter(dst.Fd, opts.Holes, opts.TargetName);
        if (opts.Reflink == ReflinkMode.Always || (opts.Reflink == ReflinkMode.Auto && srcRegular && writer.IsRegular && length > 0))
        {
            var errno = TryClone(src.Fd, sourceOffset, srcSize, dst.Fd, targetOffset, length, out var cloned);
            if (errno == 0)
            {
                // The part of the range past the source's end reads as zeros.
                writer.WriteHole(targetOffset + cloned, length - cloned, cancellationToken);
                writer.EnsureSize(targetOffset + length);
                if (opts.Sync)
                {
                    writer.Sync();
                }

                progress?.Report(length);
                return new CopyResult(length, 0, Reflinked: true);
            }

            if (opts.Reflink == ReflinkMode.Always)
            {
                throw VirtPoolException.System($"failed to clone files from '{SourceName(opts, src.Fd)}'", errno);
            }
        }

        _ = CopyNative.PosixFAdvise(src.Fd, sourceOffset, length, CopyNative.POSIX_FADV_SEQUENTIAL);
        var copier = new Copier(src.Fd, writer, opts, targetOffset - sourceOffset, sourceOffset, progress, cancellationToken);
        try
        {
            using var reader = DataExtents.Open(source, sourceOffset, length, opts.DetectZeros ? ZeroScan.Always : ZeroScan.Never);
            while (reader.MoveNext())
            {
                cancellationToken.ThrowIfCancellationRequested();
                var seg = reader.Current;
                if (seg.IsHole)
                {
                    writer.WriteHole(seg.Offset + copier.Delta, seg.Length, cancellationToken);
                }
                else if (!reader.BufferedData.IsEmpty)
                {
                    // The zero scan already read it.
                    writer.WriteData(reader.BufferedData.Span, seg.Offset + copier.Delta);
                    copier.DataBytes += seg.Length;
                }
                else
                {
                    copier.CopyData(seg.Offset, seg.End);
                }

                progress?.Report(seg.End - sourceOffset);
            }

            writer.EnsureSize(targetOffset + length);
            if (opts.Sync)
            {
                writer.Sync();
            }

            return new CopyResult(length, copier.DataBytes, Reflinked: false);
        }
        finally
        {
            copier.ReturnBuffer();
        }
    }

    internal static SafeFileHandle OpenRead(string path, string messageFormat)
    {
        var fd = LibC.Open(path, LibC.O_RDONLY | LibC.O_CLOEXEC | LibC.O_NOCTTY, 0);
        if (fd < 0)
        {
            throw VirtPoolException.System(string.Format(messageFormat, path), LibC.Errno);
        }

        return new SafeFileHandle(fd, ownsHandle: true);
    }

    private static void Validate(SafeFileHandle source, long sourceOffset, SafeFileHandle target, long targetOffset, long length)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(target);
        ArgumentOutOfRangeException.ThrowIfNegative(sourceOffset);
        ArgumentOutOfRangeException.ThrowIfNegative(targetOffset);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, long.MaxValue - Math.Max(sourceOffset, targetOffset));
    }

    private static string SourceName(CopyOptions opts, int fd) => opts.SourceName ?? DataExtents.DescribeFd(fd);

    /// <summary>
    /// FICLONE for a whole file, FICLONERANGE for a part (offsets must be filesystem-block aligned; the
    /// length too unless it reaches the source's end). Returns 0 or errno; nothing changes on failure.
    /// </summary>
    private static unsafe int TryClone(int srcFd, long srcOffset, long srcSize, int dstFd, long dstOffset, long length, out long cloned)
    {
        cloned = Math.Clamp(srcSize - srcOffset, 0, length);
        var toEof = srcOffset + cloned == srcSize;
        while (true)
        {
            int rc;
            if (srcOffset == 0 && dstOffset == 0 && toEof)
            {
                rc = CopyNative.IoctlInt(dstFd, CopyNative.FICLONE, srcFd);
            }
            else
            {
                if (cloned == 0)
                {
                    return 0;
                }

                var range = new CopyNative.FileCloneRange
                {
                    SrcFd = srcFd,
                    SrcOffset = (ulong)srcOffset,

                    // 0 means "to the source's end", which is what lets an unaligned last block be cloned.
                    SrcLength = toEof ? 0 : (ulong)cloned,
                    DestOffset = (ulong)dstOffset,
                };
                rc = CopyNative.IoctlCloneRange(dstFd, CopyNative.FICLONERANGE, &range);
            }

            if (rc == 0)
            {
                return 0;
            }

            var errno = LibC.Errno;
            if (errno != Errno.EINTR)
            {
                return errno;
            }
        }
    }

    /// <summary>Copies data extents: copy_file_range until the kernel refuses, then pread/pwrite.</summary>
    private sealed class Copier(int srcFd, TargetWriter writer, CopyOptions options, long delta, long rangeStart, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        // Reflink=Never must not use copy_file_range: xfs and btrfs share extents inside it.
        private bool _useCopyFileRange = options.Reflink != ReflinkMode.Never;
        private byte[]? _buffer;

        public long Delta => delta;

        public long DataBytes { get; set; }

        public void ReturnBuffer()
        {
            if (_buffer is not null)
            {
                ArrayPool<byte>.Shared.Return(_buffer);
                _buffer = null;
            }
        }

        public unsafe void CopyData(long pos, long end)
        {
            while (pos < end)
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (_useCopyFileRange)
                {
                    long inOff = pos;
                    long outOff = pos + delta;
                    var n = CopyNative.CopyFileRange(srcFd, &inOff, writer.Fd, &outOff, (nuint)Math.Min(end - pos, CopyChunk), 0);
                    if (n > 0)
                    {
                        pos += n;
                        DataBytes += n;
                        progress?.Report(pos - rangeStart);
                        continue;
                    }

                    if (n == 0)
                    {
                        // End of input earlier than the extent map said, or a filesystem that reports 0
                        // for what it cannot do (procfs-like): let pread decide.
                        _useCopyFileRange = false;
                        continue;
                    }

                    var errno = LibC.Errno;
                    switch (errno)
                    {
                        case Errno.EINTR:
                            continue;
                        case Errno.EXDEV or Errno.EINVAL or Errno.ENOSYS or Errno.EOPNOTSUPP or CopyNative.ETXTBSY:
                            // Cross-filesystem on old kernels, block devices, pipes, special files.
                            _useCopyFileRange = false;
                            continue;
                        case Errno.ENOSPC or Errno.EFBIG or CopyNative.EDQUOT:
                            throw VirtPoolException.System($"failed writing to file '{writer.Name}'", errno);
                        default:
                            throw VirtPoolException.System($"failed reading from file '{options.SourceName ?? DataExtents.DescribeFd(srcFd)}'", errno);
                    }
                }

                _buffer ??= ArrayPool<byte>.Shared.Rent(BufferSize);
                var want = (int)Math.Min(end - pos, BufferSize);
                var got = LibC.PReadFully(srcFd, _buffer.AsSpan(0, want), pos);
                if (got < 0)
                {
                    throw VirtPoolException.System($"failed reading from file '{options.SourceName ?? DataExtents.DescribeFd(srcFd)}'", -got);
                }

                if (got == 0)
                {
                    // Past the source's end: zeros, like the rest of the range beyond it.
                    writer.WriteHole(pos + delta, end - pos, cancellationToken);
                    return;
                }

                writer.WriteData(_buffer.AsSpan(0, got), pos + delta);
                pos += got;
                DataBytes += got;
                progress?.Report(pos - rangeStart);
            }
        }
    }
}
