using System.Security.Cryptography;
using VirtPool.Core.Backends;
using VirtPool.Core.Errors;
using VirtPool.Core.Interop;
using VirtPool.Core.Manager;
using VirtPool.Core.Process;
using VirtPool.Core.State;

namespace VirtPool.Backends.Tests;

/// <summary>
/// Clone, wipe, upload, download, checksum and labels through the pool manager on real files: the
/// job rules (in use, being allocated), cancellation that leaves nothing behind, and what libvirt
/// cannot do (every wipe algorithm, reflink clones, refusing uploads past the capacity).
/// </summary>
public sealed class VolumeDataTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("vp-data-").FullName;

    private string State => Path.Combine(_root, "state");

    private string Target => Path.Combine(_root, "images");

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private PoolManager NewManager(string? state = null) => new(new StateStore(state ?? State), BackendCatalog.Create(ProcessRunner.Instance));

    private async Task<PoolManager> StartedPoolAsync(string? target = null, string? state = null)
    {
        var mgr = NewManager(state);
        await mgr.DefinePoolAsync($"<pool type='dir'><name>p</name><target><path>{target ?? Target}</path></target></pool>");
        await mgr.BuildPoolAsync("p", PoolBuildFlags.None);
        await mgr.StartPoolAsync("p", PoolBuildFlags.None, false);
        return mgr;
    }

    private static string RawXml(string name, string capacity, string? allocation = null)
        => $"<volume><name>{name}</name><capacity>{capacity}</capacity>{(allocation is null ? string.Empty : $"<allocation>{allocation}</allocation>")}</volume>";

    private static byte[] Random(int length, int seed)
    {
        var data = new byte[length];
        new Random(seed).NextBytes(data);
        return data;
    }

    private async Task<VolumeRef> VolumeWithDataAsync(PoolManager mgr, string name, byte[] data, long offset, string capacity)
    {
        var vol = await mgr.CreateVolumeAsync("p", RawXml(name, capacity, "0"));
        var file = Path.Combine(_root, name + ".src");
        await File.WriteAllBytesAsync(file, data);
        using var handle = File.OpenHandle(file);
        await mgr.UploadVolumeAsync(vol, new LocalFileEndpoint(handle), (ulong)offset, (ulong)data.Length, sparse: false);
        return vol;
    }

    [Fact]
    public async Task Clone_keeps_bytes_and_holes_and_is_indexed_with_its_allocation()
    {
        using var mgr = await StartedPoolAsync();
        var data = Random(1 << 20, 1);
        var source = await VolumeWithDataAsync(mgr, "src.raw", data, 8 << 20, "67108864");
        var before = await mgr.GetPoolInfoAsync("p");

        var clone = await mgr.CreateVolumeFromAsync("p", RawXml("copy.raw", "0", "0"), source);

        var path = Path.Combine(Target, "copy.raw");
        Assert.Equal(SHA256.HashData(await File.ReadAllBytesAsync(Path.Combine(Target, "src.raw"))), SHA256.HashData(await File.ReadAllBytesAsync(path)));
        Assert.True(FileStat.TryStat(path, out var st, out _));
        Assert.Equal(64L << 20, st.Size);
        Assert.InRange(st.Blocks * 512, 1 << 20, 2 << 20); // the data, not the 64 MiB of holes
        var info = await mgr.GetVolumeInfoAsync(clone);
        Assert.Equal((ulong)(st.Blocks * 512), info.Allocation);
        var after = await mgr.GetPoolInfoAsync("p");
        Assert.Equal(before.Allocation + info.Allocation, after.Allocation);
    }

    [Fact]
    public async Task Cancelled_clone_leaves_no_volume_and_no_job()
    {
        using var mgr = await StartedPoolAsync();
        var source = await mgr.CreateVolumeAsync("p", RawXml("big.raw", "2147483648")); // fully allocated 2 GiB
        using var cts = new CancellationTokenSource();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => mgr.CreateVolumeFromAsync("p", RawXml("half.raw", "0"), source, VolumeCreateFlags.None, new SyncProgress(_ => cts.Cancel()), cts.Token));
        Assert.False(File.Exists(Path.Combine(Target, "half.raw")));
        Assert.DoesNotContain(await mgr.ListVolumesAsync("p"), v => v.Name == "half.raw");
        Assert.Empty(Directory.Exists(Path.Combine(State, "status", "jobs")) ? Directory.GetFiles(Path.Combine(State, "status", "jobs")) : []);

        // The source is free again: it can be deleted.
        await mgr.DeleteVolumeAsync(source);
    }

    [Fact]
    public async Task A_volume_being_cloned_cannot_be_deleted_or_wiped_and_its_clone_is_listed_as_being_allocated()
    {
        using var mgr = await StartedPoolAsync();
        var source = await mgr.CreateVolumeAsync("p", RawXml("busy.raw", "1073741824"));
        var gate = new ManualResetEventSlim();
        var release = new ManualResetEventSlim();
        var clone = Task.Run(() => mgr.CreateVolumeFromAsync("p", RawXml("busy-copy.raw", "0"), source, VolumeCreateFlags.None, new SyncProgress(_ =>
        {
            gate.Set();
            release.Wait(TimeSpan.FromSeconds(30));
        })));
        Assert.True(gate.Wait(TimeSpan.FromSeconds(30)), "the clone never reported progress");

        // A second manager is another process's view of the same state folder.
        using (var other = NewManager())
        {
            var delete = await Assert.ThrowsAsync<VirtPoolException>(() => other.DeleteVolumeAsync(new VolumeRef("p", "busy.raw", source.Key)));
            Assert.Equal("Requested operation is not valid: volume 'busy.raw' is still in use.", delete.Message);
            var wipe = await Assert.ThrowsAsync<VirtPoolException>(() => other.WipeVolumeAsync(source, VolumeWipeAlgorithm.Zero));
            Assert.Contains("is still in use.", wipe.Message, StringComparison.Ordinal);
            // As libvirt's: the volume being made is found and listed, and refuses changes.
            var deleteNew = await Assert.ThrowsAsync<VirtPoolException>(() => other.DeleteVolumeAsync(new VolumeRef("p", "busy-copy.raw", string.Empty)));
            Assert.Equal("Requested operation is not valid: volume 'busy-copy.raw' is still being allocated.", deleteNew.Message);
            var copy = await other.LookupVolumeByNameAsync("p", "busy-copy.raw");
            Assert.Equal(Path.Combine(Target, "busy-copy.raw"), copy.Key);
            Assert.Equal(1073741824UL, (await other.GetVolumeInfoAsync(copy)).Capacity);
            var resize = await Assert.ThrowsAsync<VirtPoolException>(() => other.ResizeVolumeAsync(copy, 2147483648, VolumeResizeFlags.None));
            Assert.Equal("Requested operation is not valid: volume 'busy-copy.raw' is still being allocated.", resize.Message);
            var destroy = await Assert.ThrowsAsync<VirtPoolException>(() => other.DestroyPoolAsync("p"));
            Assert.Equal("Requested operation is not valid: pool 'p' has asynchronous jobs running.", destroy.Message);
            var again = await Assert.ThrowsAsync<VirtPoolException>(() => other.CreateVolumeFromAsync("p", RawXml("busy-copy.raw", "0"), source));
            Assert.Equal("internal error: storage volume name 'busy-copy.raw' already in use.", again.Message);

            // A refresh runs (libvirt refuses it) but does not index the half-made clone, which stays
            // listed as being made.
            await other.RefreshPoolAsync("p");
            Assert.Null(other.Store.FindVolume("p", "busy-copy.raw"));
            Assert.Contains(await other.ListVolumesAsync("p"), v => v.Name == "busy-copy.raw");
            var download = Path.Combine(_root, "dl.bin");
            using var handle = File.OpenHandle(download, FileMode.Create, FileAccess.Write);
            await other.DownloadVolumeAsync(source, new LocalFileEndpoint(handle), 0, 4096, sparse: false); // readers may share
        }

        release.Set();
        await clone;
        Assert.Contains(await mgr.ListVolumesAsync("p"), v => v.Name == "busy-copy.raw");
        await mgr.DeleteVolumeAsync(source);
    }

    [Theory]
    [InlineData(VolumeWipeAlgorithm.Zero)]
    [InlineData(VolumeWipeAlgorithm.Nnsa)]
    [InlineData(VolumeWipeAlgorithm.Dod)]
    [InlineData(VolumeWipeAlgorithm.Bsi)]
    [InlineData(VolumeWipeAlgorithm.Schneier)]
    [InlineData(VolumeWipeAlgorithm.Pfitzner7)]
    [InlineData(VolumeWipeAlgorithm.Random)]
    [InlineData(VolumeWipeAlgorithm.Trim)]
    public async Task Every_wipe_algorithm_destroys_the_old_data(VolumeWipeAlgorithm algorithm)
    {
        using var mgr = await StartedPoolAsync();
        var secret = Random(256 << 10, 42);
        var vol = await VolumeWithDataAsync(mgr, "w.raw", secret, 0, "1048576");
        var path = Path.Combine(Target, "w.raw");

        await mgr.WipeVolumeAsync(vol, algorithm);

        var after = await File.ReadAllBytesAsync(path);
        Assert.Equal(1 << 20, after.Length);
        Assert.False(after.AsSpan(0, secret.Length).SequenceEqual(secret));
        Assert.Equal(-1, after.AsSpan().IndexOf(secret.AsSpan(1000, 64)));
        if (algorithm is VolumeWipeAlgorithm.Zero or VolumeWipeAlgorithm.Trim)
        {
            Assert.True(after.AsSpan().IndexOfAnyExcept((byte)0) < 0);
        }
    }

    [Fact]
    public async Task Delete_with_snapshots_is_taken_for_qcow2_and_refused_for_raw_as_libvirt_does()
    {
        using var mgr = await StartedPoolAsync();
        var raw = await mgr.CreateVolumeAsync("p", RawXml("r.raw", "4096"));
        var qcow2 = await mgr.CreateVolumeAsync("p", "<volume><name>q.qcow2</name><capacity>1048576</capacity><target><format type='qcow2'/></target></volume>");
        var snap = await ProcessRunner.Instance.RunAsync(["qemu-img", "snapshot", "-c", "s1", Path.Combine(Target, "q.qcow2")]);
        Assert.True(snap.Succeeded, snap.StandardError);

        var ex = await Assert.ThrowsAsync<VirtPoolException>(() => mgr.DeleteVolumeAsync(raw, VolumeDeleteFlags.WithSnapshots));
        Assert.Equal("unsupported flags (0x2) in function virStorageBackendVolDeleteLocal", ex.Message);
        await mgr.DeleteVolumeAsync(qcow2, VolumeDeleteFlags.WithSnapshots);
        Assert.False(File.Exists(Path.Combine(Target, "q.qcow2")));
        Assert.True(File.Exists(Path.Combine(Target, "r.raw")));
    }

    [Fact]
    public async Task Upload_past_the_capacity_is_refused_before_writing()
    {
        using var mgr = await StartedPoolAsync();
        var vol = await mgr.CreateVolumeAsync("p", RawXml("small.raw", "1048576", "0"));
        var file = Path.Combine(_root, "big.bin");
        await File.WriteAllBytesAsync(file, Random(2 << 20, 3));
        using var handle = File.OpenHandle(file);

        var ex = await Assert.ThrowsAsync<VirtPoolException>(() => mgr.UploadVolumeAsync(vol, new LocalFileEndpoint(handle), 0, 2 << 20, sparse: false));
        Assert.Equal(VirErrorCode.InvalidArg, ex.Code);
        Assert.True(FileStat.TryStat(Path.Combine(Target, "small.raw"), out var st, out _));
        Assert.Equal(1 << 20, st.Size);
        Assert.Equal(0, st.Blocks);
    }

    [Fact]
    public async Task Upload_of_unknown_length_that_brings_more_than_the_volume_holds_fails_instead_of_being_cut()
    {
        using var mgr = await StartedPoolAsync();
        var vol = await mgr.CreateVolumeAsync("p", RawXml("small.raw", "1048576", "0"));
        var file = Path.Combine(_root, "big.bin");
        await File.WriteAllBytesAsync(file, Random(2 << 20, 3));

        using (var handle = File.OpenHandle(file))
        {
            var ex = await Assert.ThrowsAsync<VirtPoolException>(() => mgr.UploadVolumeAsync(vol, new LocalFileEndpoint(handle), 0, 0, sparse: false));
            Assert.Equal("cannot write to stream: No space left on device", ex.Message);
        }

        await using (var pipe = File.OpenRead(file))
        {
            var ex = await Assert.ThrowsAsync<VirtPoolException>(() => mgr.UploadVolumeAsync(vol, new StreamEndpoint(pipe), 0, 0, sparse: false));
            Assert.Equal("cannot write to stream: No space left on device", ex.Message);
        }
    }

    [Fact]
    public async Task Sparse_round_trip_keeps_holes_and_checksum_matches_sha256sum()
    {
        using var mgr = await StartedPoolAsync();
        var vol = await mgr.CreateVolumeAsync("p", RawXml("s.raw", "67108864", "0"));
        var holey = Path.Combine(_root, "holey.bin");
        using (var f = new FileStream(holey, FileMode.Create))
        {
            f.SetLength(64 << 20);
            f.Position = 32 << 20;
            f.Write(Random(1 << 20, 8));
        }

        using (var src = File.OpenHandle(holey))
        {
            await mgr.UploadVolumeAsync(vol, new LocalFileEndpoint(src), 0, 64 << 20, sparse: true);
        }

        var back = Path.Combine(_root, "back.bin");
        using (var dst = File.OpenHandle(back, FileMode.Create, FileAccess.Write))
        {
            await mgr.DownloadVolumeAsync(vol, new LocalFileEndpoint(dst), 0, 0, sparse: true);
        }

        Assert.True(FileStat.TryStat(back, out var st, out _));
        Assert.Equal(64L << 20, st.Size);
        Assert.InRange(st.Blocks * 512, 1 << 20, 2 << 20);
        var sum = await ProcessRunner.Instance.RunAsync(["sha256sum", Path.Combine(Target, "s.raw")]);
        var hash = await mgr.ChecksumVolumeAsync(vol);
        Assert.Equal(sum.StandardOutput.Split(' ')[0], Convert.ToHexStringLower(hash));
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(await File.ReadAllBytesAsync(holey))), Convert.ToHexStringLower(hash));
    }

    /// <summary>
    /// vol-download --offset past what a file offset (off_t) can be: libvirtd 9.0's lseek fails ("Unable
    /// to seek PATH to 18446744073709551615: Invalid argument", SYSTEM_ERROR from the streams domain,
    /// checked with python3-libvirt). VirtPool's copy took the offset as a negative long and answered
    /// with .NET's "offset ('-1') must be a non-negative value. (Parameter 'offset')".
    /// </summary>
    [Theory]
    [InlineData(ulong.MaxValue, false)]
    [InlineData(1UL << 63, true)]
    public async Task A_download_offset_no_file_can_seek_to_gets_libvirts_seek_error(ulong offset, bool sparse)
    {
        using var mgr = await StartedPoolAsync();
        var vol = await mgr.CreateVolumeAsync("p", RawXml("far.raw", "1048576"));
        var back = Path.Combine(_root, "far.bin");
        using var dst = File.OpenHandle(back, FileMode.Create, FileAccess.Write);
        var refused = await Assert.ThrowsAsync<VirtPoolException>(() => mgr.DownloadVolumeAsync(vol, new LocalFileEndpoint(dst), offset, 0, sparse));
        Assert.Equal((VirErrorCode.SystemError, VirErrorDomain.Streams), (refused.Code, refused.Domain));
        Assert.Equal($"Unable to seek {Path.Combine(Target, "far.raw")} to {offset}: Invalid argument", refused.Message);
    }

    [Fact]
    public async Task Labels_are_kept_beside_the_state_and_go_with_the_volume()
    {
        using var mgr = await StartedPoolAsync();
        var vol = await mgr.CreateVolumeAsync("p", RawXml("l.raw", "4096"));
        await mgr.UpdateVolumeLabelsAsync(vol, new Dictionary<string, string> { ["env"] = "prod", ["owner"] = "team b" }, []);
        await mgr.UpdateVolumeLabelsAsync(vol, new Dictionary<string, string> { ["tier"] = "gold" }, ["owner"]);
        Assert.Equal(new Dictionary<string, string> { ["env"] = "prod", ["tier"] = "gold" }, await mgr.GetVolumeLabelsAsync(vol));

        await mgr.DestroyPoolAsync("p");
        await mgr.StartPoolAsync("p", PoolBuildFlags.None, false);
        using (var other = NewManager())
        {
            Assert.Equal("gold", (await other.GetVolumeLabelsAsync(vol))["tier"]);
        }

        await Assert.ThrowsAsync<VirtPoolException>(() => mgr.UpdateVolumeLabelsAsync(vol, new Dictionary<string, string> { ["-bad"] = "x" }, []));
        await Assert.ThrowsAsync<VirtPoolException>(() => mgr.UpdateVolumeLabelsAsync(vol, new Dictionary<string, string> { ["ok"] = "tab\there" }, []));
        await mgr.DeleteVolumeAsync(vol);
        Assert.Empty(await mgr.GetVolumeLabelsAsync(vol));
    }

    [Fact]
    public async Task Reflink_clone_on_xfs_shares_extents_and_is_refused_on_ext4()
    {
        var image = Path.Combine(_root, "xfs.img");
        var mountPoint = Directory.CreateDirectory(Path.Combine(_root, "xfs")).FullName;
        string? loop = null;
        try
        {
            await using (var f = new FileStream(image, FileMode.Create))
            {
                f.SetLength(512L << 20);
            }

            loop = (await RunOrThrowAsync("losetup", "-f", "--show", image)).Trim();
            await RunOrThrowAsync("mkfs.xfs", "-q", "-m", "reflink=1", loop);
            await RunOrThrowAsync("mount", loop, mountPoint);

            using var mgr = await StartedPoolAsync(Path.Combine(mountPoint, "pool"), Path.Combine(_root, "xfs-state"));
            // Written data: xfs clones written extents only (fallocated, unwritten ones stay holes).
            var source = await VolumeWithDataAsync(mgr, "base.raw", Random(16 << 20, 4), 0, "268435456");
            var clone = await mgr.CreateVolumeFromAsync("p", RawXml("thin.raw", "0"), source, VolumeCreateFlags.Reflink);
            var map = await RunOrThrowAsync("filefrag", "-v", Path.Combine(mountPoint, "pool", "thin.raw"));
            Assert.Contains("shared", map, StringComparison.Ordinal);
            Assert.Equal(268435456UL, (await mgr.GetVolumeInfoAsync(clone)).Capacity);
        }
        finally
        {
            await ProcessRunner.Instance.RunAsync(["umount", mountPoint]);
            if (loop is not null)
            {
                await ProcessRunner.Instance.RunAsync(["losetup", "-d", loop]);
            }
        }

        // The temp folder is on the root ext4 (or tmpfs): no reflink there.
        using var plain = await StartedPoolAsync();
        var a = await plain.CreateVolumeAsync("p", RawXml("a.raw", "1048576"));
        var ex = await Assert.ThrowsAsync<VirtPoolException>(() => plain.CreateVolumeFromAsync("p", RawXml("b.raw", "0"), a, VolumeCreateFlags.Reflink));
        Assert.StartsWith($"failed to clone files from '{Path.Combine(Target, "a.raw")}'", ex.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(Target, "b.raw")));
    }

    private static async Task<string> RunOrThrowAsync(params string[] argv)
    {
        var result = await ProcessRunner.Instance.RunAsync(argv);
        Assert.True(result.Succeeded, $"{string.Join(' ', argv)}: {result.StandardError}");
        return result.StandardOutput;
    }

    /// <summary>Progress reported on the reporting thread (Progress&lt;T&gt; would post to the pool, too late to block).</summary>
    private sealed class SyncProgress(Action<long> report) : IProgress<long>
    {
        public void Report(long value) => report(value);
    }
}
