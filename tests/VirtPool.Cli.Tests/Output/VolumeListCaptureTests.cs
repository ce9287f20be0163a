using VirtPool.Core.Manager;
using VirtPool.Core.Model;
// Expected texts were captured from virsh 9.0 (libvirt 9.0.0) against a running libvirtd, together with
// the data virsh itself reported for the same objects (pool-info --bytes, vol-info --bytes, vol-path).
// Each expected text ends with the blank line virsh prints after every command; the views return the
// command's own output, so the tests append that line.

using VirtPool.Cli.Output;

namespace VirtPool.Cli.Tests.Output;

public class VolumeListCaptureTests
{
    private static readonly VirshStyle Utf8 = new(Quiet: false, Utf8Locale: true);
    private static readonly VirshStyle Utf8Quiet = new(Quiet: true, Utf8Locale: true);
    private static readonly VirshStyle CLocale = new(Quiet: false, Utf8Locale: false);

    /// <summary>The volumes of pool vo-a.</summary>
    private static readonly VolumeListEntry[] PoolA =
    [
        new("Mixed-Case", "/tmp/vo-a/Mixed-Case", VolumeType.File, 3221225472, 200704),
        new("UPPER", "/tmp/vo-a/UPPER", VolumeType.File, 10485760, 10485760),
        new("a-very-long-volume-name-to-stretch-the-column.img", "/tmp/vo-a/a-very-long-volume-name-to-stretch-the-column.img", VolumeType.File, 4096, 4096),
        new("one.5m", "/tmp/vo-a/one.5m", VolumeType.File, 1572864, 1572864),
        new("sparse-1g", "/tmp/vo-a/sparse-1g", VolumeType.File, 1073741824, 1073745920),
        new("subdir", "/tmp/vo-a/subdir", VolumeType.Dir, 0, 0),
        new("tie", "/tmp/vo-a/tie", VolumeType.File, 1152, 4096),
        new("tie2", "/tmp/vo-a/tie2", VolumeType.File, 2688, 4096),
        new("v0", "/tmp/vo-a/v0", VolumeType.File, 0, 0),
        new("vol-1023", "/tmp/vo-a/vol-1023", VolumeType.File, 1023, 4096),
        new("x68k", "/tmp/vo-a/x68k", VolumeType.File, 69632, 69632),
    ];

    /// <summary>The volumes of pool vo-transient.</summary>
    private static readonly VolumeListEntry[] Transient =
    [
        new("b1", "/tmp/vo-tr/b1", VolumeType.File, 1, 4096),
        new("bs\\x41", "/tmp/vo-tr/bs\\x41", VolumeType.File, 0, 0),
        new("c\u0301-e\u0085-z\u200B-\uFF21", "/tmp/vo-tr/c\u0301-e\u0085-z\u200B-\uFF21", VolumeType.File, 0, 0),
        new("k1", "/tmp/vo-tr/k1", VolumeType.File, 1024, 4096),
        new("k1m", "/tmp/vo-tr/k1m", VolumeType.File, 1048575, 1048576),
        new("odd2", "/tmp/vo-tr/odd2", VolumeType.File, 123457536, 200704),
        new("p1m", "/tmp/vo-tr/p1m", VolumeType.File, 1125899906842624, 16973824),
        new("t1", "/tmp/vo-tr/t1", VolumeType.File, 5, 4096),
        new("t1m", "/tmp/vo-tr/t1m", VolumeType.File, 1099511627776, 212992),
        new("t5", "/tmp/vo-tr/t5", VolumeType.File, 5497558138880, 278528),
        new("tab\tx", "/tmp/vo-tr/tab\tx", VolumeType.File, 0, 0),
    ];

    /// <summary>The volumes of pool vo-w.</summary>
    private static readonly VolumeListEntry[] Widths =
    [
        new("c\u0301", "/tmp/vo-w/c\u0301", VolumeType.File, 0, 0),
        new("e\u0085", "/tmp/vo-w/e\u0085", VolumeType.File, 0, 0),
        new("z\u200B", "/tmp/vo-w/z\u200B", VolumeType.File, 0, 0),
        new("\u00AD", "/tmp/vo-w/\u00AD", VolumeType.File, 0, 0),
        new("\u1160", "/tmp/vo-w/\u1160", VolumeType.File, 0, 0),
        new("\uFF21", "/tmp/vo-w/\uFF21", VolumeType.File, 0, 0),
    ];

