using VirtPool.Backends.Network;
using VirtPool.Core.Backends;
using VirtPool.Core.Errors;
using VirtPool.Core.Manager;
using VirtPool.TestSupport;

namespace VirtPool.Backends.Tests.Rbd;

/// <summary>
/// A fault drill on a private cluster (its OSD is stopped on purpose): an operation on an active pool
/// fails with a timeout error in librados's own limit (3 s here), the pool reads as inaccessible, and
/// once the OSD runs again a refresh recovers and the data is what it was.
/// </summary>
[Collection(RbdCollection.Name)]
public sealed class RbdFaultTests
{
    private const long Mib = 1L << 20;

    [Fact]
    public async Task A_stopped_osd_fails_a_download_with_a_timeout_and_the_pool_recovers_when_it_returns()
    {
        using var cluster = new CephCluster();
        using var rbd = new RbdTestPool(NetworkConnectionOptions.FromTimeoutSetting("3"), cluster);
        var manager = rbd.Manager;
        var pool = await rbd.StartPoolAsync();
        var name = rbd.NewImageName("drill");
        var vol = await manager.CreateVolumeAsync(pool, $"<volume><name>{name}</name><capacity unit='MiB'>16</capacity></volume>");
        using (var handle = File.OpenHandle(rbd.SparseFile("data", 16 * Mib, (0, (int)(16 * Mib)))))
        {
            await manager.UploadVolumeAsync(vol, new LocalFileEndpoint(handle), 0, 0, sparse: false);
        }

        var before = Convert.ToHexStringLower(await manager.ChecksumVolumeAsync(vol));
        CephCluster.Signal(cluster.OsdPid, "STOP");
        try
        {
            using var sink = new MemoryStream();
            var failed = await Assert.ThrowsAsync<VirtPoolException>(() => manager.DownloadVolumeAsync(vol, new StreamEndpoint(sink), 0, 0, sparse: false));
            // librados's own limit (rados_osd_op_timeout) answers, before the connection's backstop.
            Assert.Equal(VirErrorCode.SystemError, failed.Code);
            Assert.Equal($"failed to open the RBD image '{name}': Connection timed out", failed.Message);
            Assert.Equal(PoolState.Inaccessible, (await manager.GetPoolInfoAsync(pool)).State);
        }
        finally
        {
            CephCluster.Signal(cluster.OsdPid, "CONT");
        }

        // The OSD is back: a refresh reconnects, the pool runs, and nothing was changed.
        await manager.RefreshPoolAsync(pool);
        Assert.Equal(PoolState.Running, (await manager.GetPoolInfoAsync(pool)).State);
        Assert.Equal(before, Convert.ToHexStringLower(await manager.ChecksumVolumeAsync(vol)));
        Assert.Equal(before, rbd.ExportSha256(name));
    }
}
