using System.Buffers.Binary;

namespace VirtPool.Backends.Disk;

/// <summary>The partition-table labels this code reads (libvirt's probe names: blkid's PTTYPE).</summary>
public enum DiskLabel
{
    None,
    Dos,
    Gpt,
}

/// <summary>What a partition is in its table (libvirt's virStorageVolTypeDisk, without "none").</summary>
public enum PartitionKind
{
    Primary,
    Extended,
    Logical,
}

/// <summary>
/// One partition: its number (the N of sdbN / loop0pN), sectors [Start, End] (End inclusive, as
/// libparted), and the disk-volume format its type says (<see cref="PartitionTableReader"/>).
/// </summary>
public sealed record DiskPartition(int Number, PartitionKind Kind, long Start, long End, string Format = "none")
{
    public long Length => End - Start + 1;
}

/// <summary>Unused sectors [Start, End] (inclusive); <see cref="Logical"/> when inside the dos extended partition.</summary>
public readonly record struct FreeRegion(long Start, long End, bool Logical);

/// <summary>
/// A device's partition table as read from its sectors: the label, the partitions (primaries by slot,
/// logicals in chain order, gpt by entry), and the usable range the label leaves (gpt's first/last
/// usable LBA; the whole device for dos).
/// </summary>
public sealed record PartitionTable(DiskLabel Label, long Sectors, IReadOnlyList<DiskPartition> Partitions, long FirstUsable, long LastUsable)
{
    public DiskPartition? Extended => Partitions.FirstOrDefault(p => p.Kind == PartitionKind.Extended);
}

/// <summary>
/// Reads MBR (with its EBR chain) and GPT partition tables from raw sectors. Pure: every sector comes
/// from <c>readSector</c> (the device, or a byte array in tests); malformed, truncated or looping tables
/// give false and a reason, never an exception. The kernel's and libparted's rules: an MBR is the
/// 0x55AA signature with boot flags 0 or 0x80; a protective MBR (type 0xEE) defers to the GPT header
/// at LBA 1 ("EFI PART", header CRC checked).
/// </summary>
public static class PartitionTableReader
{
    public const int SectorSize = 512;

    private const int MaxLogicals = 256;
    private const int MaxGptEntries = 4096;

    /// <summary>The label in the first two sectors (what libvirt's blkid probe calls PTTYPE), or None.</summary>
    public static DiskLabel Probe(ReadOnlySpan<byte> mbr, ReadOnlySpan<byte> lba1)
    {
        if (mbr.Length < SectorSize || mbr[510] != 0x55 || mbr[511] != 0xAA)
        {
            return DiskLabel.None;
        }

        var protective = false;
        for (var i = 0; i < 4; i++)
        {
            var entry = mbr.Slice(446 + (16 * i), 16);
            if (entry[0] != 0 && entry[0] != 0x80)
            {
                return DiskLabel.None;
            }

            protective |= entry[4] == 0xEE;
        }

        if (protective)
        {
            return lba1.Length >= 92 && IsGptHeader(lba1) ? DiskLabel.Gpt : DiskLabel.None;
        }

        return DiskLabel.Dos;
    }

    /// <summary>The table of a device of <paramref name="sectors"/> 512-byte sectors; false with a reason for anything malformed.</summary>
    public static bool TryRead(Func<long, byte[]?> readSector, long sectors, out PartitionTable? table, out string? error)
    {
        table = null;
        error = null;
        try
        {
            if (sectors < 2)
            {
                error = "device too small for a partition table";
                return false;
            }

            var mbr = readSector(0);
            var lba1 = readSector(1);
            if (mbr is null || lba1 is null)
            {
                error = "cannot read the partition table";
                return false;
            }

            switch (Probe(mbr, lba1))
            {
                case DiskLabel.Dos:
                    return TryReadDos(readSector, mbr, sectors, out table, out error);
                case DiskLabel.Gpt:
                    return TryReadGpt(readSector, lba1, sectors, out table, out error);
                default:
                    table = new PartitionTable(DiskLabel.None, sectors, [], 0, sectors - 1);
                    return true;
            }
        }
        catch (Exception ex) when (ex is ArgumentException or IndexOutOfRangeException or OverflowException)
        {
            // Defensive only: every offset is checked; a table that still trips an edge is malformed.
            error = "malformed partition table";
            table = null;
            return false;
        }
    }

