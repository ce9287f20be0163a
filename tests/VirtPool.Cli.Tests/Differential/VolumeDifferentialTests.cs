using VirtPool.Cli.Tests.Support;

namespace VirtPool.Cli.Tests.Differential;

/// <summary>Volumes of a running dir pool: create (options and XML), show, look up, delete, and the refusals.</summary>
[Collection(LibvirtCollection.Name)]
public sealed class VolumeDifferentialTests(LibvirtOracle oracle)
{
    private const string Pool = "dv-pool";

    public static TheoryData<string> VolumeXmlCases()
    {
        var data = new TheoryData<string>();
        foreach (var file in Directory.GetFiles(Path.Combine(TestPaths.DifferentialData, "vols"), "*.xml").Order(StringComparer.Ordinal))
        {
            data.Add(Path.GetFileName(file));
        }

        return data;
    }

    /// <summary>Sizes: plain bytes and every suffix family, with and without --allocation.</summary>
    public static TheoryData<string, string[]> SizeCases() => new()
    {
        { "bytes.raw", ["1048576"] },
        { "k.raw", ["64k"] },
        { "kb.raw", ["64KB"] },
        { "kib.raw", ["64KiB"] },
        { "m.raw", ["2M"] },
        { "mb.raw", ["2MB"] },
        { "mib.raw", ["2MiB"] },
        { "b.raw", ["4096b"] },
        { "upper-b.raw", ["4096B"] },
        { "g-sparse.raw", ["1G", "--allocation", "0"] },
        { "gib-sparse.raw", ["2GiB", "--allocation", "0"] },
        { "t-sparse.raw", ["1T", "--allocation", "0"] },
        { "half.raw", ["2M", "--allocation", "1M"] },
        { "alloc-k.raw", ["1M", "--allocation", "100k"] },
        { "alloc-over.raw", ["1M", "--allocation", "3M"] },
        { "zero.raw", ["0"] },
        { "odd.raw", ["1000001"] },
        { "e-huge.raw", ["99999999E"] },
        { "bad-suffix.raw", ["10X"] },
        { "letters.raw", ["abc"] },
        { "empty.raw", [""] },
        { "negative.raw", ["-1"] },
        { "fraction.raw", ["1.5M"] },
        { "space.raw", ["1 M"] },
        { "hex.raw", ["0x100000"] },
        { "bad-alloc.raw", ["1M", "--allocation", "lots"] },
        { "empty-alloc.raw", ["1M", "--allocation", ""] },
    };

    [Theory]
    [MemberData(nameof(SizeCases))]
    public async Task Create_as_raw_sizes(string name, string[] size)
    {
        await using var s = await NewPoolAsync();

        var create = await s.StepAsync(["vol-create-as", Pool, name, .. size]);
        await s.StepAsync(["vol-create-as", Pool, name + ".xml", .. size, "--print-xml"]);
        if (create.OracleOk)
        {
            await ShowVolumeAsync(s, name);
        }

        await s.StepAsync("vol-list", Pool, "--details");
        await s.StepAsync("pool-info", "--bytes", Pool);
        await s.StepAsync("pool-list", "--details");
        s.AssertNoDifferences();
    }

    [Theory]
    [InlineData("raw")]
    [InlineData("qcow2")]
    [InlineData("qcow")]
    [InlineData("qed")]
    [InlineData("vmdk")]
    [InlineData("vdi")]
    [InlineData("vpc")]
    [InlineData("iso")]
    [InlineData("cow")]
    [InlineData("bochs")]
    [InlineData("none")]
    [InlineData("QCOW2")]
    [InlineData("floppy")]
    public async Task Create_as_formats(string format)
    {
        await using var s = await NewPoolAsync();

        var name = $"img.{format}";
        await s.StepAsync("vol-create-as", Pool, name, "8M", "--format", format, "--print-xml");
        var create = await s.StepAsync("vol-create-as", Pool, name, "8M", "--format", format);
        if (create.OracleOk)
        {
            await ShowVolumeAsync(s, name);
            await s.StepAsync("pool-refresh", Pool);
            await ShowVolumeAsync(s, name);
        }

        await s.StepAsync("vol-create-as", Pool, "sparse-" + name, "1G", "--allocation", "0", "--format", format);
        await s.StepAsync("vol-list", Pool, "--details");
        await s.StepAsync("pool-info", "--bytes", Pool);
        s.AssertNoDifferences();
    }

