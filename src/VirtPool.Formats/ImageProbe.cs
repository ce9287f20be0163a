using System.Buffers.Binary;
using System.Text;
using VirtPool.Core.Model;

namespace VirtPool.Formats;

/// <summary>
/// Native probing of a volume's format and metadata from its first bytes, following libvirt 9.0's
/// storage_file_probe.c (virStorageFileProbeFormatFromBuf + virStorageFileProbeGetMetadata) and the way
/// storage_util.c's storageBackendProbeTarget turns the result into capacity and encryption.
/// </summary>
/// <remarks>
/// The input is untrusted: every read is bounds-checked against the buffer, strings are bounded by the
/// buffer (at most <see cref="HeaderBytes"/> from <see cref="ProbeFile(string)"/>), every loop advances by
/// at least 8 bytes, and nothing throws for any input.
/// Where the C code reads past the buffer on a truncated header, the missing bytes count as absent (documented at each place).
/// </remarks>
public static partial class ImageProbe
{
    /// <summary>How much of a file libvirt reads to probe it (VIR_STORAGE_MAX_HEADER, 0x8200).</summary>
    /// <remarks>
    /// libvirt never reads more: a qcow2 backing name or header extension beyond this is treated as invalid.
    /// Passing a longer header to <see cref="Probe"/> (or a larger limit to <see cref="ProbeFile(string,int)"/>)
    /// lets such names be found, at the price of no longer matching libvirt.
    /// </remarks>
    public const int HeaderBytes = 0x8200;

    private const uint Qcow2ExtensionEnd = 0;
    private const uint Qcow2ExtensionBackingFormat = 0xE2792ACA;
    private const int Qcow2HeaderTotalSize = 72;        // QCOW2_HDR_TOTAL_SIZE: end of the v2 header
    private const int Qcow2V3IncompatibleFeatures = 72;
    private const int Qcow2V3CompatibleFeatures = 80;
    private const int Qcow2V3HeaderLength = 100;        // QCOW2v3_HDR_SIZE: where v3 stores its header length
    private const int QcowBackingFileOffset = 8;
    private const int QcowBackingFileSize = 16;
    private const int QcowClusterBits = 20;
    private const int Qcow1CryptMethod = 36;
    private const int Qcow2CryptMethod = 32;
    private const int QedFeatures = 16;
    private const int QedBackingFileOffset = 56;
    private const int QedBackingFileSize = 60;
    private const ulong QedFeatureBackingFile = 0x01;
    private const ulong QedFeatureBackingFormatNoProbe = 0x04;
    private const int CowFilenameMaxLength = 1024;
    private const int QcowBackingNameMax = 1023;
    private const int LuksPayloadOffset = 6 + 2 + 32 + 32 + 32;

    private static ReadOnlySpan<byte> LuksMagic => [(byte)'L', (byte)'U', (byte)'K', (byte)'S', 0xBA, 0xBE];

    private static ReadOnlySpan<byte> VmdkParentPrefix => "parentFileNameHint=\""u8;

    /// <summary>qemu's VHDX file identifier signature (not a libvirt format).</summary>
    private static ReadOnlySpan<byte> VhdxSignature => "vhdxfile"u8;

    private enum Endian
    {
        Little,
        Big,
    }

    /// <summary>One row of libvirt's fileTypeInfo table, for the formats that have a magic.</summary>
    /// <param name="VersionOffset">-2: any version matches; otherwise the offset of a 4-byte version.</param>
    /// <param name="SizeOffset">-1: no capacity in the header.</param>
    private sealed record FileType(
        StorageFileFormat Format,
        int MagicOffset,
        byte[] Magic,
        Endian Endian,
        int VersionOffset,
        uint[] Versions,
        int SizeOffset,
        ulong SizeMultiplier);