    /// <summary>The volumes of pool vo-w2.</summary>
    private static readonly VolumeListEntry[] Widths2 =
    [
        new("123456789", "/tmp/vo-w2/123456789", VolumeType.File, 0, 0),
        new("x\u0085y", "/tmp/vo-w2/x\u0085y", VolumeType.File, 0, 0),
        new("\u0085", "/tmp/vo-w2/\u0085", VolumeType.File, 0, 0),
    ];

    /// <summary>The volumes of pool vo-\u00FC\u65E5\u672C.</summary>
    private static readonly VolumeListEntry[] Unicode =
    [
        new("\u00FC-vol", "/tmp/vo-u/\u00FC-vol", VolumeType.File, 1048576, 1048576),
    ];

    /// <summary>The volumes of pool vo-empty.</summary>
    private static readonly VolumeListEntry[] Empty =
    [
    ];

    /// <summary>virsh vol-list vo-a</summary>
    [Fact]
    public void PoolA_plain()
    {
        const string expected =
            " Name                                                Path\n"
            + "------------------------------------------------------------------------------------------------------------------\n"
            + " a-very-long-volume-name-to-stretch-the-column.img   /tmp/vo-a/a-very-long-volume-name-to-stretch-the-column.img\n"
            + " Mixed-Case                                          /tmp/vo-a/Mixed-Case\n"
            + " one.5m                                              /tmp/vo-a/one.5m\n"
            + " sparse-1g                                           /tmp/vo-a/sparse-1g\n"
            + " subdir                                              /tmp/vo-a/subdir\n"
            + " tie                                                 /tmp/vo-a/tie\n"
            + " tie2                                                /tmp/vo-a/tie2\n"
            + " UPPER                                               /tmp/vo-a/UPPER\n"
            + " v0                                                  /tmp/vo-a/v0\n"
            + " vol-1023                                            /tmp/vo-a/vol-1023\n"
            + " x68k                                                /tmp/vo-a/x68k\n"
            + "\n";

        var actual = VirshViews.VolumeList(PoolA, false, Utf8) + "\n";

        Assert.Equal(expected, actual);
    }

    /// <summary>virsh vol-list vo-a --details</summary>
    [Fact]
    public void PoolA_details()
    {
        const string expected =
            " Name                                                Path                                                          Type   Capacity    Allocation\n"
            + "--------------------------------------------------------------------------------------------------------------------------------------------------\n"
            + " a-very-long-volume-name-to-stretch-the-column.img   /tmp/vo-a/a-very-long-volume-name-to-stretch-the-column.img   file   4.00 KiB    4.00 KiB\n"
            + " Mixed-Case                                          /tmp/vo-a/Mixed-Case                                          file   3.00 GiB    196.00 KiB\n"
            + " one.5m                                              /tmp/vo-a/one.5m                                              file   1.50 MiB    1.50 MiB\n"
            + " sparse-1g                                           /tmp/vo-a/sparse-1g                                           file   1.00 GiB    1.00 GiB\n"
            + " subdir                                              /tmp/vo-a/subdir                                              dir    0.00 B      0.00 B\n"
            + " tie                                                 /tmp/vo-a/tie                                                 file   1.12 KiB    4.00 KiB\n"
            + " tie2                                                /tmp/vo-a/tie2                                                file   2.62 KiB    4.00 KiB\n"
            + " UPPER                                               /tmp/vo-a/UPPER                                               file   10.00 MiB   10.00 MiB\n"
            + " v0                                                  /tmp/vo-a/v0                                                  file   0.00 B      0.00 B\n"
            + " vol-1023                                            /tmp/vo-a/vol-1023                                            file   1023.00 B   4.00 KiB\n"
            + " x68k                                                /tmp/vo-a/x68k                                                file   68.00 KiB   68.00 KiB\n"
            + "\n";

        var actual = VirshViews.VolumeList(PoolA, true, Utf8) + "\n";

        Assert.Equal(expected, actual);
    }

