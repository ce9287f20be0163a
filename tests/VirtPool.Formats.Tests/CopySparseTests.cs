using VirtPool.Core.Errors;
using VirtPool.Formats.Copy;
using static VirtPool.Formats.Tests.CopyFiles;

namespace VirtPool.Formats.Tests;

/// <summary>SparseCopy on the ext4 root filesystem (no reflink there).</summary>
public sealed class CopySparseTests : IDisposable
{
    private static readonly Piece[] Layout =
    [
        new(1 * MiB, true), new(2 * MiB, false, 7), new(3 * MiB, true), new(1 * MiB + 4096, false, 8), new(2 * MiB, true),
    ];

    private readonly TempDir _tmp = new();

    public void Dispose() => _tmp.Dispose();

    private string P(string name) => Path.Combine(_tmp.Path, name);

    public static TheoryData<ReflinkMode, bool> Modes => new()
    {
        { ReflinkMode.Auto, false },
        { ReflinkMode.Auto, true },
        { ReflinkMode.Never, false },
        { ReflinkMode.Never, true },
    };

    [Theory]
    [MemberData(nameof(Modes))]
    public async Task Sparse_copy_keeps_bytes_and_holes(ReflinkMode reflink, bool detectZeros)
    {
        var src = P("src");
        var expected = Create(src, Layout);
        var dst = P("dst");
        var reports = new List<long>();
        CopyResult result;
        using (var s = OpenRead(src))
        using (var d = OpenWrite(dst))
        {
            result = await SparseCopy.CopyAsync(s, 0, d, 0, expected.Length, new CopyOptions { Reflink = reflink, DetectZeros = detectZeros, Sync = true }, new SyncProgress(reports));
        }

        Assert.False(result.Reflinked);
        Assert.Equal(expected.Length, result.Bytes);
        Assert.Equal(3 * MiB + 4096, result.DataBytes);
        Assert.Equal(expected, File.ReadAllBytes(dst));
        Assert.Equal(await Sha256SumAsync(src), await Sha256SumAsync(dst));

        // Same allocation as the source (within a few blocks of metadata slack), holes in the same places.
        Assert.InRange(Stat(dst).AllocatedBytes, Stat(src).AllocatedBytes - 16384, Stat(src).AllocatedBytes + 16384);
        Assert.Equal(Extents(src), Extents(dst));

        // Progress is cumulative and ends at the full length, holes included.
        Assert.Equal(expected.Length, reports[^1]);
        Assert.Equal(reports.Order().ToList(), reports);
    }

    [Fact]
    public async Task Dense_mode_allocates_the_holes()
    {
        var src = P("src");
        var expected = Create(src, Layout);
        var dst = P("dst");
        using (var s = OpenRead(src))
        using (var d = OpenWrite(dst))
        {
            await SparseCopy.CopyAsync(s, 0, d, 0, expected.Length, new CopyOptions { Holes = HoleMode.Fill });
        }

        Assert.Equal(expected, File.ReadAllBytes(dst));
        Assert.True(Stat(dst).AllocatedBytes >= expected.Length, $"dense target allocates {Stat(dst).AllocatedBytes} of {expected.Length}");
        Assert.True(Stat(src).AllocatedBytes < expected.Length / 2);
    }

    [Fact]
    public async Task Detect_zeros_makes_a_dense_source_sparse()
    {
        var src = P("src");
        var bytes = new byte[6 * MiB];
        Fill(bytes, 9, 0);
        bytes.AsSpan(1 * MiB, 3 * MiB).Clear();
        File.WriteAllBytes(src, bytes);
        var dst = P("dst");
        using (var s = OpenRead(src))
        using (var d = OpenWrite(dst))
        {
            var r = await SparseCopy.CopyAsync(s, 0, d, 0, bytes.Length, new CopyOptions { DetectZeros = true });
            Assert.Equal(3L * MiB, r.DataBytes);
        }

        Assert.Equal(bytes, File.ReadAllBytes(dst));
        Assert.InRange(Stat(dst).AllocatedBytes, 3L * MiB, (3L * MiB) + 65536);
        AssertHole(dst, 1 * MiB, 3 * MiB);
    }

