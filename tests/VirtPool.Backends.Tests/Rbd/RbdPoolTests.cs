using VirtPool.Backends.Network;
using VirtPool.Core.Backends;
using VirtPool.Core.Errors;
using VirtPool.Core.Manager;
using VirtPool.Core.Model;
using VirtPool.TestSupport;

namespace VirtPool.Backends.Tests.Rbd;

/// <summary>
/// rbd pools through the manager on a real single-node Ceph (<see cref="CephCluster"/>): cephx through
/// a secret, the refusals of a wrong key, a missing secret and a secret of the wrong usage, and each
/// volume operation checked against what the rbd CLI (as client.admin) reads from the cluster.
/// </summary>
[Collection(RbdCollection.Name)]
public sealed class RbdPoolTests : IDisposable
{
    private const ulong Mib = 1UL << 20;

    private readonly RbdTestPool _rbd = new();

    public void Dispose() => _rbd.Dispose();

    [Fact]
    public async Task A_pool_with_cephx_through_a_secret_starts_creates_resizes_wipes_deletes_and_stops()
    {
        var pool = await _rbd.StartPoolAsync();
        var manager = _rbd.Manager;
        var info = await manager.GetPoolInfoAsync(pool);
        Assert.Equal(PoolState.Running, info.State);

        // The fixture's cluster has no mgr, so the cluster's df (rados_cluster_stat) is all 0, as
        // libvirtd reports it on the same cluster; the sizes are what librados says.
        Assert.True(info.Available <= info.Capacity, $"{info}");

        var name = _rbd.NewImageName("life");
        var vol = await manager.CreateVolumeAsync(pool, $"<volume><name>{name}</name><capacity unit='MiB'>64</capacity></volume>");
        Assert.Equal($"rbd/{name}", vol.Key);
        using (var image = _rbd.Info(name))
        {
            Assert.Equal(64 * Mib, image.RootElement.GetProperty("size").GetUInt64());
            Assert.Equal(2, image.RootElement.GetProperty("format").GetInt32());

            // librbd's defaults as the cluster has them, as libvirt creates (order 0 → 4 MiB objects).
            Assert.Equal(22, image.RootElement.GetProperty("order").GetInt32());
            Assert.Contains("layering", image.RootElement.GetProperty("features").EnumerateArray().Select(f => f.GetString()));
        }

        var xml = await manager.GetVolumeXmlAsync(vol);
        Assert.Contains("<volume type='network'>", xml);
        Assert.Contains($"<key>rbd/{name}</key>", xml);
        Assert.Contains($"<path>rbd/{name}</path>", xml);
        Assert.Contains("<format type='raw'/>", xml);
        Assert.Contains("<capacity unit='bytes'>67108864</capacity>", xml);

        // libvirt without <refresh>: allocation = objects × object size, i.e. the capacity.
        Assert.Contains("<allocation unit='bytes'>67108864</allocation>", xml);
        Assert.Contains(name, (await manager.ListVolumesAsync(pool)).Select(v => v.Name));

        await manager.ResizeVolumeAsync(vol, 128 * Mib, VolumeResizeFlags.None);
        using (var image = _rbd.Info(name))
        {
            Assert.Equal(128 * Mib, image.RootElement.GetProperty("size").GetUInt64());
        }

        Assert.Equal(128 * Mib, (await manager.GetVolumeAsync(vol)).Capacity);

        // Data, then a zero wipe: it reads as zeros and its objects are freed.
        var data = _rbd.SparseFile("data", (long)(128 * Mib), (0, 1 << 20), (100 << 20, 1 << 20));
        using (var handle = File.OpenHandle(data))
        {
            await manager.UploadVolumeAsync(vol, new LocalFileEndpoint(handle), 0, 0, sparse: false);
        }

        Assert.Equal(RbdTestPool.Sha256(data), _rbd.ExportSha256(name));
        await manager.WipeVolumeAsync(vol, VolumeWipeAlgorithm.Zero);
        var zeros = _rbd.SparseFile("zeros", (long)(128 * Mib));
        Assert.Equal(RbdTestPool.Sha256(zeros), _rbd.ExportSha256(name));
        Assert.Equal(0UL, _rbd.UsedBytes(name));

        // Trim: discards whole objects.
        using (var handle = File.OpenHandle(data))
        {
            await manager.UploadVolumeAsync(vol, new LocalFileEndpoint(handle), 0, 0, sparse: true);
        }

        Assert.True(_rbd.UsedBytes(name) > 0);
        await manager.WipeVolumeAsync(vol, VolumeWipeAlgorithm.Trim);
        Assert.Equal(0UL, _rbd.UsedBytes(name));

        // libvirt's refusal of the scrub algorithms.
        var scrub = await Assert.ThrowsAsync<VirtPoolException>(() => manager.WipeVolumeAsync(vol, VolumeWipeAlgorithm.Dod));
        Assert.Equal(VirErrorCode.InvalidArg, scrub.Code);
        Assert.Equal("invalid argument: unsupported algorithm 2", scrub.Message);

        await manager.DeleteVolumeAsync(vol);
        Assert.False(_rbd.Exists(name));
        Assert.DoesNotContain(name, (await manager.ListVolumesAsync(pool)).Select(v => v.Name));

        await manager.DestroyPoolAsync(pool);
        Assert.Equal(PoolState.Inactive, (await manager.GetPoolInfoAsync(pool)).State);
    }

