using VirtPool.Formats.Copy;
using static VirtPool.Formats.Tests.CopyFiles;

namespace VirtPool.Formats.Tests;

public sealed class CopyExtentTests : IDisposable
{
    private readonly TempDir _tmp = new();

    public void Dispose() => _tmp.Dispose();

    private string P(string name) => Path.Combine(_tmp.Path, name);

    [Fact]
    public void Holes_at_start_middle_and_end_are_reported_exactly()
    {
        var path = P("f");
        Create(path, [new(1 * MiB, true), new(2 * MiB, false), new(3 * MiB, true), new(1 * MiB, false), new(2 * MiB, true)]);
        Assert.Equal(
            [new(0, 1 * MiB, true), new(1 * MiB, 2 * MiB, false), new(3 * MiB, 3 * MiB, true), new(6 * MiB, 1 * MiB, false), new(7 * MiB, 2 * MiB, true)],
            Extents(path));
    }

    [Fact]
    public void Punched_holes_are_reported_like_never_written_ones()
    {
        var path = P("f");
        Create(path, [new(1 * MiB, true), new(1 * MiB, false), new(1 * MiB, true), new(1 * MiB, false), new(1 * MiB, true)], punch: true);
        Assert.Equal(
            [new(0, 1 * MiB, true), new(1 * MiB, 1 * MiB, false), new(2 * MiB, 1 * MiB, true), new(3 * MiB, 1 * MiB, false), new(4 * MiB, 1 * MiB, true)],
            Extents(path));
    }

    [Fact]
    public void A_window_is_clipped_to_the_range_and_past_eof_is_a_hole()
    {
        var path = P("f");
        Create(path, [new(1 * MiB, false), new(2 * MiB, true), new(1 * MiB, false)]);
        using var h = OpenRead(path);

        // Starts inside data, crosses the hole, ends 1 MiB past EOF.
        Assert.Equal(
            [new(512 * 1024, 512 * 1024, false), new(1 * MiB, 2 * MiB, true), new(3 * MiB, 1 * MiB, false), new(4 * MiB, 1 * MiB, true)],
            DataExtents.Enumerate(h, 512 * 1024, 4 * MiB + 512 * 1024, ZeroScan.Never).ToList());

        // Entirely inside a hole, and entirely past EOF.
        Assert.Equal([new(1 * MiB + 5, 100, true)], DataExtents.Enumerate(h, 1 * MiB + 5, 100, ZeroScan.Never).ToList());
        Assert.Equal([new(10 * MiB, 7, true)], DataExtents.Enumerate(h, 10 * MiB, 7, ZeroScan.Never).ToList());
        Assert.Empty(DataExtents.Enumerate(h, 0, 0));
    }

    [Fact]
    public void Zero_scan_turns_zero_blocks_of_a_dense_file_into_holes_and_merges_them()
    {
        var path = P("f");
        var bytes = new byte[4 * MiB];
        Fill(bytes, 3, 0);
        // Zero [1 MiB, 1 MiB + 192 KiB) (three 64 KiB blocks) and a zero block right before a real hole.
        bytes.AsSpan(1 * MiB, 192 * 1024).Clear();
        bytes.AsSpan(3 * MiB - 64 * 1024, 64 * 1024).Clear();
        File.WriteAllBytes(path, bytes);
        using (var h = OpenWrite(path, FileMode.Open))
        {
            Punch(h, 3 * MiB, 512 * 1024);
        }

        using var r = OpenRead(path);
        Assert.Equal(
            [new(0, 3 * MiB, false), new(3 * MiB, 512 * 1024, true), new(3 * MiB + 512 * 1024, 512 * 1024, false)],
            DataExtents.Enumerate(r, 0, 4 * MiB, ZeroScan.Never).ToList());

        using var reader = DataExtents.Open(r, 0, 4 * MiB, ZeroScan.Always, scanBufferSize: 1 * MiB);
        var segs = new List<DataSegment>();
        while (reader.MoveNext())
        {
            var s = reader.Current;
            segs.Add(s);
            if (!s.IsHole)
            {
                // The scan hands out exactly the bytes it read.
                Assert.Equal(s.Length, reader.BufferedData.Length);
                Assert.True(reader.BufferedData.Span.SequenceEqual(bytes.AsSpan((int)s.Offset, (int)s.Length)));
            }
        }

        // Holes exactly where expected; data segments are capped at the scan buffer but contiguous.
        var holes = segs.Where(s => s.IsHole).ToList();
        Assert.Equal([new(1 * MiB, 192 * 1024, true), new(3 * MiB - 64 * 1024, 576 * 1024, true)], holes);
        Assert.Equal(4L * MiB, segs.Sum(s => s.Length));
        for (var i = 1; i < segs.Count; i++)
        {
            Assert.Equal(segs[i - 1].End, segs[i].Offset);
            Assert.False(segs[i - 1].IsHole && segs[i].IsHole, "adjacent holes are merged");
        }
    }