    [Fact]
    public async Task Copy_into_the_middle_of_an_existing_target_punches_where_the_source_has_holes()
    {
        var src = P("src");
        var source = Create(src, [new(1 * MiB, false, 11), new(2 * MiB, true), new(1 * MiB, false, 12)]);
        var dst = P("dst");
        var target = new byte[8 * MiB];
        Array.Fill(target, (byte)0xAA);
        File.WriteAllBytes(dst, target);

        // Source [512 KiB, 3.5 MiB): data tail, the hole, data head; to target offset 3 MiB.
        using (var s = OpenRead(src))
        using (var d = OpenWrite(dst, FileMode.Open))
        {
            await SparseCopy.CopyAsync(s, 512 * 1024, d, 3 * MiB, 3 * MiB, new CopyOptions { Reflink = ReflinkMode.Never });
        }

        source.AsSpan(512 * 1024, 3 * MiB).CopyTo(target.AsSpan(3 * MiB));
        Assert.Equal(target, File.ReadAllBytes(dst));
        Assert.Equal(8L * MiB, new FileInfo(dst).Length);
        AssertHole(dst, (3 * MiB) + (512 * 1024), 2 * MiB);
    }

    [Fact]
    public async Task Partial_tail_window_past_the_target_end_extends_it()
    {
        var src = P("src");
        var source = Create(src, [new(3 * MiB, false, 13)]);
        var dst = P("dst");
        var target = new byte[1 * MiB];
        Array.Fill(target, (byte)0x11);
        File.WriteAllBytes(dst, target);

        // Unaligned offsets and length on both sides.
        using (var s = OpenRead(src))
        using (var d = OpenWrite(dst, FileMode.Open))
        {
            await SparseCopy.CopyAsync(s, 12345, d, 1 * MiB - 777, 2 * MiB + 3);
        }

        var expected = new byte[(1 * MiB) - 777 + (2 * MiB) + 3];
        target.CopyTo(expected, 0);
        source.AsSpan(12345, (2 * MiB) + 3).CopyTo(expected.AsSpan(1 * MiB - 777));
        Assert.Equal(expected, File.ReadAllBytes(dst));
    }

    [Theory]
    [InlineData(HoleMode.Preserve)]
    [InlineData(HoleMode.Fill)]
    public async Task A_copy_ending_in_a_hole_sets_the_target_size(HoleMode holes)
    {
        var src = P("src");
        var expected = Create(src, [new(1 * MiB, false, 14), new(5 * MiB, true)]);
        var dst = P("dst");
        using (var s = OpenRead(src))
        using (var d = OpenWrite(dst))
        {
            await SparseCopy.CopyAsync(s, 0, d, 0, expected.Length, new CopyOptions { Holes = holes });
        }

        Assert.Equal(6L * MiB, new FileInfo(dst).Length);
        Assert.Equal(expected, File.ReadAllBytes(dst));
        if (holes == HoleMode.Preserve)
        {
            AssertHole(dst, 1 * MiB, 5 * MiB);
        }
    }

    [Fact]
    public async Task A_range_past_the_source_end_reads_as_zeros()
    {
        var src = P("src");
        var source = Create(src, [new(1 * MiB, false, 15)]);
        var dst = P("dst");
        File.WriteAllBytes(dst, Enumerable.Repeat((byte)0xEE, 4 * MiB).ToArray());
        using (var s = OpenRead(src))
        using (var d = OpenWrite(dst, FileMode.Open))
        {
            // Existing target data past the source's end must become zeros.
            await SparseCopy.CopyAsync(s, 0, d, 0, 3 * MiB);
        }

        var expected = Enumerable.Repeat((byte)0xEE, 4 * MiB).ToArray();
        source.CopyTo(expected, 0);
        expected.AsSpan(1 * MiB, 2 * MiB).Clear();
        Assert.Equal(expected, File.ReadAllBytes(dst));
    }

