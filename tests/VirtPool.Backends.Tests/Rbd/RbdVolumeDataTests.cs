using VirtPool.Core.Backends;
using VirtPool.Core.Errors;
using VirtPool.Core.Manager;

namespace VirtPool.Backends.Tests.Rbd;

/// <summary>
/// rbd volume data through the manager on the real cluster: upload and download with holes kept
/// (checked with <c>rbd du</c>, <c>rbd export</c> and the files' st_blocks), and copy-on-write clones
/// with the snapshot bookkeeping libvirt 9.0 gets wrong.
/// </summary>
[Collection(RbdCollection.Name)]
public sealed class RbdVolumeDataTests : IDisposable
{
    private const long Mib = 1L << 20;

    private readonly RbdTestPool _rbd = new();

    public void Dispose() => _rbd.Dispose();

    [Fact]
    public async Task Sparse_upload_and_download_keep_holes_and_the_bytes()
    {
        var pool = await _rbd.StartPoolAsync();
        var manager = _rbd.Manager;
        var name = _rbd.NewImageName("holes");
        var vol = await manager.CreateVolumeAsync(pool, $"<volume><name>{name}</name><capacity unit='MiB'>64</capacity></volume>");

        // Old data everywhere first: the holes of the sparse upload must read as zeros afterwards.
        var full = _rbd.SparseFile("full", 64 * Mib, (0, (int)(64 * Mib)));
        using (var handle = File.OpenHandle(full))
        {
            Assert.Equal(64 * Mib, await manager.UploadVolumeAsync(vol, new LocalFileEndpoint(handle), 0, 0, sparse: false));
        }

        Assert.Equal(64UL * (ulong)Mib, _rbd.UsedBytes(name));

        var sparse = _rbd.SparseFile("sparse", 64 * Mib, (0, (int)Mib), (20 * Mib, (int)Mib), (60 * Mib, (int)Mib + 100_000));
        using (var handle = File.OpenHandle(sparse))
        {
            Assert.Equal(64 * Mib, await manager.UploadVolumeAsync(vol, new LocalFileEndpoint(handle), 0, 0, sparse: true));
        }

        var expected = RbdTestPool.Sha256(sparse);
        Assert.Equal(expected, _rbd.ExportSha256(name));
        Assert.Equal(expected, Convert.ToHexStringLower(await manager.ChecksumVolumeAsync(vol)));

        // Only the three 4 MiB objects with data stay allocated (rbd du counts whole objects).
        Assert.Equal(12UL * (ulong)Mib, _rbd.UsedBytes(name));

        // A sparse download into a new file: the same bytes, only the objects with data written.
        var down = Path.Combine(_rbd.Root, "down");
        using (var handle = File.OpenHandle(down, FileMode.CreateNew, FileAccess.Write))
        {
            Assert.Equal(64 * Mib, await manager.DownloadVolumeAsync(vol, new LocalFileEndpoint(handle), 0, 0, sparse: true));
        }

        Assert.Equal(64 * Mib, new FileInfo(down).Length);
        Assert.Equal(expected, RbdTestPool.Sha256(down));
        Assert.InRange(RbdTestPool.AllocatedBytes(down), 3 * Mib, 13 * Mib);

        // A plain download writes every byte.
        var plain = Path.Combine(_rbd.Root, "plain");
        using (var handle = File.OpenHandle(plain, FileMode.CreateNew, FileAccess.Write))
        {
            await manager.DownloadVolumeAsync(vol, new LocalFileEndpoint(handle), 0, 0, sparse: false);
        }

        Assert.Equal(expected, RbdTestPool.Sha256(plain));
        Assert.True(RbdTestPool.AllocatedBytes(plain) >= 64 * Mib);

        // A part: offset and length, into a stream.
        using var part = new MemoryStream();
        Assert.Equal(2 * Mib, await manager.DownloadVolumeAsync(vol, new StreamEndpoint(part), (ulong)(19 * Mib), (ulong)(2 * Mib), sparse: false));
        var bytes = await File.ReadAllBytesAsync(sparse);
        Assert.True(part.ToArray().AsSpan().SequenceEqual(bytes.AsSpan((int)(19 * Mib), (int)(2 * Mib))));
    }