    [Fact]
    public async Task With_refresh_allocation_default_the_allocation_is_fast_diffs_and_a_volume_can_shrink()
    {
        var pool = await _rbd.StartPoolAsync("<refresh><volume allocation='default'/></refresh>");
        var manager = _rbd.Manager;
        var name = _rbd.NewImageName("fastdiff");
        var vol = await manager.CreateVolumeAsync(pool, $"<volume><name>{name}</name><capacity unit='MiB'>64</capacity></volume>");

        // libvirt: rbd_diff_iterate2 by whole objects when the image has a valid fast-diff map.
        Assert.Equal(0UL, (await manager.GetVolumeAsync(vol)).Allocation);
        using (var handle = File.OpenHandle(_rbd.SparseFile("one", (long)Mib, (0, 4096))))
        {
            await manager.UploadVolumeAsync(vol, new LocalFileEndpoint(handle), (ulong)(10 * Mib), 0, sparse: true);
        }

        Assert.Equal(4 * Mib, (await manager.GetVolumeAsync(vol)).Allocation);
        await manager.RefreshPoolAsync(pool);
        Assert.Equal(4 * Mib, (await manager.GetVolumeAsync(vol)).Allocation);

        // Shrinking (an addition: libvirt refuses the flag on rbd) cuts the image.
        await manager.ResizeVolumeAsync(vol, 32 * Mib, VolumeResizeFlags.Shrink);
        using (var image = _rbd.Info(name))
        {
            Assert.Equal(32 * Mib, image.RootElement.GetProperty("size").GetUInt64());
        }

        Assert.Equal(32 * Mib, (await manager.GetVolumeAsync(vol)).Capacity);
    }

    [Fact]
    public async Task Volume_create_refuses_what_libvirt_refuses()
    {
        var pool = await _rbd.StartPoolAsync();
        var name = _rbd.NewImageName("refuse");
        var qcow2 = await Assert.ThrowsAsync<VirtPoolException>(() => _rbd.Manager.CreateVolumeAsync(pool, $"<volume><name>{name}</name><capacity>1048576</capacity><target><format type='qcow2'/></target></volume>"));
        Assert.Equal("unsupported configuration: only RAW volumes are supported by this storage pool", qcow2.Message);
        var empty = await Assert.ThrowsAsync<VirtPoolException>(() => _rbd.Manager.CreateVolumeAsync(pool, $"<volume><name>{name}</name><capacity>0</capacity></volume>"));
        Assert.Equal("this function is not supported by the connection driver: volume capacity required for this storage pool", empty.Message);
        Assert.False(_rbd.Exists(name));
    }

    [Fact]
    public async Task A_wrong_key_is_refused_by_the_monitor_with_libvirts_error()
    {
        // A well-formed key that is not client.libvirt's.
        // librados retries a refused key until its mount timeout: a short one (3 s) for the test.
        using var pool = new RbdTestPool(NetworkConnectionOptions.FromTimeoutSetting("3"));
        var other = Convert.FromBase64String(ProcessRunner("ceph-authtool", "--gen-print-key").Trim());
        var usage = await pool.DefineCephSecretAsync(other);
        await pool.Manager.DefinePoolAsync(pool.PoolXml("wrongkey", RbdTestPool.CephAuth(usage)));
        var refused = await Assert.ThrowsAsync<VirtPoolException>(() => pool.Manager.StartPoolAsync("wrongkey", PoolBuildFlags.None, doBuild: false));
        Assert.Equal(VirErrorCode.SystemError, refused.Code);
        Assert.Equal(
            $"failed to connect to the RADOS monitor on: 127.0.0.1:{pool.Ceph.MonPort},: Permission denied (the monitor answers, but did not authenticate client.libvirt within 3 s: is the secret's key that user's?)",
            refused.Detail);
        Assert.Equal(PoolState.Inactive, (await pool.Manager.GetPoolInfoAsync("wrongkey")).State);
    }

