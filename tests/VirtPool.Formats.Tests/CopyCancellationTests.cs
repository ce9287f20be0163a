using VirtPool.Formats.Copy;
using static VirtPool.Formats.Tests.CopyFiles;

namespace VirtPool.Formats.Tests;

/// <summary>A 1 GiB file with four 16 MiB holes (one at the end) on the root filesystem.</summary>
public sealed class BigFileFixture : IDisposable
{
    public const long Size = 1L << 30;

    private readonly TempDir _tmp = new();

    public BigFileFixture()
    {
        Path = System.IO.Path.Combine(_tmp.Path, "big");
        var holes = new long[] { 100 * MiB, 400 * MiB, 700 * MiB, Size - (16 * MiB) };
        var chunk = new byte[8 * MiB];
        var rng = new Random(42);
        using var h = File.OpenHandle(Path, FileMode.CreateNew, FileAccess.ReadWrite);
        for (long pos = 0; pos < Size; pos += chunk.Length)
        {
            if (holes.Any(x => pos >= x && pos < x + (16 * MiB)))
            {
                continue;
            }

            rng.NextBytes(chunk);
            RandomAccess.Write(h, chunk, pos);
        }

        RandomAccess.SetLength(h, Size);
    }

    public string Path { get; }

    public string Dir => _tmp.Path;

    public void Dispose() => _tmp.Dispose();
}

public sealed class CopyCancellationTests(BigFileFixture big) : IClassFixture<BigFileFixture>
{
    [Theory]
    [InlineData(ReflinkMode.Auto, false)]
    [InlineData(ReflinkMode.Never, false)]
    [InlineData(ReflinkMode.Auto, true)]
    public async Task Cancellation_stops_a_1GiB_copy_promptly(ReflinkMode reflink, bool detectZeros)
    {
        var dst = Path.Combine(big.Dir, $"cancel-{reflink}-{detectZeros}");
        try
        {
            using var cts = new CancellationTokenSource();
            long? cancelledAt = null;
            var last = 0L;
            var progress = new ActionProgress(v =>
            {
                last = v;
                if (v >= 64 * MiB && cancelledAt is null)
                {
                    cancelledAt = v;
                    cts.Cancel();
                }
            });
            using var s = OpenRead(big.Path);
            using var d = OpenWrite(dst);
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => SparseCopy.CopyAsync(s, 0, d, 0, BigFileFixture.Size, new CopyOptions { Reflink = reflink, DetectZeros = detectZeros }, progress, cts.Token));

            // Stopped at the first step after the cancellation: nothing more was copied.
            Assert.Equal(cancelledAt, last);
            Assert.True(last < BigFileFixture.Size / 2, $"copied {last} bytes before stopping");
        }
        finally
        {
            File.Delete(dst);
        }
    }
}

public sealed class ActionProgress(Action<long> action) : IProgress<long>
{
    public void Report(long value) => action(value);
}