    [Fact]
    public async Task Backing_volumes_by_name_key_and_path()
    {
        await using var s = await NewPoolAsync();

        (await s.StepAsync("vol-create-as", Pool, "base.qcow2", "16M", "--format", "qcow2")).ExpectOracle(0);
        await s.StepAsync("vol-create-as", Pool, "base.raw", "4M");

        await s.StepAsync("vol-create-as", Pool, "by-name.qcow2", "16M", "--format", "qcow2", "--backing-vol", "base.qcow2", "--backing-vol-format", "qcow2", "--print-xml");
        (await s.StepAsync("vol-create-as", Pool, "by-name.qcow2", "16M", "--format", "qcow2", "--backing-vol", "base.qcow2", "--backing-vol-format", "qcow2")).ExpectOracle(0);
        var key = await s.StepAsync("vol-key", "base.qcow2", "--pool", Pool);
        await s.StepAsync("vol-create-as", Pool, "by-key.qcow2", "16M", "--format", "qcow2", "--backing-vol", key.Oracle.Stdout.Trim().Replace(s.OracleRoot, DiffSandbox.RootToken, StringComparison.Ordinal), "--backing-vol-format", "qcow2");
        await s.StepAsync("vol-create-as", Pool, "by-path.qcow2", "16M", "--format", "qcow2", "--backing-vol", "@ROOT@/p/vols/base.qcow2");
        await s.StepAsync("vol-create-as", Pool, "no-format.qcow2", "16M", "--format", "qcow2", "--backing-vol", "base.qcow2");
        await s.StepAsync("vol-create-as", Pool, "raw-backing.qcow2", "4M", "--format", "qcow2", "--backing-vol", "base.raw", "--backing-vol-format", "raw");
        await s.StepAsync("vol-create-as", Pool, "raw-probed.qcow2", "4M", "--format", "qcow2", "--backing-vol", "base.raw");
        await s.StepAsync("vol-create-as", Pool, "qed-over.qed", "16M", "--format", "qed", "--backing-vol", "base.qcow2", "--backing-vol-format", "qcow2");
        await s.StepAsync("vol-create-as", Pool, "vmdk-over.vmdk", "16M", "--format", "vmdk", "--backing-vol", "base.qcow2", "--backing-vol-format", "qcow2");
        await s.StepAsync("vol-create-as", Pool, "raw-over.raw", "16M", "--backing-vol", "base.qcow2", "--backing-vol-format", "qcow2");
        await s.StepAsync("vol-create-as", Pool, "missing.qcow2", "16M", "--format", "qcow2", "--backing-vol", "no-such-base");
        await s.StepAsync("vol-create-as", Pool, "bad-fmt.qcow2", "16M", "--format", "qcow2", "--backing-vol", "base.qcow2", "--backing-vol-format", "floppy");
        await s.StepAsync("vol-create-as", Pool, "smaller.qcow2", "1M", "--format", "qcow2", "--backing-vol", "base.qcow2", "--backing-vol-format", "qcow2");
        await s.StepAsync("vol-create-as", Pool, "chain.qcow2", "16M", "--format", "qcow2", "--backing-vol", "by-name.qcow2", "--backing-vol-format", "qcow2");

        await s.StepAsync("vol-list", Pool);
        await s.StepAsync("vol-list", Pool, "--details");
        foreach (var name in new[] { "by-name.qcow2", "by-key.qcow2", "by-path.qcow2", "no-format.qcow2", "raw-backing.qcow2", "raw-probed.qcow2", "qed-over.qed", "vmdk-over.vmdk", "chain.qcow2" })
        {
            await s.StepAsync("vol-dumpxml", name, "--pool", Pool);
        }

        // A deliberate difference: once libvirt 9.0 re-probes a qed with a non-raw backing file it can
        // no longer read the volume ("unknown" in vol-list, vol-dumpxml fails). VirtPool keeps reporting
        // it; that is checked below on its own, and the volume leaves before the compared refresh.
        await s.StepAsync("vol-delete", "qed-over.qed", "--pool", Pool);
        await s.StepAsync("pool-refresh", Pool);
        await s.StepAsync("vol-dumpxml", "chain.qcow2", "--pool", Pool);
        await s.StepAsync("vol-list", Pool, "--details");
        await s.StepAsync("pool-info", "--bytes", Pool);
        s.AssertNoDifferences();
    }

