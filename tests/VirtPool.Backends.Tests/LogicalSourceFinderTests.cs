using System.Runtime.CompilerServices;
using VirtPool.Backends.Logical;
using VirtPool.Core.Errors;
using VirtPool.Core.Manager;
using VirtPool.Core.Model;
using VirtPool.Core.Process;
using VirtPool.Core.State;
using VirtPool.Core.Xml;
using VirtPool.TestSupport;

namespace VirtPool.Backends.Tests;

/// <summary>
/// Logical pool-source discovery: the pvs reader on output captured here (Golden/pvs/NAME.pvs.txt,
/// real <c>pvs --noheadings -o pv_name,vg_name</c> with an lvm.conf filter over test loop devices)
/// against what libvirtd 9.0 answered for the very same devices (NAME.libvirtd.xml); the argv against
/// libvirtd's own (its log); and the finder on real volume groups on loop devices.
/// </summary>
public sealed class LogicalSourceFinderTests
{
    private static string GoldenDir([CallerFilePath] string thisFile = "") => Path.Combine(Path.GetDirectoryName(thisFile)!, "Golden");

    [Theory]
    [InlineData("empty")]
    [InlineData("one-vg-two-pvs")]
    [InlineData("two-vgs-and-unused-pv")]
    [InlineData("missing-pv")]
    public void Captured_pvs_output_gives_the_document_libvirtd_gave(string name)
    {
        var output = File.ReadAllText(Path.Combine(GoldenDir(), "pvs", name + ".pvs.txt"));
        var expected = File.ReadAllText(Path.Combine(GoldenDir(), "pvs", name + ".libvirtd.xml"));

        var sources = LogicalPvsOutput.Parse(output);

        Assert.Equal(expected, PoolXml.FormatSourceList(PoolType.Logical, sources));
    }

    [Fact]
    public void Volume_groups_keep_first_seen_order_and_devices_their_output_order()
    {
        var sources = LogicalPvsOutput.Parse("  /dev/sdc vg_b\n  /dev/sda vg_a\n  /dev/sdb vg_b\n  /dev/sdd\n  /dev/sdc vg_b\n");

        Assert.Equal(["vg_b", "vg_a"], sources.Select(s => s.Name));
        Assert.Equal(["/dev/sdc", "/dev/sdb", "/dev/sdc"], sources[0].Devices.Select(d => d.Path));
        Assert.Equal(["/dev/sda"], sources[1].Devices.Select(d => d.Path));
        Assert.All(sources, s => Assert.Equal((int)PoolLogicalFormat.Lvm2, s.Format));
        Assert.All(sources.SelectMany(s => s.Devices), d => Assert.Null(d.PartSeparator));
    }

    [Theory]
    [InlineData("  /dev/loop0 vg", "/dev/loop0", "vg")]
    [InlineData("/dev/loop0\tvg\r", "/dev/loop0", "vg")]
    [InlineData("\v\f /dev/sda1 \t vg.with+odd_chars-1 \t", "/dev/sda1", "vg.with+odd_chars-1")]
    [InlineData("  [unknown]  vg", "[unknown]", "vg")]
    [InlineData("  /dev/disk/by-id/wwn-0x5000c500a1b2'&<x vg", "/dev/disk/by-id/wwn-0x5000c500a1b2'&<x", "vg")]
    [InlineData("  /dev/dìsk\u00a0x vg", "/dev/dìsk\u00a0x", "vg")]
    [InlineData("pvs /dev/sdb vg", "/dev/sdb", "vg")]
    [InlineData("pvs/dev/sdb vg", "/dev/sdb", "vg")]
    public void A_line_of_two_words_is_a_volume_and_its_group(string line, string pv, string vg)
    {
        Assert.True(LogicalPvsOutput.TryParseLine(line, out var gotPv, out var gotVg));
        Assert.Equal(pv, gotPv);
        Assert.Equal(vg, gotVg);
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("  /dev/loop3            ")]
    [InlineData("  /dev/loop3 vg extra")]
    [InlineData("  /dev/my disk vg")]
    [InlineData("pvs")]
    [InlineData("pvs  /dev/sdb")]
    public void Any_other_line_is_skipped(string line)
    {
        Assert.False(LogicalPvsOutput.TryParseLine(line, out _, out _));
        Assert.Empty(LogicalPvsOutput.Parse(line + "\n"));
    }

