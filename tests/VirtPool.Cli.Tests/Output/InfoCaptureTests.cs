using PoolState = VirtPool.Core.Manager.PoolState;
using VirtPool.Core.Model;
// Expected texts were captured from virsh 9.0 (libvirt 9.0.0) against a running libvirtd, together with
// the data virsh itself reported for the same objects (pool-info --bytes, vol-info --bytes, vol-path).
// Each expected text ends with the blank line virsh prints after every command; the views return the
// command's own output, so the tests append that line.

using VirtPool.Cli.Output;

namespace VirtPool.Cli.Tests.Output;

public class InfoCaptureTests
{
    public static TheoryData<PoolInfo, string, string> PoolInfos => new()
    {
        {
            new PoolInfo("vo-a", "dc2f2e17-8698-4d38-8527-88a1288c4bfd", PoolState.Running, true, true, 270553174016, 14719000576, 255834173440),
            "Name:           vo-a\n"
            + "UUID:           dc2f2e17-8698-4d38-8527-88a1288c4bfd\n"
            + "State:          running\n"
            + "Persistent:     yes\n"
            + "Autostart:      yes\n"
            + "Capacity:       251.97 GiB\n"
            + "Allocation:     13.71 GiB\n"
            + "Available:      238.26 GiB\n"
            + "\n",
            "Name:           vo-a\n"
            + "UUID:           dc2f2e17-8698-4d38-8527-88a1288c4bfd\n"
            + "State:          running\n"
            + "Persistent:     yes\n"
            + "Autostart:      yes\n"
            + "Capacity:       270553174016\n"
            + "Allocation:     14719000576\n"
            + "Available:      255834173440\n"
            + "\n"
        },
        {
            new PoolInfo("vo-empty", "178e4af8-ffe3-4fef-8cf5-d0bf85693874", PoolState.Running, false, false, 270553174016, 14720208896, 255832965120),
            "Name:           vo-empty\n"
            + "UUID:           178e4af8-ffe3-4fef-8cf5-d0bf85693874\n"
            + "State:          running\n"
            + "Persistent:     no\n"
            + "Autostart:      no\n"
            + "Capacity:       251.97 GiB\n"
            + "Allocation:     13.71 GiB\n"
            + "Available:      238.26 GiB\n"
            + "\n",
            "Name:           vo-empty\n"
            + "UUID:           178e4af8-ffe3-4fef-8cf5-d0bf85693874\n"
            + "State:          running\n"
            + "Persistent:     no\n"
            + "Autostart:      no\n"
            + "Capacity:       270553174016\n"
            + "Allocation:     14720208896\n"
            + "Available:      255832965120\n"
            + "\n"
        },
        {
            new PoolInfo("vo-long-name-for-width-testing-0123456789", "5172f693-0a23-454d-bdd9-2321baa0ccfe", PoolState.Inactive, true, true, 0, 0, 0),
            "Name:           vo-long-name-for-width-testing-0123456789\n"
            + "UUID:           5172f693-0a23-454d-bdd9-2321baa0ccfe\n"
            + "State:          inactive\n"
            + "Persistent:     yes\n"
            + "Autostart:      yes\n"
            + "\n",
            "Name:           vo-long-name-for-width-testing-0123456789\n"
            + "UUID:           5172f693-0a23-454d-bdd9-2321baa0ccfe\n"
            + "State:          inactive\n"
            + "Persistent:     yes\n"
            + "Autostart:      yes\n"
            + "\n"
        },
        {
            new PoolInfo("vo-transient", "0349e979-fc4f-4d6f-9879-e2027876bcb0", PoolState.Running, false, false, 270553174016, 13651623936, 256901550080),
            "Name:           vo-transient\n"
            + "UUID:           0349e979-fc4f-4d6f-9879-e2027876bcb0\n"
            + "State:          running\n"
            + "Persistent:     no\n"
            + "Autostart:      no\n"
            + "Capacity:       251.97 GiB\n"
            + "Allocation:     12.71 GiB\n"
            + "Available:      239.26 GiB\n"
            + "\n",
            "Name:           vo-transient\n"
            + "UUID:           0349e979-fc4f-4d6f-9879-e2027876bcb0\n"
            + "State:          running\n"
            + "Persistent:     no\n"
            + "Autostart:      no\n"
            + "Capacity:       270553174016\n"
            + "Allocation:     13651623936\n"
            + "Available:      256901550080\n"
            + "\n"
        },
        {
            new PoolInfo("vo-w", "3f1dcd4f-8b90-454d-bfbd-db622aef3546", PoolState.Running, false, false, 270553174016, 15276044288, 255277129728),
            "Name:           vo-w\n"
            + "UUID:           3f1dcd4f-8b90-454d-bfbd-db622aef3546\n"
            + "State:          running\n"
            + "Persistent:     no\n"
            + "Autostart:      no\n"
            + "Capacity:       251.97 GiB\n"
            + "Allocation:     14.23 GiB\n"
            + "Available:      237.75 GiB\n"
            + "\n",
            "Name:           vo-w\n"
            + "UUID:           3f1dcd4f-8b90-454d-bfbd-db622aef3546\n"
            + "State:          running\n"
            + "Persistent:     no\n"
            + "Autostart:      no\n"
            + "Capacity:       270553174016\n"
            + "Allocation:     15276044288\n"
            + "Available:      255277129728\n"
            + "\n"
        },
        {
            new PoolInfo("vo-w2", "4a098939-24bf-4a37-87c1-8d8ad4dd8bb0", PoolState.Running, false, false, 270553174016, 15377354752, 255175819264),
            "Name:           vo-w2\n"
            + "UUID:           4a098939-24bf-4a37-87c1-8d8ad4dd8bb0\n"
            + "State:          running\n"
            + "Persistent:     no\n"
            + "Autostart:      no\n"
            + "Capacity:       251.97 GiB\n"
            + "Allocation:     14.32 GiB\n"
            + "Available:      237.65 GiB\n"
            + "\n",
            "Name:           vo-w2\n"
            + "UUID:           4a098939-24bf-4a37-87c1-8d8ad4dd8bb0\n"
            + "State:          running\n"
            + "Persistent:     no\n"
            + "Autostart:      no\n"
            + "Capacity:       270553174016\n"
            + "Allocation:     15377354752\n"
            + "Available:      255175819264\n"
            + "\n"
        },
        {
            new PoolInfo("vo-\u00FC\u65E5\u672C", "517785f6-a8f6-4393-b6f5-5ad7d6b80ea2", PoolState.Running, true, false, 270553174016, 13633953792, 256919220224),
            "Name:           vo-\u00FC\u65E5\u672C\n"
            + "UUID:           517785f6-a8f6-4393-b6f5-5ad7d6b80ea2\n"
            + "State:          running\n"
            + "Persistent:     yes\n"
            + "Autostart:      no\n"
            + "Capacity:       251.97 GiB\n"
            + "Allocation:     12.70 GiB\n"
            + "Available:      239.27 GiB\n"
            + "\n",
            "Name:           vo-\u00FC\u65E5\u672C\n"
            + "UUID:           517785f6-a8f6-4393-b6f5-5ad7d6b80ea2\n"
            + "State:          running\n"
            + "Persistent:     yes\n"
            + "Autostart:      no\n"
            + "Capacity:       270553174016\n"
            + "Allocation:     13633953792\n"
            + "Available:      256919220224\n"
            + "\n"
        },
    };

