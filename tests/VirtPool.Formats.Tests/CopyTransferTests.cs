using VirtPool.Core.Errors;
using VirtPool.Formats.Copy;
using static VirtPool.Formats.Tests.CopyFiles;

namespace VirtPool.Formats.Tests;

/// <summary>vol-upload / vol-download through non-seekable streams, and vol-checksum.</summary>
public sealed class CopyTransferTests : IDisposable
{
    private readonly TempDir _tmp = new();

    public void Dispose() => _tmp.Dispose();

    private string P(string name) => Path.Combine(_tmp.Path, name);

    private static byte[] Payload(int length, params (int Offset, int Length)[] zeros)
    {
        var bytes = new byte[length];
        Fill(bytes, 31, 0);
        foreach (var (o, l) in zeros)
        {
            bytes.AsSpan(o, l).Clear();
        }

        return bytes;
    }

    [Fact]
    public async Task Sparse_upload_to_a_fresh_volume_skips_zero_blocks()
    {
        var payload = Payload(10 * MiB, (0, 1 * MiB), (3 * MiB, 2 * MiB), (8 * MiB, 2 * MiB));
        var dst = P("vol");
        var reports = new List<long>();
        using (var d = OpenWrite(dst))
        {
            var n = await VolumeTransfer.WriteFromStreamAsync(new PipeLikeStream(new MemoryStream(payload)), d, 0, null, sparse: true, new SyncProgress(reports));
            Assert.Equal(payload.Length, n);
        }

        Assert.Equal(payload, File.ReadAllBytes(dst));
        Assert.InRange(Stat(dst).AllocatedBytes, 5L * MiB, (5L * MiB) + 65536);
        AssertHole(dst, 0, 1 * MiB);
        AssertHole(dst, 3 * MiB, 2 * MiB);

        // Ends in zeros: the size is still the full length.
        AssertHole(dst, 8 * MiB, 2 * MiB);
        Assert.Equal(payload.Length, reports[^1]);
    }

    [Fact]
    public async Task Dense_upload_writes_everything()
    {
        var payload = Payload(3 * MiB, (0, 2 * MiB));
        var dst = P("vol");
        using (var d = OpenWrite(dst))
        {
            await VolumeTransfer.WriteFromStreamAsync(new PipeLikeStream(new MemoryStream(payload)), d, 0, null, sparse: false);
        }

        Assert.Equal(payload, File.ReadAllBytes(dst));
        Assert.True(Stat(dst).AllocatedBytes >= 3L * MiB);
    }

    [Fact]
    public async Task Upload_with_offset_and_length_over_existing_data_punches_zero_blocks()
    {
        var payload = Payload(6 * MiB, (1 * MiB, 1 * MiB));
        var dst = P("vol");
        var target = Enumerable.Repeat((byte)0xCC, 8 * MiB).ToArray();
        File.WriteAllBytes(dst, target);

        // Only 3 MiB of the stream, at an unaligned offset; the rest of the stream is left unread.
        var offset = (2 * MiB) + 4096 + 17;
        using (var d = OpenWrite(dst, FileMode.Open))
        {
            var n = await VolumeTransfer.WriteFromStreamAsync(new PipeLikeStream(new MemoryStream(payload)), d, offset, 3 * MiB, sparse: true);
            Assert.Equal(3L * MiB, n);
        }

        payload.AsSpan(0, 3 * MiB).CopyTo(target.AsSpan(offset));
        Assert.Equal(target, File.ReadAllBytes(dst));

        // The zero megabyte became a hole (whole 64 KiB blocks inside it, aligned to the target).
        var zeroStart = offset + (1 * MiB);
        var firstBlock = (zeroStart + 65535) / 65536 * 65536;
        AssertHole(dst, firstBlock, (zeroStart + (1 * MiB)) / 65536 * 65536 - firstBlock);
    }

    [Fact]
    public async Task Upload_stops_at_end_of_stream_when_it_is_shorter_than_length()
    {
        var payload = Payload(1 * MiB + 5);
        var dst = P("vol");
        using var d = OpenWrite(dst);
        var n = await VolumeTransfer.WriteFromStreamAsync(new PipeLikeStream(new MemoryStream(payload)), d, 0, 10 * MiB, sparse: true);
        Assert.Equal(payload.Length, n);
        d.Dispose();
        Assert.Equal(payload, File.ReadAllBytes(dst));
    }

