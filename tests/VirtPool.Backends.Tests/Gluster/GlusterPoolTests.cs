using System.Security.Cryptography;
using Microsoft.Win32.SafeHandles;
using VirtPool.Backends.Gluster;
using VirtPool.Core.Backends;
using VirtPool.Core.Errors;
using VirtPool.Core.Interop;
using VirtPool.Core.Manager;
using VirtPool.Core.Model;
using VirtPool.Core.Process;
using VirtPool.Core.State;
using VirtPool.TestSupport;

namespace VirtPool.Backends.Tests.Gluster;

/// <summary>
/// gluster pools through the pool manager on a real glusterd + brick (libgfapi): what a refresh finds
/// of files another client (a FUSE mount) made, and every volume operation, each checked in the brick
/// (the files as the server stores them), not through gfapi.
/// </summary>
public sealed class GlusterPoolTests(GlusterServer gluster) : IClassFixture<GlusterServer>
{
    private string Volume => gluster.Volumes[0];

    private PoolManager NewManager()
        => new(new StateStore(Path.Combine(gluster.Folder, "state-" + Guid.NewGuid().ToString("N"))), new BackendRegistry([GlusterBackend.Type(ProcessRunner.Instance)]));

    private static string PoolXml(string name, string volume, string? dir = null, int port = 0)
        => $"<pool type='gluster'><name>{name}</name><source><host name='127.0.0.1'{(port > 0 ? $" port='{port}'" : "")}/>{(dir is null ? "" : $"<dir path='{dir}'/>")}<name>{volume}</name></source></pool>";

    private static string Sha256Of(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexString(SHA256.HashData(stream));
    }

    private static FileStat LStat(string path) => FileStat.TryLStat(path, out var st, out var errno) ? st : throw new IOException($"lstat {path}: {errno}");

    [Fact]
    public async Task A_refresh_lists_what_another_client_wrote_as_libvirt_describes_it()
    {
        using var fuse = gluster.Mount(Volume);
        var dir = Path.Combine(fuse.Path, "scan");
        Directory.CreateDirectory(Path.Combine(dir, "sub"));
        var data = RandomNumberGenerator.GetBytes(1_000_000);
        await File.WriteAllBytesAsync(Path.Combine(dir, "data.raw"), data);
        using (var sparse = File.Create(Path.Combine(dir, "sparse.img")))
        {
            sparse.SetLength(10 << 20);
        }

        Assert.Equal(0, (await ProcessRunner.Instance.RunAsync(["qemu-img", "create", "-q", "-f", "qcow2", Path.Combine(dir, "q.qcow2"), "5M"])).ExitCode);
        Assert.Equal(0, (await ProcessRunner.Instance.RunAsync(["qemu-img", "create", "-q", "-f", "qcow2", "-b", "q.qcow2", "-F", "qcow2", Path.Combine(dir, "overlay.qcow2")])).ExitCode);
        File.CreateSymbolicLink(Path.Combine(dir, "link"), "data.raw");
        File.CreateSymbolicLink(Path.Combine(dir, "dangling"), "nothing");

        using var mgr = NewManager();
        await mgr.CreatePoolAsync(PoolXml("glscan", Volume, "/scan"), PoolBuildFlags.None, false);
        Assert.Equal(["data.raw", "link", "overlay.qcow2", "q.qcow2", "sparse.img", "sub"], (await mgr.ListVolumesAsync("glscan")).Select(v => v.Name).Order(StringComparer.Ordinal));

        async Task<VolumeDefinition> Vol(string name) => await mgr.GetVolumeAsync(await mgr.LookupVolumeByNameAsync("glscan", name));
        var raw = await Vol("data.raw");
        Assert.Equal((VolumeType.Network, "raw", 1_000_000UL), (raw.Type, raw.Target.Format, raw.Capacity));
        Assert.Equal($"gluster://127.0.0.1/{Volume}/scan/data.raw", raw.Target.Path);
        Assert.Equal(raw.Target.Path, raw.Key);
        Assert.Equal((ulong)LStat(Path.Combine(dir, "data.raw")).AllocatedBytes, raw.Allocation);
        Assert.Equal(1_000_000UL, raw.Physical);

        var sparseVol = await Vol("sparse.img");
        Assert.Equal(10UL << 20, sparseVol.Capacity);
        Assert.True(sparseVol.Allocation < 1UL << 20, "a sparse file's allocation is its blocks, not its size");

        var qcow = await Vol("q.qcow2");
        Assert.Equal(("qcow2", 5UL << 20, "1.1"), (qcow.Target.Format, qcow.Capacity, qcow.Target.Compat));
        var overlay = await Vol("overlay.qcow2");
        Assert.Equal(("q.qcow2", "qcow2"), (overlay.BackingStore?.Path, overlay.BackingStore?.Format));

        // A link is its target's file under its own name; a dangling one is skipped, as libvirt does.
        var link = await Vol("link");
        Assert.Equal((VolumeType.Network, 1_000_000UL, $"gluster://127.0.0.1/{Volume}/scan/link"), (link.Type, link.Capacity, link.Target.Path));

        var sub = await Vol("sub");
        Assert.Equal((VolumeType.NetDir, "dir"), (sub.Type, sub.Target.Format));
        Assert.Equal((ulong)LStat(Path.Combine(dir, "sub")).Size, sub.Capacity);

        // The pool's sizes are the gluster volume's statvfs (capacity = f_frsize * f_blocks).
        var info = await mgr.GetPoolInfoAsync("glscan");
        var vfs = new DriveInfo(fuse.Path);
        Assert.Equal(PoolState.Running, info.State);
        Assert.Equal((ulong)vfs.TotalSize, info.Capacity);
        Assert.Equal(info.Capacity, info.Allocation + info.Available);

        await mgr.DestroyPoolAsync("glscan");
    }

