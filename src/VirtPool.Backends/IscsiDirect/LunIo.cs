using VirtPool.Backends.Network;

namespace VirtPool.Backends.IscsiDirect;

/// <summary>
/// Block I/O on one LUN through a held session: reads, writes, zeroes and deallocates whole blocks in
/// commands of at most <see cref="ChunkBytes"/>, each a bounded call of its own, with progress and
/// cancellation between commands.
/// </summary>
internal sealed class LunIo(IscsiDirectBackend backend, NetworkLease<IscsiSession> lease, int lun, LunCapacity capacity)
{
    /// <summary>Bytes per READ/WRITE(16): big enough for throughput, small enough for a short call limit.</summary>
    public const int ChunkBytes = 1 << 20;

    /// <summary>Blocks per UNMAP descriptor.</summary>
    private const uint UnmapBlocks = 1u << 17;

    private static readonly byte[] Zeros = new byte[ChunkBytes];

    public int Lun => lun;

    public LunCapacity Capacity => capacity;

    public uint BlockSize => capacity.BlockSize;

    public ulong AlignDown(ulong bytes) => bytes / BlockSize * BlockSize;

    public ulong AlignUp(ulong bytes) => (bytes + BlockSize - 1) / BlockSize * BlockSize;

    /// <summary>Reads <paramref name="into"/> (whole blocks, at most <see cref="ChunkBytes"/>) from block-aligned <paramref name="offset"/>.</summary>
    public Task ReadAsync(ulong offset, Memory<byte> into, CancellationToken cancellationToken)
    {
        var lba = offset / BlockSize;
        var blockSize = BlockSize;
        var number = lun;
        return backend.CallAsync(lease, s => { s.Read(number, lba, into.Span, blockSize); return true; }, $"READ(16) of LUN {lun}", cancellationToken);
    }

    /// <summary>Writes <paramref name="data"/> (whole blocks, at most <see cref="ChunkBytes"/>) at block-aligned <paramref name="offset"/>.</summary>
    public Task WriteAsync(ulong offset, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        var lba = offset / BlockSize;
        var blockSize = BlockSize;
        var number = lun;
        return backend.CallAsync(lease, s => { s.Write(number, lba, data.Span, blockSize); return true; }, $"WRITE(16) of LUN {lun}", cancellationToken);
    }

    /// <summary>Writes zeroes over block-aligned [<paramref name="offset"/>, +<paramref name="length"/>).</summary>
    public async Task ZeroAsync(ulong offset, ulong length, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        for (ulong done = 0; done < length;)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var piece = (int)Math.Min((ulong)ChunkBytes, length - done);
            await WriteAsync(offset + done, Zeros.AsMemory(0, piece), cancellationToken).ConfigureAwait(false);
            done += (ulong)piece;
            progress?.Report((long)done);
        }
    }

    /// <summary>Deallocates block-aligned [<paramref name="offset"/>, +<paramref name="length"/>) with UNMAP.</summary>
    public async Task UnmapAsync(ulong offset, ulong length, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        var lba = offset / BlockSize;
        var blocks = length / BlockSize;
        for (ulong done = 0; done < blocks;)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var piece = (uint)Math.Min(UnmapBlocks, blocks - done);
            var start = lba + done;
            var number = lun;
            await backend.CallAsync(lease, s => { s.Unmap(number, start, piece); return true; }, $"UNMAP of LUN {lun}", cancellationToken).ConfigureAwait(false);
            done += piece;
            progress?.Report((long)(done * BlockSize));
        }
    }
}

/// <summary>
/// Writes a byte stream onto a LUN from any byte offset: data is gathered into block-aligned commands
/// of up to <see cref="LunIo.ChunkBytes"/>; a partial first or last block is read first and merged
/// (the bytes beside the written range stay as they were). A hole is written as zeroes, or, on a thin
/// provisioned LUN whose unmapped blocks read as zeroes, its whole chunks are deallocated.
/// </summary>
internal sealed class LunWriter(LunIo io, ulong start, bool unmapHoles)
{
    private readonly byte[] _window = new byte[LunIo.ChunkBytes];
    private ulong _windowStart;
    private int _filled;
    private readonly ulong _start = start;
    private ulong _position = start;

    /// <summary>Bytes taken so far.</summary>
    public ulong Written => _position - _start;

    public async Task WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        while (!data.IsEmpty)
        {
            if (_filled == 0)
            {
                await OpenWindowAsync(cancellationToken).ConfigureAwait(false);
            }

            var piece = Math.Min(data.Length, _window.Length - _filled);
            data.Span[..piece].CopyTo(_window.AsSpan(_filled));
            data = data[piece..];
            _filled += piece;
            _position += (ulong)piece;
            if (_filled == _window.Length)
            {
                await FlushAsync(cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary><paramref name="length"/> bytes that read as zeroes.</summary>
    public async Task HoleAsync(ulong length, CancellationToken cancellationToken)
    {
        var end = _position + length;
        var first = io.AlignUp(_position);
        var last = io.AlignDown(end);
        if (unmapHoles && last > first && last - first >= LunIo.ChunkBytes)
        {
            await ZerosAsync(first - _position, cancellationToken).ConfigureAwait(false);
            await FlushAsync(cancellationToken).ConfigureAwait(false);
            await io.UnmapAsync(first, last - first, null, cancellationToken).ConfigureAwait(false);
            _position = last;
            await ZerosAsync(end - last, cancellationToken).ConfigureAwait(false);
            return;
        }

        await ZerosAsync(length, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Writes what is gathered; a partial last block is completed from the LUN first.</summary>
    public async Task FlushAsync(CancellationToken cancellationToken)
    {
        if (_filled == 0)
        {
            return;
        }

        var end = _windowStart + (ulong)_filled;
        var alignedEnd = io.AlignUp(end);
        if (alignedEnd != end)
        {
            var block = new byte[io.BlockSize];
            await io.ReadAsync(alignedEnd - io.BlockSize, block, cancellationToken).ConfigureAwait(false);
            var keep = (int)(end - (alignedEnd - io.BlockSize));
            block.AsSpan(keep).CopyTo(_window.AsSpan(_filled));
            _filled += block.Length - keep;
        }

        await io.WriteAsync(_windowStart, _window.AsMemory(0, _filled), cancellationToken).ConfigureAwait(false);
        _filled = 0;
    }

    private async Task ZerosAsync(ulong length, CancellationToken cancellationToken)
    {
        var zeros = new byte[Math.Min(length, LunIo.ChunkBytes)];
        for (ulong done = 0; done < length;)
        {
            var piece = (int)Math.Min((ulong)zeros.Length, length - done);
            await WriteAsync(zeros.AsMemory(0, piece), cancellationToken).ConfigureAwait(false);
            done += (ulong)piece;
        }
    }

    /// <summary>A new window at the block holding the position; a position inside a block keeps that block's first bytes.</summary>
    private async Task OpenWindowAsync(CancellationToken cancellationToken)
    {
        _windowStart = io.AlignDown(_position);
        var head = (int)(_position - _windowStart);
        if (head > 0)
        {
            await io.ReadAsync(_windowStart, _window.AsMemory(0, (int)io.BlockSize), cancellationToken).ConfigureAwait(false);
        }

        _filled = head;
    }
}
