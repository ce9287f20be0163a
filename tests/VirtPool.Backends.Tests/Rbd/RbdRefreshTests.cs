using VirtPool.Core.Backends;
using VirtPool.TestSupport;

namespace VirtPool.Backends.Tests.Rbd;

/// <summary>
/// The refresh's reuse: an image whose RADOS header and object map have the versions of the last
/// refresh is not opened again; one changed by another client (rbd CLI: resize, write, snapshot) is.
/// </summary>
[Collection(RbdCollection.Name)]
public sealed class RbdRefreshTests : IDisposable
{
    private const ulong Mib = 1UL << 20;

    private readonly RbdTestPool _rbd = new();

    public void Dispose() => _rbd.Dispose();

    [Fact]
    public async Task A_refresh_reopens_only_the_images_that_changed_since_the_last()
    {
        var (backend, context) = _rbd.LoadBackend("<refresh><volume allocation='default'/></refresh>");
        using (backend)
        {
            var names = new[] { _rbd.NewImageName("r1"), _rbd.NewImageName("r2"), _rbd.NewImageName("r3") };
            foreach (var name in names)
            {
                _rbd.Ceph.Rbd("create", "--size", "8M", $"{CephCluster.Pool}/{name}");
            }

            var first = await backend.RefreshPoolAsync(context, default);
            Assert.True(backend.ImagesReadByLastRefresh >= 3, $"{backend.ImagesReadByLastRefresh}");
            Assert.All(names, n => Assert.Contains(first.Volumes, v => v.Name == n && v.Capacity == 8 * Mib && v.Allocation == 0));

            var second = await backend.RefreshPoolAsync(context, default);
            Assert.Equal(0, backend.ImagesReadByLastRefresh);
            Assert.Equal(Describe(first), Describe(second));

            // Resized by another client: its header changed.
            _rbd.Ceph.Rbd("resize", "--size", "16M", $"{CephCluster.Pool}/{names[0]}");
            var resized = await backend.RefreshPoolAsync(context, default);
            Assert.Equal(1, backend.ImagesReadByLastRefresh);
            Assert.Equal(16 * Mib, resized.Volumes.Single(v => v.Name == names[0]).Capacity);

            // Written to: its object map changed, and with it the allocation fast-diff reports.
            _rbd.Ceph.Rbd("bench", "--io-type", "write", "--io-size", "4096", "--io-total", "4096", $"{CephCluster.Pool}/{names[1]}");
            var written = await backend.RefreshPoolAsync(context, default);
            Assert.Equal(1, backend.ImagesReadByLastRefresh);
            Assert.Equal(4 * Mib, written.Volumes.Single(v => v.Name == names[1]).Allocation);

            // A snapshot is a header change too; a removed image just leaves the listing.
            _rbd.Ceph.Rbd("snap", "create", $"{CephCluster.Pool}/{names[2]}@s1");
            _rbd.Ceph.Rbd("rm", $"{CephCluster.Pool}/{names[0]}");
            var last = await backend.RefreshPoolAsync(context, default);
            Assert.Equal(1, backend.ImagesReadByLastRefresh);
            Assert.DoesNotContain(last.Volumes, v => v.Name == names[0]);
            Assert.Contains(last.Volumes, v => v.Name == names[2]);
        }
    }

    [Fact]
    public async Task A_pool_whose_refresh_asks_no_fast_diff_reports_objects_times_object_size()
    {
        var (backend, context) = _rbd.LoadBackend();
        using (backend)
        {
            var name = _rbd.NewImageName("objs");
            _rbd.Ceph.Rbd("create", "--size", "10M", $"{CephCluster.Pool}/{name}");

            // libvirt: info.obj_size * info.num_objs, three 4 MiB objects for 10 MiB.
            var scan = await backend.RefreshPoolAsync(context, default);
            var volume = scan.Volumes.Single(v => v.Name == name);
            Assert.Equal(10 * Mib, volume.Capacity);
            Assert.Equal(12 * Mib, volume.Allocation);
            Assert.Equal($"rbd/{name}", volume.Key);
            Assert.Equal($"rbd/{name}", volume.Target.Path);
            Assert.Equal(Core.Model.VolumeType.Network, volume.Type);
            Assert.Equal("raw", volume.Target.Format);
        }
    }

    private static string Describe(PoolScan scan)
        => string.Join('\n', scan.Volumes.OrderBy(v => v.Name, StringComparer.Ordinal).Select(v => $"{v.Name} {v.Key} {v.Capacity} {v.Allocation}"));
}