    /// <summary>The formats with a magic, in libvirt's enum order, which is the order they are tried in.</summary>
    /// <remarks>bochs, cloop and dmg have no magic in libvirt's table and so are never detected; fat and vhd are not file formats there.</remarks>
    private static readonly FileType[] FileTypes =
    [
        new(StorageFileFormat.Iso, 32769, "CD001"u8.ToArray(), Endian.Little, -2, [], -1, 0),
        new(StorageFileFormat.Vpc, 0, "conectix"u8.ToArray(), Endian.Big, 12, [0x10000], 8 + 4 + 4 + 8 + 4 + 4 + 2 + 2 + 4, 1),
        new(StorageFileFormat.Vdi, 64, [0x7f, 0x10, 0xda, 0xbe], Endian.Little, 68, [0x00010001], 64 + (5 * 4) + 256 + (7 * 4), 1),
        new(StorageFileFormat.Ploop, 0, "WithouFreSpacExt"u8.ToArray(), Endian.Little, -2, [], 36, 512),
        new(StorageFileFormat.Cow, 0, "OOOM"u8.ToArray(), Endian.Big, 4, [2], 4 + 4 + 1024 + 4, 1),
        new(StorageFileFormat.Qcow, 0, "QFI"u8.ToArray(), Endian.Big, 4, [1], 24, 1),
        new(StorageFileFormat.Qcow2, 0, "QFI"u8.ToArray(), Endian.Big, 4, [2, 3], 24, 1),
        new(StorageFileFormat.Qed, 0, "QED"u8.ToArray(), Endian.Little, -2, [], 48, 1),
        new(StorageFileFormat.Vmdk, 0, "KDMV"u8.ToArray(), Endian.Little, 4, [1, 2, 3], 4 + 4 + 4, 512),
    ];

    /// <summary>
    /// Probes <paramref name="header"/>, the first bytes of a file of <paramref name="fileSize"/> bytes.
    /// Pass min(<see cref="HeaderBytes"/>, file size) bytes to get exactly libvirt's answer. Never throws.
    /// </summary>
    public static ImageInfo Probe(ReadOnlySpan<byte> header, ulong fileSize)
    {
        var buf = header; // named as in libvirt
        var type = DetectType(buf);
        var format = type?.Format ?? StorageFileFormat.Raw;
        uint? version = type is { VersionOffset: >= 0 } ? ReadUInt32(buf, type.VersionOffset, type.Endian) : null;

        // Encryption is probed before anything else, raw files included (LUKS on a raw file).
        var (encryptionFormat, payloadSectors) = ProbeEncryption(format, buf);

        var result = new Builder
        {
            Format = format,
            Version = version,
            EncryptionFormat = encryptionFormat,
            PayloadSectors = payloadSectors,
            DetectedQemuFormat = buf.StartsWith(VhdxSignature) ? "vhdx" : null,
        };

        if (type is null)
        {
            return result.Build(fileSize);
        }

        if (type.SizeOffset != -1)
        {
            if (!Fits(buf, type.SizeOffset, 8))
            {
                return result.Build(fileSize);
            }

            var size = type.Endian == Endian.Little
                ? BinaryPrimitives.ReadUInt64LittleEndian(buf[type.SizeOffset..])
                : BinaryPrimitives.ReadUInt64BigEndian(buf[type.SizeOffset..]);

            // libvirt keeps the unscaled value when scaling would overflow, and stops there.
            if (size > ulong.MaxValue / type.SizeMultiplier)
            {
                result.HeaderCapacity = size;
                return result.Build(fileSize);
            }

            result.HeaderCapacity = size * type.SizeMultiplier;
        }

        if (format == StorageFileFormat.Qcow2)
        {
            result.ClusterSize = Qcow2ClusterSize(buf);
        }

        var backing = format switch
        {
            StorageFileFormat.Cow => CowBackingStore(buf),
            StorageFileFormat.Qcow or StorageFileFormat.Qcow2 => QcowBackingStore(buf),
            StorageFileFormat.Qed => QedBackingStore(buf),
            StorageFileFormat.Vmdk => VmdkBackingStore(buf),
            _ => BackingResult.None,
        };
        result.BackingStore = backing.Name;
        result.BackingFormat = backing.Format;
        result.BackingFormatAutoSafe = backing.AutoSafe;
        if (backing.Invalid)
        {
            // libvirt returns here: whatever name was already read is kept, features are not parsed.
            return result.Build(fileSize);
        }

        if (format == StorageFileFormat.Qcow2 && ReadUInt32(buf, 4, Endian.Big) != 2)
        {
            if (buf.Length < Qcow2V3HeaderLength)
            {
                result.ProbeFailed = true;
                return result.Build(fileSize);
            }

            var compatible = BinaryPrimitives.ReadUInt64BigEndian(buf[Qcow2V3CompatibleFeatures..]);
            var incompatible = BinaryPrimitives.ReadUInt64BigEndian(buf[Qcow2V3IncompatibleFeatures..]);
            result.LazyRefcounts = (compatible & 1) != 0;
            result.ExtendedL2 = (incompatible & (1UL << 4)) != 0;
            result.Compat = "1.1";
        }

        return result.Build(fileSize);
    }

