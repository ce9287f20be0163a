using VirtPool.Core.Errors;
using VirtPool.Formats.Copy;
using static VirtPool.Formats.Tests.CopyFiles;

namespace VirtPool.Formats.Tests;

/// <summary>Reflink on real xfs (reflink=1) and btrfs loop filesystems.</summary>
public sealed class CopyReflinkTests(ReflinkFsFixture fs) : IClassFixture<ReflinkFsFixture>
{
    private static readonly Piece[] Layout = [new(1 * MiB, false, 21), new(2 * MiB, true), new(1 * MiB + 1000, false, 22)];

    [Theory]
    [InlineData("xfs", ReflinkMode.Always)]
    [InlineData("xfs", ReflinkMode.Auto)]
    [InlineData("btrfs", ReflinkMode.Always)]
    [InlineData("btrfs", ReflinkMode.Auto)]
    public async Task Clone_shares_extents(string fsType, ReflinkMode mode)
    {
        var loop = fs.Get(fsType);
        var src = loop.NewPath("src");
        var expected = Create(src, Layout);
        var dst = loop.NewPath("dst");
        var reports = new List<long>();
        using (var d = OpenWrite(dst))
        {
            var r = await SparseCopy.CloneFileAsync(src, d, new CopyOptions { Reflink = mode, Sync = true }, new SyncProgress(reports));
            Assert.True(r.Reflinked);
            Assert.Equal(0, r.DataBytes);
        }

        Assert.Equal([(long)expected.Length], reports);
        Assert.Equal(expected, File.ReadAllBytes(dst));
        Assert.Equal(await Sha256SumAsync(src), await Sha256SumAsync(dst));
        Assert.Equal(Extents(src), Extents(dst));
        await AssertSharedAsync(dst);
    }

    [Theory]
    [InlineData("xfs")]
    [InlineData("btrfs")]
    public async Task Aligned_range_clone_uses_ficlonerange(string fsType)
    {
        var loop = fs.Get(fsType);
        var src = loop.NewPath("src");
        var source = Create(src, [new(4 * MiB, false, 23)]);
        var dst = loop.NewPath("dst");
        var target = Enumerable.Repeat((byte)0x33, 4 * MiB).ToArray();
        File.WriteAllBytes(dst, target);
        using (var s = OpenRead(src))
        using (var d = OpenWrite(dst, FileMode.Open))
        {
            var r = await SparseCopy.CopyAsync(s, 1 * MiB, d, 2 * MiB, 1 * MiB, new CopyOptions { Reflink = ReflinkMode.Always });
            Assert.True(r.Reflinked);
        }

        source.AsSpan(1 * MiB, 1 * MiB).CopyTo(target.AsSpan(2 * MiB));
        Assert.Equal(target, File.ReadAllBytes(dst));
        await AssertSharedAsync(dst);
    }

    [Theory]
    [InlineData("xfs")]
    [InlineData("btrfs")]
    public async Task Unaligned_range_fails_with_always_and_is_copied_with_auto(string fsType)
    {
        var loop = fs.Get(fsType);
        var src = loop.NewPath("src");
        var source = Create(src, [new(2 * MiB, false, 24)]);
        var dst = loop.NewPath("dst");
        File.WriteAllBytes(dst, new byte[2 * MiB]);
        using (var s = OpenRead(src))
        using (var d = OpenWrite(dst, FileMode.Open))
        {
            var ex = await Assert.ThrowsAsync<VirtPoolException>(() => SparseCopy.CopyAsync(s, 100, d, 0, 4096, new CopyOptions { Reflink = ReflinkMode.Always, SourceName = "/vol/a" }));
            Assert.StartsWith("failed to clone files from '/vol/a': ", ex.Message, StringComparison.Ordinal);
            Assert.Equal(new byte[2 * MiB], File.ReadAllBytes(dst));

            var r = await SparseCopy.CopyAsync(s, 100, d, 0, 4096, new CopyOptions { Reflink = ReflinkMode.Auto });
            Assert.False(r.Reflinked);
        }

        Assert.Equal(source.AsSpan(100, 4096).ToArray(), File.ReadAllBytes(dst).AsSpan(0, 4096).ToArray());
    }

    [Fact]
    public async Task Auto_across_filesystems_copies()
    {
        var src = fs.Xfs.NewPath("src");
        var expected = Create(src, Layout);
        var dst = fs.Btrfs.NewPath("dst");
        using (var d = OpenWrite(dst))
        {
            var r = await SparseCopy.CloneFileAsync(src, d);
            Assert.False(r.Reflinked);
        }

        Assert.Equal(expected, File.ReadAllBytes(dst));
        Assert.Equal(Extents(src), Extents(dst));
    }

    [Fact]
    public async Task Never_does_not_share_extents_even_where_copy_file_range_would()
    {
        var src = fs.Xfs.NewPath("src");
        var expected = Create(src, Layout);
        var dst = fs.Xfs.NewPath("dst");
        using (var d = OpenWrite(dst))
        {
            var r = await SparseCopy.CloneFileAsync(src, d, new CopyOptions { Reflink = ReflinkMode.Never, Sync = true });
            Assert.False(r.Reflinked);
        }

        Assert.Equal(expected, File.ReadAllBytes(dst));
        var frag = await RunAsync("filefrag", "-v", dst);
        Assert.True(frag.Succeeded, frag.StandardError);
        Assert.DoesNotContain("shared", frag.StandardOutput, StringComparison.Ordinal);
    }

    private static async Task AssertSharedAsync(string path)
    {
        var frag = await RunAsync("filefrag", "-v", path);
        Assert.True(frag.Succeeded, frag.StandardError);
        Assert.Contains("shared", frag.StandardOutput, StringComparison.Ordinal);
    }
}