    private static bool TryReadDos(Func<long, byte[]?> readSector, byte[] mbr, long sectors, out PartitionTable? table, out string? error)
    {
        table = null;
        error = null;
        var parts = new List<DiskPartition>();
        DiskPartition? extended = null;
        for (var i = 0; i < 4; i++)
        {
            var (type, start, length) = Entry(mbr, i);
            if (type == 0 || length == 0)
            {
                continue;
            }

            if (start + length > sectors)
            {
                error = $"partition {i + 1} ends beyond the device";
                return false;
            }

            // libparted refuses both (so libvirt cannot start such a pool): a partition over the MBR
            // itself would let a wipe or an upload overwrite the table.
            if (start == 0)
            {
                error = $"partition {i + 1} begins in the partition table's own sector";
                return false;
            }

            if (parts.FirstOrDefault(p => start <= p.End && p.Start <= start + length - 1) is { } other)
            {
                error = $"partitions {other.Number} and {i + 1} overlap";
                return false;
            }

            var kind = IsExtendedType(type) ? PartitionKind.Extended : PartitionKind.Primary;
            if (kind == PartitionKind.Extended && extended is not null)
            {
                error = "more than one extended partition";
                return false;
            }

            var part = new DiskPartition(i + 1, kind, start, start + length - 1, DosFormat(type));
            extended = kind == PartitionKind.Extended ? part : extended;
            parts.Add(part);
        }

        if (extended is not null)
        {
            // EBR chain: each EBR's first entry is its logical (relative to the EBR), its second the next
            // EBR (relative to the extended partition's start).
            var ebr = extended.Start;
            var number = 5;
            var seen = new HashSet<long>();
            while (true)
            {
                if (!seen.Add(ebr) || seen.Count > MaxLogicals)
                {
                    error = "the extended partition's chain loops";
                    return false;
                }

                var sector = readSector(ebr);
                if (sector is null || sector.Length < SectorSize || sector[510] != 0x55 || sector[511] != 0xAA)
                {
                    // An extended partition with no (valid) EBR holds no logicals: parted's fresh one.
                    break;
                }

                var (type, start, length) = Entry(sector, 0);
                if (type != 0 && length != 0)
                {
                    var first = ebr + start;
                    if (first <= ebr || first + length - 1 > extended.End)
                    {
                        error = $"logical partition {number} lies outside the extended partition";
                        return false;
                    }

                    if (parts.FirstOrDefault(p => p.Kind == PartitionKind.Logical && first <= p.End && p.Start <= first + length - 1) is { } other)
                    {
                        error = $"logical partitions {other.Number} and {number} overlap";
                        return false;
                    }

                    parts.Add(new DiskPartition(number++, PartitionKind.Logical, first, first + length - 1, DosFormat(type)));
                }

                var (nextType, nextStart, nextLength) = Entry(sector, 1);
                if (nextType == 0 || nextLength == 0 || !IsExtendedType(nextType))
                {
                    break;
                }

                ebr = extended.Start + nextStart;
                if (ebr <= extended.Start || ebr > extended.End)
                {
                    error = "the extended partition's chain leaves it";
                    return false;
                }
            }
        }

        table = new PartitionTable(DiskLabel.Dos, sectors, parts, 0, sectors - 1);
        return true;
    }

