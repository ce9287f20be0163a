using System.Buffers.Binary;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace VirtPool.Formats.Qcow2;

/// <summary>
/// Writes a new qcow2 image byte for byte as qemu-img 7.2's <c>create</c> does, including which
/// regions are written (zeros too) and which are left as holes, so st_blocks agree as well.
/// </summary>
public static class Qcow2Writer
{
    private const uint Magic = 0x514649FB;
    private const uint ExtensionBackingFormat = 0xE2792ACA;
    private const uint ExtensionFeatureTable = 0x6803F857;
    private const int V2HeaderLength = 72;
    private const int V3HeaderLength = 112;
    private const int MaxBackingFileLength = 1023;
    private const int RefcountOrder = 4;
    private const int WriteChunk = 1024 * 1024;

    /// <summary>qemu 7.2's feature name table: (type, bit, name), in its order.</summary>
    private static readonly (byte Type, byte Bit, string Name)[] FeatureNames =
    [
        (0, 0, "dirty bit"),
        (0, 1, "corrupt bit"),
        (0, 2, "external data file"),
        (0, 3, "compression type"),
        (0, 4, "extended L2 entries"),
        (1, 0, "lazy refcounts"),
        (2, 0, "bitmaps"),
        (2, 1, "raw external data"),
    ];

    private const int FeatureEntrySize = 48;

    /// <summary>
    /// Whether <see cref="Write"/> reproduces qemu-img for these options: they are valid for qemu-img and
    /// the image's refcounts fit the initial one-cluster refcount table (qemu grows it otherwise; not modelled).
    /// </summary>
    public static bool CanWrite(Qcow2CreateOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return Validate(options) is null && Qcow2Layout.Plan(options) is not null;
    }

    /// <summary>
    /// Writes the image into <paramref name="file"/>, which must be empty and open for writing. Throws
    /// <see cref="ArgumentException"/> when <see cref="CanWrite"/> is false.
    /// </summary>
    public static void Write(SafeFileHandle file, Qcow2CreateOptions options)
    {
        ArgumentNullException.ThrowIfNull(file);
        ArgumentNullException.ThrowIfNull(options);
        if (Validate(options) is { } problem)
        {
            throw new ArgumentException(problem, nameof(options));
        }

        var layout = Qcow2Layout.Plan(options)
            ?? throw new ArgumentException("qemu-img would have to grow the refcount table; not supported natively", nameof(options));
        WriteLayout(file, options, layout);
    }

    /// <summary>
    /// <see cref="CanWrite"/> and <see cref="Write"/> in one, planning the layout once: false (nothing
    /// written) for options only qemu-img can create.
    /// </summary>
    public static bool TryWrite(SafeFileHandle file, Qcow2CreateOptions options)
    {
        ArgumentNullException.ThrowIfNull(file);
        ArgumentNullException.ThrowIfNull(options);
        if (Validate(options) is not null || Qcow2Layout.Plan(options) is not { } layout)
        {
            return false;
        }

        WriteLayout(file, options, layout);
        return true;
    }

    private static void WriteLayout(SafeFileHandle file, Qcow2CreateOptions options, Qcow2Layout layout)
    {
        if (RandomAccess.GetLength(file) != 0)
        {
            throw new ArgumentException("the file must be empty", nameof(file));
        }

        var cs = (int)layout.ClusterSize;

        // Rented, not allocated: a fresh 1 MiB array per image (large-object heap, zeroed) cost more
        // CPU than writing a small image. Every span is cleared before it is filled anyway.
        var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(Math.Max(cs, WriteChunk));
        try
        {
            WriteRegions(file, options, layout, cs, buffer);
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        }

        // qemu-img flushes on close; it also makes st_blocks final (ext4 counts extent tree blocks only once allocated).
        RandomAccess.FlushToDisk(file);
    }

