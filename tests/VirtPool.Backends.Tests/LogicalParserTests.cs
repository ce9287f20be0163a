using System.Runtime.CompilerServices;
using VirtPool.Backends.Logical;
using VirtPool.Core.Errors;
using VirtPool.Core.Model;

namespace VirtPool.Backends.Tests;

/// <summary>
/// The lvs/vgs readers on output captured here (Golden/logical/lvs-metadata-only.txt, vgs.txt) and on
/// composed active output (thin pool, snapshots: device-mapper only; see Golden/logical/README.md).
/// </summary>
public sealed class LogicalParserTests
{
    private static string Golden(string name, [CallerFilePath] string thisFile = "")
        => File.ReadAllText(Path.Combine(Path.GetDirectoryName(thisFile)!, "Golden", "logical", name));

    [Fact]
    public void Captured_metadata_only_lvs_are_no_volumes_by_libvirts_rules_but_are_in_metadata_mode()
    {
        var output = Golden("lvs-metadata-only.txt");
        Assert.Equal(3, LvsOutput.ParseRows(output).Count);
        Assert.Empty(LvsOutput.ParseVolumes(output));

        var volumes = LvsOutput.ParseVolumes(output, includeInactive: true);
        Assert.Equal(["lv1", "str"], volumes.Select(v => v.Name));
        var lv1 = volumes[0];
        Assert.Equal("fXuywo-vuqs-yqCV-yW6B-MnUO-aRh3-rQ5kqn", lv1.Uuid);
        Assert.Equal(20971520UL, lv1.Size);
        Assert.False(lv1.Active);
        Assert.Equal(
            [new VolumeExtent("/dev/loopA", 0, 12582912), new VolumeExtent("/dev/loopB", 8388608, 8388608 + 8388608)],
            lv1.Extents);

        // libvirt gives each stripe the whole segment's length.
        Assert.Equal(
            [new VolumeExtent("/dev/loopA", 6 * 4194304UL, (6 * 4194304UL) + 16777216), new VolumeExtent("/dev/loopB", 0, 16777216)],
            volumes[1].Extents);
    }

    [Fact]
    public void Composed_active_listing_follows_libvirts_volume_rules()
    {
        var volumes = LvsOutput.ParseVolumes(Golden("lvs-active-composed.txt"));

        // Thin pool ('t') skipped, thin LV (no devices) never matches, inactive LV skipped.
        Assert.Equal(["RootLV", "Test2", "Test3", "sparse1", "test_stripes"], volumes.Select(v => v.Name));
        Assert.Equal("Test2", volumes[2].Origin);
        Assert.True(volumes[2].Sparse);
        Assert.False(volumes[1].Sparse);
        Assert.Null(volumes[3].Origin);
        Assert.True(volumes[3].Sparse);
        Assert.Equal(2, volumes[4].Extents.Count);
        Assert.Equal(new VolumeExtent("/dev/sdc1", 10240UL * 4194304, (10240UL * 4194304) + 42949672960), volumes[4].Extents[0]);
        Assert.Equal(new VolumeExtent("/dev/hda2", 187UL * 33554432, (187UL * 33554432) + 1040187392), volumes[2].Extents[0]);
    }

    [Theory]
    [InlineData("  lv#o#uuid#/dev/a(1)#linear#1#10#4#10#-wi-a-----", "lv", "o")]
    [InlineData("  lv##uuid#/dev/a(1)#linear#1#10#4#10#-wi-a-----#", "lv", "")]
    [InlineData("lvs lv##uuid#/dev/a(1)#linear#1#10#4#10#-wi-a-----  \r", "lv", "")]
    [InlineData("\tlv##uuid#/dev/a(1)#linear#1#x#4#10#-wi-a-----", "lv", "")]
    public void A_row_of_libvirts_shape_is_read(string line, string name, string origin)
    {
        Assert.True(LvsOutput.TryParseLine(line, out var row));
        Assert.Equal(name, row.Name);
        Assert.Equal(origin, row.Origin);
        Assert.Equal("uuid", row.Uuid);
        Assert.Equal('a', row.State);
    }

    [Theory]
    [InlineData("")]
    [InlineData("  lv##uuid##thin#0#10#4#10#Vwi-a-tz--")]
    [InlineData("  lv##uuid#/dev/a(1)#linear#x#10#4#10#-wi-a-----")]
    [InlineData("  lv##uuid#/dev/a(1)#linear#1#10#4#")]
    [InlineData("  lv##uuid#/dev/a(1)#linear#1#10#4#10#-wi-a-----#extra")]
    [InlineData("  l v##uuid#/dev/a(1)#linear#1#10#4#10#-wi-a-----")]
    [InlineData("  ##uuid#/dev/a(1)#linear#1#10#4#10#-wi-a-----")]
    public void Any_other_line_is_skipped(string line)
    {
        Assert.False(LvsOutput.TryParseLine(line, out _));
        Assert.Empty(LvsOutput.ParseVolumes(line + "\n", includeInactive: true));
    }

