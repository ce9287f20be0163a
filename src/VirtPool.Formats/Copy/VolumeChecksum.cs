using System.Buffers;
using System.Security.Cryptography;
using Microsoft.Win32.SafeHandles;
using VirtPool.Core.Errors;
using VirtPool.Core.Interop;
using VirtPool.Formats.Interop;

namespace VirtPool.Formats.Copy;

/// <summary>vol-checksum: SHA-256 of a volume's bytes, streamed; holes are hashed as zeros without being read.</summary>
public static class VolumeChecksum
{
    private const int BufferSize = 4 << 20;

    /// <summary>SHA-256 of the whole file or block device at <paramref name="path"/>.</summary>
    public static async Task<byte[]> Sha256Async(string path, IProgress<long>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(path);
        using var handle = SparseCopy.OpenRead(path, "cannot open volume '{0}'");
        return await Sha256Async(handle, progress, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>SHA-256 of the whole file or block device behind <paramref name="handle"/>; progress is cumulative bytes hashed.</summary>
    public static Task<byte[]> Sha256Async(SafeFileHandle handle, IProgress<long>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(handle);

        // Hashing and pread are both blocking CPU/syscall work; give it a thread of its own.
        return Task.Factory.StartNew(() => Sha256(handle, progress, cancellationToken), cancellationToken, TaskCreationOptions.LongRunning, TaskScheduler.Default);
    }

    /// <summary>As <see cref="Sha256Async(string, IProgress{long}?, CancellationToken)"/>, as lowercase hex (sha256sum's form).</summary>
    public static async Task<string> Sha256HexAsync(string path, IProgress<long>? progress = null, CancellationToken cancellationToken = default)
        => Convert.ToHexStringLower(await Sha256Async(path, progress, cancellationToken).ConfigureAwait(false));

    /// <summary>The synchronous form, on the calling thread.</summary>
    public static byte[] Sha256(SafeFileHandle handle, IProgress<long>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(handle);
        var size = DataExtents.GetSize(handle);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
        try
        {
            using var lease = new FdLease(handle);
            _ = CopyNative.PosixFAdvise(lease.Fd, 0, 0, CopyNative.POSIX_FADV_SEQUENTIAL);
            using var reader = DataExtents.Open(handle, 0, size, ZeroScan.Never);
            while (reader.MoveNext())
            {
                var seg = reader.Current;
                var pos = seg.Offset;
                var isHole = seg.IsHole;
                while (pos < seg.End)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    int n;
                    if (isHole)
                    {
                        n = (int)Math.Min(seg.End - pos, Zeros.Size);
                        hash.AppendData(Zeros.Buffer, 0, n);
                    }
                    else
                    {
                        n = LibC.PReadFully(lease.Fd, buffer.AsSpan(0, (int)Math.Min(seg.End - pos, BufferSize)), pos);
                        if (n < 0)
                        {
                            throw VirtPoolException.System($"failed reading from file '{DataExtents.DescribeFd(lease.Fd)}'", -n);
                        }

                        if (n == 0)
                        {
                            // Shrank while hashing: the size taken at the start is what is hashed.
                            isHole = true;
                            continue;
                        }

                        hash.AppendData(buffer, 0, n);
                    }

                    pos += n;
                    progress?.Report(pos);
                }
            }

            return hash.GetHashAndReset();
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
