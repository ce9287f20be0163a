using System.Buffers;

namespace VirtPool.Rpc;

/// <summary>
/// A growable byte buffer rented from <see cref="RpcBufferPool"/>. Unlike a pipe it lets already written
/// bytes be patched (<see cref="GetWrittenSpan"/>) and discarded (<see cref="Truncate"/>), which packet framing
/// needs: the length word is known only after the payload is written, and a handler that fails halfway has its
/// partial reply replaced by an error.
/// </summary>
public sealed class PooledBufferWriter : IBufferWriter<byte>, IDisposable
{
    private const int MinimumCapacity = 256;

    private byte[] _buffer;
    private int _written;
    private bool _disposed;

    public PooledBufferWriter(int initialCapacity = MinimumCapacity)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(initialCapacity);
        _buffer = RpcBufferPool.Rent(Math.Max(initialCapacity, MinimumCapacity));
    }

    public int WrittenCount => _written;

    public ReadOnlySpan<byte> WrittenSpan => _buffer.AsSpan(0, _written);

    public ReadOnlyMemory<byte> WrittenMemory => _buffer.AsMemory(0, _written);

    /// <summary>Already written bytes, writable, for filling in a length word afterwards.</summary>
    public Span<byte> GetWrittenSpan(int offset, int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        ArgumentOutOfRangeException.ThrowIfGreaterThan((long)offset + length, _written, nameof(length));
        return _buffer.AsSpan(offset, length);
    }

    /// <summary>Forgets everything written after <paramref name="length"/> bytes.</summary>
    public void Truncate(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, _written);
        _written = length;
    }

    public void Clear() => _written = 0;

    public void Advance(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, _buffer.Length - _written);
        _written += count;
    }

    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        EnsureFree(sizeHint);
        return _buffer.AsMemory(_written);
    }

    public Span<byte> GetSpan(int sizeHint = 0)
    {
        EnsureFree(sizeHint);
        return _buffer.AsSpan(_written);
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        byte[] buffer = _buffer;
        _buffer = [];
        _written = 0;
        ReturnToPool(buffer);
    }

    private static void ReturnToPool(byte[] buffer) => RpcBufferPool.Return(buffer);

    private void EnsureFree(int sizeHint)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(sizeHint);
        ObjectDisposedException.ThrowIf(_disposed, this);
        int needed = Math.Max(sizeHint, 1);
        if (_buffer.Length - _written >= needed)
        {
            return;
        }

        long required = (long)_written + needed;
        if (required > Array.MaxLength)
        {
            throw new InvalidOperationException($"Buffer would exceed {Array.MaxLength} bytes.");
        }

        long doubled = Math.Max((long)_buffer.Length * 2, MinimumCapacity);
        int newSize = (int)Math.Min(Math.Max(doubled, required), Array.MaxLength);
        byte[] bigger = RpcBufferPool.Rent(newSize);
        _buffer.AsSpan(0, _written).CopyTo(bigger);
        ReturnToPool(_buffer);
        _buffer = bigger;
    }
}