    /// <summary>virsh -q vol-list vo-a --details</summary>
    [Fact]
    public void PoolA_details_quiet()
    {
        const string expected =
            " a-very-long-volume-name-to-stretch-the-column.img   /tmp/vo-a/a-very-long-volume-name-to-stretch-the-column.img   file   4.00 KiB    4.00 KiB\n"
            + " Mixed-Case                                          /tmp/vo-a/Mixed-Case                                          file   3.00 GiB    196.00 KiB\n"
            + " one.5m                                              /tmp/vo-a/one.5m                                              file   1.50 MiB    1.50 MiB\n"
            + " sparse-1g                                           /tmp/vo-a/sparse-1g                                           file   1.00 GiB    1.00 GiB\n"
            + " subdir                                              /tmp/vo-a/subdir                                              dir    0.00 B      0.00 B\n"
            + " tie                                                 /tmp/vo-a/tie                                                 file   1.12 KiB    4.00 KiB\n"
            + " tie2                                                /tmp/vo-a/tie2                                                file   2.62 KiB    4.00 KiB\n"
            + " UPPER                                               /tmp/vo-a/UPPER                                               file   10.00 MiB   10.00 MiB\n"
            + " v0                                                  /tmp/vo-a/v0                                                  file   0.00 B      0.00 B\n"
            + " vol-1023                                            /tmp/vo-a/vol-1023                                            file   1023.00 B   4.00 KiB\n"
            + " x68k                                                /tmp/vo-a/x68k                                                file   68.00 KiB   68.00 KiB\n";

        var actual = VirshViews.VolumeList(PoolA, true, Utf8Quiet);

        Assert.Equal(expected, actual);
    }

    /// <summary>virsh LANG=C virsh vol-list vo-a --details</summary>
    [Fact]
    public void PoolA_details_in_C_locale()
    {
        const string expected =
            " Name                                                Path                                                          Type   Capacity    Allocation\n"
            + "--------------------------------------------------------------------------------------------------------------------------------------------------\n"
            + " a-very-long-volume-name-to-stretch-the-column.img   /tmp/vo-a/a-very-long-volume-name-to-stretch-the-column.img   file   4.00 KiB    4.00 KiB\n"
            + " Mixed-Case                                          /tmp/vo-a/Mixed-Case                                          file   3.00 GiB    196.00 KiB\n"
            + " one.5m                                              /tmp/vo-a/one.5m                                              file   1.50 MiB    1.50 MiB\n"
            + " sparse-1g                                           /tmp/vo-a/sparse-1g                                           file   1.00 GiB    1.00 GiB\n"
            + " subdir                                              /tmp/vo-a/subdir                                              dir    0.00 B      0.00 B\n"
            + " tie                                                 /tmp/vo-a/tie                                                 file   1.12 KiB    4.00 KiB\n"
            + " tie2                                                /tmp/vo-a/tie2                                                file   2.62 KiB    4.00 KiB\n"
            + " UPPER                                               /tmp/vo-a/UPPER                                               file   10.00 MiB   10.00 MiB\n"
            + " v0                                                  /tmp/vo-a/v0                                                  file   0.00 B      0.00 B\n"
            + " vol-1023                                            /tmp/vo-a/vol-1023                                            file   1023.00 B   4.00 KiB\n"
            + " x68k                                                /tmp/vo-a/x68k                                                file   68.00 KiB   68.00 KiB\n"
            + "\n";

        var actual = VirshViews.VolumeList(PoolA, true, CLocale) + "\n";

        Assert.Equal(expected, actual);
    }

