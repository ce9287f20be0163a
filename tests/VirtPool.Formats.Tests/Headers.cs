using System.Buffers.Binary;
using System.Text;

namespace VirtPool.Formats.Tests;

/// <summary>Hand-built headers, laid out from qemu's docs/interop/qcow2.txt and the other formats' specs.</summary>
public static class Headers
{
    public const uint BackingFormatExtension = 0xE2792ACA;

    private static readonly byte[] QcowMagic = [(byte)'Q', (byte)'F', (byte)'I', 0xfb];
    private static readonly byte[] LuksMagic = [(byte)'L', (byte)'U', (byte)'K', (byte)'S', 0xba, 0xbe];

    /// <summary>
    /// A qcow2 header (v3: 104-byte header with header_length 104 unless given), then the header extensions,
    /// then the backing name right after them, as qemu lays them out.
    /// </summary>
    public static byte[] Qcow2(
        int version = 3,
        ulong size = 64 * 1024 * 1024,
        int clusterBits = 16,
        string? backing = null,
        string? backingFormat = null,
        uint cryptMethod = 0,
        ulong incompatible = 0,
        ulong compatible = 0,
        int length = 4096,
        uint? headerLength = null,
        (uint Magic, byte[] Data)[]? extraExtensions = null)
    {
        var b = new byte[length];
        QcowMagic.CopyTo(b, 0);
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(4), (uint)version);
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(20), (uint)clusterBits);
        BinaryPrimitives.WriteUInt64BigEndian(b.AsSpan(24), size);
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(32), cryptMethod);
        var end = 72;
        if (version >= 3)
        {
            BinaryPrimitives.WriteUInt64BigEndian(b.AsSpan(72), incompatible);
            BinaryPrimitives.WriteUInt64BigEndian(b.AsSpan(80), compatible);
            BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(96), 4);
            end = (int)(headerLength ?? 104);
            BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(100), (uint)end);
        }

        var exts = new List<(uint, byte[])>(extraExtensions ?? []);
        if (backingFormat is not null)
        {
            exts.Add((BackingFormatExtension, Encoding.ASCII.GetBytes(backingFormat)));
        }

        var off = end;
        foreach (var (magic, data) in exts)
        {
            BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(off), magic);
            BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(off + 4), (uint)data.Length);
            data.CopyTo(b, off + 8);
            off += 8 + ((data.Length + 7) & ~7);
        }

        off += 8; // end-of-extensions: zero magic and length
        if (backing is not null)
        {
            var name = Encoding.UTF8.GetBytes(backing);
            BinaryPrimitives.WriteUInt64BigEndian(b.AsSpan(8), (ulong)off);
            BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(16), (uint)name.Length);
            name.CopyTo(b, off);
        }

        return b;
    }

    public static void SetBacking(byte[] b, ulong offset, uint size)
    {
        BinaryPrimitives.WriteUInt64BigEndian(b.AsSpan(8), offset);
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(16), size);
    }

    /// <summary>A qcow (v1) header: size at 24, cluster/l2 bits at 32/33, crypt_method at 36.</summary>
    public static byte[] Qcow1(ulong size, string? backing = null, uint crypt = 0)
    {
        var b = new byte[1024];
        QcowMagic.CopyTo(b, 0);
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(4), 1);
        BinaryPrimitives.WriteUInt64BigEndian(b.AsSpan(24), size);
        b[32] = 12;
        b[33] = 9;
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(36), crypt);
        if (backing is not null)
        {
            var name = Encoding.UTF8.GetBytes(backing);
            SetBacking(b, 48, (uint)name.Length);
            name.CopyTo(b, 48);
        }

        return b;
    }

    /// <summary>A QED header; <paramref name="features"/> bit 0 = has backing, bit 2 = backing is raw.</summary>
    public static byte[] Qed(ulong size, string? backing = null, ulong features = 0)
    {
        var b = new byte[4096];
        "QED\0"u8.ToArray().CopyTo(b, 0);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(4), 65536);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(8), 4);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(12), 1);
        BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(16), features);
        BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(48), size);
        if (backing is not null)
        {
            var name = Encoding.UTF8.GetBytes(backing);
            BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(56), 68);
            BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(60), (uint)name.Length);
            name.CopyTo(b, 68);
        }

        return b;
    }

    /// <summary>A sparse VMDK ("KDMV") header, capacity in sectors at 12, with an embedded descriptor at 0x200.</summary>
    public static byte[] Vmdk(ulong sectors, string? descriptor = null, uint version = 1, int length = 0x10000)
    {
        var b = new byte[length];
        "KDMV"u8.ToArray().CopyTo(b, 0);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(4), version);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(8), 3);
        BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(12), sectors);
        if (descriptor is not null)
        {
            Encoding.ASCII.GetBytes(descriptor).CopyTo(b, 0x200);
        }

        return b;
    }

    /// <summary>A minimal ISO 9660 image: system area, then a primary volume descriptor at sector 16 and a terminator.</summary>
    public static byte[] Iso(int length = 64 * 1024)
    {
        var b = new byte[length];
        b[32768] = 1;
        "CD001"u8.CopyTo(b.AsSpan(32769));
        b[32774] = 1;
        Encoding.ASCII.GetBytes("LINUX".PadRight(32)).CopyTo(b, 32768 + 8);
        Encoding.ASCII.GetBytes("VIRTPOOL".PadRight(32)).CopyTo(b, 32768 + 40);
        var blocks = (uint)(length / 2048);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(32768 + 80), blocks);
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(32768 + 84), blocks);
        b[34816] = 255;
        "CD001"u8.CopyTo(b.AsSpan(34817));
        b[34822] = 1;
        return b;
    }

    /// <summary>A UML COW v2 header: magic, version 2, backing name (1024 bytes), mtime, size at 1036 (big-endian).</summary>
    public static byte[] Cow(ulong size, string? backing)
    {
        var b = new byte[2048];
        "OOOM"u8.CopyTo(b);
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(4), 2);
        if (backing is not null)
        {
            Encoding.UTF8.GetBytes(backing).CopyTo(b, 8);
        }

        BinaryPrimitives.WriteUInt64BigEndian(b.AsSpan(1036), size);
        return b;
    }

    /// <summary>A LUKS1 phdr: magic, version, cipher name/mode, hash, payload offset (sectors) at 104.</summary>
    public static byte[] Luks(uint payloadSectors, ushort version = 1, int length = 4096)
    {
        var b = new byte[length];
        LuksMagic.CopyTo(b, 0);
        BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(6), version);
        if (length >= 108)
        {
            "aes"u8.CopyTo(b.AsSpan(8));
            "xts-plain64"u8.CopyTo(b.AsSpan(40));
            "sha256"u8.CopyTo(b.AsSpan(72));
            BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(104), payloadSectors);
        }

        return b;
    }

    /// <summary>A VDI pre-header and header: signature at 64, version 1.1 at 68, disk size at 368.</summary>
    public static byte[] Vdi(ulong size)
    {
        var b = new byte[512];
        "<<< QEMU VM Virtual Disk Image >>>\n"u8.CopyTo(b);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(64), 0xbeda107f);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(68), 0x00010001);
        BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(368), size);
        return b;
    }

    /// <summary>A dynamic VHD's footer copy at offset 0: cookie, features, version 1.0, sizes at 40 and 48.</summary>
    public static byte[] Vpc(ulong originalSize, ulong currentSize, uint version = 0x10000)
    {
        var b = new byte[1024];
        "conectix"u8.CopyTo(b);
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(8), 2);
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(12), version);
        BinaryPrimitives.WriteUInt64BigEndian(b.AsSpan(16), 512);
        BinaryPrimitives.WriteUInt64BigEndian(b.AsSpan(40), originalSize);
        BinaryPrimitives.WriteUInt64BigEndian(b.AsSpan(48), currentSize);
        return b;
    }

    /// <summary>A parallels ("WithouFreSpacExt") header: sectors at 36 (little-endian).</summary>
    public static byte[] Ploop(ulong sectors)
    {
        var b = new byte[1024];
        "WithouFreSpacExt"u8.CopyTo(b);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(16), 2);
        BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(36), sectors);
        return b;
    }
}