    [Fact]
    public void Zero_scan_respects_unaligned_windows()
    {
        var path = P("f");
        var bytes = new byte[1 * MiB];
        Fill(bytes, 4, 0);
        bytes.AsSpan(128 * 1024, 128 * 1024).Clear();
        File.WriteAllBytes(path, bytes);
        using var h = OpenRead(path);

        // Window starts 100 bytes before the zero run: the partial first block is data, the zero blocks a hole.
        var segs = DataExtents.Enumerate(h, 128 * 1024 - 100, 300 * 1024, ZeroScan.Always).ToList();
        Assert.Equal([new(128 * 1024 - 100, 100, false), new(128 * 1024, 128 * 1024, true), new(256 * 1024, 172 * 1024 - 100, false)], segs);
    }

    [Fact]
    public async Task Auto_scans_a_block_device_and_finds_its_zero_blocks()
    {
        var image = P("dev.img");
        var bytes = new byte[8 * MiB];
        Fill(bytes, 5, 0);
        bytes.AsSpan(2 * MiB, 3 * MiB).Clear();
        File.WriteAllBytes(image, bytes);
        var dev = await RunAsync("losetup", "-f", "--show", image);
        Assert.True(dev.Succeeded, dev.StandardError);
        var device = dev.StandardOutput.Trim();
        try
        {
            using var h = OpenRead(device);
            Assert.Equal(8L * MiB, DataExtents.GetSize(h));
            using var reader = DataExtents.Open(h, 0, 8 * MiB);
            var segs = new List<DataSegment>();
            while (reader.MoveNext())
            {
                segs.Add(reader.Current);
            }

            Assert.True(reader.IsScanning);
            Assert.Equal([new(2 * MiB, 3 * MiB, true)], segs.Where(s => s.IsHole).ToList());
        }
        finally
        {
            _ = await RunAsync("losetup", "-d", device);
        }
    }

    [Fact]
    public void A_reader_enumerates_once()
    {
        var path = P("f");
        Create(path, [new(4096, false)]);
        using var h = OpenRead(path);
        var e = DataExtents.Enumerate(h, 0, 4096);
        _ = e.ToList();
        Assert.Throws<InvalidOperationException>(() => e.ToList());
    }

    [Theory]
    [InlineData(new byte[0], true)]
    [InlineData(new byte[] { 0, 0, 0 }, true)]
    [InlineData(new byte[] { 0, 0, 1 }, false)]
    public void IsAllZero_small(byte[] data, bool expected) => Assert.Equal(expected, ZeroBlocks.IsAllZero(data));

    [Fact]
    public void IsAllZero_finds_a_single_bit_anywhere()
    {
        var block = new byte[64 * 1024 + 3];
        Assert.True(ZeroBlocks.IsAllZero(block));
        foreach (var i in new[] { 0, 1, 31, 32, 4095, 40000, block.Length - 9, block.Length - 8, block.Length - 1 })
        {
            block[i] = 0x80;
            Assert.False(ZeroBlocks.IsAllZero(block), $"bit at {i}");
            block[i] = 0;
        }
    }
}