    /// <summary>virsh vol-list vo-transient</summary>
    [Fact]
    public void Transient_plain()
    {
        const string expected =
            " Name               Path\n"
            + "-------------------------------------------------\n"
            + " b1                 /tmp/vo-tr/b1\n"
            + " bs\\x5cx41          /tmp/vo-tr/bs\\x5cx41\n"
            + " c\u0301-e\\xff\\xff-z\u200B-\uFF21   /tmp/vo-tr/c\u0301-e\\xff\\xff-z\u200B-\uFF21\n"
            + " k1                 /tmp/vo-tr/k1\n"
            + " k1m                /tmp/vo-tr/k1m\n"
            + " odd2               /tmp/vo-tr/odd2\n"
            + " p1m                /tmp/vo-tr/p1m\n"
            + " t1                 /tmp/vo-tr/t1\n"
            + " t1m                /tmp/vo-tr/t1m\n"
            + " t5                 /tmp/vo-tr/t5\n"
            + " tab\\x09x           /tmp/vo-tr/tab\\x09x\n"
            + "\n";

        var actual = VirshViews.VolumeList(Transient, false, Utf8) + "\n";

        Assert.Equal(expected, actual);
    }

    /// <summary>virsh vol-list vo-transient --details</summary>
    [Fact]
    public void Transient_details()
    {
        const string expected =
            " Name               Path                          Type   Capacity      Allocation\n"
            + "-----------------------------------------------------------------------------------\n"
            + " b1                 /tmp/vo-tr/b1                 file   1.00 B        4.00 KiB\n"
            + " bs\\x5cx41          /tmp/vo-tr/bs\\x5cx41          file   0.00 B        0.00 B\n"
            + " c\u0301-e\\xff\\xff-z\u200B-\uFF21   /tmp/vo-tr/c\u0301-e\\xff\\xff-z\u200B-\uFF21   file   0.00 B        0.00 B\n"
            + " k1                 /tmp/vo-tr/k1                 file   1.00 KiB      4.00 KiB\n"
            + " k1m                /tmp/vo-tr/k1m                file   1024.00 KiB   1.00 MiB\n"
            + " odd2               /tmp/vo-tr/odd2               file   117.74 MiB    196.00 KiB\n"
            + " p1m                /tmp/vo-tr/p1m                file   1.00 PiB      16.19 MiB\n"
            + " t1                 /tmp/vo-tr/t1                 file   5.00 B        4.00 KiB\n"
            + " t1m                /tmp/vo-tr/t1m                file   1.00 TiB      208.00 KiB\n"
            + " t5                 /tmp/vo-tr/t5                 file   5.00 TiB      272.00 KiB\n"
            + " tab\\x09x           /tmp/vo-tr/tab\\x09x           file   0.00 B        0.00 B\n"
            + "\n";

        var actual = VirshViews.VolumeList(Transient, true, Utf8) + "\n";

        Assert.Equal(expected, actual);
    }

    /// <summary>virsh -q vol-list vo-transient --details</summary>
    [Fact]
    public void Transient_details_quiet()
    {
        const string expected =
            " b1                 /tmp/vo-tr/b1                 file   1.00 B        4.00 KiB\n"
            + " bs\\x5cx41          /tmp/vo-tr/bs\\x5cx41          file   0.00 B        0.00 B\n"
            + " c\u0301-e\\xff\\xff-z\u200B-\uFF21   /tmp/vo-tr/c\u0301-e\\xff\\xff-z\u200B-\uFF21   file   0.00 B        0.00 B\n"
            + " k1                 /tmp/vo-tr/k1                 file   1.00 KiB      4.00 KiB\n"
            + " k1m                /tmp/vo-tr/k1m                file   1024.00 KiB   1.00 MiB\n"
            + " odd2               /tmp/vo-tr/odd2               file   117.74 MiB    196.00 KiB\n"
            + " p1m                /tmp/vo-tr/p1m                file   1.00 PiB      16.19 MiB\n"
            + " t1                 /tmp/vo-tr/t1                 file   5.00 B        4.00 KiB\n"
            + " t1m                /tmp/vo-tr/t1m                file   1.00 TiB      208.00 KiB\n"
            + " t5                 /tmp/vo-tr/t5                 file   5.00 TiB      272.00 KiB\n"
            + " tab\\x09x           /tmp/vo-tr/tab\\x09x           file   0.00 B        0.00 B\n";

        var actual = VirshViews.VolumeList(Transient, true, Utf8Quiet);

        Assert.Equal(expected, actual);
    }