    [Fact]
    public async Task Download_whole_file_and_window_with_holes()
    {
        var src = P("vol");
        var expected = Create(src, [new(1 * MiB, true), new(1 * MiB + 3, false, 32), new(5 * MiB, true), new(2 * MiB, false, 33), new(3 * MiB, true)]);
        using var s = OpenRead(src);

        var all = new MemoryStream();
        var reports = new List<long>();
        var n = await VolumeTransfer.ReadToStreamAsync(s, 0, null, new PipeLikeStream(all), new SyncProgress(reports));
        Assert.Equal(expected.Length, n);
        Assert.Equal(expected, all.ToArray());
        Assert.Equal(expected.Length, reports[^1]);

        var window = new MemoryStream();
        n = await VolumeTransfer.ReadToStreamAsync(s, (1 * MiB) + 10, 7 * MiB, new PipeLikeStream(window));
        Assert.Equal(7L * MiB, n);
        Assert.Equal(expected.AsSpan((1 * MiB) + 10, 7 * MiB).ToArray(), window.ToArray());
    }

    [Fact]
    public async Task Download_then_sparse_upload_round_trips()
    {
        var src = P("a");
        var expected = Create(src, [new(2 * MiB, false, 34), new(4 * MiB, true), new(1 * MiB, false, 35)]);
        var pipe = new MemoryStream();
        using (var s = OpenRead(src))
        {
            await VolumeTransfer.ReadToStreamAsync(s, 0, null, pipe);
        }

        pipe.Position = 0;
        var dst = P("b");
        using (var d = OpenWrite(dst))
        {
            await VolumeTransfer.WriteFromStreamAsync(new PipeLikeStream(pipe), d, 0, null, sparse: true);
        }

        Assert.Equal(expected, File.ReadAllBytes(dst));
        Assert.Equal(Extents(src), Extents(dst));
    }

    [Fact]
    public async Task Download_cancellation_stops_with_OperationCanceled()
    {
        var src = P("vol");
        Create(src, [new(16 * MiB, false, 36)]);
        using var s = OpenRead(src);
        using var cts = new CancellationTokenSource();
        var progress = new CancellingProgress(cts, 4 * MiB);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => VolumeTransfer.ReadToStreamAsync(s, 0, null, Stream.Null, progress, cts.Token));
        Assert.True(progress.Last < 16L * MiB);
    }

    [Fact]
    public async Task Sha256_matches_sha256sum_for_sparse_dense_and_empty_files()
    {
        var sparse = P("sparse");
        Create(sparse, [new(3 * MiB, true), new(1 * MiB + 7, false, 37), new(9 * MiB, true)]);
        var dense = P("dense");
        File.WriteAllBytes(dense, Payload((5 * MiB) + 1));
        var empty = P("empty");
        File.WriteAllBytes(empty, []);
        foreach (var path in new[] { sparse, dense, empty })
        {
            Assert.Equal(await Sha256SumAsync(path), await VolumeChecksum.Sha256HexAsync(path));
        }

        var reports = new List<long>();
        using var h = OpenRead(sparse);
        var hash = await VolumeChecksum.Sha256Async(h, new SyncProgress(reports));
        Assert.Equal(await Sha256SumAsync(sparse), Convert.ToHexStringLower(hash));
        Assert.Equal(new FileInfo(sparse).Length, reports[^1]);
    }

    [Fact]
    public async Task Sha256_of_a_missing_file_is_a_system_error()
    {
        var ex = await Assert.ThrowsAsync<VirtPoolException>(() => VolumeChecksum.Sha256Async(P("nope")));
        Assert.Equal(VirErrorCode.SystemError, ex.Code);
        Assert.EndsWith("No such file or directory", ex.Message, StringComparison.Ordinal);
    }
}

/// <summary>Cancels its source once progress reaches a threshold.</summary>
public sealed class CancellingProgress(CancellationTokenSource cts, long threshold) : IProgress<long>
{
    public long Last { get; private set; }

    public void Report(long value)
    {
        Last = value;
        if (value >= threshold)
        {
            cts.Cancel();
        }
    }
}
