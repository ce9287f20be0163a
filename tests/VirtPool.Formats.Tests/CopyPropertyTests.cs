using CsCheck;
using VirtPool.Formats.Copy;
using static VirtPool.Formats.Tests.CopyFiles;

namespace VirtPool.Formats.Tests;

public sealed class CopyPropertyTests : IDisposable
{
    private readonly TempDir _tmp = new();

    public void Dispose() => _tmp.Dispose();

    [Fact]
    public void Random_layouts_copy_to_identical_bytes()
    {
        // Pieces in 4 KiB units (some sub-block), punched or never-written holes, windows, options, target prefill.
        var piece = Gen.Select(Gen.Int[1, 96], Gen.Bool, Gen.Int[0, 4095], Gen.Int[0, 3]).Select((blocks, hole, extra, odd) => new Piece((blocks * 4096L) + (odd == 0 ? extra : 0), hole, blocks ^ extra));
        var gen = Gen.Select(
            piece.Array[1, 8],
            Gen.Bool,
            Gen.Int[0, 3],
            Gen.Bool,
            Gen.Bool,
            Gen.Int[0, 2],
            Gen.Double[0, 1],
            Gen.Double[0, 1]);
        var i = 0;
        gen.Sample((pieces, punch, reflink, fill, detect, prefill, startFrac, lenFrac) =>
        {
            var n = Interlocked.Increment(ref i);
            var src = Path.Combine(_tmp.Path, $"s{n}");
            var dst = Path.Combine(_tmp.Path, $"d{n}");
            try
            {
                var source = Create(src, pieces, punch);
                var start = (long)(startFrac * source.Length);
                var length = (long)(lenFrac * (source.Length - start + (1 * MiB))); // may run past the source end
                var targetOffset = (long)((1 - startFrac) * 3 * MiB) & (reflink == 0 ? ~0L : ~4095L);

                // Target: none, zero-length, or 0xA5 bytes that the copy must fully overwrite in its window.
                var target = new byte[prefill == 2 ? 5 * MiB : 0];
                Array.Fill(target, (byte)0xA5);
                File.WriteAllBytes(dst, target);

                var options = new CopyOptions
                {
                    Reflink = reflink switch { 0 => ReflinkMode.Never, _ => ReflinkMode.Auto },
                    Holes = fill ? HoleMode.Fill : HoleMode.Preserve,
                    DetectZeros = detect,
                };
                using (var s = OpenRead(src))
                using (var d = OpenWrite(dst, FileMode.Open))
                {
                    var r = SparseCopy.Copy(s, start, d, targetOffset, length, options);
                    Assert.Equal(length, r.Bytes);
                }

                var expected = new byte[Math.Max(target.Length, targetOffset + length)];
                target.CopyTo(expected, 0);
                expected.AsSpan((int)targetOffset, (int)length).Clear();
                var available = Math.Clamp(source.Length - start, 0, length);
                source.AsSpan((int)start, (int)available).CopyTo(expected.AsSpan((int)targetOffset));
                var actual = File.ReadAllBytes(dst);
                Assert.Equal(expected.Length, actual.Length);
                Assert.True(expected.AsSpan().SequenceEqual(actual), $"first difference at {expected.AsSpan().CommonPrefixLength(actual)}");
            }
            finally
            {
                File.Delete(src);
                File.Delete(dst);
            }
        }, iter: 150, threads: 1);
    }

    [Fact]
    public void Zero_scan_segments_cover_the_range_and_match_the_bytes()
    {
        var gen = Gen.Select(Gen.Int[1, 40].Array[1, 10], Gen.Int[0, 70000], Gen.Int[0, 5]);
        var i = 0;
        gen.Sample((runs, startSkew, bufferBlocks) =>
        {
            // Alternate data and zero runs of 8 KiB units inside a dense file.
            var n = Interlocked.Increment(ref i);
            var path = Path.Combine(_tmp.Path, $"z{n}");
            try
            {
                var bytes = new byte[runs.Sum() * 8192];
                Fill(bytes, n, 0);
                var pos = 0;
                for (var r = 0; r < runs.Length; r++)
                {
                    if (r % 2 == 1)
                    {
                        bytes.AsSpan(pos, runs[r] * 8192).Clear();
                    }

                    pos += runs[r] * 8192;
                }

                File.WriteAllBytes(path, bytes);
                var start = Math.Min(startSkew, bytes.Length);
                using var h = OpenRead(path);
                using var reader = DataExtents.Open(h, start, bytes.Length - start, ZeroScan.Always, 16384, (bufferBlocks + 1) * 16384);
                var next = (long)start;
                while (reader.MoveNext())
                {
                    var s = reader.Current;
                    Assert.Equal(next, s.Offset);
                    Assert.True(s.Length > 0);
                    var span = bytes.AsSpan((int)s.Offset, (int)s.Length);
                    if (s.IsHole)
                    {
                        Assert.True(ZeroBlocks.IsAllZero(span));
                    }
                    else
                    {
                        Assert.True(reader.BufferedData.Span.SequenceEqual(span));
                    }

                    next = s.End;
                }

                Assert.Equal(bytes.Length, next);
            }
            finally
            {
                File.Delete(path);
            }
        }, iter: 200, threads: 1);
    }
}
