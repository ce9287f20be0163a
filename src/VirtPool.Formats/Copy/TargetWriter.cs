using VirtPool.Core.Errors;
using VirtPool.Core.Interop;
using VirtPool.Formats.Interop;

namespace VirtPool.Formats.Copy;

/// <summary>A shared page of zeros: written where holes cannot be punched, hashed for holes.</summary>
internal static class Zeros
{
    public const int Size = 1 << 20;

    public static readonly byte[] Buffer = new byte[Size];
}

/// <summary>
/// Writes data and holes to a target descriptor, with the fallbacks a copy needs: holes past the
/// target's original end are left alone (they read as zeros), others are punched, and where punching
/// or ZERO_RANGE is unsupported zeros are written instead. The caller holds the descriptor's lease.
/// </summary>
internal sealed class TargetWriter
{
    private const int CancelCheckBytes = 64 << 20;

    private readonly int _fd;
    private readonly HoleMode _holes;
    private readonly string? _name;
    private bool _punchUnsupported;
    private bool _zeroRangeUnsupported;

    public TargetWriter(int fd, HoleMode holes, string? name)
    {
        _fd = fd;
        _holes = holes;
        _name = name;
        var size = CopyNative.Size(fd, out var regular, out _);
        if (size < 0)
        {
            throw VirtPoolException.System($"cannot stat file '{Name}'", (int)-size);
        }

        IsRegular = regular;

        // Only a regular file has a region known to read as zeros without anyone writing it.
        FreshFrom = regular ? size : long.MaxValue;
    }

    public int Fd => _fd;

    public bool IsRegular { get; }

    /// <summary>Target offsets at or past this were never written (the original end of a regular file).</summary>
    public long FreshFrom { get; }

    public string Name => _name ?? DataExtents.DescribeFd(_fd);

    public void WriteData(ReadOnlySpan<byte> data, long offset)
    {
        var errno = CopyNative.PWriteFully(_fd, data, offset);
        if (errno != 0)
        {
            throw VirtPoolException.System($"failed writing to file '{Name}'", errno);
        }
    }

    /// <summary>Makes [offset, offset+length) of the target read as zeros, per the hole mode.</summary>
    public void WriteHole(long offset, long length, CancellationToken cancellationToken)
    {
        if (length <= 0)
        {
            return;
        }

        if (_holes == HoleMode.Fill)
        {
            // ZERO_RANGE allocates without writing; without KEEP_SIZE it also extends a file.
            if (!_zeroRangeUnsupported && TryFAllocate(CopyNative.FALLOC_FL_ZERO_RANGE, offset, length, ref _zeroRangeUnsupported))
            {
                return;
            }

            WriteZeros(offset, length, cancellationToken);
            return;
        }

        // Past the original end nothing needs doing: the final size fix-up leaves a hole there.
        var end = Math.Min(offset + length, FreshFrom);
        if (end <= offset)
        {
            return;
        }

        if (!_punchUnsupported && TryFAllocate(CopyNative.FALLOC_FL_PUNCH_HOLE | CopyNative.FALLOC_FL_KEEP_SIZE, offset, end - offset, ref _punchUnsupported))
        {
            return;
        }

        WriteZeros(offset, end - offset, cancellationToken);
    }

    /// <summary>Extends a regular file to <paramref name="end"/> when the copy left it shorter (it ended in a skipped hole).</summary>
    public void EnsureSize(long end)
    {
        if (!IsRegular)
        {
            return;
        }

        if (!FileStat.TryFStat(_fd, out var st, out var errno))
        {
            throw VirtPoolException.System($"cannot stat file '{Name}'", errno);
        }

        if (st.Size < end && LibC.FTruncate(_fd, end) < 0)
        {
            throw VirtPoolException.System($"cannot resize file '{Name}'", LibC.Errno);
        }
    }

    public void Sync()
    {
        if (LibC.FDataSync(_fd) < 0)
        {
            throw VirtPoolException.System($"cannot sync file '{Name}'", LibC.Errno);
        }
    }

    private bool TryFAllocate(int mode, long offset, long length, ref bool unsupported)
    {
        while (true)
        {
            if (LibC.FAllocate(_fd, mode, offset, length) == 0)
            {
                return true;
            }

            var errno = LibC.Errno;
            switch (errno)
            {
                case Errno.EINTR:
                    continue;
                case Errno.EOPNOTSUPP or Errno.ENOSYS or CopyNative.ENODEV or CopyNative.ESPIPE:
                    // The filesystem or device cannot: fall back to writing zeros from now on.
                    unsupported = true;
                    return false;
                default:
                    throw VirtPoolException.System($"cannot fill file '{Name}'", errno);
            }
        }
    }

    private void WriteZeros(long offset, long length, CancellationToken cancellationToken)
    {
        var sinceCheck = 0L;
        while (length > 0)
        {
            var n = (int)Math.Min(length, Zeros.Size);
            WriteData(Zeros.Buffer.AsSpan(0, n), offset);
            offset += n;
            length -= n;
            sinceCheck += n;
            if (sinceCheck >= CancelCheckBytes)
            {
                sinceCheck = 0;
                cancellationToken.ThrowIfCancellationRequested();
            }
        }
    }
}
