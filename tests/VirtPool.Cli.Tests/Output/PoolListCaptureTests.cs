using VirtPool.Core.Manager;
using VirtPool.Core.Model;
// Expected texts were captured from virsh 9.0 (libvirt 9.0.0) against a running libvirtd, together with
// the data virsh itself reported for the same objects (pool-info --bytes, vol-info --bytes, vol-path).
// Each expected text ends with the blank line virsh prints after every command; the views return the
// command's own output, so the tests append that line.

using VirtPool.Cli.Output;

namespace VirtPool.Cli.Tests.Output;

public class PoolListCaptureTests
{
    private static readonly PoolListEntry[] Pools =
    [
        new("vo-a", PoolState.Running, Autostart: true, Persistent: true, 270553174016, 14719000576, 255834173440) { Uuid = "dc2f2e17-8698-4d38-8527-88a1288c4bfd" },
        new("vo-empty", PoolState.Running, Autostart: false, Persistent: false, 270553174016, 14720208896, 255832965120) { Uuid = "178e4af8-ffe3-4fef-8cf5-d0bf85693874" },
        new("vo-long-name-for-width-testing-0123456789", PoolState.Inactive, Autostart: true, Persistent: true, 0, 0, 0) { Uuid = "5172f693-0a23-454d-bdd9-2321baa0ccfe" },
        new("vo-transient", PoolState.Running, Autostart: false, Persistent: false, 270553174016, 13651623936, 256901550080) { Uuid = "0349e979-fc4f-4d6f-9879-e2027876bcb0" },
        new("vo-w", PoolState.Running, Autostart: false, Persistent: false, 270553174016, 15276044288, 255277129728) { Uuid = "3f1dcd4f-8b90-454d-bfbd-db622aef3546" },
        new("vo-w2", PoolState.Running, Autostart: false, Persistent: false, 270553174016, 15377354752, 255175819264) { Uuid = "4a098939-24bf-4a37-87c1-8d8ad4dd8bb0" },
        new("vo-\u00FC\u65E5\u672C", PoolState.Running, Autostart: false, Persistent: true, 270553174016, 13633953792, 256919220224) { Uuid = "517785f6-a8f6-4393-b6f5-5ad7d6b80ea2" },
        new("vx-pool", PoolState.Running, Autostart: false, Persistent: false, 270553174016, 14721282048, 255831891968) { Uuid = "93807574-ac34-4548-ab18-5d5c8599d70b" },
    ];

    private static readonly VirshStyle Utf8 = new(Quiet: false, Utf8Locale: true);
    private static readonly VirshStyle Utf8Quiet = new(Quiet: true, Utf8Locale: true);
    private static readonly VirshStyle CLocale = new(Quiet: false, Utf8Locale: false);

    /// <summary>virsh pool-list --all</summary>
    [Fact]
    public void All_plain()
    {
        const string expected =
            " Name                                        State      Autostart\n"
            + "-------------------------------------------------------------------\n"
            + " vo-a                                        active     yes\n"
            + " vo-empty                                    active     no\n"
            + " vo-long-name-for-width-testing-0123456789   inactive   yes\n"
            + " vo-transient                                active     no\n"
            + " vo-w                                        active     no\n"
            + " vo-w2                                       active     no\n"
            + " vo-\u00FC\u65E5\u672C                                    active     no\n"
            + " vx-pool                                     active     no\n"
            + "\n";

        var actual = VirshViews.PoolList(Pools, details: false, uuid: false, name: false, Utf8) + "\n";

        Assert.Equal(expected, actual);
    }

