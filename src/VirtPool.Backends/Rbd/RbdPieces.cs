using System.Security.Cryptography;
using Microsoft.Win32.SafeHandles;
using VirtPool.Core.Backends;
using VirtPool.Core.Interop;
using VirtPool.Formats.Copy;

namespace VirtPool.Backends.Rbd;

/// <summary>Where an upload's bytes come from, as pieces of data or holes (<see cref="SparseRead"/>).</summary>
internal abstract class RbdPieceSource : IDisposable
{
    /// <summary>The next piece: data copied into <paramref name="buffer"/>, or a hole; both 0 at the end.</summary>
    public abstract ValueTask<SparseRead> ReadAsync(byte[] buffer, CancellationToken cancellationToken);

    public virtual void Dispose()
    {
    }

    /// <summary>A local file's first <paramref name="length"/> bytes, its holes (SEEK_HOLE; zero runs on a device) as holes.</summary>
    public static RbdPieceSource FromFile(SafeFileHandle handle, long length) => new FileSource(handle, length);

    /// <summary>A plain stream; with <paramref name="sparse"/>, an all-zero chunk is a hole.</summary>
    public static RbdPieceSource FromStream(Stream stream, bool sparse) => new StreamSource(stream, sparse);

    /// <summary>An RPC stream with its own hole packets.</summary>
    public static RbdPieceSource FromSparseStream(ISparseStream stream) => new SparseSource(stream);

    private sealed class FileSource(SafeFileHandle handle, long length) : RbdPieceSource
    {
        private readonly DataExtentReader _segments = DataExtents.Open(handle, 0, length, ZeroScan.Auto);
        private DataSegment _segment;
        private long _pos;

        public override async ValueTask<SparseRead> ReadAsync(byte[] buffer, CancellationToken cancellationToken)
        {
            while (_pos >= _segment.End)
            {
                if (!_segments.MoveNext())
                {
                    return default;
                }

                _segment = _segments.Current;
                _pos = _segment.Offset;
            }

            if (_segment.IsHole)
            {
                var hole = _segment.End - _pos;
                _pos = _segment.End;
                return new SparseRead(0, hole);
            }

            var want = (int)Math.Min(buffer.Length, _segment.End - _pos);
            var got = await RandomAccess.ReadAsync(handle, buffer.AsMemory(0, want), _pos, cancellationToken).ConfigureAwait(false);
            if (got <= 0)
            {
                // The file shrank under us: the rest of the segment reads as zeros.
                var rest = _segment.End - _pos;
                _pos = _segment.End;
                return new SparseRead(0, rest);
            }

            _pos += got;
            return new SparseRead(got, 0);
        }

        public override void Dispose()
        {
            _segments.Dispose();
            base.Dispose();
        }
    }

    private sealed class StreamSource(Stream stream, bool sparse) : RbdPieceSource
    {
        public override async ValueTask<SparseRead> ReadAsync(byte[] buffer, CancellationToken cancellationToken)
        {
            // Whole chunks (a pipe hands out a few KiB at a time): one request per object, not per read.
            var filled = 0;
            while (filled < buffer.Length)
            {
                var got = await stream.ReadAsync(buffer.AsMemory(filled), cancellationToken).ConfigureAwait(false);
                if (got <= 0)
                {
                    break;
                }

                filled += got;
            }

            return sparse && filled > 0 && ZeroBlocks.IsAllZero(buffer.AsSpan(0, filled))
                ? new SparseRead(0, filled)
                : new SparseRead(filled, 0);
        }
    }

    private sealed class SparseSource(ISparseStream stream) : RbdPieceSource
    {
        public override ValueTask<SparseRead> ReadAsync(byte[] buffer, CancellationToken cancellationToken)
            => stream.ReadAsync(buffer, cancellationToken);
    }
}

/// <summary>Where a download's or checksum's bytes go: data in order, holes between.</summary>
internal abstract class RbdPieceSink
{
    private static readonly byte[] Zeros = new byte[256 << 10];

    public abstract ValueTask DataAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken);

    /// <summary>By default a hole is written as zeros.</summary>
    public virtual async ValueTask HoleAsync(long length, CancellationToken cancellationToken)
    {
        for (var left = length; left > 0; left -= Math.Min(left, Zeros.Length))
        {
            await DataAsync(Zeros.AsMemory(0, (int)Math.Min(left, Zeros.Length)), cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>After the last piece, with the bytes the whole transfer covered.</summary>
    public virtual ValueTask FinishAsync(long total, CancellationToken cancellationToken) => ValueTask.CompletedTask;

    /// <summary>
    /// A local file, written from its start. Holes are skipped (left holes) when sparse and the file
    /// was empty and seekable, and the file then grows to the full length; else written as zeros.
    /// </summary>
    public static RbdPieceSink ToFile(SafeFileHandle handle, bool sparse)
    {
        var skipHoles = sparse && FileStat.TryFStat((int)handle.DangerousGetHandle(), out var st, out _) && st.IsRegular && st.Size == 0;
        return new FileSink(handle, skipHoles);
    }

    public static RbdPieceSink ToStream(Stream stream) => new StreamSink(stream);

    /// <summary>An RPC stream: holes as hole packets when sparse and the receiver takes them.</summary>
    public static RbdPieceSink ToSparseStream(ISparseStream stream, bool sparse) => new SparseSink(stream, sparse && stream.AcceptsHoles);

    public static RbdPieceSink ToHash(IncrementalHash hash) => new HashSink(hash);

    private sealed class FileSink(SafeFileHandle handle, bool skipHoles) : RbdPieceSink
    {
        private long _pos;

        public override async ValueTask DataAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
        {
            await RandomAccess.WriteAsync(handle, data, _pos, cancellationToken).ConfigureAwait(false);
            _pos += data.Length;
        }

        public override ValueTask HoleAsync(long length, CancellationToken cancellationToken)
        {
            if (!skipHoles)
            {
                return base.HoleAsync(length, cancellationToken);
            }

            _pos += length;
            return ValueTask.CompletedTask;
        }

        public override ValueTask FinishAsync(long total, CancellationToken cancellationToken)
        {
            if (skipHoles && RandomAccess.GetLength(handle) < total)
            {
                RandomAccess.SetLength(handle, total);
            }

            return ValueTask.CompletedTask;
        }
    }

    private sealed class StreamSink(Stream stream) : RbdPieceSink
    {
        public override ValueTask DataAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken) => stream.WriteAsync(data, cancellationToken);
    }

    private sealed class SparseSink(ISparseStream stream, bool holes) : RbdPieceSink
    {
        public override ValueTask DataAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken) => stream.WriteAsync(data, cancellationToken);

        public override ValueTask HoleAsync(long length, CancellationToken cancellationToken)
            => holes ? stream.WriteHoleAsync(length, cancellationToken) : base.HoleAsync(length, cancellationToken);
    }

    private sealed class HashSink(IncrementalHash hash) : RbdPieceSink
    {
        public override ValueTask DataAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
        {
            hash.AppendData(data.Span);
            return ValueTask.CompletedTask;
        }
    }
}
