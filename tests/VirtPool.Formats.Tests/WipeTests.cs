using System.Security.Cryptography;
using VirtPool.Core.Errors;
using VirtPool.Core.Interop;
using VirtPool.Formats.Wipe;
using VirtPool.Core.Backends;

namespace VirtPool.Formats.Tests;

public sealed class WipeTests : IDisposable
{
    private const int MiB = 1024 * 1024;

    // 3 MiB and an odd tail: not block-aligned, and under one 4 MiB chunk plus a partial second chunk is
    // covered by the 5 MiB pattern-phase test.
    private const int OddSize = (3 * MiB) + 1234;

    // scrub's sig.c: SCRUB_MAGIC "\001\002\003SCRUBBED!" copied with sizeof, so with its NUL.
    private static readonly byte[] ScrubMagic = [0x01, 0x02, 0x03, .. "SCRUBBED!"u8, 0x00];

    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Algorithm_numbers_are_libvirts()
    {
        // virStorageVolWipeAlgorithm in libvirt-storage.h.
        Assert.Equal(
            [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
            new[]
            {
                VolumeWipeAlgorithm.Zero, VolumeWipeAlgorithm.Nnsa, VolumeWipeAlgorithm.Dod, VolumeWipeAlgorithm.Bsi, VolumeWipeAlgorithm.Gutmann,
                VolumeWipeAlgorithm.Schneier, VolumeWipeAlgorithm.Pfitzner7, VolumeWipeAlgorithm.Pfitzner33, VolumeWipeAlgorithm.Random, VolumeWipeAlgorithm.Trim,
            }.Select(a => (int)a));
    }

    [Theory]
    [InlineData(VolumeWipeAlgorithm.Nnsa, "nnsa", "random random 0x00(verify)")]
    [InlineData(VolumeWipeAlgorithm.Dod, "dod", "random 0x00 0xff(verify)")]
    [InlineData(VolumeWipeAlgorithm.Bsi, "bsi", "0xff 0xfe 0xfd 0xfb 0xf7 0xef 0xdf 0xbf 0x7f")]
    [InlineData(VolumeWipeAlgorithm.Gutmann, "gutmann", "random random random random 0x55 0xaa 0x924924 0x492492 0x249249 0x00 0x11 0x22 0x33 0x44 0x55 0x66 0x77 0x88 0x99 0xaa 0xbb 0xcc 0xdd 0xee 0xff 0x924924 0x492492 0x249249 0x6db6db 0xb6db6d 0xdb6db6 random random random random")]
    [InlineData(VolumeWipeAlgorithm.Schneier, "schneier", "0x00 0xff random random random random random")]
    [InlineData(VolumeWipeAlgorithm.Pfitzner7, "pfitzner7", "random random random random random random random")]
    [InlineData(VolumeWipeAlgorithm.Pfitzner33, "pfitzner33", "random random random random random random random random random random random random random random random random random random random random random random random random random random random random random random random random random")]
    [InlineData(VolumeWipeAlgorithm.Random, "random", "random")]
    public void Pass_tables_are_scrubs(VolumeWipeAlgorithm algorithm, string name, string expected)
    {
        Assert.Equal(name, ScrubSequences.Name(algorithm));
        var passes = ScrubSequences.Passes(algorithm);
        Assert.Equal(expected, string.Join(' ', passes.Select(p => p.ToString().Replace(" (verify)", "(verify)", StringComparison.Ordinal))));
        Assert.True(ScrubSequences.IsScrub(algorithm));
    }

    [Fact]
    public void Signature_is_scrubs_magic()
    {
        Assert.Equal(13, ScrubMagic.Length);
        Assert.Equal(ScrubMagic, VolumeWiper.ScrubSignature.ToArray());
    }

    [Fact]
    public void Zero_and_trim_are_not_scrub_methods()
    {
        Assert.False(ScrubSequences.IsScrub(VolumeWipeAlgorithm.Zero));
        Assert.False(ScrubSequences.IsScrub(VolumeWipeAlgorithm.Trim));
        Assert.Throws<ArgumentOutOfRangeException>(() => ScrubSequences.Passes(VolumeWipeAlgorithm.Trim));
    }

    [Fact]
    public async Task Zero_on_a_sparse_file_drops_every_block_and_keeps_the_size()
    {
        var path = Path.Combine(_dir.Path, "sparse.img");
        using (var fs = new FileStream(path, FileMode.CreateNew))
        {
            fs.SetLength(64L * MiB);
            fs.Position = 5 * MiB;
            fs.Write(RandomNumberGenerator.GetBytes(256 * 1024));
            fs.Flush(true);
        }

        var before = Stat(path);
        Assert.True(before.Blocks > 0 && before.Blocks < before.Size / 512, $"test file must be sparse but allocated: {before.Blocks}");

        var progress = new Recorder();
        await VolumeWiper.WipeAsync(path, VolumeWipeAlgorithm.Zero, (ulong)before.AllocatedBytes, progress, CancellationToken.None);

        var after = Stat(path);
        Assert.Equal(64L * MiB, after.Size);
        Assert.Equal(0, after.Blocks);
        Assert.True(IsAll(ReadRange(path, 5 * MiB, 256 * 1024), 0));
        Assert.Equal(64L * MiB, progress.Last);
    }

    [Fact]
    public async Task Zero_on_an_allocated_file_zeroes_in_place_and_keeps_the_blocks()
    {
        var path = CreateRandomFile("full.img", 8 * MiB);
        var before = Stat(path);
        Assert.True(before.Blocks >= before.Size / 512);
        Assert.False(IsAll(File.ReadAllBytes(path), 0));

        var progress = new Recorder();
        await VolumeWiper.WipeAsync(path, VolumeWipeAlgorithm.Zero, (ulong)before.AllocatedBytes, progress, CancellationToken.None);

        var after = Stat(path);
        Assert.Equal(before.Size, after.Size);
        Assert.Equal(before.Blocks, after.Blocks);
        Assert.True(IsAll(File.ReadAllBytes(path), 0));
        Assert.Equal(before.AllocatedBytes, progress.Last);
    }

    [Fact]
    public async Task Zero_on_tmpfs_punches_and_reallocates_since_it_has_no_zero_range()
    {
        Assert.True(Directory.Exists("/dev/shm"), "/dev/shm (tmpfs) is needed to reach the punch+allocate fallback");
        var path = Path.Combine("/dev/shm", $"virtpool-wipe-{Guid.NewGuid():N}.img");
        try
        {
            File.WriteAllBytes(path, RandomNumberGenerator.GetBytes(8 * MiB));
            var before = Stat(path);

            await VolumeWiper.WipeAsync(path, VolumeWipeAlgorithm.Zero, (ulong)before.AllocatedBytes, null, CancellationToken.None);

            var after = Stat(path);
            Assert.Equal(before.Size, after.Size);
            Assert.Equal(before.Blocks, after.Blocks);
            Assert.True(IsAll(File.ReadAllBytes(path), 0));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public async Task Zero_covers_only_the_allocation_given()
    {
        var path = CreateRandomFile("prefix.img", 8 * MiB);
        var original = File.ReadAllBytes(path);

        await VolumeWiper.WipeAsync(path, VolumeWipeAlgorithm.Zero, 3 * MiB, null, CancellationToken.None);

        var after = File.ReadAllBytes(path);
        Assert.Equal(original.Length, after.Length);
        Assert.True(IsAll(after.AsSpan(0, 3 * MiB), 0));
        Assert.True(after.AsSpan(3 * MiB).SequenceEqual(original.AsSpan(3 * MiB)));
    }

    [Fact]
    public async Task Zero_with_an_allocation_past_the_end_grows_the_file_as_libvirts_writes_do()
    {
        var path = CreateRandomFile("odd.img", OddSize);
        var before = Stat(path);
        Assert.True(before.AllocatedBytes > OddSize);

        await VolumeWiper.WipeAsync(path, VolumeWipeAlgorithm.Zero, (ulong)before.AllocatedBytes, null, CancellationToken.None);

        var after = Stat(path);
        Assert.Equal(before.AllocatedBytes, after.Size);
        Assert.True(IsAll(File.ReadAllBytes(path), 0));
    }

    [Fact]
    public async Task Trim_on_a_file_punches_every_block_and_keeps_the_size()
    {
        var path = CreateRandomFile("trim.img", (8 * MiB) + 100);
        Assert.True(Stat(path).Blocks > 0);

        var progress = new Recorder();
        await VolumeWiper.WipeAsync(path, VolumeWipeAlgorithm.Trim, 0, progress, CancellationToken.None);

        var after = Stat(path);
        Assert.Equal((8L * MiB) + 100, after.Size);
        Assert.Equal(0, after.Blocks);
        Assert.True(IsAll(File.ReadAllBytes(path), 0));
        Assert.Equal((8L * MiB) + 100, progress.Last);
    }

    [Theory]
    [InlineData(VolumeWipeAlgorithm.Nnsa)]
    [InlineData(VolumeWipeAlgorithm.Dod)]
    [InlineData(VolumeWipeAlgorithm.Bsi)]
    [InlineData(VolumeWipeAlgorithm.Gutmann)]
    [InlineData(VolumeWipeAlgorithm.Schneier)]
    [InlineData(VolumeWipeAlgorithm.Pfitzner7)]
    [InlineData(VolumeWipeAlgorithm.Pfitzner33)]
    [InlineData(VolumeWipeAlgorithm.Random)]
    public async Task Scrub_method_leaves_the_last_pass_and_the_signature(VolumeWipeAlgorithm algorithm)
    {
        var path = CreateRandomFile("scrub.img", OddSize);
        var original = File.ReadAllBytes(path);
        var blockSize = Stat(path).BlockSize;
        var padded = (OddSize + blockSize - 1) / blockSize * blockSize;

        var progress = new Recorder();
        await VolumeWiper.WipeAsync(path, algorithm, 0, progress, CancellationToken.None);

        var after = File.ReadAllBytes(path);
        Assert.Equal(padded, after.Length);
        Assert.Equal(ScrubMagic, after[..ScrubMagic.Length]);

        var passes = ScrubSequences.Passes(algorithm);
        var last = passes[^1];
        if (last.Kind == WipePassKind.Random)
        {
            AssertLooksRandom(after.AsSpan(ScrubMagic.Length));
        }
        else
        {
            AssertPattern(after, ScrubMagic.Length, last.Pattern.Span);
        }

        // Nothing of the old content survives beyond chance agreement.
        var same = 0;
        for (var i = 0; i < original.Length; i++)
        {
            same += original[i] == after[i] ? 1 : 0;
        }

        Assert.True(same < original.Length / 100, $"{same} bytes unchanged");
        Assert.Equal(padded * passes.Sum(p => p.Sweeps), progress.Last);
        Assert.True(progress.Values.Zip(progress.Values.Skip(1)).All(p => p.First < p.Second), "progress must grow");
    }

    [Fact]
    public async Task A_multibyte_pattern_restarts_at_every_4MiB_chunk_as_in_scrub()
    {
        var path = CreateRandomFile("phase.img", 5 * MiB);
        byte[] pattern = [0x92, 0x49, 0x24];

        await VolumeWiper.WipeAsync(path, [WipePass.Fill(pattern)], writeSignature: false, null, CancellationToken.None);

        var after = File.ReadAllBytes(path);
        Assert.Equal(5 * MiB, after.Length);

        // 4 MiB is not a multiple of 3: a continuous pattern would put 0x49 at 4 MiB; scrub's buffer puts 0x92.
        Assert.Equal(0x92, after[4 * MiB]);
        Assert.Equal(0x92, after[(4 * MiB) - 1]);
        for (var i = 0; i < after.Length; i++)
        {
            if (after[i] != pattern[i % VolumeWiper.ChunkSize % 3])
            {
                Assert.Fail($"byte {i} is 0x{after[i]:x2}");
            }
        }
    }

    [Fact]
    public async Task Random_pass_writes_fresh_nonrepeating_data()
    {
        var path = CreateRandomFile("random.img", 9 * MiB);
        File.WriteAllBytes(path, new byte[9 * MiB]);

        await VolumeWiper.WipeAsync(path, [WipePass.Random], writeSignature: false, null, CancellationToken.None);

        var after = File.ReadAllBytes(path);
        AssertLooksRandom(after);

        // Every 4 KiB block is distinct, so no chunk or buffer was written twice.
        var blocks = new HashSet<string>(StringComparer.Ordinal);
        for (var o = 0; o < after.Length; o += 4096)
        {
            Assert.True(blocks.Add(Convert.ToHexString(SHA256.HashData(after.AsSpan(o, 4096)))), $"block at {o} repeats");
        }
    }

    [Fact]
    public async Task Scrub_leaves_an_empty_file_alone_as_scrub_does()
    {
        var path = Path.Combine(_dir.Path, "empty.img");
        File.WriteAllBytes(path, []);

        await VolumeWiper.WipeAsync(path, VolumeWipeAlgorithm.Dod, 0, null, CancellationToken.None);

        Assert.Equal(0, new FileInfo(path).Length);
    }

    [Fact]
    public async Task Cancellation_stops_a_wipe_promptly()
    {
        var path = Path.Combine(_dir.Path, "big.img");
        using (var fs = new FileStream(path, FileMode.CreateNew))
        {
            fs.SetLength(1024L * MiB);
        }

        using var cts = new CancellationTokenSource();
        var progress = new Recorder(done =>
        {
            if (done >= 16 * MiB)
            {
                cts.Cancel();
            }
        });
        await Assert.ThrowsAnyAsync<OperationCanceledException>(
            () => VolumeWiper.WipeAsync(path, VolumeWipeAlgorithm.Pfitzner33, 0, progress, cts.Token));

        // Out of 33 passes over 1 GiB, it stopped right after the chunk that crossed 16 MiB: no chunk
        // was written after the cancellation.
        Assert.Equal(16L * MiB, progress.Last);
        Assert.Equal(1024L * MiB, new FileInfo(path).Length);
    }

    [Fact]
    public async Task An_already_cancelled_token_writes_nothing()
    {
        var path = CreateRandomFile("untouched.img", MiB);
        var original = File.ReadAllBytes(path);

        await Assert.ThrowsAnyAsync<OperationCanceledException>(
            () => VolumeWiper.WipeAsync(path, VolumeWipeAlgorithm.Zero, MiB, null, new CancellationToken(canceled: true)));

        Assert.Equal(original, File.ReadAllBytes(path));
    }

    [Fact]
    public async Task A_missing_path_is_libvirts_open_error()
    {
        var path = Path.Combine(_dir.Path, "missing.img");

        var ex = await Assert.ThrowsAsync<VirtPoolException>(
            () => VolumeWiper.WipeAsync(path, VolumeWipeAlgorithm.Zero, 0, null, CancellationToken.None));

        Assert.Equal(VirErrorCode.SystemError, ex.Code);
        Assert.Equal($"Failed to open storage volume with path '{path}': No such file or directory", ex.Message);
    }

    [Fact]
    public async Task An_unknown_algorithm_is_libvirts_invalid_argument()
    {
        var path = CreateRandomFile("alg.img", 4096);

        var ex = await Assert.ThrowsAsync<VirtPoolException>(
            () => VolumeWiper.WipeAsync(path, (VolumeWipeAlgorithm)10, 0, null, CancellationToken.None));

        Assert.Equal(VirErrorCode.InvalidArg, ex.Code);
        Assert.Equal("invalid argument: unsupported algorithm 10", ex.Message);
        Assert.False(IsAll(File.ReadAllBytes(path), 0));
    }

    [Fact]
    public async Task Zero_on_a_loop_device_uses_the_whole_device()
    {
        var image = CreateRandomFile("loop-zero.img", 32 * MiB);
        await using var loop = await LoopDevice.AttachAsync(image);
        Assert.False(IsAll(ReadRange(loop.Path, 0, 32 * MiB), 0));

        var progress = new Recorder();
        await VolumeWiper.WipeAsync(loop.Path, VolumeWipeAlgorithm.Zero, 0, progress, CancellationToken.None);

        Assert.Equal(32L * MiB, progress.Last);
        Assert.True(IsAll(ReadRange(loop.Path, 0, 32 * MiB), 0));
        Assert.True(IsAll(File.ReadAllBytes(image), 0));
    }

    [Fact]
    public async Task Trim_on_a_loop_device_discards_the_backing_blocks()
    {
        var image = CreateRandomFile("loop-trim.img", 32 * MiB);
        await using var loop = await LoopDevice.AttachAsync(image);
        Assert.True(Stat(image).AllocatedBytes >= 32L * MiB);

        var progress = new Recorder();
        await VolumeWiper.WipeAsync(loop.Path, VolumeWipeAlgorithm.Trim, 0, progress, CancellationToken.None);

        Assert.Equal(32L * MiB, progress.Last);
        Assert.True(IsAll(ReadRange(loop.Path, 0, 32 * MiB), 0));

        // The loop driver turns a discard into hole punching on its backing file.
        Assert.True(Stat(image).AllocatedBytes < MiB, $"backing file still has {Stat(image).AllocatedBytes} bytes");
    }

    [Fact]
    public async Task Scrub_on_a_loop_device_covers_the_device_and_signs_it()
    {
        var image = CreateRandomFile("loop-dod.img", 8 * MiB);
        await using var loop = await LoopDevice.AttachAsync(image);

        await VolumeWiper.WipeAsync(loop.Path, VolumeWipeAlgorithm.Dod, 0, null, CancellationToken.None);

        var content = ReadRange(loop.Path, 0, 8 * MiB);
        Assert.Equal(ScrubMagic, content[..ScrubMagic.Length]);
        AssertPattern(content, ScrubMagic.Length, [0xff]);
        Assert.Equal(8L * MiB, new FileInfo(image).Length);
    }

    private string CreateRandomFile(string name, int size)
    {
        var path = Path.Combine(_dir.Path, name);
        using var fs = new FileStream(path, FileMode.CreateNew);
        fs.Write(RandomNumberGenerator.GetBytes(size));
        fs.Flush(true);
        return path;
    }

    private static FileStat Stat(string path)
    {
        Assert.True(FileStat.TryStat(path, out var st, out var errno), $"stat {path}: errno {errno}");
        return st;
    }

    private static byte[] ReadRange(string path, long offset, int length)
    {
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 0);
        fs.Position = offset;
        var buffer = new byte[length];
        fs.ReadExactly(buffer);
        return buffer;
    }

    private static bool IsAll(ReadOnlySpan<byte> data, byte value) => !data.ContainsAnyExcept(value);

    private static void AssertPattern(ReadOnlySpan<byte> data, int from, ReadOnlySpan<byte> pattern)
    {
        for (var i = from; i < data.Length; i++)
        {
            if (data[i] != pattern[i % VolumeWiper.ChunkSize % pattern.Length])
            {
                Assert.Fail($"byte {i} is 0x{data[i]:x2}, not the last pass's pattern");
            }
        }
    }

    private static void AssertLooksRandom(ReadOnlySpan<byte> data)
    {
        // Every byte value about equally often (expected n/256; a fixed or sparse fill is far off).
        var counts = new int[256];
        foreach (var b in data)
        {
            counts[b]++;
        }

        var expected = data.Length / 256.0;
        Assert.All(counts, c => Assert.InRange(c, expected * 0.8, expected * 1.2));
    }

    /// <summary>Records progress synchronously (Progress&lt;T&gt; would post to the thread pool).</summary>
    private sealed class Recorder(Action<long>? onReport = null) : IProgress<long>
    {
        private readonly List<long> _values = [];

        public IReadOnlyList<long> Values
        {
            get
            {
                lock (_values)
                {
                    return [.. _values];
                }
            }
        }

        public long Last => Values.Count == 0 ? 0 : Values[^1];

        public void Report(long value)
        {
            lock (_values)
            {
                _values.Add(value);
            }

            onReport?.Invoke(value);
        }
    }
}
