using System.Buffers;
using System.Buffers.Binary;
using VirtPool.Rpc.Xdr;

namespace VirtPool.Rpc;

/// <summary>
/// Payload of a STREAM_HOLE packet (virNetStreamHole): "skip <see cref="Length"/> bytes" in a sparse stream.
/// </summary>
public readonly record struct StreamHole(long Length, uint Flags = 0)
{
    /// <summary>i64 length + u32 flags.</summary>
    public const int EncodedSize = 12;

    /// <summary>What a receiver accepts: a non-negative length, and flags 0 (spec 1.4: flags must be 0).</summary>
    public bool IsValid => Length >= 0 && Flags == 0;

    public void Encode(XdrWriter writer)
    {
        writer.WriteInt64(Length);
        writer.WriteUInt32(Flags);
    }

    /// <summary>The 12 encoded bytes, for building a packet without a buffer writer.</summary>
    public void Write(Span<byte> destination)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length, EncodedSize, nameof(destination));
        BinaryPrimitives.WriteInt64BigEndian(destination, Length);
        BinaryPrimitives.WriteUInt32BigEndian(destination.Slice(8), Flags);
    }

    public static StreamHole Decode(ref XdrReader reader) => new(reader.ReadInt64(), reader.ReadUInt32());

    public static StreamHole Decode(ReadOnlySpan<byte> payload)
    {
        var reader = new XdrReader(payload);
        return Decode(ref reader);
    }

    /// <summary>Decodes from a packet payload; extra bytes after the 12 are ignored like any trailing bytes.</summary>
    public static StreamHole Decode(in ReadOnlySequence<byte> payload)
    {
        if (payload.Length < EncodedSize)
        {
            throw new XdrFormatException($"stream hole needs {EncodedSize} bytes but only {payload.Length} remain", 0);
        }

        Span<byte> bytes = stackalloc byte[EncodedSize];
        payload.Slice(0, EncodedSize).CopyTo(bytes);
        return Decode(bytes);
    }
}