    /// <summary>virsh pool-info POOL and virsh pool-info POOL --bytes.</summary>
    [Theory]
    [MemberData(nameof(PoolInfos))]
    public void Pool_info(PoolInfo info, string pretty, string bytes)
    {
        Assert.Equal(pretty, VirshViews.PoolInfo(info, bytes: false) + "\n");
        Assert.Equal(bytes, VirshViews.PoolInfo(info, bytes: true) + "\n");
    }

    public static TheoryData<VolumeInfo, ulong, string[]> VolumeInfos => new()
    {
        {
            new VolumeInfo("Mixed-Case", VolumeType.File, 3221225472, 200704),
            196656,
            [
                "Name:           Mixed-Case\n"
                + "Type:           file\n"
                + "Capacity:       3.00 GiB\n"
                + "Allocation:     196.00 KiB\n"
                + "\n",
                "Name:           Mixed-Case\n"
                + "Type:           file\n"
                + "Capacity:       3221225472 bytes\n"
                + "Allocation:     200704 bytes\n"
                + "\n",
                "Name:           Mixed-Case\n"
                + "Type:           file\n"
                + "Capacity:       3.00 GiB\n"
                + "Physical:       192.05 KiB\n"
                + "\n",
                "Name:           Mixed-Case\n"
                + "Type:           file\n"
                + "Capacity:       3221225472 bytes\n"
                + "Physical:       196656 bytes\n"
                + "\n",
            ]
        },
        {
            new VolumeInfo("UPPER", VolumeType.File, 10485760, 10485760),
            10485760,
            [
                "Name:           UPPER\n"
                + "Type:           file\n"
                + "Capacity:       10.00 MiB\n"
                + "Allocation:     10.00 MiB\n"
                + "\n",
                "Name:           UPPER\n"
                + "Type:           file\n"
                + "Capacity:       10485760 bytes\n"
                + "Allocation:     10485760 bytes\n"
                + "\n",
                "Name:           UPPER\n"
                + "Type:           file\n"
                + "Capacity:       10.00 MiB\n"
                + "Physical:       10.00 MiB\n"
                + "\n",
                "Name:           UPPER\n"
                + "Type:           file\n"
                + "Capacity:       10485760 bytes\n"
                + "Physical:       10485760 bytes\n"
                + "\n",
            ]
        },
        {
            new VolumeInfo("a-very-long-volume-name-to-stretch-the-column.img", VolumeType.File, 4096, 4096),
            4096,
            [
                "Name:           a-very-long-volume-name-to-stretch-the-column.img\n"
                + "Type:           file\n"
                + "Capacity:       4.00 KiB\n"
                + "Allocation:     4.00 KiB\n"
                + "\n",
                "Name:           a-very-long-volume-name-to-stretch-the-column.img\n"
                + "Type:           file\n"
                + "Capacity:       4096 bytes\n"
                + "Allocation:     4096 bytes\n"
                + "\n",
                "Name:           a-very-long-volume-name-to-stretch-the-column.img\n"
                + "Type:           file\n"
                + "Capacity:       4.00 KiB\n"
                + "Physical:       4.00 KiB\n"
                + "\n",
                "Name:           a-very-long-volume-name-to-stretch-the-column.img\n"
                + "Type:           file\n"
                + "Capacity:       4096 bytes\n"
                + "Physical:       4096 bytes\n"
                + "\n",
            ]
        },
        {
            new VolumeInfo("one.5m", VolumeType.File, 1572864, 1572864),
            1572864,
            [
                "Name:           one.5m\n"
                + "Type:           file\n"
                + "Capacity:       1.50 MiB\n"
                + "Allocation:     1.50 MiB\n"
                + "\n",
                "Name:           one.5m\n"
                + "Type:           file\n"
                + "Capacity:       1572864 bytes\n"
                + "Allocation:     1572864 bytes\n"
                + "\n",
                "Name:           one.5m\n"
                + "Type:           file\n"
                + "Capacity:       1.50 MiB\n"
                + "Physical:       1.50 MiB\n"
                + "\n",
                "Name:           one.5m\n"
                + "Type:           file\n"
                + "Capacity:       1572864 bytes\n"
                + "Physical:       1572864 bytes\n"
                + "\n",
            ]
        },
        {
            new VolumeInfo("sparse-1g", VolumeType.File, 1073741824, 1073745920),
            1073741824,
            [
                "Name:           sparse-1g\n"
                + "Type:           file\n"
                + "Capacity:       1.00 GiB\n"
                + "Allocation:     1.00 GiB\n"
                + "\n",
                "Name:           sparse-1g\n"
                + "Type:           file\n"
                + "Capacity:       1073741824 bytes\n"
                + "Allocation:     1073745920 bytes\n"
                + "\n",
                "Name:           sparse-1g\n"
                + "Type:           file\n"
                + "Capacity:       1.00 GiB\n"
                + "Physical:       1.00 GiB\n"
                + "\n",
                "Name:           sparse-1g\n"
                + "Type:           file\n"
                + "Capacity:       1073741824 bytes\n"
                + "Physical:       1073741824 bytes\n"
                + "\n",
            ]
        },
        {
            new VolumeInfo("subdir", VolumeType.Dir, 0, 0),
            0,
            [
                "Name:           subdir\n"
                + "Type:           dir\n"
                + "Capacity:       0.00 B\n"
                + "Allocation:     0.00 B\n"
                + "\n",
                "Name:           subdir\n"
                + "Type:           dir\n"
                + "Capacity:       0 bytes\n"
                + "Allocation:     0 bytes\n"
                + "\n",
                "Name:           subdir\n"
                + "Type:           dir\n"
                + "Capacity:       0.00 B\n"
                + "Physical:       0.00 B\n"
                + "\n",
                "Name:           subdir\n"
                + "Type:           dir\n"
                + "Capacity:       0 bytes\n"
                + "Physical:       0 bytes\n"
                + "\n",
            ]
        },
        {
            new VolumeInfo("tie", VolumeType.File, 1152, 4096),
            1152,
            [
                "Name:           tie\n"
                + "Type:           file\n"
                + "Capacity:       1.12 KiB\n"
                + "Allocation:     4.00 KiB\n"
                + "\n",
                "Name:           tie\n"
                + "Type:           file\n"
                + "Capacity:       1152 bytes\n"
                + "Allocation:     4096 bytes\n"
                + "\n",
                "Name:           tie\n"
                + "Type:           file\n"
                + "Capacity:       1.12 KiB\n"
                + "Physical:       1.12 KiB\n"
                + "\n",
                "Name:           tie\n"
                + "Type:           file\n"
                + "Capacity:       1152 bytes\n"
                + "Physical:       1152 bytes\n"
                + "\n",
            ]
        },
        {
            new VolumeInfo("tie2", VolumeType.File, 2688, 4096),
            2688,
            [
                "Name:           tie2\n"
                + "Type:           file\n"
                + "Capacity:       2.62 KiB\n"
                + "Allocation:     4.00 KiB\n"
                + "\n",
                "Name:           tie2\n"
                + "Type:           file\n"
                + "Capacity:       2688 bytes\n"
                + "Allocation:     4096 bytes\n"
                + "\n",
                "Name:           tie2\n"
                + "Type:           file\n"
                + "Capacity:       2.62 KiB\n"
                + "Physical:       2.62 KiB\n"
                + "\n",
                "Name:           tie2\n"
                + "Type:           file\n"
                + "Capacity:       2688 bytes\n"
                + "Physical:       2688 bytes\n"
                + "\n",
            ]
        },
        {
            new VolumeInfo("v0", VolumeType.File, 0, 0),
            0,
            [
                "Name:           v0\n"
                + "Type:           file\n"
                + "Capacity:       0.00 B\n"
                + "Allocation:     0.00 B\n"
                + "\n",
                "Name:           v0\n"
                + "Type:           file\n"
                + "Capacity:       0 bytes\n"
                + "Allocation:     0 bytes\n"
                + "\n",
                "Name:           v0\n"
                + "Type:           file\n"
                + "Capacity:       0.00 B\n"
                + "Physical:       0.00 B\n"
                + "\n",
                "Name:           v0\n"
                + "Type:           file\n"
                + "Capacity:       0 bytes\n"
                + "Physical:       0 bytes\n"
                + "\n",
            ]
        },
        {
            new VolumeInfo("vol-1023", VolumeType.File, 1023, 4096),
            1023,
            [
                "Name:           vol-1023\n"
                + "Type:           file\n"
                + "Capacity:       1023.00 B\n"
                + "Allocation:     4.00 KiB\n"
                + "\n",
                "Name:           vol-1023\n"
                + "Type:           file\n"
                + "Capacity:       1023 bytes\n"
                + "Allocation:     4096 bytes\n"
                + "\n",
                "Name:           vol-1023\n"
                + "Type:           file\n"
                + "Capacity:       1023.00 B\n"
                + "Physical:       1023.00 B\n"
                + "\n",
                "Name:           vol-1023\n"
                + "Type:           file\n"
                + "Capacity:       1023 bytes\n"
                + "Physical:       1023 bytes\n"
                + "\n",
            ]
        },
        {
            new VolumeInfo("x68k", VolumeType.File, 69632, 69632),
            69632,
            [
                "Name:           x68k\n"
                + "Type:           file\n"
                + "Capacity:       68.00 KiB\n"
                + "Allocation:     68.00 KiB\n"
                + "\n",
                "Name:           x68k\n"
                + "Type:           file\n"
                + "Capacity:       69632 bytes\n"
                + "Allocation:     69632 bytes\n"
                + "\n",
                "Name:           x68k\n"
                + "Type:           file\n"
                + "Capacity:       68.00 KiB\n"
                + "Physical:       68.00 KiB\n"
                + "\n",
                "Name:           x68k\n"
                + "Type:           file\n"
                + "Capacity:       69632 bytes\n"
                + "Physical:       69632 bytes\n"
                + "\n",
            ]
        },
        {
            new VolumeInfo("b1", VolumeType.File, 1, 4096),
            1,
            [
                "Name:           b1\n"
                + "Type:           file\n"
                + "Capacity:       1.00 B\n"
                + "Allocation:     4.00 KiB\n"
                + "\n",
                "Name:           b1\n"
                + "Type:           file\n"
                + "Capacity:       1 bytes\n"
                + "Allocation:     4096 bytes\n"
                + "\n",
                "Name:           b1\n"
                + "Type:           file\n"
                + "Capacity:       1.00 B\n"
                + "Physical:       1.00 B\n"
                + "\n",
                "Name:           b1\n"
                + "Type:           file\n"
                + "Capacity:       1 bytes\n"
                + "Physical:       1 bytes\n"
                + "\n",
            ]
        },
        {
            new VolumeInfo("bs\\x41", VolumeType.File, 0, 0),
            0,
            [
                "Name:           bs\\x41\n"
                + "Type:           file\n"
                + "Capacity:       0.00 B\n"
                + "Allocation:     0.00 B\n"
                + "\n",
                "Name:           bs\\x41\n"
                + "Type:           file\n"
                + "Capacity:       0 bytes\n"
                + "Allocation:     0 bytes\n"
                + "\n",
                "Name:           bs\\x41\n"
                + "Type:           file\n"
                + "Capacity:       0.00 B\n"
                + "Physical:       0.00 B\n"
                + "\n",
                "Name:           bs\\x41\n"
                + "Type:           file\n"
                + "Capacity:       0 bytes\n"
                + "Physical:       0 bytes\n"
                + "\n",
            ]
        },
        {
            new VolumeInfo("c\u0301-e\u0085-z\u200B-\uFF21", VolumeType.File, 0, 0),
            0,
            [
                "Name:           c\u0301-e\u0085-z\u200B-\uFF21\n"
                + "Type:           file\n"
                + "Capacity:       0.00 B\n"
                + "Allocation:     0.00 B\n"
                + "\n",
                "Name:           c\u0301-e\u0085-z\u200B-\uFF21\n"
                + "Type:           file\n"
                + "Capacity:       0 bytes\n"
                + "Allocation:     0 bytes\n"
                + "\n",
                "Name:           c\u0301-e\u0085-z\u200B-\uFF21\n"
                + "Type:           file\n"
                + "Capacity:       0.00 B\n"
                + "Physical:       0.00 B\n"
                + "\n",
                "Name:           c\u0301-e\u0085-z\u200B-\uFF21\n"
                + "Type:           file\n"
                + "Capacity:       0 bytes\n"
                + "Physical:       0 bytes\n"
                + "\n",
            ]
        },
        {
            new VolumeInfo("k1", VolumeType.File, 1024, 4096),
            1024,
            [
                "Name:           k1\n"
                + "Type:           file\n"
                + "Capacity:       1.00 KiB\n"
                + "Allocation:     4.00 KiB\n"
                + "\n",
                "Name:           k1\n"
                + "Type:           file\n"
                + "Capacity:       1024 bytes\n"
                + "Allocation:     4096 bytes\n"
                + "\n",
                "Name:           k1\n"
                + "Type:           file\n"
                + "Capacity:       1.00 KiB\n"
                + "Physical:       1.00 KiB\n"
                + "\n",
                "Name:           k1\n"
                + "Type:           file\n"
                + "Capacity:       1024 bytes\n"
                + "Physical:       1024 bytes\n"
                + "\n",
            ]
        },
        {
            new VolumeInfo("k1m", VolumeType.File, 1048575, 1048576),
            1048575,
            [
                "Name:           k1m\n"
                + "Type:           file\n"
                + "Capacity:       1024.00 KiB\n"
                + "Allocation:     1.00 MiB\n"
                + "\n",
                "Name:           k1m\n"
                + "Type:           file\n"
                + "Capacity:       1048575 bytes\n"
                + "Allocation:     1048576 bytes\n"
                + "\n",
                "Name:           k1m\n"
                + "Type:           file\n"
                + "Capacity:       1024.00 KiB\n"
                + "Physical:       1024.00 KiB\n"
                + "\n",
                "Name:           k1m\n"
                + "Type:           file\n"
                + "Capacity:       1048575 bytes\n"
                + "Physical:       1048575 bytes\n"
                + "\n",
            ]
        },
        {
            new VolumeInfo("odd2", VolumeType.File, 123457536, 200704),
            196616,
            [
                "Name:           odd2\n"
                + "Type:           file\n"
                + "Capacity:       117.74 MiB\n"
                + "Allocation:     196.00 KiB\n"
                + "\n",
                "Name:           odd2\n"
                + "Type:           file\n"
                + "Capacity:       123457536 bytes\n"
                + "Allocation:     200704 bytes\n"
                + "\n",
                "Name:           odd2\n"
                + "Type:           file\n"
                + "Capacity:       117.74 MiB\n"
                + "Physical:       192.01 KiB\n"
                + "\n",
                "Name:           odd2\n"
                + "Type:           file\n"
                + "Capacity:       123457536 bytes\n"
                + "Physical:       196616 bytes\n"
                + "\n",
            ]
        },
        {
            new VolumeInfo("p1m", VolumeType.File, 1125899906842624, 16973824),
            16973824,
            [
                "Name:           p1m\n"
                + "Type:           file\n"
                + "Capacity:       1.00 PiB\n"
                + "Allocation:     16.19 MiB\n"
                + "\n",
                "Name:           p1m\n"
                + "Type:           file\n"
                + "Capacity:       1125899906842624 bytes\n"
                + "Allocation:     16973824 bytes\n"
                + "\n",
                "Name:           p1m\n"
                + "Type:           file\n"
                + "Capacity:       1.00 PiB\n"
                + "Physical:       16.19 MiB\n"
                + "\n",
                "Name:           p1m\n"
                + "Type:           file\n"
                + "Capacity:       1125899906842624 bytes\n"
                + "Physical:       16973824 bytes\n"
                + "\n",
            ]
        },
        {
            new VolumeInfo("t1", VolumeType.File, 5, 4096),
            5,
            [
                "Name:           t1\n"
                + "Type:           file\n"
                + "Capacity:       5.00 B\n"
                + "Allocation:     4.00 KiB\n"
                + "\n",
                "Name:           t1\n"
                + "Type:           file\n"
                + "Capacity:       5 bytes\n"
                + "Allocation:     4096 bytes\n"
                + "\n",
                "Name:           t1\n"
                + "Type:           file\n"
                + "Capacity:       5.00 B\n"
                + "Physical:       5.00 B\n"
                + "\n",
                "Name:           t1\n"
                + "Type:           file\n"
                + "Capacity:       5 bytes\n"
                + "Physical:       5 bytes\n"
                + "\n",
            ]
        },
        {
            new VolumeInfo("t1m", VolumeType.File, 1099511627776, 212992),
            212992,
            [
                "Name:           t1m\n"
                + "Type:           file\n"
                + "Capacity:       1.00 TiB\n"
                + "Allocation:     208.00 KiB\n"
                + "\n",
                "Name:           t1m\n"
                + "Type:           file\n"
                + "Capacity:       1099511627776 bytes\n"
                + "Allocation:     212992 bytes\n"
                + "\n",
                "Name:           t1m\n"
                + "Type:           file\n"
                + "Capacity:       1.00 TiB\n"
                + "Physical:       208.00 KiB\n"
                + "\n",
                "Name:           t1m\n"
                + "Type:           file\n"
                + "Capacity:       1099511627776 bytes\n"
                + "Physical:       212992 bytes\n"
                + "\n",
            ]
        },
        {
            new VolumeInfo("t5", VolumeType.File, 5497558138880, 278528),
            278528,
            [
                "Name:           t5\n"
                + "Type:           file\n"
                + "Capacity:       5.00 TiB\n"
                + "Allocation:     272.00 KiB\n"
                + "\n",
                "Name:           t5\n"
                + "Type:           file\n"
                + "Capacity:       5497558138880 bytes\n"
                + "Allocation:     278528 bytes\n"
                + "\n",
                "Name:           t5\n"
                + "Type:           file\n"
                + "Capacity:       5.00 TiB\n"
                + "Physical:       272.00 KiB\n"
                + "\n",
                "Name:           t5\n"
                + "Type:           file\n"
                + "Capacity:       5497558138880 bytes\n"
                + "Physical:       278528 bytes\n"
                + "\n",
            ]
        },
        {
            new VolumeInfo("tab\tx", VolumeType.File, 0, 0),
            0,
            [
                "Name:           tab\tx\n"
                + "Type:           file\n"
                + "Capacity:       0.00 B\n"
                + "Allocation:     0.00 B\n"
                + "\n",
                "Name:           tab\tx\n"
                + "Type:           file\n"
                + "Capacity:       0 bytes\n"
                + "Allocation:     0 bytes\n"
                + "\n",
                "Name:           tab\tx\n"
                + "Type:           file\n"
                + "Capacity:       0.00 B\n"
                + "Physical:       0.00 B\n"
                + "\n",
                "Name:           tab\tx\n"
                + "Type:           file\n"
                + "Capacity:       0 bytes\n"
                + "Physical:       0 bytes\n"
                + "\n",
            ]
        },
    };

    /// <summary>virsh vol-info VOL --pool POOL, with --bytes, with --physical, with both.</summary>
    [Theory]
    [MemberData(nameof(VolumeInfos))]
    public void Volume_info(VolumeInfo info, ulong physical, string[] expected)
    {
        var withPhysical = info with { Allocation = physical };
        Assert.Equal(expected[0], VirshViews.VolumeInfo(info, bytes: false, physical: false) + "\n");
        Assert.Equal(expected[1], VirshViews.VolumeInfo(info, bytes: true, physical: false) + "\n");
        Assert.Equal(expected[2], VirshViews.VolumeInfo(withPhysical, bytes: false, physical: true) + "\n");
        Assert.Equal(expected[3], VirshViews.VolumeInfo(withPhysical, bytes: true, physical: true) + "\n");
    }
}