    private static bool TryReadGpt(Func<long, byte[]?> readSector, byte[] header, long sectors, out PartitionTable? table, out string? error)
    {
        table = null;
        error = null;
        var firstUsable = (long)Math.Min(BinaryPrimitives.ReadUInt64LittleEndian(header.AsSpan(40)), long.MaxValue);
        var lastUsable = (long)Math.Min(BinaryPrimitives.ReadUInt64LittleEndian(header.AsSpan(48)), long.MaxValue);
        var entriesLba = (long)Math.Min(BinaryPrimitives.ReadUInt64LittleEndian(header.AsSpan(72)), long.MaxValue);
        var count = BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(80));
        var entrySize = BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(84));
        if (firstUsable < 2 || lastUsable < firstUsable || lastUsable >= sectors || entriesLba < 2 || entriesLba >= sectors
            || count == 0 || count > MaxGptEntries || entrySize < 128 || entrySize > SectorSize || SectorSize % entrySize != 0)
        {
            error = "malformed GPT header";
            return false;
        }

        var perSector = SectorSize / (int)entrySize;
        var entrySectors = ((int)count + perSector - 1) / perSector;
        var entries = new byte[entrySectors * SectorSize];
        for (var s = 0; s < entrySectors; s++)
        {
            var sector = readSector(entriesLba + s);
            if (sector is null || sector.Length < SectorSize)
            {
                error = "truncated GPT partition entries";
                return false;
            }

            sector.AsSpan(0, SectorSize).CopyTo(entries.AsSpan(s * SectorSize));
        }

        var crc = BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(88));
        if (System.IO.Hashing.Crc32.HashToUInt32(entries.AsSpan(0, (int)(count * entrySize))) != crc)
        {
            error = "GPT partition entries fail their checksum";
            return false;
        }

        var parts = new List<DiskPartition>();
        for (var i = 0; i < count; i++)
        {
            var entry = entries.AsSpan(i * (int)entrySize, (int)entrySize);
            if (entry[..16].IndexOfAnyExcept((byte)0) < 0)
            {
                continue;
            }

            var start = (long)Math.Min(BinaryPrimitives.ReadUInt64LittleEndian(entry[32..]), long.MaxValue);
            var end = (long)Math.Min(BinaryPrimitives.ReadUInt64LittleEndian(entry[40..]), long.MaxValue);
            if (start < firstUsable || end < start || end > lastUsable)
            {
                error = $"GPT partition {i + 1} lies outside the usable sectors";
                return false;
            }

            parts.Add(new DiskPartition(i + 1, PartitionKind.Primary, start, end, GptFormat(new Guid(entry[..16]))));
        }

        table = new PartitionTable(DiskLabel.Gpt, sectors, parts, firstUsable, lastUsable);
        return true;
    }

    private static bool IsGptHeader(ReadOnlySpan<byte> lba1)
    {
        if (!lba1[..8].SequenceEqual("EFI PART"u8))
        {
            return false;
        }

        var size = BinaryPrimitives.ReadUInt32LittleEndian(lba1[12..]);
        if (size < 92 || size > lba1.Length || size > SectorSize)
        {
            return false;
        }

        Span<byte> copy = stackalloc byte[(int)size];
        lba1[..(int)size].CopyTo(copy);
        var crc = BinaryPrimitives.ReadUInt32LittleEndian(copy[16..]);
        copy.Slice(16, 4).Clear();
        return System.IO.Hashing.Crc32.HashToUInt32(copy) == crc;
    }

    private static bool IsExtendedType(byte type) => type is 0x05 or 0x0F or 0x85;

    /// <summary>
    /// The disk-volume format (virStorageVolFormatDisk) a dos type byte stands for, as parted writes
    /// them for libvirt's mkpart fs-types; a Linux partition (0x83, parted's ext2) is "none", libvirt's default.
    /// </summary>
    private static string DosFormat(byte type) => type switch
    {
        0x05 or 0x0F or 0x85 => "extended",
        0x82 => "linux-swap",
        0x04 or 0x06 or 0x0E => "fat16",
        0x0B or 0x0C => "fat32",
        0x8E => "linux-lvm",
        0xFD => "linux-raid",
        _ => "none",
    };

    private static readonly Guid GptLinuxSwap = new("0657fd6d-a4ab-43c4-84e5-0933c84b4f4f");
    private static readonly Guid GptLinuxLvm = new("e6d6d379-f507-44c2-a23c-238f2a3df928");
    private static readonly Guid GptLinuxRaid = new("a19d880f-05fc-4d3b-a006-743f0f84911e");

    private static string GptFormat(Guid type)
        => type == GptLinuxSwap ? "linux-swap" : type == GptLinuxLvm ? "linux-lvm" : type == GptLinuxRaid ? "linux-raid" : "none";

    private static (byte Type, long Start, long Length) Entry(byte[] sector, int index)
    {
        var entry = sector.AsSpan(446 + (16 * index), 16);
        return (entry[4], BinaryPrimitives.ReadUInt32LittleEndian(entry[8..]), BinaryPrimitives.ReadUInt32LittleEndian(entry[12..]));
    }
}