    [Fact]
    public void Odd_names_are_escaped_in_the_document()
    {
        var sources = LogicalPvsOutput.Parse("  /dev/a'b&c<d vg\n");
        Assert.Equal(
            "<sources>\n  <source>\n    <device path='/dev/a&apos;b&amp;c&lt;d'/>\n    <name>vg</name>\n    <format type='lvm2'/>\n  </source>\n</sources>\n",
            PoolXml.FormatSourceList(PoolType.Logical, sources));
    }

    /// <summary>Golden/logical-find-sources.txt is libvirtd 9.0's own argv, from its log ("Child process (...)").</summary>
    [Fact]
    public async Task Runs_vgscan_then_pvs_with_libvirts_argv()
    {
        var runner = new RecordingProcessRunner(argv => new ProcessResult(0, argv[0] == "/sbin/pvs" ? "  /dev/sdb vg0\n" : string.Empty, string.Empty));
        var sources = await new LogicalSourceFinder(runner).FindPoolSourcesAsync(null, 0, CancellationToken.None);

        Assert.Equal(File.ReadAllLines(Path.Combine(GoldenDir(), "logical-find-sources.txt")), runner.Calls.Select(QemuFormatsShell));
        Assert.Equal(LogicalSourceFinder.VgscanArgv, runner.Calls[0]);
        Assert.Equal(LogicalSourceFinder.PvsArgv, runner.Calls[1]);
        Assert.Equal("vg0", Assert.Single(sources).Name);
    }

    [Fact]
    public async Task A_failed_vgscan_is_no_error_a_failed_pvs_is_libvirts()
    {
        var runner = new RecordingProcessRunner(argv => argv[0] == "/sbin/pvs"
            ? new ProcessResult(5, string.Empty, "  Parse error\n")
            : new ProcessResult(4, string.Empty, "vgscan failed\n"));
        var ex = await Assert.ThrowsAsync<VirtPoolException>(() => new LogicalSourceFinder(runner).FindPoolSourcesAsync(null, 0, CancellationToken.None));

        Assert.Equal(VirErrorCode.InternalError, ex.Code);
        Assert.Equal("internal error: Child process (/sbin/pvs --noheadings -o pv_name,vg_name) unexpected exit status 5:   Parse error\n", ex.Message);
        Assert.Equal(2, runner.Calls.Count);
    }

    [Fact]
    public async Task Flags_are_refused_before_any_tool_runs()
    {
        var runner = new RecordingProcessRunner();
        var ex = await Assert.ThrowsAsync<VirtPoolException>(() => new LogicalSourceFinder(runner).FindPoolSourcesAsync(null, 1, CancellationToken.None));

        Assert.Equal(VirErrorCode.InvalidArg, ex.Code);
        Assert.Equal("unsupported flags (0x1) in function virStorageBackendLogicalFindPoolSources", ex.Message);
        Assert.Empty(runner.Calls);
    }