    /// <summary>virsh pool-list --all --details</summary>
    [Fact]
    public void All_details()
    {
        const string expected =
            " Name                                        State      Autostart   Persistent   Capacity     Allocation   Available\n"
            + "-----------------------------------------------------------------------------------------------------------------------\n"
            + " vo-a                                        running    yes         yes          251.97 GiB   13.71 GiB    238.26 GiB\n"
            + " vo-empty                                    running    no          no           251.97 GiB   13.71 GiB    238.26 GiB\n"
            + " vo-long-name-for-width-testing-0123456789   inactive   yes         yes          -            -            -\n"
            + " vo-transient                                running    no          no           251.97 GiB   12.71 GiB    239.26 GiB\n"
            + " vo-w                                        running    no          no           251.97 GiB   14.23 GiB    237.75 GiB\n"
            + " vo-w2                                       running    no          no           251.97 GiB   14.32 GiB    237.65 GiB\n"
            + " vo-\u00FC\u65E5\u672C                                    running    no          yes          251.97 GiB   12.70 GiB    239.27 GiB\n"
            + " vx-pool                                     running    no          no           251.97 GiB   13.71 GiB    238.26 GiB\n"
            + "\n";

        var actual = VirshViews.PoolList(Pools, details: true, uuid: false, name: false, Utf8) + "\n";

        Assert.Equal(expected, actual);
    }

    /// <summary>virsh -q pool-list --all --details</summary>
    [Fact]
    public void All_details_quiet()
    {
        const string expected =
            " vo-a                                        running    yes   yes   251.97 GiB   13.71 GiB   238.26 GiB\n"
            + " vo-empty                                    running    no    no    251.97 GiB   13.71 GiB   238.26 GiB\n"
            + " vo-long-name-for-width-testing-0123456789   inactive   yes   yes   -            -           -\n"
            + " vo-transient                                running    no    no    251.97 GiB   12.71 GiB   239.26 GiB\n"
            + " vo-w                                        running    no    no    251.97 GiB   14.23 GiB   237.75 GiB\n"
            + " vo-w2                                       running    no    no    251.97 GiB   14.32 GiB   237.65 GiB\n"
            + " vo-\u00FC\u65E5\u672C                                    running    no    yes   251.97 GiB   12.70 GiB   239.27 GiB\n"
            + " vx-pool                                     running    no    no    251.97 GiB   13.71 GiB   238.26 GiB\n";

        var actual = VirshViews.PoolList(Pools, details: true, uuid: false, name: false, Utf8Quiet);

        Assert.Equal(expected, actual);
    }

    /// <summary>virsh -q pool-list --all</summary>
    [Fact]
    public void All_plain_quiet()
    {
        const string expected =
            " vo-a                                        active     yes\n"
            + " vo-empty                                    active     no\n"
            + " vo-long-name-for-width-testing-0123456789   inactive   yes\n"
            + " vo-transient                                active     no\n"
            + " vo-w                                        active     no\n"
            + " vo-w2                                       active     no\n"
            + " vo-\u00FC\u65E5\u672C                                    active     no\n"
            + " vx-pool                                     active     no\n";

        var actual = VirshViews.PoolList(Pools, details: false, uuid: false, name: false, Utf8Quiet);

        Assert.Equal(expected, actual);
    }

    /// <summary>virsh pool-list</summary>
    [Fact]
    public void Active_only_plain()
    {
        const string expected =
            " Name           State    Autostart\n"
            + "------------------------------------\n"
            + " vo-a           active   yes\n"
            + " vo-empty       active   no\n"
            + " vo-transient   active   no\n"
            + " vo-w           active   no\n"
            + " vo-w2          active   no\n"
            + " vo-\u00FC\u65E5\u672C       active   no\n"
            + " vx-pool        active   no\n"
            + "\n";

        var actual = VirshViews.PoolList(Pools.Where(p => p.State != PoolState.Inactive), details: false, uuid: false, name: false, Utf8) + "\n";

        Assert.Equal(expected, actual);
    }

