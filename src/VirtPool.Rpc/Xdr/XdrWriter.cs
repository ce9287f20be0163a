using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Text;

namespace VirtPool.Rpc.Xdr;

/// <summary>Encodes one element of an XDR array or optional value.</summary>
public delegate void XdrElementWriter<in T>(XdrWriter writer, T value);

/// <summary>
/// Writes XDR into any <see cref="IBufferWriter{T}"/> (a pipe, <see cref="PooledBufferWriter"/>, ...).
/// Padding is always zeros. A length beyond its protocol limit throws <see cref="XdrEncodeException"/>
/// (libvirt's xdr filters fail the same way), which becomes libvirt's "Unable to encode message payload".
/// </summary>
public readonly struct XdrWriter
{
    private readonly IBufferWriter<byte> _output;

    public XdrWriter(IBufferWriter<byte> output)
    {
        ArgumentNullException.ThrowIfNull(output);
        _output = output;
    }

    public void WriteInt32(int value)
    {
        BinaryPrimitives.WriteInt32BigEndian(_output.GetSpan(4), value);
        _output.Advance(4);
    }

    public void WriteUInt32(uint value)
    {
        BinaryPrimitives.WriteUInt32BigEndian(_output.GetSpan(4), value);
        _output.Advance(4);
    }

    public void WriteInt64(long value)
    {
        BinaryPrimitives.WriteInt64BigEndian(_output.GetSpan(8), value);
        _output.Advance(8);
    }

    public void WriteUInt64(ulong value)
    {
        BinaryPrimitives.WriteUInt64BigEndian(_output.GetSpan(8), value);
        _output.Advance(8);
    }

    public void WriteBool(bool value) => WriteUInt32(value ? 1u : 0u);

    public void WriteEnum<TEnum>(TEnum value)
        where TEnum : struct, Enum
    {
        if (Unsafe.SizeOf<TEnum>() != sizeof(int))
        {
            throw new NotSupportedException($"XDR enums are 4 bytes; {typeof(TEnum).Name} is not.");
        }

        WriteInt32(Unsafe.As<TEnum, int>(ref value));
    }

    /// <summary>A fixed-length opaque: the bytes, then zero padding to 4 (no length word).</summary>
    public void WriteFixedOpaque(ReadOnlySpan<byte> value) => WritePaddedBody(value);

    public void WriteVariableOpaque(ReadOnlySpan<byte> value, int maxLength)
    {
        CheckLength(value.Length, maxLength, "opaque");
        WriteUInt32((uint)value.Length);
        WritePaddedBody(value);
    }

    /// <summary>A <c>remote_uuid</c>: 16 bytes in textual order.</summary>
    public void WriteUuid(Guid value)
    {
        Span<byte> bytes = stackalloc byte[RpcLimits.UuidLength];
        value.TryWriteBytes(bytes, bigEndian: true, out _);
        WriteFixedOpaque(bytes);
    }

    /// <summary>A <c>string x&lt;M&gt;</c>: UTF-8 byte length, bytes, zero padding. No NUL terminator.</summary>
    public void WriteString(string value, int maxLength = RpcLimits.StringMax)
    {
        ArgumentNullException.ThrowIfNull(value);
        int byteCount = Encoding.UTF8.GetByteCount(value);
        CheckLength(byteCount, maxLength, "string");
        int padded = (byteCount + 3) & ~3;
        Span<byte> span = _output.GetSpan(4 + padded);
        BinaryPrimitives.WriteUInt32BigEndian(span, (uint)byteCount);
        int written = Encoding.UTF8.GetBytes(value, span.Slice(4));
        span.Slice(4 + written, padded - written).Clear();
        _output.Advance(4 + padded);
    }

    /// <summary>A <c>remote_string</c>: discriminant 0 for null, else 1 and the string.</summary>
    public void WriteOptionalString(string? value, int maxLength = RpcLimits.StringMax)
    {
        WriteBool(value is not null);
        if (value is not null)
        {
            WriteString(value, maxLength);
        }
    }

    public void WriteOptional<T>(T? value, XdrElementWriter<T> writeValue)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(writeValue);
        WriteBool(value is not null);
        if (value is not null)
        {
            writeValue(this, value);
        }
    }

    public void WriteOptionalValue<T>(T? value, XdrElementWriter<T> writeValue)
        where T : struct
    {
        ArgumentNullException.ThrowIfNull(writeValue);
        WriteBool(value.HasValue);
        if (value.HasValue)
        {
            writeValue(this, value.GetValueOrDefault());
        }
    }

    /// <summary>A variable-length array: count word, then each element.</summary>
    public void WriteArray<T>(ReadOnlySpan<T> items, int maxCount, XdrElementWriter<T> writeElement)
    {
        ArgumentNullException.ThrowIfNull(writeElement);
        CheckLength(items.Length, maxCount, "array count");
        WriteUInt32((uint)items.Length);
        foreach (var item in items)
        {
            writeElement(this, item);
        }
    }

    private void WritePaddedBody(ReadOnlySpan<byte> value)
    {
        int padded = (int)(((long)value.Length + 3) & ~3L);
        Span<byte> span = _output.GetSpan(padded);
        value.CopyTo(span);
        span.Slice(value.Length, padded - value.Length).Clear();
        _output.Advance(padded);
    }

    private static void CheckLength(int length, int maxLength, string what)
    {
        if (length > maxLength)
        {
            throw new XdrEncodeException($"XDR {what} {length} exceeds the limit {maxLength}.");
        }
    }
}
