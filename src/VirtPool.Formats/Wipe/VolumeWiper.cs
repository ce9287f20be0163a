using System.Security.Cryptography;
using VirtPool.Core.Backends;
using VirtPool.Core.Errors;
using VirtPool.Core.Interop;
using VirtPool.Formats.Interop;

namespace VirtPool.Formats.Wipe;

/// <summary>
/// libvirt's vol-wipe for local volumes (storage_util.c storageBackendVolWipeLocalFile), done in-process:
/// no scrub binary is run, but the scrub methods write exactly what <c>scrub -f -p NAME PATH</c> writes.
/// <list type="bullet">
/// <item><see cref="VolumeWipeAlgorithm.Zero"/> on a regular file: a sparse file (st_blocks &lt; st_size/512) is
/// truncated to 0 and back, as libvirt does; otherwise the first <c>allocation</c> bytes are zeroed in place
/// with fallocate(ZERO_RANGE) so they stay allocated, as libvirt's written zeroes do (falling back to
/// punch+allocate, then to writing zeroes). Like libvirt's write loop, an allocation beyond the file's size
/// extends the file to it (libvirt passes st_blocks*512, so a file whose size is not block-aligned grows to
/// the block boundary).</item>
/// <item><see cref="VolumeWipeAlgorithm.Zero"/> on a block device: BLKZEROOUT over the whole device (writing zeroes
/// if the ioctl is unsupported); <c>allocation</c> is not used.</item>
/// <item><see cref="VolumeWipeAlgorithm.Trim"/>: BLKDISCARD over a block device; a regular file has every block
/// punched out (size kept). libvirt refuses trim here ("'trim' algorithm not supported"); we do not.</item>
/// <item>The scrub methods (<see cref="ScrubSequences"/>): every pass overwrites the file's size rounded up to
/// st_blksize (scrub pads the last block, growing the file) or the whole device, in <see cref="ChunkSize"/>
/// writes followed by fdatasync; verify passes read back and compare. An empty regular file is left alone,
/// as scrub does. Then <see cref="ScrubSignature"/> is written at offset 0, because libvirt does not pass
/// scrub's -S (--no-signature) and so every libvirt scrub wipe leaves it.</item>
/// </list>
/// Progress reports the bytes done so far, summed over passes: for a scrub method the total is the wiped
/// size times (passes + verify passes), since a verify pass both writes and reads; for zero it is the bytes
/// zeroed (the allocation, the device size, or st_size for the truncate path); for trim the bytes discarded.
/// Cancellation is checked between chunks and throws <see cref="OperationCanceledException"/>; the volume is
/// then partly overwritten. Failures throw <see cref="VirtPoolException"/> with libvirt's messages.
/// </summary>
public static class VolumeWiper
{
    /// <summary>
    /// The I/O size: scrub's default buffer (4 MiB, libvirt passes no -b). Pattern passes depend on it, since
    /// scrub restarts the pattern at the start of each buffer.
    /// </summary>
    public const int ChunkSize = 4 * 1024 * 1024;

    /// <summary>Bytes per fallocate/ioctl call, so zero and trim still report progress and stop when cancelled.</summary>
    private const long RangeChunk = 64L * 1024 * 1024;

    /// <summary>scrub's SCRUB_MAGIC, with the NUL its memcpy(sizeof) copies: 13 bytes written at offset 0.</summary>
    public static ReadOnlySpan<byte> ScrubSignature => "\u0001\u0002\u0003SCRUBBED!\0"u8;

