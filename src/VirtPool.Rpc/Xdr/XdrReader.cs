using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Text;

namespace VirtPool.Rpc.Xdr;

/// <summary>Decodes one element of an XDR array or optional value.</summary>
public delegate T XdrElementReader<out T>(ref XdrReader reader);

/// <summary>
/// Reads XDR (RFC 4506, as libvirt uses it) from a span. Every length and count is checked against its limit and
/// against the bytes that remain before anything is allocated, so a hostile length cannot make us allocate.
/// Any malformed input raises <see cref="XdrFormatException"/>.
/// </summary>
public ref struct XdrReader
{
    private readonly ReadOnlySpan<byte> _data;
    private int _position;

    public XdrReader(ReadOnlySpan<byte> data)
    {
        _data = data;
        _position = 0;
    }

    /// <summary>Bytes consumed so far.</summary>
    public readonly int Position => _position;

    public readonly int Remaining => _data.Length - _position;

    public readonly bool IsAtEnd => _position == _data.Length;

    public int ReadInt32() => BinaryPrimitives.ReadInt32BigEndian(Take(4, "int"));

    public uint ReadUInt32() => BinaryPrimitives.ReadUInt32BigEndian(Take(4, "unsigned int"));

    public long ReadInt64() => BinaryPrimitives.ReadInt64BigEndian(Take(8, "hyper"));

    public ulong ReadUInt64() => BinaryPrimitives.ReadUInt64BigEndian(Take(8, "unsigned hyper"));

    /// <summary>Any non-zero word is true: glibc's XDR (and so libvirtd) accepts it, and go-libvirt sends 0x01000000.</summary>
    public bool ReadBool() => ReadUInt32() != 0;

    /// <summary>
    /// An XDR enum: a 4-byte int cast to <typeparamref name="TEnum"/> without checking it is a defined member —
    /// libvirt passes unknown values through and the caller decides what an unknown value means.
    /// </summary>
    public TEnum ReadEnum<TEnum>()
        where TEnum : struct, Enum
    {
        if (Unsafe.SizeOf<TEnum>() != sizeof(int))
        {
            throw new NotSupportedException($"XDR enums are 4 bytes; {typeof(TEnum).Name} is not.");
        }

        int value = ReadInt32();
        return Unsafe.As<int, TEnum>(ref value);
    }

    /// <summary>A fixed-length opaque (<c>opaque x[N]</c>): N bytes then padding to 4. The span aliases the input.</summary>
    public ReadOnlySpan<byte> ReadFixedOpaque(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        int start = _position;
        long padded = PaddedLength(length);
        if (padded > Remaining)
        {
            throw Fail($"fixed opaque of {length} bytes needs {padded} bytes but only {Remaining} remain", start);
        }

        _position += (int)padded;
        return _data.Slice(start, length);
    }

    /// <summary>A variable-length opaque (<c>opaque x&lt;M&gt;</c>). The span aliases the input.</summary>
    public ReadOnlySpan<byte> ReadVariableOpaque(int maxLength)
    {
        int start = _position;
        int length = ReadLength(maxLength, "opaque");
        return ReadPaddedBody(length, start, "opaque");
    }

    /// <summary>A 16-byte <c>remote_uuid</c>; the bytes are in textual order (big-endian Guid layout).</summary>
    public Guid ReadUuid() => new(ReadFixedOpaque(RpcLimits.UuidLength), bigEndian: true);

    /// <summary>
    /// A <c>string x&lt;M&gt;</c>. Invalid UTF-8 is replaced with U+FFFD rather than rejected: libvirtd does not
    /// validate strings either, and a handler can still report a lookup failure with the name it got.
    /// libvirtd uses what it decodes as a C string: a NUL ends it, whatever follows is never seen.
    /// </summary>
    public string ReadString(int maxLength = RpcLimits.StringMax)
    {
        int start = _position;
        int length = ReadLength(maxLength, "string");
        var body = ReadPaddedBody(length, start, "string");
        var nul = body.IndexOf((byte)0);
        return Encoding.UTF8.GetString(nul < 0 ? body : body[..nul]);
    }

    /// <summary>A <c>remote_string</c> (pointer to string): null when the discriminant is zero.</summary>
    public string? ReadOptionalString(int maxLength = RpcLimits.StringMax)
        => ReadBool() ? ReadString(maxLength) : null;

    /// <summary>An optional (<c>T *x</c>) reference value: discriminant, then the value when non-zero.</summary>
    public T? ReadOptional<T>(XdrElementReader<T> readValue)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(readValue);
        return ReadBool() ? readValue(ref this) : null;
    }

    /// <summary>An optional (<c>T *x</c>) value type.</summary>
    public T? ReadOptionalValue<T>(XdrElementReader<T> readValue)
        where T : struct
    {
        ArgumentNullException.ThrowIfNull(readValue);
        return ReadBool() ? readValue(ref this) : null;
    }

    /// <summary>
    /// The count word of a variable-length array, checked against <paramref name="maxCount"/> and against the
    /// remaining bytes assuming each element needs at least <paramref name="minElementSize"/> bytes.
    /// </summary>
    public int ReadArrayCount(int maxCount, int minElementSize = 4)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxCount);
        ArgumentOutOfRangeException.ThrowIfNegative(minElementSize);
        int start = _position;
        uint count = ReadUInt32();
        if (count > (uint)maxCount)
        {
            throw Fail($"array count {count} exceeds the limit {maxCount}", start);
        }

        if ((long)count * minElementSize > Remaining)
        {
            throw Fail($"array count {count} needs at least {(long)count * minElementSize} bytes but only {Remaining} remain", start);
        }

        return (int)count;
    }

    /// <summary>A variable-length array (<c>T x&lt;M&gt;</c>).</summary>
    public T[] ReadArray<T>(int maxCount, XdrElementReader<T> readElement, int minElementSize = 4)
    {
        ArgumentNullException.ThrowIfNull(readElement);
        int count = ReadArrayCount(maxCount, minElementSize);
        if (count == 0)
        {
            return [];
        }

        var items = new T[count];
        for (int i = 0; i < items.Length; i++)
        {
            items[i] = readElement(ref this);
        }

        return items;
    }

    /// <summary>Skips what is left, e.g. trailing bytes after a complete args struct (libvirt tolerates them).</summary>
    public void SkipRemaining() => _position = _data.Length;

    private int ReadLength(int maxLength, string what)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxLength);
        int start = _position;
        uint length = ReadUInt32();
        if (length > (uint)maxLength)
        {
            throw Fail($"{what} length {length} exceeds the limit {maxLength}", start);
        }

        return (int)length;
    }

    private ReadOnlySpan<byte> ReadPaddedBody(int length, int start, string what)
    {
        int bodyStart = _position;
        long padded = PaddedLength(length);
        if (padded > Remaining)
        {
            throw Fail($"{what} of {length} bytes needs {padded} bytes but only {Remaining} remain", start);
        }

        // Pad bytes should be zero but are not checked: libvirt ignores their value (spec 2.2).
        _position += (int)padded;
        return _data.Slice(bodyStart, length);
    }

    private ReadOnlySpan<byte> Take(int count, string what)
    {
        if (count > Remaining)
        {
            throw Fail($"{what} needs {count} bytes but only {Remaining} remain", _position);
        }

        var slice = _data.Slice(_position, count);
        _position += count;
        return slice;
    }

    /// <summary>Length rounded up to a multiple of 4, in long so a length near int.MaxValue cannot overflow.</summary>
    private static long PaddedLength(int length) => ((long)length + 3) & ~3L;

    private static XdrFormatException Fail(string message, int offset) => new(message, offset);
}