    /// <summary>virsh LANG=C virsh vol-list vo-transient --details</summary>
    [Fact]
    public void Transient_details_in_C_locale()
    {
        const string expected =
            " Name                                             Path                                                        Type   Capacity      Allocation\n"
            + "-----------------------------------------------------------------------------------------------------------------------------------------------\n"
            + " b1                                               /tmp/vo-tr/b1                                               file   1.00 B        4.00 KiB\n"
            + " bs\\x5cx41                                        /tmp/vo-tr/bs\\x5cx41                                        file   0.00 B        0.00 B\n"
            + " c\\xff\\xff-e\\xff\\xff-z\\xff\\xff\\xff-\\xff\\xff\\xff   /tmp/vo-tr/c\\xff\\xff-e\\xff\\xff-z\\xff\\xff\\xff-\\xff\\xff\\xff   file   0.00 B        0.00 B\n"
            + " k1                                               /tmp/vo-tr/k1                                               file   1.00 KiB      4.00 KiB\n"
            + " k1m                                              /tmp/vo-tr/k1m                                              file   1024.00 KiB   1.00 MiB\n"
            + " odd2                                             /tmp/vo-tr/odd2                                             file   117.74 MiB    196.00 KiB\n"
            + " p1m                                              /tmp/vo-tr/p1m                                              file   1.00 PiB      16.19 MiB\n"
            + " t1                                               /tmp/vo-tr/t1                                               file   5.00 B        4.00 KiB\n"
            + " t1m                                              /tmp/vo-tr/t1m                                              file   1.00 TiB      208.00 KiB\n"
            + " t5                                               /tmp/vo-tr/t5                                               file   5.00 TiB      272.00 KiB\n"
            + " tab\\x09x                                         /tmp/vo-tr/tab\\x09x                                         file   0.00 B        0.00 B\n"
            + "\n";

        var actual = VirshViews.VolumeList(Transient, true, CLocale) + "\n";

        Assert.Equal(expected, actual);
    }

    /// <summary>virsh vol-list vo-w</summary>
    [Fact]
    public void Widths_plain()
    {
        const string expected =
            " Name        Path\n"
            + "----------------------------------\n"
            + " c\u0301           /tmp/vo-w/c\u0301\n"
            + " e\\xff\\xff   /tmp/vo-w/e\\xff\\xff\n"
            + " z\u200B           /tmp/vo-w/z\u200B\n"
            + " \u00AD           /tmp/vo-w/\u00AD\n"
            + " \u1160            /tmp/vo-w/\u1160\n"
            + " \uFF21          /tmp/vo-w/\uFF21\n"
            + "\n";

        var actual = VirshViews.VolumeList(Widths, false, Utf8) + "\n";

        Assert.Equal(expected, actual);
    }

    /// <summary>virsh vol-list vo-w --details</summary>
    [Fact]
    public void Widths_details()
    {
        const string expected =
            " Name        Path                  Type   Capacity   Allocation\n"
            + "-----------------------------------------------------------------\n"
            + " c\u0301           /tmp/vo-w/c\u0301           file   0.00 B     0.00 B\n"
            + " e\\xff\\xff   /tmp/vo-w/e\\xff\\xff   file   0.00 B     0.00 B\n"
            + " z\u200B           /tmp/vo-w/z\u200B           file   0.00 B     0.00 B\n"
            + " \u00AD           /tmp/vo-w/\u00AD           file   0.00 B     0.00 B\n"
            + " \u1160            /tmp/vo-w/\u1160            file   0.00 B     0.00 B\n"
            + " \uFF21          /tmp/vo-w/\uFF21          file   0.00 B     0.00 B\n"
            + "\n";

        var actual = VirshViews.VolumeList(Widths, true, Utf8) + "\n";

        Assert.Equal(expected, actual);
    }