    [Fact]
    public async Task Volumes_are_created_transferred_with_holes_cloned_resized_wiped_and_deleted()
    {
        using var fuse = gluster.Mount(Volume);
        Directory.CreateDirectory(Path.Combine(fuse.Path, "ops"));

        // Checked in the brick, the files as the server stores them (a FUSE client caches stat and data).
        var dir = Path.Combine(gluster.BrickOf(Volume), "ops");
        using var mgr = NewManager();
        await mgr.CreatePoolAsync(PoolXml("glops", Volume, "/ops", port: 24007), PoolBuildFlags.None, false);

        // raw: fully allocated by default, sparse with allocation 0; qcow2 natively; a folder.
        var full = await mgr.CreateVolumeAsync("glops", "<volume><name>full.raw</name><capacity unit='M'>4</capacity></volume>");
        var thin = await mgr.CreateVolumeAsync("glops", "<volume><name>thin.raw</name><capacity unit='M'>64</capacity><allocation>0</allocation></volume>");
        var qcow = await mgr.CreateVolumeAsync("glops", "<volume><name>new.qcow2</name><capacity unit='M'>100</capacity><target><format type='qcow2'/></target></volume>");
        await mgr.CreateVolumeAsync("glops", "<volume><name>folder</name><capacity>0</capacity><target><format type='dir'/></target></volume>");
        Assert.Equal($"gluster://127.0.0.1:24007/{Volume}/ops/full.raw", full.Key);
        Assert.Equal(4L << 20, new FileInfo(Path.Combine(dir, "full.raw")).Length);
        Assert.True(LStat(Path.Combine(dir, "full.raw")).AllocatedBytes >= 4L << 20);
        Assert.Equal(64L << 20, new FileInfo(Path.Combine(dir, "thin.raw")).Length);
        Assert.True(LStat(Path.Combine(dir, "thin.raw")).AllocatedBytes < 1L << 20);
        Assert.True(Directory.Exists(Path.Combine(dir, "folder")));
        var info = await ProcessRunner.Instance.RunAsync(["qemu-img", "info", "--output=json", Path.Combine(dir, "new.qcow2")]);
        Assert.Contains("\"virtual-size\": 104857600", info.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("\"format\": \"qcow2\"", info.StandardOutput, StringComparison.Ordinal);
        Assert.Equal("qcow2", (await mgr.GetVolumeAsync(qcow)).Target.Format);
        await mgr.CreateVolumeAsync("glops", "<volume><name>x</name><capacity>1</capacity></volume>");
        var exists = await Assert.ThrowsAsync<VirtPoolException>(() => mgr.CreateVolumeAsync("glops", "<volume><name>x</name><capacity>1</capacity></volume>"));
        Assert.Contains("already", exists.Message, StringComparison.Ordinal);
        var escape = await Assert.ThrowsAsync<VirtPoolException>(() => mgr.CreateVolumeAsync("glops", "<volume><name>../out</name><capacity>1</capacity></volume>"));
        Assert.Equal("Requested operation is not valid: volume name '../out' cannot contain '/'", escape.Message);
        Assert.False(File.Exists(Path.Combine(gluster.BrickOf(Volume), "out")));

        // Upload a file with a hole in the middle: the data lands, the hole stays a hole.
        var local = Path.Combine(gluster.Folder, "upload.img");
        var head = RandomNumberGenerator.GetBytes(1 << 20);
        var tail = RandomNumberGenerator.GetBytes(1 << 20);
        using (var f = File.Create(local))
        {
            f.Write(head);
            f.Seek(32 << 20, SeekOrigin.Begin);
            f.Write(tail);
        }

        using (var src = File.OpenHandle(local))
        {
            Assert.Equal(33L << 20, await mgr.UploadVolumeAsync(thin, new LocalFileEndpoint(src), 0, 0, sparse: true));
        }

        var onServer = Path.Combine(dir, "thin.raw");
        Assert.Equal(64L << 20, new FileInfo(onServer).Length);
        using (var check = File.OpenRead(onServer))
        {
            var got = new byte[1 << 20];
            check.ReadExactly(got);
            Assert.Equal(head, got);
            check.Seek(32 << 20, SeekOrigin.Begin);
            check.ReadExactly(got);
            Assert.Equal(tail, got);
        }

        Assert.True(LStat(onServer).AllocatedBytes < 8L << 20, $"holes kept: {LStat(onServer).AllocatedBytes} bytes allocated");

        // Checksum and a sparse download agree with the bytes another client reads.
        Assert.Equal(Sha256Of(onServer), Convert.ToHexString(await mgr.ChecksumVolumeAsync(thin)));
        var downloaded = Path.Combine(gluster.Folder, "download.img");
        using (var dst = File.OpenHandle(downloaded, FileMode.Create, FileAccess.Write))
        {
            Assert.Equal(64L << 20, await mgr.DownloadVolumeAsync(thin, new LocalFileEndpoint(dst), 0, 0, sparse: true));
        }

        Assert.Equal(Sha256Of(onServer), Sha256Of(downloaded));
        Assert.True(LStat(downloaded).AllocatedBytes < 8L << 20, "the download keeps the holes");

        // A stream download from an offset, and a stream upload at an offset.
        using (var ms = new MemoryStream())
        {
            Assert.Equal(1L << 20, await mgr.DownloadVolumeAsync(thin, new StreamEndpoint(ms), 32UL << 20, 1UL << 20, sparse: false));
            Assert.Equal(tail, ms.ToArray());
        }

        using (var ms = new MemoryStream(head))
        {
            Assert.Equal(1L << 20, await mgr.UploadVolumeAsync(full, new StreamEndpoint(ms), 1UL << 20, 0, sparse: false));
        }

        using (var check = File.OpenRead(Path.Combine(dir, "full.raw")))
        {
            var got = new byte[1 << 20];
            check.Seek(1 << 20, SeekOrigin.Begin);
            check.ReadExactly(got);
            Assert.Equal(head, got);
        }

        // Clone within the pool: same bytes, holes kept.
        var clone = await mgr.CreateVolumeFromAsync("glops", "<volume><name>clone.raw</name><capacity unit='M'>64</capacity></volume>", thin);
        Assert.Equal(Sha256Of(onServer), Sha256Of(Path.Combine(dir, "clone.raw")));
        Assert.Equal(Sha256Of(onServer), Convert.ToHexString(await mgr.ChecksumVolumeAsync(clone)));

        // Clone into another format: qemu-img convert through a scratch file.
        var converted = await mgr.CreateVolumeFromAsync("glops", "<volume><name>conv.qcow2</name><capacity unit='M'>64</capacity><target><format type='qcow2'/></target></volume>", thin);
        var compare = await ProcessRunner.Instance.RunAsync(["qemu-img", "compare", "-f", "raw", "-F", "qcow2", onServer, Path.Combine(dir, "conv.qcow2")]);
        Assert.True(compare.ExitCode == 0, compare.StandardOutput + compare.StandardError);
        Assert.Equal("qcow2", (await mgr.GetVolumeAsync(converted)).Target.Format);

        // Resize: raw grows (sparse) and shrinks; qcow2 through qemu-img.
        await mgr.ResizeVolumeAsync(clone, 80UL << 20, VolumeResizeFlags.None);
        Assert.Equal(80L << 20, new FileInfo(Path.Combine(dir, "clone.raw")).Length);
        Assert.Equal(80UL << 20, (await mgr.GetVolumeInfoAsync(clone)).Capacity);
        await mgr.ResizeVolumeAsync(clone, 40UL << 20, VolumeResizeFlags.Shrink);
        Assert.Equal(40L << 20, new FileInfo(Path.Combine(dir, "clone.raw")).Length);
        await mgr.ResizeVolumeAsync(qcow, 200UL << 20, VolumeResizeFlags.None);
        Assert.Equal(200UL << 20, (await mgr.GetVolumeInfoAsync(qcow)).Capacity);

        // Wipe: zeros where the data was.
        await mgr.WipeVolumeAsync(full, VolumeWipeAlgorithm.Zero);
        Assert.Equal(Convert.ToHexString(SHA256.HashData(new byte[4 << 20])), Sha256Of(Path.Combine(dir, "full.raw")));
        await mgr.WipeVolumeAsync(clone, VolumeWipeAlgorithm.Trim);
        Assert.Equal(Convert.ToHexString(SHA256.HashData(new byte[40 << 20])), Sha256Of(Path.Combine(dir, "clone.raw")));

        // Delete: files and the (empty) folder go; the brick no longer has them.
        foreach (var name in new[] { "full.raw", "thin.raw", "new.qcow2", "clone.raw", "conv.qcow2", "x", "folder" })
        {
            await mgr.DeleteVolumeAsync(await mgr.LookupVolumeByNameAsync("glops", name));
        }

        Assert.Empty(Directory.EnumerateFileSystemEntries(dir));
        await mgr.RefreshPoolAsync("glops");
        Assert.Empty(await mgr.ListVolumesAsync("glops"));
        await mgr.DestroyPoolAsync("glops");
    }

    [Fact]
    public async Task Bad_sources_fail_the_start_with_libvirts_messages()
    {
        using var mgr = NewManager();
        await mgr.DefinePoolAsync(PoolXml("glnodir", Volume, "/missing"));
        var noDir = await Assert.ThrowsAsync<VirtPoolException>(() => mgr.StartPoolAsync("glnodir", PoolBuildFlags.None, false));
        Assert.Equal($"failed to change to directory '/missing/' in '{Volume}': No such file or directory", noDir.Message);

        await mgr.DefinePoolAsync(PoolXml("glnovol", "novol", "/sub", port: 24007));
        var noVol = await Assert.ThrowsAsync<VirtPoolException>(() => mgr.StartPoolAsync("glnovol", PoolBuildFlags.None, false));
        Assert.Equal("failed to connect to gluster://127.0.0.1:24007/novol/sub/: No such file or directory", noVol.Message);
        Assert.Equal(PoolState.Inactive, (await mgr.GetPoolInfoAsync("glnovol")).State);
    }

    [Fact]
    public async Task Deleting_a_folder_that_is_not_empty_says_so()
    {
        using var fuse = gluster.Mount(Volume);
        Directory.CreateDirectory(Path.Combine(fuse.Path, "full", "inner", "deeper"));
        using var mgr = NewManager();
        await mgr.CreatePoolAsync(PoolXml("glfull", Volume, "/full"), PoolBuildFlags.None, false);
        var inner = await mgr.LookupVolumeByNameAsync("glfull", "inner");
        var ex = await Assert.ThrowsAsync<VirtPoolException>(() => mgr.DeleteVolumeAsync(inner));
        Assert.Equal($"cannot remove gluster volume dir 'gluster://127.0.0.1/{Volume}/full/inner': Directory not empty", ex.Message);
        Assert.True(Directory.Exists(Path.Combine(fuse.Path, "full", "inner", "deeper")));
        var flags = await Assert.ThrowsAsync<VirtPoolException>(() => mgr.DeleteVolumeAsync(inner, VolumeDeleteFlags.ZeroedOut));
        Assert.Equal("unsupported flags (0x1) in function virStorageBackendGlusterVolDelete", flags.Message);
        await mgr.DestroyPoolAsync("glfull");
    }
}