    public static async Task WipeAsync(string path, VolumeWipeAlgorithm algorithm, ulong allocation, IProgress<long>? progress, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(path);
        await Task.Run(() => Wipe(path, algorithm, allocation, progress, ct), ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Runs an arbitrary pass list the way scrub runs a method (scrub's <c>-p custom=PATTERN</c> is one
    /// <see cref="WipePass.Fill"/> pass), optionally followed by scrub's signature.
    /// </summary>
    public static async Task WipeAsync(string path, IReadOnlyList<WipePass> passes, bool writeSignature, IProgress<long>? progress, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(passes);
        await Task.Run(() => Wipe(path, passes, writeSignature, progress, ct), ct).ConfigureAwait(false);
    }

    /// <summary>The synchronous form of <see cref="WipeAsync(string, VolumeWipeAlgorithm, ulong, IProgress{long}?, CancellationToken)"/>.</summary>
    public static void Wipe(string path, VolumeWipeAlgorithm algorithm, ulong allocation, IProgress<long>? progress, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!Enum.IsDefined(algorithm))
        {
            throw VirtPoolException.InvalidArg($"unsupported algorithm {(int)algorithm}");
        }

        using var vol = Volume.Open(path);
        var meter = new Meter(progress);
        switch (algorithm)
        {
            case VolumeWipeAlgorithm.Zero when vol.IsBlockDevice:
                vol.ZeroDevice(meter, ct);
                break;
            case VolumeWipeAlgorithm.Zero:
                vol.ZeroFile(allocation, meter, ct);
                break;
            case VolumeWipeAlgorithm.Trim when vol.IsBlockDevice:
                vol.DiscardDevice(meter, ct);
                break;
            case VolumeWipeAlgorithm.Trim:
                vol.PunchFile(meter, ct);
                break;
            default:
                vol.Scrub(ScrubSequences.Passes(algorithm), true, meter, ct);
                break;
        }
    }

    /// <summary>The synchronous form of <see cref="WipeAsync(string, IReadOnlyList{WipePass}, bool, IProgress{long}?, CancellationToken)"/>.</summary>
    public static void Wipe(string path, IReadOnlyList<WipePass> passes, bool writeSignature, IProgress<long>? progress, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(passes);
        if (passes.Count == 0 || passes.Any(p => p is null))
        {
            throw new ArgumentException("a wipe needs at least one pass, and no null passes", nameof(passes));
        }

        using var vol = Volume.Open(path);
        vol.Scrub(passes, writeSignature, new Meter(progress), ct);
    }

    /// <summary>Running total of bytes done, reported after every chunk.</summary>
    private sealed class Meter(IProgress<long>? progress)
    {
        private long _done;

        public void Add(long bytes)
        {
            _done += bytes;
            progress?.Report(_done);
        }
    }

    /// <summary>How a range of a regular file gets zeroed; each step down is taken once, when the filesystem refuses.</summary>
    private enum ZeroMethod
    {
        ZeroRange,
        PunchAndAllocate,
        Write,
    }

    /// <summary>An open volume (regular file or block device) and what fstat said about it.</summary>
    private sealed class Volume : IDisposable
    {
        private readonly int _fd;
        private readonly string _path;
        private readonly FileStat _st;
        private byte[]? _zeroes;

        private Volume(int fd, string path, FileStat st, long size)
        {
            _fd = fd;
            _path = path;
            _st = st;
            Size = size;
        }

        public bool IsBlockDevice => _st.IsBlockDevice;

        /// <summary>st_size for a file (kept current as zeroing extends it), the device size for a block device.</summary>
        private long Size { get; set; }

        public static Volume Open(string path)
        {
            var fd = LibC.Open(path, LibC.O_RDWR | LibC.O_CLOEXEC | LibC.O_NOCTTY, 0);
            if (fd < 0)
            {
                throw VirtPoolException.System($"Failed to open storage volume with path '{path}'", LibC.Errno);
            }

            try
            {
                if (!FileStat.TryFStat(fd, out var st, out var errno))
                {
                    throw VirtPoolException.System($"Failed to stat storage volume with path '{path}'", errno);
                }

                long size;
                if (st.IsBlockDevice)
                {
                    size = WipeNative.BlockDeviceSize(fd);
                    if (size < 0)
                    {
                        throw VirtPoolException.System($"Unable to get the size of block device '{path}'", (int)-size);
                    }
                }
                else if (st.IsRegular)
                {
                    size = st.Size;
                }
                else
                {
                    throw new VirtPoolException(VirErrorCode.OperationUnsupported, $"cannot wipe '{path}': not a regular file or block device");
                }

                return new Volume(fd, path, st, size);
            }
            catch
            {
                _ = LibC.Close(fd);
                throw;
            }
        }

        public void Dispose() => _ = LibC.Close(_fd);

        public void ZeroFile(ulong allocation, Meter meter, CancellationToken ct)
        {
            // libvirt's own test for "already sparse": cheaper to drop every block than to zero them.
            if (_st.Blocks < _st.Size / 512)
            {
                ct.ThrowIfCancellationRequested();
                TruncateToZeroAndBack(_st.Size);
                meter.Add(_st.Size);
                Sync();
                return;
            }

            if (allocation > long.MaxValue)
            {
                throw new VirtPoolException(VirErrorCode.Overflow, $"allocation {allocation} of storage volume with path '{_path}' is too large");
            }

            var length = (long)allocation;
            var method = ZeroMethod.ZeroRange;
            for (long offset = 0; offset < length;)
            {
                ct.ThrowIfCancellationRequested();
                var n = Math.Min(RangeChunk, length - offset);
                method = ZeroFileRange(offset, n, method, ct);
                Size = Math.Max(Size, offset + n);
                offset += n;
                meter.Add(n);
            }

            Sync();
        }

        public void ZeroDevice(Meter meter, CancellationToken ct)
        {
            var ioctl = true;
            for (long offset = 0; offset < Size;)
            {
                ct.ThrowIfCancellationRequested();
                var n = Math.Min(RangeChunk, Size - offset);
                if (ioctl)
                {
                    var rc = WipeNative.BlockRangeIoctl(_fd, WipeNative.BLKZEROOUT, offset, n);
                    if (rc < 0 && !IsUnsupported(-rc))
                    {
                        throw ZeroFailed(n, offset, -rc);
                    }

                    ioctl = rc == 0;
                }

                if (!ioctl)
                {
                    WriteZeroes(offset, n, ct);
                }

                offset += n;
                meter.Add(n);
            }

            Sync();
        }

        public void DiscardDevice(Meter meter, CancellationToken ct)
        {
            for (long offset = 0; offset < Size;)
            {
                ct.ThrowIfCancellationRequested();
                var n = Math.Min(RangeChunk, Size - offset);
                var rc = WipeNative.BlockRangeIoctl(_fd, WipeNative.BLKDISCARD, offset, n);
                if (rc < 0)
                {
                    throw VirtPoolException.System($"Failed to discard {n} bytes from offset {offset} of storage volume with path '{_path}'", -rc);
                }

                offset += n;
                meter.Add(n);
            }

            Sync();
        }

        public void PunchFile(Meter meter, CancellationToken ct)
        {
            // A hole must cover whole blocks to free them, so the last one is punched up to its end.
            var end = RoundUp(Size, BlockSize);
            for (long offset = 0; offset < Size;)
            {
                ct.ThrowIfCancellationRequested();
                var n = Math.Min(RangeChunk, end - offset);
                var rc = WipeNative.FAllocate(_fd, WipeNative.FALLOC_FL_PUNCH_HOLE | WipeNative.FALLOC_FL_KEEP_SIZE, offset, n);
                if (rc < 0 && IsUnsupported(-rc))
                {
                    // No hole punching here: truncating to 0 and back frees the blocks just the same.
                    TruncateToZeroAndBack(Size);
                    meter.Add(Size - offset);
                    break;
                }

                if (rc < 0)
                {
                    throw VirtPoolException.System($"Failed to punch {n} bytes from offset {offset} of storage volume with path '{_path}'", -rc);
                }

                meter.Add(Math.Min(n, Size - offset));
                offset += n;
            }

            Sync();
        }

        public void Scrub(IReadOnlyList<WipePass> passes, bool writeSignature, Meter meter, CancellationToken ct)
        {
            // scrub_file: the size rounded up to st_blksize; an empty file gets a warning and nothing else.
            var size = IsBlockDevice ? Size : RoundUp(Size, BlockSize);
            if (size == 0)
            {
                return;
            }

            var buffer = GC.AllocateUninitializedArray<byte>((int)Math.Min(ChunkSize, size));
            byte[]? readBack = null;
            for (var i = 0; i < passes.Count; i++)
            {
                var pass = passes[i];
                if (pass.Kind != WipePassKind.Random)
                {
                    FillPattern(buffer, pass.Pattern.Span);
                }

                for (long offset = 0; offset < size;)
                {
                    ct.ThrowIfCancellationRequested();
                    var chunk = buffer.AsSpan(0, (int)Math.Min(buffer.Length, size - offset));
                    if (pass.Kind == WipePassKind.Random)
                    {
                        RandomNumberGenerator.Fill(chunk);
                    }

                    Write(chunk, offset);
                    offset += chunk.Length;
                    meter.Add(chunk.Length);
                }

                Sync();

                // As scrub does (after its O_DIRECT writes), so a verify pass reads the media, not the page cache.
                _ = WipeNative.PosixFAdvise(_fd, 0, size, WipeNative.POSIX_FADV_DONTNEED);
                if (pass.Kind == WipePassKind.Verify)
                {
                    readBack ??= GC.AllocateUninitializedArray<byte>(buffer.Length);
                    Verify(buffer, readBack, size, i, pass, meter, ct);
                }
            }

            Size = Math.Max(Size, size);
            if (writeSignature)
            {
                Write(ScrubSignature, 0);
                Sync();
            }
        }

        private long BlockSize => _st.BlockSize > 0 ? _st.BlockSize : 512;

        private void Verify(byte[] expected, byte[] readBack, long size, int passIndex, WipePass pass, Meter meter, CancellationToken ct)
        {
            for (long offset = 0; offset < size;)
            {
                ct.ThrowIfCancellationRequested();
                var n = (int)Math.Min(expected.Length, size - offset);
                var got = LibC.PReadFully(_fd, readBack.AsSpan(0, n), offset);
                if (got < 0)
                {
                    throw VirtPoolException.System($"Failed to read {n} bytes from storage volume with path '{_path}'", -got);
                }

                var mismatch = got < n ? got : readBack.AsSpan(0, n).CommonPrefixLength(expected.AsSpan(0, n));
                if (mismatch < n)
                {
                    throw VirtPoolException.Internal($"verification of pass {passIndex + 1} ({pass}) failed for storage volume with path '{_path}' at offset {offset + mismatch}");
                }

                offset += n;
                meter.Add(n);
            }
        }

        private ZeroMethod ZeroFileRange(long offset, long length, ZeroMethod method, CancellationToken ct)
        {
            // Past the end of the file, zeroing extends it, as libvirt's writes would.
            var keepSize = offset + length <= Size ? WipeNative.FALLOC_FL_KEEP_SIZE : 0;
            if (method == ZeroMethod.ZeroRange)
            {
                var rc = WipeNative.FAllocate(_fd, WipeNative.FALLOC_FL_ZERO_RANGE | keepSize, offset, length);
                if (rc == 0)
                {
                    return method;
                }

                if (!IsUnsupported(-rc))
                {
                    throw ZeroFailed(length, offset, -rc);
                }

                method = ZeroMethod.PunchAndAllocate;
            }

            if (method == ZeroMethod.PunchAndAllocate)
            {
                var rc = WipeNative.FAllocate(_fd, WipeNative.FALLOC_FL_PUNCH_HOLE | WipeNative.FALLOC_FL_KEEP_SIZE, offset, length);
                if (rc == 0)
                {
                    // Mode 0 allocates the hole again (zero-filled) and sets the size to at least offset+length.
                    rc = WipeNative.FAllocate(_fd, 0, offset, length);
                }

                if (rc == 0)
                {
                    return method;
                }

                if (!IsUnsupported(-rc))
                {
                    throw ZeroFailed(length, offset, -rc);
                }

                method = ZeroMethod.Write;
            }

            WriteZeroes(offset, length, ct);
            return method;
        }

        private void WriteZeroes(long offset, long length, CancellationToken ct)
        {
            _zeroes ??= new byte[ChunkSize];
            for (var end = offset + length; offset < end;)
            {
                ct.ThrowIfCancellationRequested();
                var n = (int)Math.Min(_zeroes.Length, end - offset);
                Write(_zeroes.AsSpan(0, n), offset);
                offset += n;
            }
        }

        private void Write(ReadOnlySpan<byte> data, long offset)
        {
            var rc = WipeNative.PWriteFully(_fd, data, offset);
            if (rc < 0)
            {
                throw VirtPoolException.System($"Failed to write {data.Length} bytes to storage volume with path '{_path}'", -rc);
            }
        }

        private void TruncateToZeroAndBack(long size)
        {
            if (LibC.FTruncate(_fd, 0) < 0)
            {
                throw VirtPoolException.System($"Failed to truncate volume with path '{_path}' to 0 bytes", LibC.Errno);
            }

            if (LibC.FTruncate(_fd, size) < 0)
            {
                throw VirtPoolException.System($"Failed to truncate volume with path '{_path}' to {size} bytes", LibC.Errno);
            }
        }

        private void Sync()
        {
            if (LibC.FDataSync(_fd) < 0)
            {
                throw VirtPoolException.System($"cannot sync data to volume with path '{_path}'", LibC.Errno);
            }
        }

        private VirtPoolException ZeroFailed(long length, long offset, int errno)
            => VirtPoolException.System($"Failed to zero {length} bytes from offset {offset} of storage volume with path '{_path}'", errno);

        /// <summary>The errors meaning "this filesystem/driver cannot do that", after which a slower way is tried.</summary>
        private static bool IsUnsupported(int errno)
            => errno is Errno.EOPNOTSUPP or Errno.ENOSYS or Errno.EINVAL or WipeNative.ENOTTY;

        private static long RoundUp(long value, long multiple) => (value + multiple - 1) / multiple * multiple;

        /// <summary>pattern[i % pattern.Length] at every i, by doubling copies (the filled prefix keeps the phase).</summary>
        private static void FillPattern(Span<byte> buffer, ReadOnlySpan<byte> pattern)
        {
            if (pattern.Length == 1)
            {
                buffer.Fill(pattern[0]);
                return;
            }

            var filled = Math.Min(pattern.Length, buffer.Length);
            pattern[..filled].CopyTo(buffer);
            while (filled < buffer.Length)
            {
                var n = Math.Min(filled, buffer.Length - filled);
                buffer[..n].CopyTo(buffer[filled..]);
                filled += n;
            }
        }
    }
}