    [Fact]
    public async Task A_missing_secret_and_a_secret_of_another_usage_are_refused_before_connecting()
    {
        await _rbd.Manager.DefinePoolAsync(_rbd.PoolXml("nosecret", RbdTestPool.CephAuth("no-such-usage")));
        var missing = await Assert.ThrowsAsync<VirtPoolException>(() => _rbd.Manager.StartPoolAsync("nosecret", PoolBuildFlags.None, doBuild: false));
        Assert.Equal(VirErrorCode.NoSecret, missing.Code);
        Assert.Contains("no-such-usage", missing.Message);

        var volumeSecret = _rbd.Manager.Secrets.Define("<secret ephemeral='no' private='no'><usage type='volume'><volume>/var/lib/x.img</volume></usage></secret>");
        _rbd.Manager.Secrets.SetValue(volumeSecret.Uuid, _rbd.Ceph.LibvirtKeyBytes);
        await _rbd.Manager.DefinePoolAsync(_rbd.PoolXml("wrongusage", $"<auth type='ceph' username='libvirt'><secret uuid='{volumeSecret.Uuid}'/></auth>"));
        var wrongType = await Assert.ThrowsAsync<VirtPoolException>(() => _rbd.Manager.StartPoolAsync("wrongusage", PoolBuildFlags.None, doBuild: false));
        Assert.Contains("is of type 'volume' not expected 'ceph' type", wrongType.Message);

        var empty = _rbd.Manager.Secrets.Define("<secret ephemeral='no' private='no'><usage type='ceph'><name>vp-empty</name></usage></secret>");
        await _rbd.Manager.DefinePoolAsync(_rbd.PoolXml("novalue", RbdTestPool.CephAuth("vp-empty")));
        var noValue = await Assert.ThrowsAsync<VirtPoolException>(() => _rbd.Manager.StartPoolAsync("novalue", PoolBuildFlags.None, doBuild: false));
        Assert.Contains("does not have a value", noValue.Message);
        Assert.NotEqual(Guid.Empty, empty.Uuid);
    }

    [Fact]
    public async Task A_pool_name_the_cluster_lacks_is_libvirts_ioctx_error()
    {
        var usage = await _rbd.DefineCephSecretAsync();
        var xml = _rbd.PoolXml("nopool", RbdTestPool.CephAuth(usage)).Replace("<name>rbd</name>", "<name>vp-missing</name>", StringComparison.Ordinal);
        await _rbd.Manager.DefinePoolAsync(xml);
        var refused = await Assert.ThrowsAsync<VirtPoolException>(() => _rbd.Manager.StartPoolAsync("nopool", PoolBuildFlags.None, doBuild: false));
        Assert.StartsWith("failed to create the RBD IoCTX. Does the pool 'vp-missing' exist?: ", refused.Detail);
    }

    [Fact]
    public async Task A_monitor_that_never_answers_fails_the_start_with_a_timeout_error()
    {
        // A port where nothing listens: librados retries until client_mount_timeout (here the
        // connection's 3 s limit) and gives up with ETIMEDOUT, in libvirt's words.
        using var dead = new RbdTestPool(NetworkConnectionOptions.FromTimeoutSetting("3"));
        var usage = await dead.DefineCephSecretAsync();
        await dead.Manager.DefinePoolAsync(dead.PoolXml("dead", RbdTestPool.CephAuth(usage), port: 1));
        var failed = await Assert.ThrowsAsync<VirtPoolException>(() => dead.Manager.StartPoolAsync("dead", PoolBuildFlags.None, doBuild: false));
        Assert.Equal(VirErrorCode.SystemError, failed.Code);
        Assert.Equal("failed to connect to the RADOS monitor on: 127.0.0.1:1,: Connection timed out", failed.Message);
        Assert.Equal(PoolState.Inactive, (await dead.Manager.GetPoolInfoAsync("dead")).State);
    }

    private static string ProcessRunner(params string[] argv)
    {
        var result = Core.Process.ProcessRunner.Instance.RunAsync(new Core.Process.ProcessRequest(argv) { Timeout = TimeSpan.FromMinutes(1) }).GetAwaiter().GetResult();
        return result.ExitCode == 0 ? result.StandardOutput : throw new InvalidOperationException(result.StandardError);
    }
}