    private static void WriteRegions(SafeFileHandle file, Qcow2CreateOptions options, Qcow2Layout layout, int cs, byte[] buffer)
    {

        // In offset order, each region exactly as qemu wrote it.
        var regions = new List<(long Offset, Action<Span<byte>, long> Fill, long Length)>
        {
            (0, (span, _) => BuildHeader(span, options, layout), cs),
            (cs, (span, _) => FillReftable(span, layout), cs),
        };
        for (var t = 0; t < layout.Reftable.Length; t++)
        {
            if (layout.Reftable[t] != 0)
            {
                var index = t;
                regions.Add((layout.Reftable[t], (span, _) => FillRefblock(span, layout, index), cs));
            }
        }

        if (layout.L1Size > 0)
        {
            regions.Add((layout.L1Offset, (span, at) => FillL1(span, layout, at), layout.L1Size * 8));
        }

        var mappingCursor = 0;
        foreach (var (l1Index, cluster) in layout.L2Tables)
        {
            var first = l1Index * layout.L2Entries;
            regions.Add((cluster * cs, (span, _) => FillL2(span, layout, options.ExtendedL2, first, ref mappingCursor), cs));
        }

        foreach (var (offset, length) in layout.ZeroWrites)
        {
            regions.Add((offset, (_, _) => { }, length));
        }

        regions.Sort((a, b) => a.Offset.CompareTo(b.Offset));
        var end = 0L;
        foreach (var (offset, fill, length) in regions)
        {
            for (var done = 0L; done < length;)
            {
                var n = (int)Math.Min(buffer.Length - (buffer.Length % 8), length - done);
                var span = buffer.AsSpan(0, n);
                span.Clear();
                fill(span, done);
                RandomAccess.Write(file, span, offset + done);
                done += n;
            }

            end = Math.Max(end, offset + length);
        }

        if (layout.FileLength > end)
        {
            // Preallocated data clusters: qemu extends the file without writing them.
            RandomAccess.SetLength(file, layout.FileLength);
        }
    }

    /// <summary>Why qemu-img 7.2 would refuse these options (or the header could not hold them), or null.</summary>
    private static string? Validate(Qcow2CreateOptions o)
    {
        if (o.ClusterSize is < 512 or > 2 * 1024 * 1024 || !uint.IsPow2(o.ClusterSize))
        {
            return "Cluster size must be a power of two between 512 and 2048k";
        }

        if (o.Compat is not ("0.10" or "1.1"))
        {
            return "Invalid compatibility level";
        }

        if (o.Version < 3 && (o.LazyRefcounts || o.ExtendedL2))
        {
            return "Lazy refcounts and extended L2 entries need compat 1.1";
        }

        if (o.ExtendedL2 && o.ClusterSize < 16384)
        {
            return "Extended L2 entries are only supported with cluster sizes of at least 16384 bytes";
        }

        if (o.Capacity % 512 != 0 || o.Capacity > long.MaxValue)
        {
            return "The size must be a multiple of 512";
        }

        if (Qcow2Layout.L1EntriesFor(o) > Qcow2Layout.MaxL1Entries)
        {
            return "The image size is too large for file format 'qcow2'";
        }

        if (o.BackingFormat is not null && o.BackingFile is null)
        {
            return "Backing format without backing file";
        }

        if (o.PreallocMetadata && o.BackingFile is not null)
        {
            return "Backing file and preallocation can only be used at the same time if extended_l2 is on";
        }

        if (o.BackingFile is { } name)
        {
            var bytes = Encoding.UTF8.GetByteCount(name);
            if (name.Length == 0 || name.Contains('\0', StringComparison.Ordinal) || bytes > MaxBackingFileLength)
            {
                return "Unsupported backing file name";
            }

            if (bytes > o.ClusterSize - ExtensionsLength(o))
            {
                return "The backing file name does not fit in the header cluster";
            }
        }

        if (o.BackingFormat is { } fmt && (fmt.Length == 0 || fmt.Contains('\0', StringComparison.Ordinal)))
        {
            return "Unsupported backing format";
        }

        return null;
    }

    private static int HeaderLength(Qcow2CreateOptions o) => o.Version == 2 ? V2HeaderLength : V3HeaderLength;

    private static bool HasFeatureTable(Qcow2CreateOptions o) => o.Version >= 3 && o.ClusterSize > 4096;

    /// <summary>Header, extensions and end marker: where the backing file name starts.</summary>
    private static int ExtensionsLength(Qcow2CreateOptions o)
    {
        var length = HeaderLength(o);
        if (o.BackingFormat is { } fmt)
        {
            length += 8 + Align8(Encoding.UTF8.GetByteCount(fmt));
        }

        if (HasFeatureTable(o))
        {
            length += 8 + (FeatureNames.Length * FeatureEntrySize);
        }

        return length + 8;
    }

    private static int Align8(int n) => (n + 7) & ~7;

