using System.Buffers;
using System.Collections;
using Microsoft.Win32.SafeHandles;
using VirtPool.Core.Errors;
using VirtPool.Core.Interop;
using VirtPool.Formats.Interop;

namespace VirtPool.Formats.Copy;

/// <summary>
/// Splits a range of a file or block device into data and hole segments: the filesystem's extent map
/// (lseek SEEK_DATA/SEEK_HOLE), optionally refined by reading data and treating all-zero blocks as holes.
/// The range may extend past end of file; that part is a hole (it reads as zeros).
/// </summary>
public static class DataExtents
{
    /// <summary>Granularity of zero detection: large enough that punching pays off, small enough to find real gaps.</summary>
    public const int DefaultZeroBlockSize = 64 * 1024;

    /// <summary>Bytes read per scan: large sequential reads, and the largest data segment a scan yields.</summary>
    public const int DefaultScanBufferSize = 1024 * 1024;

    /// <summary>Segments of [<paramref name="offset"/>, <paramref name="offset"/>+<paramref name="length"/>), in order, adjacent holes merged.</summary>
    public static IEnumerable<DataSegment> Enumerate(SafeFileHandle handle, long offset, long length, ZeroScan scan = ZeroScan.Auto)
        => Open(handle, offset, length, scan);

    /// <summary>
    /// As <see cref="Enumerate"/>, as a reader that also exposes the bytes a zero scan already read
    /// (<see cref="DataExtentReader.BufferedData"/>), so a consumer need not read them again.
    /// </summary>
    public static DataExtentReader Open(SafeFileHandle handle, long offset, long length, ZeroScan scan = ZeroScan.Auto, int zeroBlockSize = DefaultZeroBlockSize, int scanBufferSize = DefaultScanBufferSize)
        => new(handle, offset, length, scan, zeroBlockSize, scanBufferSize);

    /// <summary>Size in bytes of a regular file (st_size) or block device (BLKGETSIZE64).</summary>
    public static long GetSize(SafeFileHandle handle)
    {
        using var lease = new FdLease(handle);
        var size = CopyNative.Size(lease.Fd, out _, out _);
        if (size < 0)
        {
            throw VirtPoolException.System($"cannot stat file '{DescribeFd(lease.Fd)}'", (int)-size);
        }

        return size;
    }

    /// <summary>The path behind a descriptor, for error messages.</summary>
    internal static string DescribeFd(int fd)
    {
        try
        {
            return new FileInfo($"/proc/self/fd/{fd}").LinkTarget ?? $"fd {fd}";
        }
        catch (IOException)
        {
            return $"fd {fd}";
        }
    }
}

/// <summary>
/// Single-pass pull enumeration of <see cref="DataSegment"/>s. Uses lseek on the descriptor, so its file
/// position changes; all I/O here is positional (pread), and callers should be too.
/// Dispose returns the scan buffer to the pool.
/// </summary>
public sealed class DataExtentReader : IEnumerator<DataSegment>, IEnumerable<DataSegment>
{
    private readonly SafeFileHandle _handle;
    private readonly long _end;
    private readonly ZeroScan _scanMode;
    private readonly int _zeroBlock;
    private readonly int _bufferSize;

    private long _pos;
    private bool _started;
    private bool _enumerated;
    private bool _isBlockDevice;
    private bool _scan;

    // The current lseek data extent being zero-scanned: [_pos, _scanEnd).
    private long _scanEnd;

    // Offset of data known to start at, from the SEEK_DATA that ended the previous hole.
    private long _knownDataAt = -1;

    private byte[]? _buffer;
    private long _bufStart;
    private int _bufLen;

    // One segment of look-ahead, to merge a hole with the zero blocks that follow it.
    private DataSegment _pending;
    private bool _hasPending;
    private int _pendingDataIndex = -1;

    private DataSegment _current;
    private int _currentDataIndex = -1;