    /// <summary>virsh -q vol-list vo-w --details</summary>
    [Fact]
    public void Widths_details_quiet()
    {
        const string expected =
            " c\u0301           /tmp/vo-w/c\u0301           file   0.00 B   0.00 B\n"
            + " e\\xff\\xff   /tmp/vo-w/e\\xff\\xff   file   0.00 B   0.00 B\n"
            + " z\u200B           /tmp/vo-w/z\u200B           file   0.00 B   0.00 B\n"
            + " \u00AD           /tmp/vo-w/\u00AD           file   0.00 B   0.00 B\n"
            + " \u1160            /tmp/vo-w/\u1160            file   0.00 B   0.00 B\n"
            + " \uFF21          /tmp/vo-w/\uFF21          file   0.00 B   0.00 B\n";

        var actual = VirshViews.VolumeList(Widths, true, Utf8Quiet);

        Assert.Equal(expected, actual);
    }

    /// <summary>virsh LANG=C virsh vol-list vo-w --details</summary>
    [Fact]
    public void Widths_details_in_C_locale()
    {
        const string expected =
            " Name            Path                      Type   Capacity   Allocation\n"
            + "-------------------------------------------------------------------------\n"
            + " c\\xff\\xff       /tmp/vo-w/c\\xff\\xff       file   0.00 B     0.00 B\n"
            + " e\\xff\\xff       /tmp/vo-w/e\\xff\\xff       file   0.00 B     0.00 B\n"
            + " z\\xff\\xff\\xff   /tmp/vo-w/z\\xff\\xff\\xff   file   0.00 B     0.00 B\n"
            + " \\xff\\xff        /tmp/vo-w/\\xff\\xff        file   0.00 B     0.00 B\n"
            + " \\xff\\xff\\xff    /tmp/vo-w/\\xff\\xff\\xff    file   0.00 B     0.00 B\n"
            + " \\xff\\xff\\xff    /tmp/vo-w/\\xff\\xff\\xff    file   0.00 B     0.00 B\n"
            + "\n";

        var actual = VirshViews.VolumeList(Widths, true, CLocale) + "\n";

        Assert.Equal(expected, actual);
    }

    /// <summary>virsh vol-list vo-w2</summary>
    [Fact]
    public void Widths2_plain()
    {
        const string expected =
            " Name         Path\n"
            + "-------------------------------------\n"
            + " 123456789    /tmp/vo-w2/123456789\n"
            + " x\\xff\\xffy   /tmp/vo-w2/x\\xff\\xffy\n"
            + " \\xff\\xff     /tmp/vo-w2/\\xff\\xff\n"
            + "\n";

        var actual = VirshViews.VolumeList(Widths2, false, Utf8) + "\n";

        Assert.Equal(expected, actual);
    }

    /// <summary>virsh vol-list vo-w2 --details</summary>
    [Fact]
    public void Widths2_details()
    {
        const string expected =
            " Name         Path                    Type   Capacity   Allocation\n"
            + "--------------------------------------------------------------------\n"
            + " 123456789    /tmp/vo-w2/123456789    file   0.00 B     0.00 B\n"
            + " x\\xff\\xffy   /tmp/vo-w2/x\\xff\\xffy   file   0.00 B     0.00 B\n"
            + " \\xff\\xff     /tmp/vo-w2/\\xff\\xff     file   0.00 B     0.00 B\n"
            + "\n";

        var actual = VirshViews.VolumeList(Widths2, true, Utf8) + "\n";

        Assert.Equal(expected, actual);
    }

    /// <summary>virsh -q vol-list vo-w2 --details</summary>
    [Fact]
    public void Widths2_details_quiet()
    {
        const string expected =
            " 123456789    /tmp/vo-w2/123456789    file   0.00 B   0.00 B\n"
            + " x\\xff\\xffy   /tmp/vo-w2/x\\xff\\xffy   file   0.00 B   0.00 B\n"
            + " \\xff\\xff     /tmp/vo-w2/\\xff\\xff     file   0.00 B   0.00 B\n";

        var actual = VirshViews.VolumeList(Widths2, true, Utf8Quiet);

        Assert.Equal(expected, actual);
    }