    /// <summary>virsh pool-list --inactive --details</summary>
    [Fact]
    public void Inactive_details()
    {
        const string expected =
            " Name                                        State      Autostart   Persistent   Capacity   Allocation   Available\n"
            + "--------------------------------------------------------------------------------------------------------------------\n"
            + " vo-long-name-for-width-testing-0123456789   inactive   yes         yes          -          -            -\n"
            + "\n";

        var actual = VirshViews.PoolList(Pools.Where(p => p.State == PoolState.Inactive), details: true, uuid: false, name: false, Utf8) + "\n";

        Assert.Equal(expected, actual);
    }

    /// <summary>virsh pool-list --transient --all --details</summary>
    [Fact]
    public void Transient_details()
    {
        const string expected =
            " Name           State     Autostart   Persistent   Capacity     Allocation   Available\n"
            + "-----------------------------------------------------------------------------------------\n"
            + " vo-empty       running   no          no           251.97 GiB   13.71 GiB    238.26 GiB\n"
            + " vo-transient   running   no          no           251.97 GiB   12.71 GiB    239.26 GiB\n"
            + " vo-w           running   no          no           251.97 GiB   14.23 GiB    237.75 GiB\n"
            + " vo-w2          running   no          no           251.97 GiB   14.32 GiB    237.65 GiB\n"
            + " vx-pool        running   no          no           251.97 GiB   13.71 GiB    238.26 GiB\n"
            + "\n";

        var actual = VirshViews.PoolList(Pools.Where(p => p.Persistent == false), details: true, uuid: false, name: false, Utf8) + "\n";

        Assert.Equal(expected, actual);
    }

    /// <summary>virsh pool-list --all --name</summary>
    [Fact]
    public void All_names()
    {
        const string expected =
            "vo-a                \n"
            + "vo-empty            \n"
            + "vo-long-name-for-width-testing-0123456789\n"
            + "vo-transient        \n"
            + "vo-w                \n"
            + "vo-w2               \n"
            + "vo-\u00FC\u65E5\u672C         \n"
            + "vx-pool             \n"
            + "\n";

        var actual = VirshViews.PoolList(Pools, details: false, uuid: false, name: true, Utf8) + "\n";

        Assert.Equal(expected, actual);
    }

    /// <summary>virsh pool-list --all --uuid</summary>
    [Fact]
    public void All_uuids()
    {
        const string expected =
            "dc2f2e17-8698-4d38-8527-88a1288c4bfd\n"
            + "178e4af8-ffe3-4fef-8cf5-d0bf85693874\n"
            + "5172f693-0a23-454d-bdd9-2321baa0ccfe\n"
            + "0349e979-fc4f-4d6f-9879-e2027876bcb0\n"
            + "3f1dcd4f-8b90-454d-bfbd-db622aef3546\n"
            + "4a098939-24bf-4a37-87c1-8d8ad4dd8bb0\n"
            + "517785f6-a8f6-4393-b6f5-5ad7d6b80ea2\n"
            + "93807574-ac34-4548-ab18-5d5c8599d70b\n"
            + "\n";

        var actual = VirshViews.PoolList(Pools, details: false, uuid: true, name: false, Utf8) + "\n";

        Assert.Equal(expected, actual);
    }

    /// <summary>virsh pool-list --all --uuid --name</summary>
    [Fact]
    public void All_uuids_and_names()
    {
        const string expected =
            "dc2f2e17-8698-4d38-8527-88a1288c4bfd vo-a                \n"
            + "178e4af8-ffe3-4fef-8cf5-d0bf85693874 vo-empty            \n"
            + "5172f693-0a23-454d-bdd9-2321baa0ccfe vo-long-name-for-width-testing-0123456789\n"
            + "0349e979-fc4f-4d6f-9879-e2027876bcb0 vo-transient        \n"
            + "3f1dcd4f-8b90-454d-bfbd-db622aef3546 vo-w                \n"
            + "4a098939-24bf-4a37-87c1-8d8ad4dd8bb0 vo-w2               \n"
            + "517785f6-a8f6-4393-b6f5-5ad7d6b80ea2 vo-\u00FC\u65E5\u672C         \n"
            + "93807574-ac34-4548-ab18-5d5c8599d70b vx-pool             \n"
            + "\n";

        var actual = VirshViews.PoolList(Pools, details: false, uuid: true, name: true, Utf8) + "\n";

        Assert.Equal(expected, actual);
    }