    [Fact]
    public async Task A_qed_volume_over_a_qcow2_backing_file_stays_readable_after_refresh()
    {
        await using var s = await NewPoolAsync();
        await s.StepAsync("vol-create-as", Pool, "base.qcow2", "16M", "--format", "qcow2");
        await s.StepAsync("vol-create-as", Pool, "qed-over.qed", "16M", "--format", "qed", "--backing-vol", "base.qcow2", "--backing-vol-format", "qcow2");
        s.AssertNoDifferences();
        var refresh = await VirtPoolCli.RunAsync(s.StateDir, "pool-refresh", Pool);
        Assert.Equal(0, refresh.ExitCode);
        var info = await VirtPoolCli.RunAsync(s.StateDir, "vol-info", "qed-over.qed", "--pool", Pool, "--bytes");
        Assert.Equal(0, info.ExitCode);
        Assert.Contains("Type:           file\n", info.Stdout, StringComparison.Ordinal);
        Assert.Contains("Capacity:       16777216 bytes\n", info.Stdout, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(VolumeXmlCases))]
    public async Task Create_from_xml(string caseName)
    {
        await using var s = await NewPoolAsync();
        (await s.StepAsync("vol-create-as", Pool, "base.qcow2", "16M", "--format", "qcow2")).ExpectOracle(0);

        var file = s.UseCase($"vols/{caseName}");
        var create = await s.StepAsync("vol-create", Pool, file);
        await s.StepAsync("vol-list", Pool, "--details");
        if (create.OracleOk)
        {
            foreach (var name in (await oracle.VirshAsync("vol-list", Pool, "--name")).Stdout.Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0 && l != "base.qcow2"))
            {
                await ShowVolumeAsync(s, name);
                await s.StepAsync("vol-delete", name, "--pool", Pool);
            }
        }

