using System.Buffers;
using Microsoft.Win32.SafeHandles;
using VirtPool.Core.Errors;
using VirtPool.Core.Interop;
using VirtPool.Formats.Interop;

namespace VirtPool.Formats.Copy;

/// <summary>
/// vol-upload / vol-download: moves volume bytes from or to a non-seekable stream (stdin, stdout, a socket).
/// Two pooled buffers alternate so the stream side and the file side overlap; nothing is allocated per chunk.
/// </summary>
public static class VolumeTransfer
{
    /// <summary>Bytes per stream read/write.</summary>
    public const int ChunkSize = 4 << 20;

    /// <summary>
    /// Writes what <paramref name="source"/> yields (at most <paramref name="length"/> bytes when given) to
    /// <paramref name="target"/> from <paramref name="offset"/>. With <paramref name="sparse"/>, all-zero
    /// 64 KiB blocks (aligned to the target) are not written: skipped past the target's old end, punched before it.
    /// A regular-file target ends at least at offset + bytes written. Returns the bytes taken from the stream.
    /// </summary>
    public static async Task<long> WriteFromStreamAsync(
        Stream source,
        SafeFileHandle target,
        long offset,
        long? length,
        bool sparse,
        IProgress<long>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(target);
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        if (length is { } l)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(l);
        }

        var remaining = length ?? long.MaxValue;
        var current = ArrayPool<byte>.Shared.Rent(ChunkSize);
        var next = ArrayPool<byte>.Shared.Rent(ChunkSize);
        var lease = new FdLease(target);
        try
        {
            var writer = new TargetWriter(lease.Fd, HoleMode.Preserve, null);
            var pos = offset;
            var count = await FillAsync(source, current, remaining, cancellationToken).ConfigureAwait(false);
            while (count > 0)
            {
                remaining -= count;

                // Read the next chunk while this one goes to disk.
                var reading = FillAsync(source, next, remaining, cancellationToken);
                try
                {
                    WriteChunk(writer, current.AsSpan(0, count), pos, sparse, cancellationToken);
                }
                catch
                {
                    // Never leave a read running into a buffer that is about to go back to the pool.
                    await ((Task)reading.AsTask()).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                    throw;
                }

                pos += count;
                progress?.Report(pos - offset);
                count = await reading.ConfigureAwait(false);
                (current, next) = (next, current);
            }

            writer.EnsureSize(pos);
            return pos - offset;
        }
        finally
        {
            lease.Dispose();
            ArrayPool<byte>.Shared.Return(current);
            ArrayPool<byte>.Shared.Return(next);
        }
    }

    /// <summary>
    /// Writes [<paramref name="offset"/>, +<paramref name="length"/>) of <paramref name="source"/> (to its end
    /// when null) to <paramref name="destination"/>; holes are sent as zeros without reading them.
    /// Returns the bytes written.
    /// </summary>
    public static async Task<long> ReadToStreamAsync(
        SafeFileHandle source,
        long offset,
        long? length,
        Stream destination,
        IProgress<long>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(destination);
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        var total = length ?? Math.Max(0, DataExtents.GetSize(source) - offset);
        ArgumentOutOfRangeException.ThrowIfNegative(total);

        var current = ArrayPool<byte>.Shared.Rent(ChunkSize);
        var other = ArrayPool<byte>.Shared.Rent(ChunkSize);
        var writing = ValueTask.CompletedTask;
        try
        {
            using var reader = DataExtents.Open(source, offset, total, ZeroScan.Never);
            while (reader.MoveNext())
            {
                var seg = reader.Current;
                var pos = seg.Offset;
                while (pos < seg.End)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    var n = (int)Math.Min(seg.End - pos, ChunkSize);
                    ReadOnlyMemory<byte> chunk;
                    if (seg.IsHole)
                    {
                        n = Math.Min(n, Zeros.Size);
                        chunk = Zeros.Buffer.AsMemory(0, n);
                    }
                    else
                    {
                        // pread this chunk while the previous one is still being written out.
                        var got = ReadAt(source, current.AsSpan(0, n), pos);
                        if (got == 0)
                        {
                            // The file shrank: the rest reads as zeros.
                            seg = seg with { IsHole = true };
                            continue;
                        }

                        n = got;
                        chunk = current.AsMemory(0, n);
                        (current, other) = (other, current);
                    }

                    await TakeAndAwait(ref writing).ConfigureAwait(false);
                    writing = destination.WriteAsync(chunk, cancellationToken);
                    pos += n;
                    progress?.Report(pos - offset);
                }
            }

            await TakeAndAwait(ref writing).ConfigureAwait(false);
            return total;
        }
        finally
        {
            if (!writing.IsCompleted)
            {
                await ((Task)writing.AsTask()).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }

            ArrayPool<byte>.Shared.Return(current);
            ArrayPool<byte>.Shared.Return(other);
        }
    }

    /// <summary>Hands out a ValueTask once and leaves a completed one behind, so it is never awaited twice.</summary>
    private static ValueTask TakeAndAwait(ref ValueTask pending)
    {
        var task = pending;
        pending = ValueTask.CompletedTask;
        return task;
    }

    private static int ReadAt(SafeFileHandle handle, Span<byte> buffer, long offset)
    {
        using var lease = new FdLease(handle);
        var got = LibC.PReadFully(lease.Fd, buffer, offset);
        if (got < 0)
        {
            throw VirtPoolException.System($"failed reading from file '{DataExtents.DescribeFd(lease.Fd)}'", -got);
        }

        return got;
    }

    /// <summary>Reads until the buffer (or what is left of the length) is full or the stream ends.</summary>
    private static ValueTask<int> FillAsync(Stream source, byte[] buffer, long remaining, CancellationToken cancellationToken)
    {
        var want = (int)Math.Min(remaining, buffer.Length > ChunkSize ? ChunkSize : buffer.Length);
        return want == 0
            ? ValueTask.FromResult(0)
            : source.ReadAtLeastAsync(buffer.AsMemory(0, want), want, throwOnEndOfStream: false, cancellationToken);
    }

    /// <summary>Writes a chunk, turning all-zero blocks into holes when sparse.</summary>
    private static void WriteChunk(TargetWriter writer, ReadOnlySpan<byte> chunk, long pos, bool sparse, CancellationToken cancellationToken)
    {
        if (!sparse)
        {
            writer.WriteData(chunk, pos);
            return;
        }

        const int block = DataExtents.DefaultZeroBlockSize;
        var i = 0;
        while (i < chunk.Length)
        {
            // Runs of same-kind blocks, block edges aligned to target offsets so punches are whole blocks.
            var start = i;
            var zero = false;
            var first = true;
            while (i < chunk.Length)
            {
                var blockEnd = (int)Math.Min(chunk.Length, ((pos + i) & ~(long)(block - 1)) + block - pos);
                var isZero = ZeroBlocks.IsAllZero(chunk[i..blockEnd]);
                if (first)
                {
                    zero = isZero;
                    first = false;
                }
                else if (isZero != zero)
                {
                    break;
                }

                i = blockEnd;
            }

            if (zero)
            {
                writer.WriteHole(pos + start, i - start, cancellationToken);
            }
            else
            {
                writer.WriteData(chunk[start..i], pos + start);
            }
        }
    }
}