    internal DataExtentReader(SafeFileHandle handle, long offset, long length, ZeroScan scan, int zeroBlockSize, int scanBufferSize)
    {
        ArgumentNullException.ThrowIfNull(handle);
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, long.MaxValue - offset);
        ArgumentOutOfRangeException.ThrowIfLessThan(zeroBlockSize, 512);
        if (!int.IsPow2(zeroBlockSize))
        {
            throw new ArgumentOutOfRangeException(nameof(zeroBlockSize), "must be a power of two");
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(scanBufferSize, zeroBlockSize);
        _handle = handle;
        _pos = offset;
        _end = offset + length;
        _scanMode = scan;
        _zeroBlock = zeroBlockSize;
        _bufferSize = scanBufferSize / zeroBlockSize * zeroBlockSize;
    }

    public DataSegment Current => _current;

    object IEnumerator.Current => _current;

    /// <summary>Whether data segments are being refined by reading (decided on the first <see cref="MoveNext"/>).</summary>
    public bool IsScanning => _scan;

    /// <summary>
    /// The bytes of the current data segment when the zero scan has already read them (the whole segment,
    /// never part of it); empty otherwise. Valid until the next <see cref="MoveNext"/>.
    /// </summary>
    public ReadOnlyMemory<byte> BufferedData
        => _currentDataIndex >= 0 && _buffer is not null ? _buffer.AsMemory(_currentDataIndex, (int)_current.Length) : ReadOnlyMemory<byte>.Empty;

    public bool MoveNext()
    {
        if (!_started)
        {
            Start();
        }

        DataSegment seg;
        int dataIndex;
        if (_hasPending)
        {
            seg = _pending;
            dataIndex = _pendingDataIndex;
            _hasPending = false;
        }
        else if (!NextRaw(out seg, out dataIndex))
        {
            _currentDataIndex = -1;
            return false;
        }

        if (seg.IsHole)
        {
            // Merge following holes (an lseek hole, then zero blocks at the start of the next extent, ...).
            while (NextRaw(out var next, out var nextIndex))
            {
                if (next.IsHole)
                {
                    seg = seg with { Length = seg.Length + next.Length };
                    continue;
                }

                _pending = next;
                _pendingDataIndex = nextIndex;
                _hasPending = true;
                break;
            }
        }

        _current = seg;
        _currentDataIndex = dataIndex;
        return true;
    }

    public void Reset() => throw new NotSupportedException();

