using System.Buffers;

namespace VirtPool.Rpc;

/// <summary>
/// Where packet buffers come from. Small ones (calls, replies) use the shared pool. Large ones (stream
/// packets of up to 256 KiB, big replies) come from a pool of their own: the shared pool keeps such
/// arrays per core and per thread for a minute or more, megabytes a daemon holds long after a
/// transfer ended. This pool is dropped whole when the daemon goes idle (<see cref="ReleaseIdle"/>).
/// </summary>
public static class RpcBufferPool
{
    private const int LargeThreshold = 64 * 1024;

    /// <summary>Larger arrays are not kept at all: a rare huge reply (a list of 10,000 volumes) is garbage once sent.</summary>
    public const int MaxPooledLength = 512 * 1024;

    // Enough for the packets one busy connection has in flight (an upload's queue, a download's packets).
    private const int ArraysPerSize = 16;

    private static ArrayPool<byte> s_large = NewLargePool();

    public static byte[] Rent(int minimumLength)
        => minimumLength > LargeThreshold ? Volatile.Read(ref s_large).Rent(minimumLength) : ArrayPool<byte>.Shared.Rent(minimumLength);

    public static void Return(byte[] buffer)
    {
        if (buffer.Length <= LargeThreshold)
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        else if (buffer.Length <= MaxPooledLength)
        {
            Volatile.Read(ref s_large).Return(buffer);
        }
    }

    /// <summary>Forgets every large array kept for reuse; the next collection gives their memory back.</summary>
    public static void ReleaseIdle() => Volatile.Write(ref s_large, NewLargePool());

    private static ArrayPool<byte> NewLargePool() => ArrayPool<byte>.Create(MaxPooledLength, ArraysPerSize);
}