    /// <summary>libvirt's virStorageFileProbeFormatFromBuf: the first row whose magic and version both match.</summary>
    private static FileType? DetectType(ReadOnlySpan<byte> buf)
    {
        foreach (var type in FileTypes)
        {
            if (!Fits(buf, type.MagicOffset, type.Magic.Length) ||
                !buf.Slice(type.MagicOffset, type.Magic.Length).SequenceEqual(type.Magic))
            {
                continue;
            }

            if (type.VersionOffset == -2)
            {
                return type;
            }

            // A magic with an unknown version only earns a warning in libvirt; probing goes on.
            if (ReadUInt32(buf, type.VersionOffset, type.Endian) is { } version && Array.IndexOf(type.Versions, version) >= 0)
            {
                return type;
            }
        }

        return null;
    }

    private static (string? Format, int PayloadSectors) ProbeEncryption(StorageFileFormat format, ReadOnlySpan<byte> buf)
    {
        switch (format)
        {
            case StorageFileFormat.Raw:
                // LUKS1 only: the version must be 1. The payload offset is in 512-byte sectors; libvirt reads
                // it unchecked, a header too short to hold it counts as "no payload offset" here.
                if (buf.StartsWith(LuksMagic) && Fits(buf, 6, 2) && BinaryPrimitives.ReadUInt16BigEndian(buf[6..]) == 1)
                {
                    var payload = Fits(buf, LuksPayloadOffset, 4) ? unchecked((int)BinaryPrimitives.ReadUInt32BigEndian(buf[LuksPayloadOffset..])) : -1;
                    return ("luks", payload);
                }

                break;
            case StorageFileFormat.Qcow:
                if (ReadUInt32(buf, Qcow1CryptMethod, Endian.Big) == 1)
                {
                    return ("qcow", -1);
                }

                break;
            case StorageFileFormat.Qcow2:
                switch (ReadUInt32(buf, Qcow2CryptMethod, Endian.Big))
                {
                    case 1:
                        return ("qcow", -1);
                    case 2:
                        return ("luks", -1);
                }

                break;
        }

        return (null, -1);
    }

    private static ulong? Qcow2ClusterSize(ReadOnlySpan<byte> buf)
    {
        if (ReadUInt32(buf, QcowClusterBits, Endian.Big) is not { } raw)
        {
            return null;
        }

        var bits = unchecked((int)raw);

        // C's 1ULL << bits on x86-64 masks the count to 6 bits, as C#'s shift does.
        return bits > 0 ? 1UL << bits : null;
    }

    private static BackingResult CowBackingStore(ReadOnlySpan<byte> buf)
    {
        if (buf.Length < 4 + 4 + CowFilenameMaxLength)
        {
            return BackingResult.InvalidWithout;
        }

        if (buf[8] == 0)
        {
            return BackingResult.None;
        }

        return new BackingResult(CString(buf.Slice(8, CowFilenameMaxLength)), null, false);
    }

    private static BackingResult QcowBackingStore(ReadOnlySpan<byte> buf)
    {
        if (buf.Length < QcowBackingFileOffset + 8 + 4)
        {
            return BackingResult.InvalidWithout;
        }

        var bufSize = (ulong)buf.Length;
        var offset = BinaryPrimitives.ReadUInt64BigEndian(buf[QcowBackingFileOffset..]);
        if (offset > bufSize)
        {
            return BackingResult.InvalidWithout;
        }

        if (offset == 0)
        {
            return BackingResult.None;
        }

        var size = BinaryPrimitives.ReadUInt32BigEndian(buf[QcowBackingFileSize..]);
        if (size == 0)
        {
            return BackingResult.None;
        }

        if (size > QcowBackingNameMax || offset + size > bufSize)
        {
            return BackingResult.InvalidWithout;
        }

        var name = CString(buf.Slice((int)offset, (int)size));
        var ok = Qcow2Extensions(buf, out var backingFormat);
        return new BackingResult(name, backingFormat, !ok);
    }