    [Theory]
    [InlineData("  lv##u#/dev/a(1)#linear#1#x#4#10#-wi-a-----", "internal error: malformed volume extent length value")]
    [InlineData("  lv##u#/dev/a(z)#linear#1#10#4#10#-wi-a-----", "internal error: malformed volume extent offset value")]
    [InlineData("  lv##u#/dev/a#linear#1#10#4#10#-wi-a-----", "internal error: malformed volume extent devices value")]
    [InlineData("  lv##u#/dev/a(1)#striped#2#10#4#10#-wi-a-----", "internal error: malformed volume extent devices value")]
    [InlineData("  lv##u#/dev/a(1)#linear#1#10#4#99999999999999999999999#-wi-a-----", "internal error: malformed volume allocation value")]
    public void A_malformed_value_fails_the_listing_with_libvirts_message(string line, string message)
    {
        var ex = Assert.Throws<VirtPoolException>(() => LvsOutput.ParseVolumes(line));
        Assert.Equal(VirErrorCode.InternalError, ex.Code);
        Assert.Equal(message, ex.Message);
    }

    [Fact]
    public void Captured_vgs_gives_capacity_free_and_allocation()
    {
        Assert.True(VgsOutput.TryParse(Golden("vgs.txt"), out var sizes));
        Assert.Equal(new PoolSizes(125829120, 125829120 - 88080384, 88080384), sizes);
    }

    [Theory]
    [InlineData("  100:40", true, 100UL, 40UL)]
    [InlineData("  100:40:", true, 100UL, 40UL)]
    [InlineData("vgs 100:40  ", true, 100UL, 40UL)]
    [InlineData("  100:", false, 0UL, 0UL)]
    [InlineData("  100:x", false, 0UL, 0UL)]
    [InlineData("  1 0:4", false, 0UL, 0UL)]
    [InlineData("", false, 0UL, 0UL)]
    public void Vgs_lines(string line, bool ok, ulong size, ulong free)
    {
        Assert.Equal(ok, VgsOutput.TryParseLine(line, out var s, out var f));
        Assert.Equal((size, free), (s, f));
    }

    [Fact]
    public void Backend_note_round_trips_with_paths_holding_spaces()
    {
        var note = new LogicalVolumeData("u-1", 42, Sparse: true, [new VolumeExtent("/dev/my disk", 0, 42), new VolumeExtent("/dev/b", 4, 46)]);
        Assert.True(LogicalVolumeData.TryParse(note.Format(), out var back));
        Assert.Equal(note.Format(), back.Format());
        Assert.Equal(note.Extents, back.Extents);
        Assert.False(LogicalVolumeData.TryParse("1 kind 0 0 0", out _));
        Assert.False(LogicalVolumeData.TryParse(null, out _));
    }

    [Theory]
    [InlineData(10UL << 20, 10UL << 20, null, false, "/sbin/lvcreate --name v -L 10240K vg --yes")]
    [InlineData(10UL << 20, 0UL, null, false, "/sbin/lvcreate --name v -L 1K --type snapshot --virtualsize 10240K vg --yes")]
    [InlineData(10UL << 20, 1025UL, null, false, "/sbin/lvcreate --name v -L 2K --type snapshot --virtualsize 10240K vg --yes")]
    [InlineData(10UL << 20, 10UL << 20, "/dev/vg/base", false, "/sbin/lvcreate --name v -L 10240K -s /dev/vg/base --yes")]
    [InlineData(10UL << 20, 10UL << 20, null, true, "/sbin/lvcreate --name v -L 12288K vg --yes")]
    public void Lvcreate_argv_is_libvirts(ulong capacity, ulong allocation, string? backing, bool encrypted, string expected)
        => Assert.Equal(expected, string.Join(' ', LvmCommands.LvCreateArgv("v", "vg", capacity, allocation, backing, encrypted)));

    [Fact]
    public void Activation_off_is_read_from_the_lvm_conf_only_as_a_setting()
    {
        var dir = Directory.CreateTempSubdirectory("vp-c11lv-conf-").FullName;
        try
        {
            Assert.False(LogicalBackend.ActivationDisabled(null));
            Assert.False(LogicalBackend.ActivationDisabled(dir));
            File.WriteAllText(Path.Combine(dir, "lvm.conf"), "activation {\n  udev_sync = 0\n}\n# global { activation = 0 }\n");
            Assert.False(LogicalBackend.ActivationDisabled(dir));
            File.WriteAllText(Path.Combine(dir, "lvm.conf"), "global { activation = 0 }\n");
            Assert.True(LogicalBackend.ActivationDisabled(dir));
            File.WriteAllText(Path.Combine(dir, "lvm.conf"), "global {\n\tactivation=0\n}\n");
            Assert.True(LogicalBackend.ActivationDisabled(dir));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void The_one_scan_listing_gives_libvirts_rows_and_the_groups_sizes()
    {
        const string output = "  lv1##u-1#/dev/loop0(0)#linear#1#8388608#4194304#8388608#-wi-------#125829120#117440512\n"
            + "  lv2##u-2#/dev/loop0(2),/dev/loop1(0)#striped#2#8388608#4194304#16777216#-wi-------#125829120#117440512\n"
            + "  thin1###thin#1#0#4194304#8388608#Vwi-------#125829120#117440512#\n";
        var listing = LvsOutput.SplitGroupSizes(output, out var sizes);
        Assert.Equal(new PoolSizes(125829120, 8388608, 117440512), sizes);
        var rows = LvsOutput.ParseRows(listing);
        Assert.Equal(["lv1", "lv2"], rows.Select(r => r.Name));
        Assert.Equal("-wi-------", rows[0].Attributes);
        Assert.Equal(2, LvsOutput.ParseVolumes(listing, includeInactive: true).Count);

        // An empty group prints no row: no sizes, so the backend asks vgs.
        Assert.Equal(string.Empty, LvsOutput.SplitGroupSizes(string.Empty, out var none).Trim());
        Assert.Null(none);
    }
}