    /// <summary>qcow2_update_header's cluster, with the size and L1 fields qemu patched in afterwards.</summary>
    private static void BuildHeader(Span<byte> buf, Qcow2CreateOptions o, Qcow2Layout layout)
    {
        BinaryPrimitives.WriteUInt32BigEndian(buf, Magic);
        BinaryPrimitives.WriteUInt32BigEndian(buf[4..], (uint)o.Version);
        BinaryPrimitives.WriteUInt32BigEndian(buf[20..], (uint)layout.ClusterBits);
        BinaryPrimitives.WriteUInt64BigEndian(buf[24..], o.Capacity);
        BinaryPrimitives.WriteUInt32BigEndian(buf[36..], (uint)layout.L1Size);
        BinaryPrimitives.WriteUInt64BigEndian(buf[40..], (ulong)layout.L1Offset);
        BinaryPrimitives.WriteUInt64BigEndian(buf[48..], (ulong)layout.ClusterSize);
        BinaryPrimitives.WriteUInt32BigEndian(buf[56..], 1);
        if (o.Version >= 3)
        {
            BinaryPrimitives.WriteUInt64BigEndian(buf[72..], o.ExtendedL2 ? 1UL << 4 : 0);
            BinaryPrimitives.WriteUInt64BigEndian(buf[80..], o.LazyRefcounts ? 1UL : 0);
            BinaryPrimitives.WriteUInt32BigEndian(buf[96..], RefcountOrder);
            BinaryPrimitives.WriteUInt32BigEndian(buf[100..], V3HeaderLength);
        }

        var at = HeaderLength(o);
        if (o.BackingFormat is { } fmt)
        {
            var n = Encoding.UTF8.GetBytes(fmt, buf[(at + 8)..]);
            WriteExtensionHeader(buf[at..], ExtensionBackingFormat, n);
            at += 8 + Align8(n);
        }

        if (HasFeatureTable(o))
        {
            WriteExtensionHeader(buf[at..], ExtensionFeatureTable, FeatureNames.Length * FeatureEntrySize);
            at += 8;
            foreach (var (type, bit, name) in FeatureNames)
            {
                buf[at] = type;
                buf[at + 1] = bit;
                Encoding.ASCII.GetBytes(name, buf[(at + 2)..]);
                at += FeatureEntrySize;
            }
        }

        at += 8; // end of extensions: all zero
        if (o.BackingFile is { } backing)
        {
            var n = Encoding.UTF8.GetBytes(backing, buf[at..]);
            BinaryPrimitives.WriteUInt64BigEndian(buf[8..], (ulong)at);
            BinaryPrimitives.WriteUInt32BigEndian(buf[16..], (uint)n);
        }
    }

    private static void WriteExtensionHeader(Span<byte> buf, uint magic, int length)
    {
        BinaryPrimitives.WriteUInt32BigEndian(buf, magic);
        BinaryPrimitives.WriteUInt32BigEndian(buf[4..], (uint)length);
    }

    private static void FillReftable(Span<byte> buf, Qcow2Layout layout)
    {
        for (var i = 0; i < layout.Reftable.Length; i++)
        {
            BinaryPrimitives.WriteUInt64BigEndian(buf[(i * 8)..], (ulong)layout.Reftable[i]);
        }
    }

    private static void FillRefblock(Span<byte> buf, Qcow2Layout layout, int tableIndex)
    {
        var first = tableIndex * layout.RefblockEntries;
        var end = first + layout.RefblockEntries;
        foreach (var (start, stop) in layout.Allocated.Runs)
        {
            var from = Math.Max(start, first);
            var to = Math.Min(stop, end);
            for (var c = from; c < to; c++)
            {
                BinaryPrimitives.WriteUInt16BigEndian(buf[(int)((c - first) * 2)..], 1);
            }
        }
    }

    /// <summary>The L1 bytes from <paramref name="at"/> on, as many as <paramref name="buf"/> holds.</summary>
    private static void FillL1(Span<byte> buf, Qcow2Layout layout, long at)
    {
        var firstIndex = at / 8;
        var count = buf.Length / 8;
        foreach (var (l1Index, cluster) in layout.L2Tables)
        {
            if (l1Index >= firstIndex && l1Index < firstIndex + count)
            {
                var entry = ((ulong)cluster << layout.ClusterBits) | Qcow2Layout.OflagCopied;
                BinaryPrimitives.WriteUInt64BigEndian(buf[(int)((l1Index - firstIndex) * 8)..], entry);
            }
        }
    }

    /// <summary>
    /// One L2 table, for guest clusters from <paramref name="firstGuest"/>; <paramref name="cursor"/> walks the
    /// guest-ordered mappings as the (equally ordered) tables are written.
    /// </summary>
    private static void FillL2(Span<byte> buf, Qcow2Layout layout, bool extendedL2, long firstGuest, ref int cursor)
    {
        var entrySize = extendedL2 ? 16 : 8;
        var end = firstGuest + layout.L2Entries;
        var mappings = layout.Mappings;
        while (cursor < mappings.Count && mappings[cursor].Guest + mappings[cursor].Count <= firstGuest)
        {
            cursor++;
        }

        for (var m = cursor; m < mappings.Count && mappings[m].Guest < end; m++)
        {
            var (guest, host, count) = mappings[m];
            var from = Math.Max(guest, firstGuest);
            var to = Math.Min(guest + count, end);
            for (var g = from; g < to; g++)
            {
                var entry = ((ulong)(host + (g - guest)) << layout.ClusterBits) | Qcow2Layout.OflagCopied;
                BinaryPrimitives.WriteUInt64BigEndian(buf[(int)((g - firstGuest) * entrySize)..], entry);
            }
        }
    }
}
