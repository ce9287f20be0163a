using System.Runtime.CompilerServices;
using VirtPool.Backends.Zfs;
using VirtPool.Core.Process;

namespace VirtPool.Backends.Tests;

/// <summary>
/// The pure zpool/zfs output parsers on text captured from zfs-fuse 0.7 here (Golden/zfs/zfs-fuse) and
/// on text shaped as OpenZFS prints it (Golden/zfs/openzfs: not captured, see its README).
/// </summary>
public sealed class ZfsOutputTests
{
    internal static string Golden(string file, [CallerFilePath] string thisFile = "")
        => File.ReadAllText(Path.Combine(Path.GetDirectoryName(thisFile)!, "Golden", "zfs", file));

    [Fact]
    public void OpenZfs_zpool_get_gives_exact_numbers()
    {
        Assert.True(ZfsOutput.TryParseZpoolGet(Golden("openzfs/zpool-get.out"), out var space));
        Assert.Equal(new ZpoolSpace("ONLINE", 199715979264, 816002560, 198899976704, Exact: true), space);
    }

    [Theory]
    [InlineData("")]
    [InlineData("test\tsize\t199715979264\t-\ntest\tfree\t198899976704\t-\n")]
    [InlineData("test\tsize\t186G\t-\ntest\tfree\t185G\t-\ntest\tallocated\t778M\t-\n")]
    [InlineData("test size 199715979264 -\ntest free 1 -\ntest allocated 1 -\n")]
    [InlineData("test\tsize\t-1\t-\ntest\tfree\t1\t-\ntest\tallocated\t1\t-\n")]
    public void Zpool_get_without_all_three_byte_counts_is_not_read(string output)
        => Assert.False(ZfsOutput.TryParseZpoolGet(output, out _));

    [Fact]
    public void Zpool_get_skips_lines_of_another_shape_as_libvirt()
    {
        var output = "garbage\n" + Golden("openzfs/zpool-get.out") + "test\tsize\textra\tfield\t-\n";
        Assert.True(ZfsOutput.TryParseZpoolGet(output, out var space));
        Assert.Equal(199715979264UL, space.Size);
    }

    [Fact]
    public void Zfs_fuse_zpool_list_is_read_rounded()
    {
        // Captured: a 128 MiB file vdev, 123 one-MiB metaslabs; zfs-fuse prints 123M, 788K, 122M.
        Assert.True(ZfsOutput.TryParseZpoolList(Golden("zfs-fuse/zpool-list.out"), "vpc11zfscap", out var space));
        Assert.Equal(new ZpoolSpace("ONLINE", 123UL << 20, 788UL << 10, 122UL << 20, Exact: false), space);
        Assert.False(ZfsOutput.TryParseZpoolList(Golden("zfs-fuse/zpool-list.out"), "otherpool", out _));
        Assert.False(ZfsOutput.TryParseZpoolList("vpc11zfscap\t-\t-\t-\tFAULTED\n", "vpc11zfscap", out _));
    }

    [Theory]
    [InlineData("512", 512UL, true)]
    [InlineData("0", 0UL, true)]
    [InlineData("64M", 64UL << 20, true)]
    [InlineData("15.9E", 18331451923248866918UL, false)]
    [InlineData("2P", 2UL << 50, true)]
    [InlineData("90.7M", 95105843UL, false)]
    [InlineData("1.88G", 2018634629UL, false)]
    [InlineData("123M", 128974848UL, false)]
    [InlineData("9.50K", 9728UL, false)]
    public void Nice_numbers_are_read_to_the_nearest_byte(string text, ulong bytes, bool exact)
    {
        Assert.True(ZfsOutput.TryParseNiceNumber(text, out var value, out var isExact));
        Assert.Equal((bytes, exact), (value, isExact));
    }

    [Theory]
    [InlineData("")]
    [InlineData("-")]
    [InlineData("M")]
    [InlineData("1,5M")]
    [InlineData("-1K")]
    [InlineData("1.5X")]
    [InlineData(" 12M")]
    [InlineData("16E")]
    public void Text_that_is_no_size_is_refused(string text)
        => Assert.False(ZfsOutput.TryParseNiceNumber(text, out _, out _));

