using VirtPool.Backends;
using VirtPool.Core.Backends;
using VirtPool.Core.Errors;
using VirtPool.Core.Interop;
using VirtPool.Core.Manager;
using VirtPool.Core.Model;
using VirtPool.Core.Process;
using VirtPool.Core.State;

namespace VirtPool.Backends.Tests;

/// <summary>The dir backend through the pool manager, on real files, with qemu-img as the judge of images.</summary>
public sealed class DirPoolTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("vp-dir-").FullName;

    private string State => Path.Combine(_root, "state");

    private string Target => Path.Combine(_root, "images");

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private PoolManager NewManager() => new(new StateStore(State), BackendCatalog.Create(ProcessRunner.Instance));

    private string PoolXml(string name = "p", string? target = null)
        => $"<pool type='dir'><name>{name}</name><target><path>{target ?? Target}</path></target></pool>";

    private async Task<PoolManager> StartedPoolAsync()
    {
        var mgr = NewManager();
        await mgr.DefinePoolAsync(PoolXml());
        await mgr.BuildPoolAsync("p", PoolBuildFlags.None);
        await mgr.StartPoolAsync("p", PoolBuildFlags.None, false);
        return mgr;
    }

    [Fact]
    public async Task A_state_file_that_cannot_be_parsed_is_skipped_and_every_other_pool_still_listed()
    {
        using var mgr = NewManager();
        await mgr.DefinePoolAsync(PoolXml("a", Path.Combine(_root, "a")));
        await mgr.StartPoolAsync("a", PoolBuildFlags.None, doBuild: true);
        await mgr.DefinePoolAsync(PoolXml("b", Path.Combine(_root, "b")));
        await mgr.DefinePoolAsync(PoolXml("c", Path.Combine(_root, "c")));

        // Cut short by a hand edit: a's status, c's definition (as libvirtd skips a file it cannot load).
        var store = new StateStore(State);
        await File.WriteAllTextAsync(store.StatusPath("a"), "<pool type=\"dir\"><name>a</name");
        await File.WriteAllTextAsync(store.ConfigPath("c"), "<pool type='dir'><name>c</name>");

        using var other = NewManager();
        var pools = await other.ListPoolsAsync();
        Assert.Equal(["a", "b"], pools.Select(p => p.Pool.Name));
        Assert.All(pools, p => Assert.False(p.Active));
        var missing = await Assert.ThrowsAsync<VirtPoolException>(() => other.GetPoolInfoAsync("c"));
        Assert.Equal(VirErrorCode.NoStoragePool, missing.Code);
    }

    [Fact]
    public async Task Build_makes_the_directory_with_mode_0711_and_start_lists_existing_files()
    {
        using var mgr = NewManager();
        await mgr.DefinePoolAsync(PoolXml());
        await mgr.BuildPoolAsync("p", PoolBuildFlags.None);
        Assert.True(FileStat.TryStat(Target, out var st, out _));
        Assert.Equal(0x1C9u, st.Mode & 0xFFF);

        await File.WriteAllBytesAsync(Path.Combine(Target, "existing.img"), new byte[4096]);
        await mgr.StartPoolAsync("p", PoolBuildFlags.None, false);
        var vols = await mgr.ListVolumesAsync("p");
        Assert.Equal(["existing.img"], vols.Select(v => v.Name));
        var info = await mgr.GetPoolInfoAsync("p");
        Assert.Equal(PoolState.Running, info.State);
        Assert.True(info.Capacity > 0 && info.Available <= info.Capacity);
    }

    [Fact]
    public async Task Raw_volume_is_fallocated_by_default_and_sparse_with_allocation_zero()
    {
        using var mgr = await StartedPoolAsync();
        await mgr.CreateVolumeAsync("p", "<volume><name>full</name><capacity unit='M'>8</capacity></volume>");
        await mgr.CreateVolumeAsync("p", "<volume><name>sparse</name><capacity unit='M'>8</capacity><allocation>0</allocation></volume>");

        Assert.True(FileStat.TryStat(Path.Combine(Target, "full"), out var full, out _));
        Assert.True(FileStat.TryStat(Path.Combine(Target, "sparse"), out var sparse, out _));
        Assert.Equal(8L << 20, full.Size);
        Assert.Equal(8L << 20, sparse.Size);
        Assert.True(full.AllocatedBytes >= 8L << 20);
        Assert.Equal(0, sparse.AllocatedBytes);
        Assert.Equal(0x180u, full.Mode & 0xFFF);

        var info = await mgr.GetVolumeInfoAsync(await mgr.LookupVolumeByNameAsync("p", "sparse"));
        Assert.Equal(VolumeType.File, info.Type);
        Assert.Equal(8UL << 20, info.Capacity);
        Assert.Equal(0UL, info.Allocation);
    }

    [Theory]
    [InlineData("qcow2")]
    [InlineData("qcow")]
    [InlineData("qed")]
    [InlineData("vmdk")]
    [InlineData("vdi")]
    [InlineData("vpc")]
    public async Task Other_formats_are_made_by_qemu_img_and_probe_back_natively(string format)
    {
        using var mgr = await StartedPoolAsync();
        await mgr.CreateVolumeAsync("p", $"<volume><name>d.{format}</name><capacity unit='M'>64</capacity><target><format type='{format}'/></target></volume>");
        var path = Path.Combine(Target, $"d.{format}");
        var check = await ProcessRunner.Instance.RunAsync(["qemu-img", "info", "--output=json", path]);
        Assert.True(check.Succeeded, check.StandardError);
        Assert.Contains($"\"format\": \"{format}\"", check.StandardOutput, StringComparison.Ordinal);

        var def = await mgr.GetVolumeAsync(await mgr.LookupVolumeByNameAsync("p", $"d.{format}"));
        Assert.Equal(format, def.Target.Format);
        if (format != "vpc")
        {
            // vpc rounds to its CHS geometry, as qemu-img reports too.
            Assert.Equal(64UL << 20, def.Capacity);
        }
    }

    [Fact]
    public async Task Qcow2_with_backing_volume_passes_qemu_img_check_and_reports_its_backing_store()
    {
        using var mgr = await StartedPoolAsync();
        await mgr.CreateVolumeAsync("p", "<volume><name>base.img</name><capacity unit='M'>16</capacity></volume>");
        var basePath = Path.Combine(Target, "base.img");
        await mgr.CreateVolumeAsync("p", $"<volume><name>top.qcow2</name><capacity unit='M'>16</capacity><target><format type='qcow2'/></target><backingStore><path>{basePath}</path><format type='raw'/></backingStore></volume>");
        var check = await ProcessRunner.Instance.RunAsync(["qemu-img", "check", Path.Combine(Target, "top.qcow2")]);
        Assert.True(check.Succeeded, check.StandardOutput + check.StandardError);
        var def = await mgr.GetVolumeAsync(await mgr.LookupVolumeByNameAsync("p", "top.qcow2"));
        Assert.Equal(basePath, def.BackingStore?.Path);
        Assert.Equal("raw", def.BackingStore?.Format);
    }

    [Fact]
    public async Task Lookups_by_key_and_path_find_the_volume_and_delete_removes_file_and_entry()
    {
        using var mgr = await StartedPoolAsync();
        var made = await mgr.CreateVolumeAsync("p", "<volume><name>v</name><capacity>1024</capacity></volume>");
        var path = Path.Combine(Target, "v");
        Assert.Equal(made, await mgr.LookupVolumeByKeyAsync(path));
        Assert.Equal(made, await mgr.LookupVolumeByPathAsync(path));
        await mgr.DeleteVolumeAsync(made);
        Assert.False(File.Exists(path));
        var ex = await Assert.ThrowsAsync<VirtPoolException>(() => mgr.LookupVolumeByPathAsync(path));
        Assert.Equal($"Storage volume not found: no storage vol with matching path '{path}'", ex.Message);
    }

    [Fact]
    public async Task Duplicate_and_escaping_volume_names_are_refused_and_nothing_is_written_outside()
    {
        using var mgr = await StartedPoolAsync();
        await mgr.CreateVolumeAsync("p", "<volume><name>v</name><capacity>1024</capacity></volume>");
        var dup = await Assert.ThrowsAsync<VirtPoolException>(() => mgr.CreateVolumeAsync("p", "<volume><name>v</name><capacity>1024</capacity></volume>"));
        Assert.Equal("storage volume 'v' exists already", dup.Message);
        var slash = await Assert.ThrowsAsync<VirtPoolException>(() => mgr.CreateVolumeAsync("p", "<volume><name>../x</name><capacity>1024</capacity></volume>"));
        Assert.Equal("Requested operation is not valid: volume name '../x' cannot contain '/'", slash.Message);
        var dots = await Assert.ThrowsAsync<VirtPoolException>(() => mgr.CreateVolumeAsync("p", "<volume><name>..</name><capacity>1024</capacity></volume>"));
        Assert.Equal($"Requested operation is not valid: volume target path '{Target}/..' already exists", dots.Message);
        Assert.Equal(["images", "state"], Directory.GetFileSystemEntries(_root).Select(Path.GetFileName).Order());
    }

    [Fact]
    public async Task Refresh_sees_files_added_behind_the_pools_back_only_when_asked()
    {
        using var mgr = await StartedPoolAsync();
        await File.WriteAllBytesAsync(Path.Combine(Target, "later.img"), new byte[512]);
        Assert.Empty(await mgr.ListVolumesAsync("p"));
        await mgr.RefreshPoolAsync("p");
        Assert.Single(await mgr.ListVolumesAsync("p"));
    }

    [Fact]
    public async Task Lifecycle_refusals_use_libvirts_messages()
    {
        using var mgr = NewManager();
        await mgr.DefinePoolAsync(PoolXml());
        var notBuilt = await Assert.ThrowsAsync<VirtPoolException>(() => mgr.StartPoolAsync("p", PoolBuildFlags.None, false));
        Assert.Equal($"cannot open directory '{Target}': No such file or directory", notBuilt.Message);
        Assert.False((await mgr.GetPoolSummaryAsync("p")).Active);

        await mgr.StartPoolAsync("p", PoolBuildFlags.None, doBuild: true);
        var again = await Assert.ThrowsAsync<VirtPoolException>(() => mgr.StartPoolAsync("p", PoolBuildFlags.None, false));
        Assert.Equal("Requested operation is not valid: storage pool 'p' is already active", again.Message);
        var undefine = await Assert.ThrowsAsync<VirtPoolException>(() => mgr.UndefinePoolAsync("p"));
        Assert.Equal("Requested operation is not valid: storage pool 'p' is still active", undefine.Message);

        await mgr.CreateVolumeAsync("p", "<volume><name>v</name><capacity>1024</capacity></volume>");
        await mgr.DestroyPoolAsync("p");
        var list = await Assert.ThrowsAsync<VirtPoolException>(() => mgr.ListVolumesAsync("p"));
        Assert.Equal("Requested operation is not valid: storage pool 'p' is not active", list.Message);
        var notEmpty = await Assert.ThrowsAsync<VirtPoolException>(() => mgr.DeletePoolAsync("p"));
        Assert.Equal($"failed to remove pool '{Target}': Directory not empty", notEmpty.Message);
        File.Delete(Path.Combine(Target, "v"));
        await mgr.DeletePoolAsync("p");
        Assert.False(Directory.Exists(Target));
        await mgr.UndefinePoolAsync("p");
        var gone = await Assert.ThrowsAsync<VirtPoolException>(() => mgr.LookupPoolByNameAsync("p"));
        Assert.Equal("Storage pool not found: no storage pool with matching name 'p'", gone.Message);
    }

    [Fact]
    public async Task Name_uuid_and_target_clashes_are_refused()
    {
        using var mgr = NewManager();
        var first = await mgr.DefinePoolAsync(PoolXml("a"));
        var sameUuid = await Assert.ThrowsAsync<VirtPoolException>(() => mgr.DefinePoolAsync(
            $"<pool type='dir'><name>b</name><uuid>{first.Uuid}</uuid><target><path>{_root}/other</path></target></pool>"));
        Assert.Equal($"operation failed: pool 'a' is already defined with uuid {first.Uuid}", sameUuid.Message);
        var sameName = await Assert.ThrowsAsync<VirtPoolException>(() => mgr.DefinePoolAsync(
            $"<pool type='dir'><name>a</name><uuid>{Guid.NewGuid()}</uuid><target><path>{_root}/other</path></target></pool>"));
        Assert.StartsWith("operation failed: pool 'a' already exists with uuid ", sameName.Message, StringComparison.Ordinal);
        var sameTarget = await Assert.ThrowsAsync<VirtPoolException>(() => mgr.DefinePoolAsync(PoolXml("c")));
        Assert.Equal(VirErrorCode.OperationFailed, sameTarget.Code);
    }

    [Fact]
    public async Task Transient_pool_vanishes_when_destroyed_and_refuses_autostart()
    {
        using var mgr = NewManager();
        await mgr.CreatePoolAsync(PoolXml("t"), PoolBuildFlags.None, doBuild: true);
        var summary = await mgr.GetPoolSummaryAsync("t");
        Assert.True(summary.Active);
        Assert.False(summary.Persistent);
        var auto = await Assert.ThrowsAsync<VirtPoolException>(() => mgr.SetAutostartAsync("t", true));
        Assert.Equal("internal error: pool has no config file", auto.Message);
        await mgr.DestroyPoolAsync("t");
        await Assert.ThrowsAsync<VirtPoolException>(() => mgr.LookupPoolByNameAsync("t"));
    }

    [Fact]
    public async Task Reconcile_marks_a_pool_whose_directory_vanished_inactive_and_autostarts_after_reboot()
    {
        using (var mgr = NewManager())
        {
            // As every CLI command does first: this is the first use in this boot.
            await mgr.ReconcileAsync();
            await mgr.DefinePoolAsync(PoolXml("gone", Path.Combine(_root, "gone")));
            await mgr.StartPoolAsync("gone", PoolBuildFlags.None, doBuild: true);
            await mgr.DefinePoolAsync(PoolXml("auto"));
            await mgr.BuildPoolAsync("auto", PoolBuildFlags.None);
            await mgr.SetAutostartAsync("auto", true);
        }

        Directory.Delete(Path.Combine(_root, "gone"));
        using (var mgr = NewManager())
        {
            Assert.Empty(await mgr.ReconcileAsync());
            Assert.False((await mgr.GetPoolSummaryAsync("gone")).Active);
            Assert.False((await mgr.GetPoolSummaryAsync("auto")).Active);
        }

        // A different boot id: runtime state is dropped and autostart pools start.
        await File.WriteAllTextAsync(Path.Combine(State, "boot_id"), "an-earlier-boot\n");
        using (var mgr = NewManager())
        {
            await mgr.ReconcileAsync();
            Assert.True((await mgr.GetPoolSummaryAsync("auto")).Active);
            Assert.False((await mgr.GetPoolSummaryAsync("gone")).Active);
        }
    }

    [Fact]
    public async Task Two_managers_creating_at_once_keep_one_consistent_index()
    {
        using var setup = await StartedPoolAsync();
        using var a = NewManager();
        using var b = NewManager();
        var tasks = Enumerable.Range(0, 40).Select(i => Task.Run(() =>
            (i % 2 == 0 ? a : b).CreateVolumeAsync("p", $"<volume><name>v{i}</name><capacity>4096</capacity><allocation>0</allocation></volume>")));
        await Task.WhenAll(tasks);
        var names = (await setup.ListVolumesAsync("p")).Select(v => v.Name).Order().ToList();
        Assert.Equal(Enumerable.Range(0, 40).Select(i => $"v{i}").Order(), names);
    }

    [Fact]
    public async Task A_failed_qemu_img_create_leaves_no_file_behind()
    {
        using var mgr = await StartedPoolAsync();
        // qemu-img refuses a cluster size that is not a power of two.
        var ex = await Assert.ThrowsAsync<VirtPoolException>(() => mgr.CreateVolumeAsync("p",
            "<volume><name>bad.qcow2</name><capacity unit='M'>1</capacity><target><format type='qcow2'/><clusterSize unit='B'>3000</clusterSize></target></volume>"));
        Assert.StartsWith("internal error: Child process (", ex.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(Target, "bad.qcow2")));
        Assert.Empty(await mgr.ListVolumesAsync("p"));
    }

    [Fact]
    public async Task Refresh_lists_files_and_directories_and_skips_fifos_and_dangling_links()
    {
        using var mgr = await StartedPoolAsync();
        var hostile = new byte[72];
        "QFI\xfb"u8.ToArray().CopyTo(hostile, 0);
        hostile[7] = 3; // qcow2 v3 with a header too short to hold its fields
        await File.WriteAllBytesAsync(Path.Combine(Target, "truncated.qcow2"), hostile);
        Directory.CreateDirectory(Path.Combine(Target, "subdir"));
        File.CreateSymbolicLink(Path.Combine(Target, "dangling"), "/nonexistent/target");
        var mkfifo = await ProcessRunner.Instance.RunAsync(["mkfifo", Path.Combine(Target, "fifo")]);
        Assert.True(mkfifo.Succeeded, mkfifo.StandardError);

        await mgr.RefreshPoolAsync("p");
        var names = (await mgr.ListVolumesAsync("p")).Select(v => v.Name).Order().ToList();
        Assert.Equal(["subdir", "truncated.qcow2"], names);
        var dir = await mgr.GetVolumeAsync(await mgr.LookupVolumeByNameAsync("p", "subdir"));
        Assert.Equal(VolumeType.Dir, dir.Type);
        Assert.Equal("dir", dir.Target.Format);
    }
}