    /// <summary>virsh LANG=C virsh pool-list --all</summary>
    [Fact]
    public void All_plain_in_C_locale()
    {
        const string expected =
            " Name                                        State      Autostart\n"
            + "-------------------------------------------------------------------\n"
            + " vo-a                                        active     yes\n"
            + " vo-empty                                    active     no\n"
            + " vo-long-name-for-width-testing-0123456789   inactive   yes\n"
            + " vo-transient                                active     no\n"
            + " vo-w                                        active     no\n"
            + " vo-w2                                       active     no\n"
            + " vo-\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff         active     no\n"
            + " vx-pool                                     active     no\n"
            + "\n";

        var actual = VirshViews.PoolList(Pools, details: false, uuid: false, name: false, CLocale) + "\n";

        Assert.Equal(expected, actual);
    }

    /// <summary>virsh LANG=C virsh pool-list --all --details</summary>
    [Fact]
    public void All_details_in_C_locale()
    {
        const string expected =
            " Name                                        State      Autostart   Persistent   Capacity     Allocation   Available\n"
            + "-----------------------------------------------------------------------------------------------------------------------\n"
            + " vo-a                                        running    yes         yes          251.97 GiB   13.71 GiB    238.26 GiB\n"
            + " vo-empty                                    running    no          no           251.97 GiB   13.71 GiB    238.26 GiB\n"
            + " vo-long-name-for-width-testing-0123456789   inactive   yes         yes          -            -            -\n"
            + " vo-transient                                running    no          no           251.97 GiB   12.71 GiB    239.26 GiB\n"
            + " vo-w                                        running    no          no           251.97 GiB   14.23 GiB    237.75 GiB\n"
            + " vo-w2                                       running    no          no           251.97 GiB   14.32 GiB    237.65 GiB\n"
            + " vo-\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff         running    no          yes          251.97 GiB   12.70 GiB    239.27 GiB\n"
            + " vx-pool                                     running    no          no           251.97 GiB   13.71 GiB    238.26 GiB\n"
            + "\n";

        var actual = VirshViews.PoolList(Pools, details: true, uuid: false, name: false, CLocale) + "\n";

        Assert.Equal(expected, actual);
    }

    /// <summary>virsh pool-list --inactive --transient</summary>
    [Fact]
    public void Empty_plain()
    {
        const string expected =
            " Name   State   Autostart\n"
            + "---------------------------\n"
            + "\n";

        var actual = VirshViews.PoolList([], details: false, uuid: false, name: false, Utf8) + "\n";

        Assert.Equal(expected, actual);
    }

    /// <summary>virsh pool-list --inactive --transient --details</summary>
    [Fact]
    public void Empty_details()
    {
        const string expected =
            " Name   State   Autostart   Persistent   Capacity   Allocation   Available\n"
            + "----------------------------------------------------------------------------\n"
            + "\n";

        var actual = VirshViews.PoolList([], details: true, uuid: false, name: false, Utf8) + "\n";

        Assert.Equal(expected, actual);
    }

    /// <summary>virsh pool-list --inactive --transient --name</summary>
    [Fact]
    public void Empty_names()
    {
        const string expected =
            "\n";

        var actual = VirshViews.PoolList([], details: false, uuid: false, name: true, Utf8) + "\n";

        Assert.Equal(expected, actual);
    }

    /// <summary>virsh -q pool-list --inactive --transient</summary>
    [Fact]
    public void Empty_quiet()
    {
        const string expected =
            "";

        var actual = VirshViews.PoolList([], details: false, uuid: false, name: false, Utf8Quiet);

        Assert.Equal(expected, actual);
    }
}