    [Fact]
    public async Task A_plain_stream_upload_at_an_offset_keeps_zero_chunks_as_holes_and_refuses_more_than_fits()
    {
        var pool = await _rbd.StartPoolAsync();
        var manager = _rbd.Manager;
        var name = _rbd.NewImageName("stream");
        var vol = await manager.CreateVolumeAsync(pool, $"<volume><name>{name}</name><capacity unit='MiB'>32</capacity></volume>");
        var payload = new byte[12 * Mib];
        Random.Shared.NextBytes(payload.AsSpan(0, (int)Mib));
        Random.Shared.NextBytes(payload.AsSpan((int)(11 * Mib), (int)Mib));
        Assert.Equal(12 * Mib, await manager.UploadVolumeAsync(vol, new StreamEndpoint(new MemoryStream(payload)), (ulong)(8 * Mib), 0, sparse: true));

        using var whole = new MemoryStream();
        await manager.DownloadVolumeAsync(vol, new StreamEndpoint(whole), 0, 0, sparse: false);
        var image = whole.ToArray();
        Assert.True(image.AsSpan((int)(8 * Mib), (int)(12 * Mib)).SequenceEqual(payload));
        Assert.False(image.AsSpan(0, (int)(8 * Mib)).ContainsAnyExcept((byte)0));

        // The all-zero 4 MiB chunk in the middle (12..16 MiB) stayed a hole: objects 2 and 4 only.
        Assert.Equal(8UL << 20, _rbd.UsedBytes(name));

        var tooMuch = await Assert.ThrowsAsync<VirtPoolException>(() => manager.UploadVolumeAsync(vol, new StreamEndpoint(new MemoryStream(new byte[33 * Mib])), 0, 0, sparse: false));
        Assert.Equal("cannot write to stream: No space left on device", tooMuch.Message);
    }

    [Fact]
    public async Task A_clone_is_copy_on_write_and_its_snapshot_goes_with_the_last_clone()
    {
        var pool = await _rbd.StartPoolAsync();
        var manager = _rbd.Manager;
        var source = _rbd.NewImageName("parent");
        var src = await manager.CreateVolumeAsync(pool, $"<volume><name>{source}</name><capacity unit='MiB'>32</capacity></volume>");
        var data = _rbd.SparseFile("parent", 32 * Mib, (0, (int)(8 * Mib)));
        using (var handle = File.OpenHandle(data))
        {
            await manager.UploadVolumeAsync(src, new LocalFileEndpoint(handle), 0, 0, sparse: true);
        }

        var first = _rbd.NewImageName("clone1");
        var clone1 = await manager.CreateVolumeFromAsync(pool, $"<volume><name>{first}</name><capacity unit='MiB'>48</capacity></volume>", src);
        using (var info = _rbd.Info(first))
        {
            var parent = info.RootElement.GetProperty("parent");
            Assert.Equal("rbd", parent.GetProperty("pool").GetString());
            Assert.Equal(source, parent.GetProperty("image").GetString());
            Assert.StartsWith("libvirt-", parent.GetProperty("snapshot").GetString(), StringComparison.Ordinal);

            // Grown to the capacity asked (libvirt's clone keeps the parent's size).
            Assert.Equal(48UL << 20, info.RootElement.GetProperty("size").GetUInt64());
        }

        // Copy-on-write: the clone holds nothing of its own, and reads the parent's bytes.
        Assert.Equal(0UL, _rbd.UsedBytes(first));
        var parentSha = _rbd.ExportSha256(source);
        using (var head = new MemoryStream())
        {
            await manager.DownloadVolumeAsync(clone1, new StreamEndpoint(head), 0, (ulong)(32 * Mib), sparse: false);
            Assert.Equal(RbdTestPool.Sha256(data), Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(head.ToArray())));
        }

        // The parent unchanged since: the second clone uses the same snapshot (libvirt's no-diff search).
        var second = _rbd.NewImageName("clone2");
        var clone2 = await manager.CreateVolumeFromAsync(pool, $"<volume><name>{second}</name><capacity unit='MiB'>32</capacity></volume>", src);
        var snapshots = _rbd.Snapshots(source);
        Assert.Single(snapshots);
        Assert.True(snapshots[0].Protected);

        // Writing to a clone leaves the parent as it was.
        using (var handle = File.OpenHandle(_rbd.SparseFile("over", 4 * Mib, (0, (int)(4 * Mib)))))
        {
            await manager.UploadVolumeAsync(clone2, new LocalFileEndpoint(handle), 0, 0, sparse: false);
        }