    /// <summary>
    /// libvirt's qcow2GetExtensions: walks the header extensions between the end of the header and the
    /// backing file name, looking for the backing format. False when libvirt fails (the extension area
    /// ends past the buffer, or names a format libvirt does not know).
    /// </summary>
    private static bool Qcow2Extensions(ReadOnlySpan<byte> buf, out StorageFileFormat? backingFormat)
    {
        backingFormat = null;
        var version = unchecked((int)BinaryPrimitives.ReadUInt32BigEndian(buf[4..]));
        if (version < 2)
        {
            return true;
        }

        ulong start;
        if (version == 2)
        {
            start = Qcow2HeaderTotalSize;
        }
        else if (ReadUInt32(buf, Qcow2V3HeaderLength, Endian.Big) is { } headerLength)
        {
            start = headerLength;
        }
        else
        {
            // libvirt reads past a header this short; here the extension area is simply absent.
            return true;
        }

        var bufSize = (ulong)buf.Length;
        var end = BinaryPrimitives.ReadUInt64BigEndian(buf[QcowBackingFileOffset..]);
        if (end > bufSize)
        {
            return false;
        }

        // Both bounds are size_t arithmetic in libvirt: end - 8 wraps when end < 8. Every turn advances
        // by at least 8 bytes, so the walk ends after at most bufSize / 8 turns.
        var offset = start;
        while (offset < bufSize - 8 && offset < unchecked(end - 8))
        {
            var magic = BinaryPrimitives.ReadUInt32BigEndian(buf[(int)offset..]);
            var length = BinaryPrimitives.ReadUInt32BigEndian(buf[((int)offset + 4)..]);
            offset += 8;
            if (offset + length > bufSize)
            {
                break;
            }

            if (magic == Qcow2ExtensionBackingFormat)
            {
                // An unknown name leaves the format to be probed; "none" is recorded as NONE. Both stop
                // libvirt's probe before the features.
                var name = CString(buf.Slice((int)offset, (int)length));
                if (!StorageFileFormatNames.TryParse(name, out var parsed))
                {
                    backingFormat = null;
                    return false;
                }

                backingFormat = parsed;
                if (parsed == StorageFileFormat.None)
                {
                    return false;
                }
            }
            else if (magic == Qcow2ExtensionEnd)
            {
                return true;
            }

            offset += length;
        }

        return true;
    }

    private static BackingResult QedBackingStore(ReadOnlySpan<byte> buf)
    {
        if (buf.Length < QedFeatures + 8)
        {
            return BackingResult.InvalidWithout;
        }

        var flags = BinaryPrimitives.ReadUInt64LittleEndian(buf[QedFeatures..]);
        if ((flags & QedFeatureBackingFile) == 0)
        {
            return BackingResult.None;
        }

        if (buf.Length < QedBackingFileOffset + 8)
        {
            return BackingResult.InvalidWithout;
        }

        ulong bufSize = (ulong)buf.Length;
        ulong offset = BinaryPrimitives.ReadUInt32LittleEndian(buf[QedBackingFileOffset..]);
        if (offset > bufSize)
        {
            return BackingResult.InvalidWithout;
        }

        ulong size = BinaryPrimitives.ReadUInt32LittleEndian(buf[QedBackingFileSize..]);
        if (size == 0)
        {
            return BackingResult.None;
        }

        if (offset + size > bufSize)
        {
            return BackingResult.InvalidWithout;
        }

        var name = CString(buf.Slice((int)offset, (int)size));

        // Without the "no probe" bit libvirt records AUTO_SAFE.
        return (flags & QedFeatureBackingFormatNoProbe) != 0
            ? new BackingResult(name, StorageFileFormat.Raw, false)
            : new BackingResult(name, null, false) { AutoSafe = true };
    }