    [Fact]
    public async Task Reflink_always_on_ext4_fails_like_libvirt_and_leaves_the_target_alone()
    {
        var src = P("src");
        var expected = Create(src, Layout);
        var dst = P("dst");
        var before = Enumerable.Repeat((byte)0x42, 3 * MiB).ToArray();
        File.WriteAllBytes(dst, before);
        using (var d = OpenWrite(dst, FileMode.Open))
        {
            var ex = await Assert.ThrowsAsync<VirtPoolException>(() => SparseCopy.CloneFileAsync(src, d, new CopyOptions { Reflink = ReflinkMode.Always }));
            Assert.Equal(VirErrorCode.SystemError, ex.Code);
            Assert.Equal($"failed to clone files from '{src}': Operation not supported", ex.Message);
        }

        Assert.Equal(before, File.ReadAllBytes(dst));
    }

    [Fact]
    public async Task Clone_file_copies_a_whole_file_and_reports_open_failures_as_libvirt()
    {
        var src = P("src");
        var expected = Create(src, Layout);
        var dst = P("dst");
        using (var d = OpenWrite(dst))
        {
            var r = await SparseCopy.CloneFileAsync(src, d);
            Assert.Equal(expected.Length, r.Bytes);
            var ex = await Assert.ThrowsAsync<VirtPoolException>(() => SparseCopy.CloneFileAsync(P("missing"), d));
            Assert.Equal($"could not open input path '{P("missing")}': No such file or directory", ex.Message);
        }

        Assert.Equal(expected, File.ReadAllBytes(dst));
    }

    [Fact]
    public async Task Copy_to_and_from_a_block_device_falls_back_and_stays_correct()
    {
        var src = P("src");
        var expected = Create(src, [new(1 * MiB, false, 16), new(2 * MiB, true), new(1 * MiB, false, 17)]);
        var image = P("dev.img");
        File.WriteAllBytes(image, Enumerable.Repeat((byte)0x77, 4 * MiB).ToArray());
        var dev = await RunAsync("losetup", "-f", "--show", image);
        Assert.True(dev.Succeeded, dev.StandardError);
        var device = dev.StandardOutput.Trim();
        try
        {
            // File -> device: copy_file_range refuses block devices; the hole over old 0x77 bytes must be zeroed.
            using (var s = OpenRead(src))
            using (var d = File.OpenHandle(device, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite))
            {
                await SparseCopy.CopyAsync(s, 0, d, 0, expected.Length, new CopyOptions { Sync = true });
            }

            Assert.Equal(await Sha256SumAsync(src), await Sha256SumAsync(device));

            // Device -> file with zero detection: the zeroed middle becomes a hole again.
            var back = P("back");
            using (var d = OpenWrite(back))
            {
                var r = await SparseCopy.CloneFileAsync(device, d, new CopyOptions { DetectZeros = true });
                Assert.Equal(2L * MiB, r.DataBytes);
            }

            Assert.Equal(expected, File.ReadAllBytes(back));
            AssertHole(back, 1 * MiB, 2 * MiB);
        }
        finally
        {
            _ = await RunAsync("losetup", "-d", device);
        }
    }

    [Fact]
    public async Task Cancellation_before_start_is_honoured()
    {
        var src = P("src");
        Create(src, Layout);
        using var s = OpenRead(src);
        using var d = OpenWrite(P("dst"));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => SparseCopy.CopyAsync(s, 0, d, 0, 1 * MiB, null, null, new CancellationToken(true)));
    }
}

/// <summary>IProgress that records synchronously (Progress&lt;T&gt; posts to the pool and can reorder).</summary>
public sealed class SyncProgress(List<long> reports) : IProgress<long>
{
    public void Report(long value)
    {
        lock (reports)
        {
            reports.Add(value);
        }
    }
}