        Assert.Equal(parentSha, _rbd.ExportSha256(source));

        // Without --delete-snapshots: librbd's refusal of an image with snapshots, in libvirt's words.
        var busy = await Assert.ThrowsAsync<VirtPoolException>(() => manager.DeleteVolumeAsync(src));
        Assert.StartsWith($"failed to remove volume 'rbd/{source}': ", busy.Message, StringComparison.Ordinal);

        // With it: refused before anything changes, naming the clones.
        var refused = await Assert.ThrowsAsync<VirtPoolException>(() => manager.DeleteVolumeAsync(src, VolumeDeleteFlags.WithSnapshots));
        Assert.Equal(VirErrorCode.OperationInvalid, refused.Code);
        Assert.Contains($"'rbd/{first}'", refused.Message);
        Assert.Contains($"'rbd/{second}'", refused.Message);
        Assert.Equal(snapshots, _rbd.Snapshots(source));

        // The first clone goes: the snapshot stays for the second; with the second, it goes too.
        await manager.DeleteVolumeAsync(clone1);
        Assert.Equal(snapshots, _rbd.Snapshots(source));
        await manager.DeleteVolumeAsync(clone2);
        Assert.Empty(_rbd.Snapshots(source));

        // So the parent is deleted as any image (libvirt 9.0: "No such file or directory").
        await manager.DeleteVolumeAsync(src);
        Assert.False(_rbd.Exists(source));
    }

    [Fact]
    public async Task A_clone_from_a_file_of_a_dir_pool_is_a_full_copy_with_its_holes()
    {
        var pool = await _rbd.StartPoolAsync();
        var manager = _rbd.Manager;
        var dir = Directory.CreateDirectory(Path.Combine(_rbd.Root, "dirpool")).FullName;
        await manager.CreatePoolAsync($"<pool type='dir'><name>files</name><target><path>{dir}</path></target></pool>", PoolBuildFlags.None, doBuild: false);
        var file = await manager.CreateVolumeAsync("files", "<volume><name>disk.raw</name><capacity unit='MiB'>24</capacity><allocation>0</allocation><target><format type='raw'/></target></volume>");
        using (var handle = File.OpenHandle(_rbd.SparseFile("src", 24 * Mib, (4 * Mib, (int)Mib))))
        {
            await manager.UploadVolumeAsync(file, new LocalFileEndpoint(handle), 0, 0, sparse: true);
        }

        var name = _rbd.NewImageName("fromfile");
        var copy = await manager.CreateVolumeFromAsync(pool, $"<volume><name>{name}</name><capacity unit='MiB'>24</capacity></volume>", file);
        Assert.Equal(RbdTestPool.Sha256(Path.Combine(dir, "disk.raw")), _rbd.ExportSha256(name));
        using (var info = _rbd.Info(name))
        {
            Assert.False(info.RootElement.TryGetProperty("parent", out _));
        }

        // The file's hole stayed a hole: one 4 MiB object holds its data.
        Assert.Equal(4UL * (ulong)Mib, _rbd.UsedBytes(name));
        Assert.Equal($"rbd/{name}", copy.Key);
    }

    [Fact]
    public async Task Delete_with_snapshots_removes_protected_and_plain_snapshots()
    {
        var pool = await _rbd.StartPoolAsync();
        var name = _rbd.NewImageName("snaps");
        var vol = await _rbd.Manager.CreateVolumeAsync(pool, $"<volume><name>{name}</name><capacity unit='MiB'>8</capacity></volume>");
        _rbd.Ceph.Rbd("snap", "create", $"rbd/{name}@kept");
        _rbd.Ceph.Rbd("snap", "create", $"rbd/{name}@guarded");
        _rbd.Ceph.Rbd("snap", "protect", $"rbd/{name}@guarded");
        await _rbd.Manager.DeleteVolumeAsync(vol, VolumeDeleteFlags.WithSnapshots);
        Assert.False(_rbd.Exists(name));
    }
}

/// <summary>The rbd test classes share one Ceph pool: they run one after another.</summary>
[CollectionDefinition(Name)]
public sealed class RbdCollection
{
    public const string Name = "rbd";
}