    [Fact]
    public void OpenZfs_volume_list_gives_zvols_with_volsize_and_refreservation()
    {
        var zvols = ZfsOutput.ParseVolumeList(Golden("openzfs/zfs-list.out"));
        Assert.Equal(
            [new ZvolListing("test/vol1", 5368709120, 5502926848), new ZvolListing("test/vol3", 1073741824, 0), new ZvolListing("test/vol4", 1572864000, 524288000)],
            zvols);
        Assert.Equal(["vol1", "vol3", "vol4"], zvols.Select(z => z.VolumeName));
    }

    [Theory]
    [InlineData("test/vol1\t5368709120")]
    [InlineData("test/vol1\t5G\t0")]
    [InlineData("test/vol1\t5368709120\t-")]
    [InlineData("\t5368709120\t0")]
    [InlineData("test/vol1\t1\t2\t3")]
    public void Malformed_volume_lines_are_skipped_as_libvirt(string line)
    {
        Assert.False(ZfsOutput.TryParseVolumeLine(line, out _));
        Assert.Equal([new ZvolListing("t/ok", 1, 0)], ZfsOutput.ParseVolumeList(line + "\nt/ok\t1\t0\n"));
    }

    [Fact]
    public void Old_cli_property_listing_leaves_filesystems_out()
    {
        Assert.Empty(ZfsOutput.ParseVolumeProperties(Golden("zfs-fuse/zfs-get-volumes.out")));
        Assert.Equal(
            [new ZvolListing("test/vol1", 5368709120, 5502926848), new ZvolListing("test/fs/vol3", 1073741824, 0)],
            ZfsOutput.ParseVolumeProperties(Golden("openzfs/zfs-get-volumes.out")));
    }

    [Fact]
    public void Zfs_fuse_refusals_of_libvirts_forms_are_usage_errors_and_a_missing_pool_is_not()
    {
        foreach (var refused in new[] { "zfs-fuse/zpool-get-Hp", "zfs-fuse/zfs-list-Hp" })
        {
            var result = new ProcessResult(int.Parse(Golden(refused + ".rc"), System.Globalization.CultureInfo.InvariantCulture), string.Empty, Golden(refused + ".err"));
            Assert.True(ZfsCommands.IsUsageRefusal(result), refused);
        }

        var missing = new ProcessResult(int.Parse(Golden("zfs-fuse/zpool-list-missing.rc"), System.Globalization.CultureInfo.InvariantCulture), string.Empty, Golden("zfs-fuse/zpool-list-missing.err"));
        Assert.False(ZfsCommands.IsUsageRefusal(missing));
        Assert.False(ZfsCommands.IsUsageRefusal(new ProcessResult(0, string.Empty, "usage:")));
    }

    [Fact]
    public void Zvol_note_round_trips_a_dataset_with_spaces()
    {
        var zvol = new ZvolListing("tank/my vol", 10485760, 0);
        Assert.True(ZvolData.TryParse(ZvolData.Format(zvol), out var back));
        Assert.Equal(zvol, back);
        Assert.False(ZvolData.TryParse("1 2", out _));
        Assert.False(ZvolData.TryParse("x 2 tank/v", out _));
        Assert.False(ZvolData.TryParse(null, out _));
    }

    [Fact]
    public void Zvol_sizes_are_read_from_zfs_get_and_a_filesystem_is_no_zvol()
    {
        Assert.True(ZfsOutput.TryParseVolumeSizes("volsize\t1073741824\nvolblocksize\t16384\nrefreservation\t1101004800\n", out var thick));
        Assert.Equal(new ZvolSizes(1073741824, 16384, 1101004800), thick);
        Assert.True(thick.Thick);
        Assert.True(ZfsOutput.TryParseVolumeSizes("refreservation\t0\nvolsize\t1073741824\nvolblocksize\t8192\n", out var sparse));
        Assert.False(sparse.Thick);

        // zfs-fuse's answer for a filesystem dataset: "-" where a zvol has numbers.
        Assert.False(ZfsOutput.TryParseVolumeSizes(Golden("zfs-fuse/zfs-get-sizes-filesystem.out"), out _));
        Assert.False(ZfsOutput.TryParseVolumeSizes("volsize\t1048576\nvolblocksize\t0\nrefreservation\t0\n", out _));
        Assert.False(ZfsOutput.TryParseVolumeSizes("volsize\t1048576\n", out _));
        Assert.False(ZfsOutput.TryParseVolumeSizes(null!, out _));
    }
}
