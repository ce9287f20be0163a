using System.IO.Compression;
using System.Runtime.CompilerServices;
using VirtPool.Backends.Disk;

namespace VirtPool.Backends.Tests;

/// <summary>
/// The native table reader on tables parted wrote (Golden/disk/*.sectors.gz: the sectors of a 256 MiB
/// loop device that hold the table, each as an 8-byte LBA and 512 bytes), and on damaged copies of them:
/// every damage is a clean refusal or a table, never an exception.
/// </summary>
public sealed class PartitionTableReaderTests
{
    private const long Sectors = 524288;

    [Fact]
    public void ReadsPartedsDosTableWithItsLogicalsAndLibpartedsFreeSpace()
    {
        var sectors = Load("dos-table.sectors.gz");
        Assert.True(PartitionTableReader.TryRead(Reader(sectors), Sectors, out var table, out var error), error);
        Assert.Equal(DiskLabel.Dos, table!.Label);
        Assert.Equal(
            [
                new DiskPartition(1, PartitionKind.Primary, 2, 20909),
                new DiskPartition(2, PartitionKind.Extended, 123930, 328949, "extended"),
                new DiskPartition(5, PartitionKind.Logical, 123933, 144839),
                new DiskPartition(6, PartitionKind.Logical, 144841, 186149, "linux-swap"),
            ],
            table.Partitions);

        // What libvirt_parthelper lists for this table: free normal space around the extended, free logical space after p6.
        Assert.Equal(
            [new FreeRegion(20910, 123929, false), new FreeRegion(186150, 328949, true), new FreeRegion(328950, 524279, false)],
            DiskLayout.FreeRegions(table));
        Assert.Equal(3, DiskLayout.NextNumber(table, PartitionKind.Primary, 20910));
        Assert.Equal(7, DiskLayout.NextNumber(table, PartitionKind.Logical, 186151));
    }

    [Fact]
    public void ReadsPartedsGptTable()
    {
        var sectors = Load("gpt-table.sectors.gz");
        Assert.True(PartitionTableReader.TryRead(Reader(sectors), Sectors, out var table, out var error), error);
        Assert.Equal(DiskLabel.Gpt, table!.Label);
        Assert.Equal([new DiskPartition(1, PartitionKind.Primary, 34, 20513), new DiskPartition(2, PartitionKind.Primary, 20514, 61473)], table.Partitions);
        Assert.Equal([new FreeRegion(61474, Sectors - 34, false)], DiskLayout.FreeRegions(table));
    }

    [Fact]
    public void BlankDeviceHasNoLabel()
    {
        Assert.True(PartitionTableReader.TryRead(_ => new byte[512], Sectors, out var table, out _));
        Assert.Equal(DiskLabel.None, table!.Label);
    }

    [Fact]
    public void ChangedGptEntriesFailTheirChecksum()
    {
        var sectors = Load("gpt-table.sectors.gz");
        sectors[2][40] ^= 1;
        Assert.False(PartitionTableReader.TryRead(Reader(sectors), Sectors, out _, out var error));
        Assert.Equal("GPT partition entries fail their checksum", error);
    }

    [Fact]
    public void LoopingEbrChainIsRefused()
    {
        var sectors = Load("dos-table.sectors.gz");

        // p6's EBR names itself as the next EBR.
        var ebr = sectors[144840];
        BitConverter.TryWriteBytes(ebr.AsSpan(446 + 16 + 8), (uint)(144840 - 123930));
        ebr[446 + 16 + 4] = 0x05;
        BitConverter.TryWriteBytes(ebr.AsSpan(446 + 16 + 12), 100u);
        Assert.False(PartitionTableReader.TryRead(Reader(sectors), Sectors, out _, out var error));
        Assert.Equal("the extended partition's chain loops", error);
    }

    [Theory]
    [InlineData("dos-table.sectors.gz")]
    [InlineData("gpt-table.sectors.gz")]
    public void DamagedTablesNeverThrow(string golden)
    {
        var random = new Random(golden.Length);
        for (var round = 0; round < 3000; round++)
        {
            var sectors = Load(golden);
            var lbas = sectors.Keys.ToArray();
            var flips = random.Next(1, 16);
            for (var f = 0; f < flips; f++)
            {
                var sector = sectors[lbas[random.Next(lbas.Length)]];
                // Mostly the table fields, sometimes anywhere.
                var offset = random.Next(3) == 0 ? random.Next(512) : 446 + random.Next(66);
                sector[offset] = (byte)random.Next(256);
            }

            if (random.Next(4) == 0)
            {
                // Truncation: a device that ends early, or sectors that cannot be read.
                var cut = lbas[random.Next(lbas.Length)];
                sectors.Remove(cut);
            }

            var size = random.Next(5) == 0 ? random.Next(0, 100000) : Sectors;
            var ok = PartitionTableReader.TryRead(Reader(sectors), size, out var table, out var error);
            Assert.True(ok ? table is not null && error is null : table is null && error is not null);
            if (ok)
            {
                foreach (var partition in table!.Partitions)
                {
                    Assert.InRange(partition.End, partition.Start, size - 1);
                }

                var free = DiskLayout.FreeRegions(table);
                Assert.All(free, r => Assert.InRange(r.End, r.Start, size - 1));
            }
        }
    }

    private static Func<long, byte[]?> Reader(Dictionary<long, byte[]> sectors)
        => lba => sectors.TryGetValue(lba, out var s) ? (byte[])s.Clone() : lba is >= 0 and < Sectors ? new byte[512] : null;

    private static Dictionary<long, byte[]> Load(string name, [CallerFilePath] string thisFile = "")
    {
        using var file = File.OpenRead(Path.Combine(Path.GetDirectoryName(thisFile)!, "Golden", "disk", name));
        using var gzip = new GZipStream(file, CompressionMode.Decompress);
        using var memory = new MemoryStream();
        gzip.CopyTo(memory);
        var bytes = memory.ToArray();
        var sectors = new Dictionary<long, byte[]>();
        for (var i = 0; i + 520 <= bytes.Length; i += 520)
        {
            sectors[BitConverter.ToInt64(bytes, i)] = bytes[(i + 8)..(i + 520)];
        }

        return sectors;
    }
}