    private static BackingResult VmdkBackingStore(ReadOnlySpan<byte> buf)
    {
        if (buf.Length <= 0x200)
        {
            return BackingResult.InvalidWithout;
        }

        // The embedded descriptor, as a C string.
        var desc = buf[0x200..];
        if (desc.Length > HeaderBytes)
        {
            desc = desc[..HeaderBytes];
        }

        var nul = desc.IndexOf((byte)0);
        if (nul >= 0)
        {
            desc = desc[..nul];
        }

        var start = desc.IndexOf(VmdkParentPrefix);
        if (start < 0)
        {
            return BackingResult.None;
        }

        var rest = desc[(start + VmdkParentPrefix.Length)..];
        var end = rest.IndexOf((byte)'"');
        if (end < 0)
        {
            return BackingResult.InvalidWithout;
        }

        return end == 0 ? BackingResult.None : new BackingResult(Decode(rest[..end]), null, false);
    }

    private static bool Fits(ReadOnlySpan<byte> buf, int offset, int length)
        => offset >= 0 && length >= 0 && (long)offset + length <= buf.Length;

    private static uint? ReadUInt32(ReadOnlySpan<byte> buf, int offset, Endian endian)
    {
        if (!Fits(buf, offset, 4))
        {
            return null;
        }

        return endian == Endian.Little
            ? BinaryPrimitives.ReadUInt32LittleEndian(buf[offset..])
            : BinaryPrimitives.ReadUInt32BigEndian(buf[offset..]);
    }

    /// <summary>The bytes up to the first NUL, as C reads a string copied into a NUL-terminated buffer.</summary>
    private static string CString(ReadOnlySpan<byte> bytes)
    {
        var nul = bytes.IndexOf((byte)0);
        return Decode(nul >= 0 ? bytes[..nul] : bytes);
    }

    private static string Decode(ReadOnlySpan<byte> bytes) => Encoding.UTF8.GetString(bytes);

    /// <param name="Name">The backing name read, possibly set even when <paramref name="Invalid"/>.</param>
    /// <param name="Invalid">libvirt's BACKING_STORE_INVALID: the probe stops before the features.</param>
    private readonly record struct BackingResult(string? Name, StorageFileFormat? Format, bool Invalid)
    {
        public bool AutoSafe { get; init; }

        public static BackingResult None => new(null, null, false);

        public static BackingResult InvalidWithout => new(null, null, true);
    }

    private sealed class Builder
    {
        public StorageFileFormat Format { get; init; }

        public uint? Version { get; init; }

        public string? EncryptionFormat { get; init; }

        public int PayloadSectors { get; init; }

        public ulong HeaderCapacity { get; set; }

        public ulong? ClusterSize { get; set; }

        public string? BackingStore { get; set; }

        public StorageFileFormat? BackingFormat { get; set; }

        public bool BackingFormatAutoSafe { get; set; }

        public string? Compat { get; set; }

        public bool LazyRefcounts { get; set; }

        public bool ExtendedL2 { get; set; }

        public bool ProbeFailed { get; set; }

        public string? DetectedQemuFormat { get; init; }

        public ImageInfo Build(ulong fileSize)
        {
            // storageBackendProbeTarget: the header's capacity when non-zero, else the file size; then
            // less the encryption payload. libvirt does that in C int arithmetic (payload_offset * 512),
            // which wraps for absurd offsets; so does this.
            // A ploop file's header size is read by the pool refresh, but the volume then becomes a ploop
            // volume, whose refresh (run by every vol-info/vol-dumpxml) keeps st_size: that is what users see.
            var capacity = HeaderCapacity != 0 && Format != StorageFileFormat.Ploop ? HeaderCapacity : fileSize;
            if (EncryptionFormat is not null && PayloadSectors != -1)
            {
                var payloadBytes = unchecked(PayloadSectors * 512);
                capacity = unchecked(capacity - (ulong)(long)payloadBytes);
            }

            return new ImageInfo
            {
                Format = Format,
                Capacity = capacity,
                BackingStore = BackingStore,
                BackingFormat = BackingFormat,
                BackingFormatAutoSafe = BackingFormatAutoSafe,
                Compat = Compat,
                LazyRefcounts = LazyRefcounts,
                ExtendedL2 = ExtendedL2,
                ClusterSize = ClusterSize,
                Encrypted = EncryptionFormat is not null,
                EncryptionFormat = EncryptionFormat,
                HeaderVersion = Version,
                ProbeFailed = ProbeFailed,
                DetectedQemuFormat = DetectedQemuFormat,
            };
        }
    }
}