    /// <summary>
    /// Real volume groups on loop devices among whatever else this machine holds: ours are found with
    /// their devices, a PV in no group is not.
    /// </summary>
    [Fact]
    public async Task Finds_real_volume_groups_on_loop_devices()
    {
        var work = Directory.CreateTempSubdirectory("vp-lvm-").FullName;
        try
        {
            await using (var lvm = await LoopVolumeGroups.CreateAsync(work, [("two", 2), ("odd.name+x-1", 1)], unusedPvs: 1))
            {
                var sources = await new LogicalSourceFinder(ProcessRunner.Instance).FindPoolSourcesAsync(null, 0, CancellationToken.None);

                foreach (var (name, devices) in lvm.Groups)
                {
                    var found = Assert.Single(sources, s => s.Name == name);
                    // pvs sorts by device name (loop10 before loop9), not by vgcreate's order.
                    Assert.Equal(devices.Order(StringComparer.Ordinal), found.Devices.Select(d => d.Path).Order(StringComparer.Ordinal));
                    Assert.Equal((int)PoolLogicalFormat.Lvm2, found.Format);
                }

                var unused = Assert.Single(lvm.UnusedPhysicalVolumes);
                Assert.DoesNotContain(sources.SelectMany(s => s.Devices), d => d.Path == unused);
            }
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    /// <summary>
    /// Through the pool manager, in libvirt's order: unknown type, no backend in libvirtd, no discovery,
    /// then the finder, which ignores srcSpec (a malformed one is no error); the finder comes with logical's backend.
    /// </summary>
    [Fact]
    public async Task Manager_checks_in_libvirts_order()
    {
        var root = Directory.CreateTempSubdirectory("vp-src-").FullName;
        try
        {
            using var mgr = new PoolManager(new StateStore(Path.Combine(root, "state")), BackendCatalog.Create(ProcessRunner.Instance));
            async Task<VirtPoolException> Fails(string type, string? spec = null, uint flags = 0)
                => await Assert.ThrowsAsync<VirtPoolException>(() => mgr.FindPoolSourcesAsync(type, spec, flags));

            Assert.Equal("internal error: unknown storage pool type bogus", (await Fails("bogus")).Message);
            Assert.Equal("internal error: unknown storage pool type Logical", (await Fails("Logical")).Message);
            Assert.Equal("internal error: missing backend for pool type 10 (sheepdog)", (await Fails("sheepdog", "<bad")).Message);
            var dir = await Fails("dir", "<bad");
            Assert.Equal(VirErrorCode.NoSupport, dir.Code);
            Assert.Equal("this function is not supported by the connection driver: pool type 'dir' does not support source discovery", dir.Message);
            Assert.Equal("unsupported flags (0x4) in function virStorageBackendLogicalFindPoolSources", (await Fails("logical", null, 4)).Message);

            var xml = await mgr.FindPoolSourcesAsync("logical", "<source><bad", 0);
            Assert.StartsWith("<sources>\n", xml, StringComparison.Ordinal);
            Assert.EndsWith("</sources>\n", xml, StringComparison.Ordinal);

            Assert.True(mgr.Backends.TryGet(PoolType.Logical, out _));
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    /// <summary>
    /// A finder that reads srcSpec (as libvirt's netfs and iscsi ones do) gets it parsed with the type's
    /// rules, and a malformed one fails with libvirt's XML error before the finder is asked.
    /// </summary>
    [Fact]
    public async Task A_finder_that_reads_srcSpec_gets_it_parsed()
    {
        var root = Directory.CreateTempSubdirectory("vp-src-").FullName;
        try
        {
            var finder = new HintEcho();
            using var mgr = new PoolManager(new StateStore(Path.Combine(root, "state")), new Core.Backends.BackendRegistry([Core.Backends.BackendType.FinderOnly(PoolType.Netfs, finder)]));

            var xml = await mgr.FindPoolSourcesAsync("netfs", "<source><host name='nfs.example' port='2049'/><format type='nfs'/></source>", 0);
            Assert.Equal("<sources>\n  <source>\n    <host name='nfs.example' port='2049'/>\n    <format type='nfs'/>\n  </source>\n</sources>\n", xml);

            var bad = await Assert.ThrowsAsync<VirtPoolException>(() => mgr.FindPoolSourcesAsync("netfs", "<source><bad\n", 0));
            Assert.Equal("(storage_source_specification):2: Couldn't find end of Start Tag bad line 1\n(null)\n^", bad.Message);
            Assert.Equal(1, finder.Calls);
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    private sealed class HintEcho : Core.Backends.IPoolSourceFinder
    {
        public int Calls { get; private set; }

        public Task<IReadOnlyList<PoolSource>> FindPoolSourcesAsync(PoolSource? hint, uint flags, CancellationToken cancellationToken)
        {
            Calls++;
            return Task.FromResult<IReadOnlyList<PoolSource>>(hint is null ? [] : [hint]);
        }
    }

    private static string QemuFormatsShell(IReadOnlyList<string> argv) => ChildProcessErrors.CommandText(argv);
}
