namespace VirtPool.Core.Backends;

/// <summary>
/// A byte stream that also carries holes: libvirt's sparse streams (VIR_STORAGE_VOL_UPLOAD_SPARSE_STREAM),
/// as the RPC daemon receives and sends them. Uploads read from it; downloads write to it.
/// </summary>
public interface ISparseStream
{
    /// <summary>
    /// Upload: the next piece. Data is copied into <paramref name="buffer"/> (DataLength &gt; 0); a hole
    /// is reported by HoleLength &gt; 0 with no data; both zero means the sender finished.
    /// </summary>
    ValueTask<SparseRead> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken);

    /// <summary>Download: the next data bytes.</summary>
    ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken);

    /// <summary>Download: a hole of <paramref name="length"/> bytes (only when the receiver asked for holes).</summary>
    ValueTask WriteHoleAsync(long length, CancellationToken cancellationToken);

    /// <summary>Download: whether the receiver accepts holes (else holes are sent as zeros).</summary>
    bool AcceptsHoles { get; }
}

/// <summary>One piece of a sparse stream: data bytes, or a hole, or (both zero) the end.</summary>
public readonly record struct SparseRead(int DataLength, long HoleLength)
{
    public bool IsEnd => DataLength == 0 && HoleLength == 0;
}

/// <summary>An RPC stream as the source or target of an upload or download.</summary>
public sealed record SparseStreamEndpoint(ISparseStream Stream) : VolumeDataEndpoint;