        // the same document into a pool that is not running, and into no pool at all
        await s.StepAsync("vol-create", "dv-missing", file);
        await s.StepAsync("pool-define-as", "dv-off", "dir", "--target", "@ROOT@/p/off");
        await s.StepAsync("vol-create", "dv-off", file);
        await s.StepAsync("pool-info", "--bytes", Pool);
        s.AssertNoDifferences();
    }

    [Fact]
    public async Task Lookups_by_name_key_and_path_and_delete_each_way()
    {
        await using var s = await NewPoolAsync();
        await s.StepAsync("vol-create-as", Pool, "a.img", "1M");
        await s.StepAsync("vol-create-as", Pool, "b.qcow2", "4M", "--format", "qcow2");
        await s.StepAsync("vol-create-as", Pool, "c.img", "2M", "--allocation", "0");
        await s.StepAsync("vol-create-as", Pool, "with space.img", "1M", "--allocation", "0");
        await s.StepAsync("vol-create-as", Pool, "ünï.img", "1M", "--allocation", "0");

        // a second running pool
        await s.StepAsync("pool-define-as", "dv-second", "dir", "--target", "@ROOT@/p/second");
        await s.StepAsync("pool-start", "dv-second", "--build");
        await s.StepAsync("vol-create-as", "dv-second", "a.img", "1M", "--allocation", "0");

        await s.StepAsync("vol-list", Pool);
        await s.StepAsync("vol-list", "--pool", Pool, "--details");
        await s.StepAsync("vol-list", "dv-second", "--details");

        foreach (var vol in new[] { "a.img", "b.qcow2", "with space.img", "ünï.img" })
        {
            await s.StepAsync("vol-path", vol, "--pool", Pool);
            await s.StepAsync("vol-key", vol, "--pool", Pool);
            await s.StepAsync("vol-info", vol, "--pool", Pool);
            await s.StepAsync("vol-info", "--bytes", "--vol", vol, "--pool", Pool);
            await s.StepAsync("vol-info", "@ROOT@/p/vols/" + vol);
            await s.StepAsync("vol-name", "@ROOT@/p/vols/" + vol);
            await s.StepAsync("vol-pool", "@ROOT@/p/vols/" + vol);
            await s.StepAsync("vol-pool", "--uuid", "@ROOT@/p/vols/" + vol);
            await s.StepAsync("vol-dumpxml", "@ROOT@/p/vols/" + vol);
        }

        // ambiguous and missing lookups
        await s.StepAsync("vol-info", "a.img");
        await s.StepAsync("vol-path", "a.img");
        await s.StepAsync("vol-name", "a.img");
        await s.StepAsync("vol-pool", "a.img");
        await s.StepAsync("vol-info", "nope.img", "--pool", Pool);
        await s.StepAsync("vol-info", "nope.img");
        await s.StepAsync("vol-info", "@ROOT@/p/vols/nope.img");
        await s.StepAsync("vol-info", "@ROOT@/p/vols/a.img", "--pool", "dv-second");
        await s.StepAsync("vol-info", "a.img", "--pool", "dv-missing");
        await s.StepAsync("vol-dumpxml", "nope.img", "--pool", Pool);
        await s.StepAsync("vol-key", "nope.img", "--pool", Pool);
        await s.StepAsync("vol-path", "nope.img", "--pool", Pool);
        await s.StepAsync("vol-delete", "nope.img", "--pool", Pool);
        await s.StepAsync("vol-delete", "nope.img");
        await s.StepAsync("vol-info", "--pool", Pool);

        // by the pool's UUID
        var uuid = await s.StepAsync("pool-uuid", Pool);
        await s.StepAsync(["vol-info", "a.img", "--pool", uuid.Oracle.Stdout.Trim()], ["vol-info", "a.img", "--pool", uuid.Cli.Stdout.Trim()]);

        // delete by name, by key, by path
        await s.StepAsync("vol-delete", "a.img", "--pool", Pool);
        await s.StepAsync("vol-delete", "@ROOT@/p/vols/b.qcow2");
        var key = await s.StepAsync("vol-key", "c.img", "--pool", Pool);
        await s.StepAsync("vol-delete", key.Oracle.Stdout.Trim().Replace(s.OracleRoot, DiffSandbox.RootToken, StringComparison.Ordinal));
        await s.StepAsync("vol-delete", "--vol", "with space.img", "--pool", Pool);
        await s.StepAsync("vol-delete", "ünï.img", "--pool", Pool, "--delete-snapshots");
        await s.StepAsync("vol-list", Pool, "--details");
        await s.StepAsync("vol-list", "dv-second", "--details");
        await s.StepAsync("pool-info", "--bytes", Pool);
        await s.StepAsync("pool-list", "--details");
        s.AssertNoDifferences();
    }

    [Fact]
    public async Task Refused_names_duplicates_and_pools_that_cannot_take_volumes()
    {
        await using var s = await NewPoolAsync();
        (await s.StepAsync("vol-create-as", Pool, "dup.img", "1M")).ExpectOracle(0);
        await s.StepAsync("vol-create-as", Pool, "dup.img", "1M");
        await s.StepAsync("vol-create-as", Pool, "dup.img", "2M", "--format", "qcow2");
        await s.StepAsync("vol-create-as", Pool, "../x", "1M");
        await s.StepAsync("vol-create-as", Pool, "@ROOT@/p/abs", "1M");
        await s.StepAsync("vol-create-as", Pool, "..", "1M");
        await s.StepAsync("vol-create-as", Pool, ".", "1M");
        await s.StepAsync("vol-create-as", Pool, "a/b", "1M");
        await s.StepAsync("vol-create-as", Pool, "", "1M");
        await s.StepAsync("vol-create-as", Pool, ".hidden", "1M", "--allocation", "0");
        await s.StepAsync("vol-create-as", Pool, "fmt.img", "1M", "--format", "floppy");
        await s.StepAsync("vol-create-as", Pool, "fmt2.img", "1M", "--format", "");
        await s.StepAsync("vol-create-as", Pool, "toobig.img", "99999999E");
        await s.StepAsync("vol-create-as", Pool, "toobig2.img", "16E");
        await s.StepAsync("vol-create-as", Pool, "nospace.img", "2G");
        await s.StepAsync("vol-create-as", Pool, "mal.img", "10X");
        await s.StepAsync("vol-create-as", Pool, "mal2.img", "abc");
        await s.StepAsync("vol-create-as", Pool, "mal3.img", "1M", "--allocation", "10X");
        await s.StepAsync("vol-create-as", Pool, "noCapacity.img");
        await s.StepAsync("vol-create-as", Pool);
        await s.StepAsync("vol-create-as", "dv-missing", "x.img", "1M");
        await s.StepAsync("pool-define-as", "dv-off", "dir", "--target", "@ROOT@/p/off");
        await s.StepAsync("vol-create-as", "dv-off", "x.img", "1M");
        await s.StepAsync("vol-list", "dv-off");
        await s.StepAsync("vol-list", "dv-missing");
        await s.StepAsync("vol-info", "x.img", "--pool", "dv-off");
        await s.StepAsync("vol-delete", "x.img", "--pool", "dv-off");

        // a file put into the folder behind libvirt's back shows after a refresh
        s.WriteBytes("p/vols/outside.img", new byte[8192]);
        await s.StepAsync("vol-list", Pool);
        await s.StepAsync("vol-create-as", Pool, "outside.img", "1M");
        await s.StepAsync("pool-refresh", Pool);
        await s.StepAsync("vol-list", Pool, "--details");
        await s.StepAsync("vol-info", "outside.img", "--pool", Pool);
        await s.StepAsync("pool-info", "--bytes", Pool);

        // volumes of a destroyed pool are gone from view; they are back after a start
        await s.StepAsync("pool-destroy", Pool);
        await s.StepAsync("vol-list", Pool);
        await s.StepAsync("vol-info", "dup.img", "--pool", Pool);
        await s.StepAsync("vol-info", "@ROOT@/p/vols/dup.img");
        await s.StepAsync("pool-start", Pool);
        await s.StepAsync("vol-list", Pool, "--details");
        await s.StepAsync("pool-info", "--bytes", Pool);
        s.AssertNoDifferences();
    }

    [Fact]
    public async Task Resize_grow_shrink_delta_allocate_and_refusals()
    {
        await using var s = await NewPoolAsync();
        await s.StepAsync("vol-create-as", Pool, "r.raw", "1M", "--allocation", "0");
        await s.StepAsync("vol-create-as", Pool, "full.raw", "1M");
        await s.StepAsync("vol-create-as", Pool, "q.qcow2", "8M", "--format", "qcow2");
        await s.StepAsync("vol-create-as", Pool, "d.vmdk", "8M", "--format", "vmdk");

        await s.StepAsync("vol-resize", "r.raw", "2M", "--pool", Pool);
        await s.StepAsync("vol-resize", "r.raw", "+512K", "--pool", Pool);
        await s.StepAsync("vol-resize", "r.raw", "512K", "--pool", Pool, "--delta");
        await s.StepAsync("vol-resize", "r.raw", "1M", "--pool", Pool);
        await s.StepAsync("vol-resize", "r.raw", "1M", "--pool", Pool, "--shrink");
        await s.StepAsync("vol-resize", "r.raw", "-256K", "--pool", Pool);
        await s.StepAsync("vol-resize", "r.raw", "-256K", "--pool", Pool, "--shrink");
        await s.StepAsync("vol-resize", "r.raw", "4M", "--pool", Pool, "--allocate");
        await s.StepAsync("vol-resize", "r.raw", "10X", "--pool", Pool);
        await s.StepAsync("vol-resize", "full.raw", "512K", "--pool", Pool, "--shrink");
        await s.StepAsync("vol-resize", "full.raw", "1G", "--pool", Pool, "--allocate");
        await s.StepAsync("vol-resize", "q.qcow2", "16M", "--pool", Pool);
        await s.StepAsync("vol-resize", "q.qcow2", "4M", "--pool", Pool, "--shrink");
        await s.StepAsync("vol-resize", "q.qcow2", "32M", "--pool", Pool, "--allocate");
        await s.StepAsync("vol-resize", "nosuch", "1M", "--pool", Pool);
        foreach (var name in new[] { "r.raw", "full.raw", "q.qcow2" })
        {
            await s.StepAsync("vol-info", "--bytes", name, "--pool", Pool);
        }

        await s.StepAsync("vol-list", Pool, "--details");
        await s.StepAsync("pool-info", "--bytes", Pool);
        s.AssertNoDifferences();
    }

    [Fact]
    public async Task Resize_of_a_format_qemu_img_cannot_resize_is_refused()
    {
        await using var s = await NewPoolAsync();
        await s.StepAsync("vol-create-as", Pool, "d.vmdk", "8M", "--format", "vmdk");
        var resize = await VirtPoolCli.RunAsync(s.StateDir, "vol-resize", "d.vmdk", "16M", "--pool", Pool);
        Assert.Equal(1, resize.ExitCode);
        Assert.StartsWith("error: Failed to change size of volume 'd.vmdk' to 16M\nerror: internal error: Child process (", resize.Stderr, StringComparison.Ordinal);
        Assert.Contains("does not support resize", resize.Stderr, StringComparison.Ordinal);
        s.AssertNoDifferences();
    }

    /// <summary>
    /// A pool on a sticky folder (like /tmp) with setuid/setgid volumes: libvirt reports only the
    /// 0777 bits, and a recorded 01777 would make the pool unreadable ("malformed octal mode").
    /// </summary>
    [Fact]
    public async Task Special_mode_bits_are_dropped()
    {
        await using var s = await oracle.NewSandboxAsync();
        s.MakeDir("p/sticky", (UnixFileMode)0x3FF);
        s.WriteBytes("p/sticky/suid.img", new byte[4096]);
        s.WriteBytes("p/sticky/sgid.img", new byte[4096]);
        foreach (var root in new[] { s.OracleRoot, s.CliRoot })
        {
            File.SetUnixFileMode(Path.Combine(root, "p/sticky/suid.img"), (UnixFileMode)0x9ED); // 04755
            File.SetUnixFileMode(Path.Combine(root, "p/sticky/sgid.img"), (UnixFileMode)0x5A4); // 02644
        }

        (await s.StepAsync("pool-create-as", "sticky", "dir", "--target", "@ROOT@/p/sticky")).ExpectOracle(0);
        await s.StepAsync("pool-dumpxml", "sticky");
        await s.StepAsync("pool-info", "sticky");
        await s.StepAsync("vol-dumpxml", "suid.img", "--pool", "sticky");
        await s.StepAsync("vol-dumpxml", "sgid.img", "--pool", "sticky");
        await s.StepAsync("pool-refresh", "sticky");
        await s.StepAsync("vol-list", "sticky", "--details");
        await s.StepAsync("pool-destroy", "sticky");
        s.AssertNoDifferences();
    }

    /// <summary>
    /// A ploop volume (a folder with root.hds and DiskDescriptor.xml) found by a refresh: described by its
    /// image (a plain folder beside it by nothing), and every data operation refused as libvirt 9.0 refuses it without the ploop tools
    /// (Debian does not ship them).
    /// </summary>
    [Fact]
    public async Task Folders_and_ploop_volumes_are_found_and_ploop_refused_as_without_the_ploop_tools()
    {
        await using var s = await NewPoolAsync();
        s.WriteBytes("p/vols/pl.vol/root.hds", new byte[1024 * 1024]);
        s.WriteBytes("p/vols/pl.vol/DiskDescriptor.xml", "<?xml version='1.0'?><Parallels_disk_image><Disk_Parameters><Disk_size>2048</Disk_size></Disk_Parameters></Parallels_disk_image>\n"u8.ToArray());
        s.WriteBytes("p/vols/half.vol/root.hds", new byte[4096]);
        s.WriteBytes("p/vols/plain.dir/file", new byte[8192]);
        var upload = s.WriteBytes("x/up.bin", new byte[4096]);
        (await s.StepAsync("pool-refresh", Pool)).ExpectOracle(0);
        await s.StepAsync("vol-list", Pool, "--details");
        await ShowVolumeAsync(s, "pl.vol");
        await s.StepAsync("vol-info", "half.vol", "--pool", Pool);

        // A plain folder is a 'dir' volume of no size at all: allocation 0, no <physical>.
        await ShowVolumeAsync(s, "plain.dir");
        await s.StepAsync("vol-info", "--physical", "plain.dir", "--pool", Pool);

        await s.StepAsync("vol-wipe", "pl.vol", "--pool", Pool);
        await s.StepAsync("vol-upload", "pl.vol", upload, "--pool", Pool);
        await s.StepAsync("vol-download", "pl.vol", "@ROOT@/x/down.bin", "--pool", Pool);
        await s.StepAsync("vol-resize", "pl.vol", "4M", "--pool", Pool);
        await s.StepAsync("vol-clone", "pl.vol", "pl2.vol", "--pool", Pool);
        await s.StepAsync("vol-create-as", Pool, "new.ploop", "1M", "--format", "ploop");
        await s.StepAsync("vol-create-as", Pool, "cow.ploop", "1M", "--format", "ploop", "--backing-vol", "pl.vol", "--backing-vol-format", "ploop");
        await s.StepAsync("vol-delete", "pl.vol", "--pool", Pool);
        await s.StepAsync("vol-list", Pool, "--details");
        s.AssertNoDifferences();
    }

    private async Task<DiffSandbox> NewPoolAsync()
    {
        var s = await oracle.NewSandboxAsync();
        try
        {
            (await s.StepAsync("pool-define-as", Pool, "dir", "--target", "@ROOT@/p/vols")).ExpectOracle(0);
            (await s.StepAsync("pool-build", Pool)).ExpectOracle(0);
            (await s.StepAsync("pool-start", Pool)).ExpectOracle(0);
            return s;
        }
        catch
        {
            await s.DisposeAsync();
            throw;
        }
    }

    private static async Task ShowVolumeAsync(DiffSandbox s, string name)
    {
        await s.StepAsync("vol-info", name, "--pool", Pool);
        await s.StepAsync("vol-info", "--bytes", name, "--pool", Pool);
        await s.StepAsync("vol-dumpxml", name, "--pool", Pool);
        await s.StepAsync("vol-path", name, "--pool", Pool);
        await s.StepAsync("vol-key", name, "--pool", Pool);
        await s.StepAsync("vol-list", Pool);
    }
}
