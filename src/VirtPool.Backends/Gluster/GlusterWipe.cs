using System.Security.Cryptography;
using VirtPool.Core.Backends;
using VirtPool.Core.Errors;
using VirtPool.Core.Interop;
using VirtPool.Formats.Wipe;

namespace VirtPool.Backends.Gluster;

/// <summary>
/// vol-wipe of a gluster file over gfapi, with the local file semantics of <see cref="VolumeWiper"/>
/// (libvirt 9.0 has no wipe for gluster): zero truncates a sparse file to 0 and back, else has the
/// server write zeros over the allocated bytes (glfs_zerofill, nothing crosses the wire); trim discards
/// every block; the scrub methods write scrub's passes over the size rounded up to st_blksize, then
/// scrub's signature. Each step is one bounded session call of at most <see cref="VolumeWiper.ChunkSize"/> bytes.
/// </summary>
public static class GlusterWipe
{
    private const long RangeChunk = 64L * 1024 * 1024;

    public static async Task WipeAsync(IGlusterSession session, string path, string uri, VolumeWipeAlgorithm algorithm, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(session);
        if (!Enum.IsDefined(algorithm))
        {
            throw VirtPoolException.InvalidArg($"unsupported algorithm {(int)algorithm}");
        }

        var file = await session.RunAsync(m => m.Open(path, LibC.O_RDWR, uri), "open", cancellationToken).ConfigureAwait(false);
        try
        {
            var st = await session.RunAsync(_ => file.Stat(), "stat", cancellationToken).ConfigureAwait(false);
            switch (algorithm)
            {
                case VolumeWipeAlgorithm.Zero when st.AllocatedBytes < st.Size:
                    await session.RunAsync(
                        _ =>
                        {
                            file.Truncate(0, "Failed to truncate volume with path");
                            file.Truncate(st.Size, "Failed to truncate volume with path");
                        },
                        "truncate",
                        cancellationToken).ConfigureAwait(false);
                    progress?.Report(st.Size);
                    break;
                case VolumeWipeAlgorithm.Zero:
                    await RangesAsync(session, file, st.AllocatedBytes, (f, at, n) => f.TryZeroFill(at, n), progress, cancellationToken).ConfigureAwait(false);
                    break;
                case VolumeWipeAlgorithm.Trim:
                    await RangesAsync(session, file, st.Size, (f, at, n) => f.TryDiscard(at, n), progress, cancellationToken).ConfigureAwait(false);
                    break;
                default:
                    await ScrubAsync(session, file, st, ScrubSequences.Passes(algorithm), progress, cancellationToken).ConfigureAwait(false);
                    break;
            }

            await session.RunAsync(_ => file.Sync(), "fsync", cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            await session.CloseAsync(file).ConfigureAwait(false);
        }
    }

    private static async Task RangesAsync(IGlusterSession session, GlusterFile file, long length, Func<GlusterFile, long, long, int> clear, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        var zeros = new byte[VolumeWiper.ChunkSize];
        for (var done = 0L; done < length;)
        {
            var at = done;
            var n = Math.Min(RangeChunk, length - done);
            await session.RunAsync(
                _ =>
                {
                    var errno = clear(file, at, n);
                    if (errno is Errno.EOPNOTSUPP or Errno.ENOSYS or Errno.EINVAL)
                    {
                        // The brick's file system cannot: zeros written.
                        for (var i = 0L; i < n; i += zeros.Length)
                        {
                            file.WriteFully(zeros.AsSpan(0, (int)Math.Min(zeros.Length, n - i)), at + i);
                        }
                    }
                    else if (errno != 0)
                    {
                        throw VirtPoolException.System($"Failed to zero {n} bytes from offset {at} of storage volume with path '{file.Name}'", errno);
                    }
                },
                "zero",
                cancellationToken).ConfigureAwait(false);
            done += n;
            progress?.Report(done);
        }
    }

    private static async Task ScrubAsync(IGlusterSession session, GlusterFile file, FileStat st, IReadOnlyList<WipePass> passes, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        if (st.Size == 0)
        {
            return;
        }

        var block = Math.Max(1, st.BlockSize);
        var size = (st.Size + block - 1) / block * block;
        var chunk = VolumeWiper.ChunkSize;
        var buffer = GlusterVolumeData.TransferBuffer(chunk);
        var readBack = GlusterVolumeData.TransferBuffer(chunk);
        var reported = 0L;
        foreach (var pass in passes)
        {
            if (pass.Kind != WipePassKind.Random)
            {
                Fill(buffer.AsSpan(0, chunk), pass.Pattern.Span);
            }

            for (var at = 0L; at < size;)
            {
                var n = (int)Math.Min(chunk, size - at);
                if (pass.Kind == WipePassKind.Random)
                {
                    RandomNumberGenerator.Fill(buffer.AsSpan(0, n));
                }

                var where = at;
                await session.RunAsync(_ => file.WriteFully(buffer.AsSpan(0, n), where), "write", cancellationToken).ConfigureAwait(false);
                at += n;
                reported += n;
                progress?.Report(reported);
            }

            await session.RunAsync(_ => file.Sync(), "fsync", cancellationToken).ConfigureAwait(false);
            if (pass.Kind == WipePassKind.Verify)
            {
                for (var at = 0L; at < size;)
                {
                    var n = (int)Math.Min(chunk, size - at);
                    var where = at;
                    var got = await session.RunAsync(_ => file.ReadFully(readBack.AsSpan(0, n), where), "read", cancellationToken).ConfigureAwait(false);
                    if (got != n || !readBack.AsSpan(0, n).SequenceEqual(buffer.AsSpan(0, n)))
                    {
                        throw VirtPoolException.Internal($"verify of '{file.Name}' failed at offset {at}");
                    }

                    at += n;
                    reported += n;
                    progress?.Report(reported);
                }
            }
        }

        await session.RunAsync(_ => file.WriteFully(VolumeWiper.ScrubSignature, 0), "write", cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The pattern repeated from the buffer's start, as scrub fills each buffer.</summary>
    private static void Fill(Span<byte> buffer, ReadOnlySpan<byte> pattern)
    {
        for (var i = 0; i < buffer.Length; i += pattern.Length)
        {
            pattern[..Math.Min(pattern.Length, buffer.Length - i)].CopyTo(buffer[i..]);
        }
    }
}