    public void Dispose()
    {
        var buffer = _buffer;
        _buffer = null;
        if (buffer is not null)
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>A reader enumerates once; this returns itself.</summary>
    public IEnumerator<DataSegment> GetEnumerator()
    {
        if (_enumerated)
        {
            throw new InvalidOperationException("a DataExtentReader can be enumerated only once");
        }

        _enumerated = true;
        return this;
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    private void Start()
    {
        _started = true;
        _enumerated = true;
        using var lease = new FdLease(_handle);
        _isBlockDevice = FileStat.TryFStat(lease.Fd, out var st, out _) && st.IsBlockDevice;
        _scan = _scanMode == ZeroScan.Always || (_scanMode == ZeroScan.Auto && _isBlockDevice);
    }

    private bool NextRaw(out DataSegment seg, out int dataIndex)
    {
        dataIndex = -1;
        if (_pos >= _end)
        {
            seg = default;
            return false;
        }

        if (_scanEnd > _pos)
        {
            seg = ScanRun(out dataIndex);
            return true;
        }

        var start = _pos;
        QueryExtent(start, out var isHole, out var extentEnd);
        if (isHole || !_scan)
        {
            _pos = extentEnd;
            seg = new DataSegment(start, extentEnd - start, isHole);
            return true;
        }

        _scanEnd = extentEnd;
        seg = ScanRun(out dataIndex);
        return true;
    }

    /// <summary>The lseek extent at <paramref name="pos"/>, clamped to the range.</summary>
    private void QueryExtent(long pos, out bool isHole, out long extentEnd)
    {
        isHole = false;
        extentEnd = _end;
        using var lease = new FdLease(_handle);
        long data;
        if (_knownDataAt == pos)
        {
            data = pos;
        }
        else
        {
            data = CopyNative.LSeek(lease.Fd, pos, CopyNative.SEEK_DATA);
            if (data < 0)
            {
                // ENXIO: no data at or after pos (the rest is a hole, or pos is past EOF). Anything else
                // (EINVAL, ESPIPE, ...) means no hole information: everything is data.
                isHole = LibC.Errno == CopyNative.ENXIO;
                NoteNoHoleInfo(isHole);
                return;
            }
        }

        if (data > pos)
        {
            isHole = true;
            extentEnd = Math.Min(data, _end);
            _knownDataAt = data;
            return;
        }

        var hole = CopyNative.LSeek(lease.Fd, pos, CopyNative.SEEK_HOLE);
        if (hole < 0)
        {
            // ENXIO here means the file shrank under us: what is gone reads as zeros.
            isHole = LibC.Errno == CopyNative.ENXIO;
            NoteNoHoleInfo(isHole);
            return;
        }

        if (hole > pos)
        {
            extentEnd = Math.Min(hole, _end);
        }
    }

    private void NoteNoHoleInfo(bool isHole)
    {
        if (!isHole && _scanMode == ZeroScan.Auto)
        {
            _scan = true;
        }
    }

    /// <summary>The next run of all-zero or data blocks inside [_pos, _scanEnd).</summary>
    private DataSegment ScanRun(out int dataIndex)
    {
        var start = _pos;
        var zero = Classify(start, out var runEnd);
        dataIndex = -1;
        if (zero)
        {
            while (runEnd < _scanEnd && Classify(runEnd, out var blockEnd))
            {
                runEnd = blockEnd;
            }
        }
        else
        {
            // Data stops at the buffer's end, so the caller always gets the whole segment from BufferedData.
            var bufEnd = _bufStart + _bufLen;
            while (runEnd < _scanEnd && runEnd < bufEnd && !Classify(runEnd, out var blockEnd))
            {
                runEnd = blockEnd;
            }

            dataIndex = (int)(start - _bufStart);
        }

        _pos = runEnd;
        return new DataSegment(start, runEnd - start, zero);
    }

    /// <summary>Whether the zero-block at <paramref name="pos"/> (up to the next block boundary) is all zeros.</summary>
    private bool Classify(long pos, out long blockEnd)
    {
        blockEnd = Math.Min((pos & ~(long)(_zeroBlock - 1)) + _zeroBlock, _scanEnd);
        if (_buffer is null || pos < _bufStart || blockEnd > _bufStart + _bufLen)
        {
            Fill(pos);
        }

        return ZeroBlocks.IsAllZero(_buffer.AsSpan((int)(pos - _bufStart), (int)(blockEnd - pos)));
    }

    private void Fill(long pos)
    {
        _buffer ??= ArrayPool<byte>.Shared.Rent(_bufferSize);
        var count = (int)Math.Min(_bufferSize, _scanEnd - pos);
        if (pos + count < _scanEnd)
        {
            // End on a block boundary so no block straddles two fills.
            count = (int)(((pos + count) & ~(long)(_zeroBlock - 1)) - pos);
        }

        int got;
        using (var lease = new FdLease(_handle))
        {
            got = LibC.PReadFully(lease.Fd, _buffer.AsSpan(0, count), pos);
            if (got < 0)
            {
                throw VirtPoolException.System($"failed reading from file '{DataExtents.DescribeFd(lease.Fd)}'", -got);
            }
        }

        // Past end of file reads as zeros.
        _buffer.AsSpan(got, count - got).Clear();
        _bufStart = pos;
        _bufLen = count;
    }
}