    /// <summary>virsh LANG=C virsh vol-list vo-w2 --details</summary>
    [Fact]
    public void Widths2_details_in_C_locale()
    {
        const string expected =
            " Name         Path                    Type   Capacity   Allocation\n"
            + "--------------------------------------------------------------------\n"
            + " 123456789    /tmp/vo-w2/123456789    file   0.00 B     0.00 B\n"
            + " x\\xff\\xffy   /tmp/vo-w2/x\\xff\\xffy   file   0.00 B     0.00 B\n"
            + " \\xff\\xff     /tmp/vo-w2/\\xff\\xff     file   0.00 B     0.00 B\n"
            + "\n";

        var actual = VirshViews.VolumeList(Widths2, true, CLocale) + "\n";

        Assert.Equal(expected, actual);
    }

    /// <summary>virsh vol-list vo-\u00FC\u65E5\u672C</summary>
    [Fact]
    public void Unicode_plain()
    {
        const string expected =
            " Name    Path\n"
            + "--------------------------\n"
            + " \u00FC-vol   /tmp/vo-u/\u00FC-vol\n"
            + "\n";

        var actual = VirshViews.VolumeList(Unicode, false, Utf8) + "\n";

        Assert.Equal(expected, actual);
    }

    /// <summary>virsh vol-list vo-\u00FC\u65E5\u672C --details</summary>
    [Fact]
    public void Unicode_details()
    {
        const string expected =
            " Name    Path              Type   Capacity   Allocation\n"
            + "---------------------------------------------------------\n"
            + " \u00FC-vol   /tmp/vo-u/\u00FC-vol   file   1.00 MiB   1.00 MiB\n"
            + "\n";

        var actual = VirshViews.VolumeList(Unicode, true, Utf8) + "\n";

        Assert.Equal(expected, actual);
    }

    /// <summary>virsh -q vol-list vo-\u00FC\u65E5\u672C --details</summary>
    [Fact]
    public void Unicode_details_quiet()
    {
        const string expected =
            " \u00FC-vol   /tmp/vo-u/\u00FC-vol   file   1.00 MiB   1.00 MiB\n";

        var actual = VirshViews.VolumeList(Unicode, true, Utf8Quiet);

        Assert.Equal(expected, actual);
    }

    /// <summary>virsh LANG=C virsh vol-list vo-\u00FC\u65E5\u672C --details</summary>
    [Fact]
    public void Unicode_details_in_C_locale()
    {
        const string expected =
            " Name           Path                     Type   Capacity   Allocation\n"
            + "-----------------------------------------------------------------------\n"
            + " \\xff\\xff-vol   /tmp/vo-u/\\xff\\xff-vol   file   1.00 MiB   1.00 MiB\n"
            + "\n";

        var actual = VirshViews.VolumeList(Unicode, true, CLocale) + "\n";

        Assert.Equal(expected, actual);
    }

    /// <summary>virsh vol-list vo-empty</summary>
    [Fact]
    public void Empty_plain()
    {
        const string expected =
            " Name   Path\n"
            + "--------------\n"
            + "\n";

        var actual = VirshViews.VolumeList(Empty, false, Utf8) + "\n";

        Assert.Equal(expected, actual);
    }

    /// <summary>virsh vol-list vo-empty --details</summary>
    [Fact]
    public void Empty_details()
    {
        const string expected =
            " Name   Path   Type   Capacity   Allocation\n"
            + "---------------------------------------------\n"
            + "\n";

        var actual = VirshViews.VolumeList(Empty, true, Utf8) + "\n";

        Assert.Equal(expected, actual);
    }

    /// <summary>virsh -q vol-list vo-empty --details</summary>
    [Fact]
    public void Empty_details_quiet()
    {
        const string expected =
            "";

        var actual = VirshViews.VolumeList(Empty, true, Utf8Quiet);

        Assert.Equal(expected, actual);
    }

    /// <summary>virsh LANG=C virsh vol-list vo-empty --details</summary>
    [Fact]
    public void Empty_details_in_C_locale()
    {
        const string expected =
            " Name   Path   Type   Capacity   Allocation\n"
            + "---------------------------------------------\n"
            + "\n";

        var actual = VirshViews.VolumeList(Empty, true, CLocale) + "\n";

        Assert.Equal(expected, actual);
    }
}
