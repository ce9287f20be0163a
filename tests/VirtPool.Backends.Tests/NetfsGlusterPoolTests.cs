using System.Runtime.CompilerServices;
using VirtPool.Backends.Mounts;
using VirtPool.Backends.Netfs;
using VirtPool.Core.Backends;
using VirtPool.Core.Errors;
using VirtPool.Core.Manager;
using VirtPool.Core.Model;
using VirtPool.Core.Process;
using VirtPool.Core.State;
using VirtPool.TestSupport;

namespace VirtPool.Backends.Tests;

/// <summary>
/// A netfs pool of format glusterfs on a real GlusterFS volume (FUSE mount) through the pool manager:
/// the mount and umount compared with libvirtd 9.0's recorded argv (Golden/netfs, its volume gv0
/// replaced by this run's), volumes created through the mount showing up in the brick.
/// </summary>
public sealed class NetfsGlusterPoolTests(GlusterServer gluster) : IClassFixture<GlusterServer>
{
    private readonly CommandLog _ran = new(ProcessRunner.Instance);

    private string Work => gluster.Folder;

    private string Volume => gluster.Volumes[0];

    private string Brick => gluster.BrickOf(Volume);

    private PoolManager NewManager()
        => new(new StateStore(Path.Combine(Work, "state-" + Guid.NewGuid().ToString("N"))), new BackendRegistry([NetfsBackend.Type(_ran)]));

    private static string PoolXml(string name, string volume, string target)
        => $"<pool type='netfs'><name>{name}</name><source><host name='127.0.0.1'/><dir path='/{volume}'/><format type='glusterfs'/></source><target><path>{target}</path></target></pool>";

    private string GoldenText(string file, [CallerFilePath] string thisFile = "")
        => File.ReadAllText(Path.Combine(Path.GetDirectoryName(thisFile)!, "Golden", "netfs", file))
            .Replace("@WORK@", Work, StringComparison.Ordinal)
            .Replace("127.0.0.1:/gv0", "127.0.0.1:/" + Volume, StringComparison.Ordinal);

    private string[] Golden(string step) => GoldenText(step + ".argv").Split('\n', StringSplitOptions.RemoveEmptyEntries);

    [Fact]
    public async Task Glusterfs_pool_mounts_holds_files_in_the_brick_and_unmounts_as_libvirt()
    {
        var target = Path.Combine(Work, "mnt", "gl");
        var source = "127.0.0.1:/" + Volume;
        using var mgr = NewManager();
        await mgr.DefinePoolAsync(PoolXml("netgl", Volume, target));

        // Without the target the mount helper says so (02-gl-start-no-target-bad).
        var noTarget = await Assert.ThrowsAsync<VirtPoolException>(() => mgr.StartPoolAsync("netgl", PoolBuildFlags.None, false));
        Assert.Equal(Golden("04-gl-start"), _ran.Take());
        Assert.Contains("unexpected exit status 1: ERROR: Mount point does not exist", noTarget.Message, StringComparison.Ordinal);

        await mgr.BuildPoolAsync("netgl", PoolBuildFlags.None);
        await mgr.StartPoolAsync("netgl", PoolBuildFlags.None, false);
        Assert.Equal(Golden("04-gl-start"), _ran.Take());
        Assert.True(MountTable.IsMounted(MountTable.Read(), source, target));
        try
        {
            await mgr.CreateVolumeAsync("netgl", "<volume><name>raw1</name><capacity unit='M'>10</capacity></volume>");
            await mgr.CreateVolumeAsync("netgl", "<volume><name>qcow1</name><capacity unit='M'>20</capacity><target><format type='qcow2'/></target></volume>");

            // Written through the FUSE mount, stored by the brick.
            Assert.True(File.Exists(Path.Combine(Brick, "raw1")));
            Assert.True(File.Exists(Path.Combine(Brick, "qcow1")));
            await mgr.RefreshPoolAsync("netgl");
            Assert.Equal(["qcow1", "raw1"], (await mgr.ListVolumesAsync("netgl")).Select(v => v.Name).Order(StringComparer.Ordinal));
            Assert.Equal("qcow2", (await mgr.GetVolumeAsync(await mgr.LookupVolumeByNameAsync("netgl", "qcow1"))).Target.Format);

            await mgr.DeleteVolumeAsync(await mgr.LookupVolumeByNameAsync("netgl", "raw1"));
            Assert.False(File.Exists(Path.Combine(Brick, "raw1")));
            Assert.Equal(["qcow1"], (await mgr.ListVolumesAsync("netgl")).Select(v => v.Name));
            _ = _ran.Take();

            await mgr.DestroyPoolAsync("netgl");
            Assert.Equal(Golden("14-gl-destroy"), _ran.Take());
            Assert.False(MountTable.IsMounted(MountTable.Read(), source, target));
        }
        finally
        {
            if (MountTable.IsMounted(MountTable.Read(), source, target))
            {
                await ProcessRunner.Instance.RunAsync(["umount", target]);
            }
        }

        // The volume stays on the server: it is there on the next start.
        await mgr.StartPoolAsync("netgl", PoolBuildFlags.None, false);
        Assert.Equal(["qcow1"], (await mgr.ListVolumesAsync("netgl")).Select(v => v.Name));
        await mgr.DestroyPoolAsync("netgl");

        await mgr.DeletePoolAsync("netgl");
        Assert.False(Directory.Exists(target));
        await mgr.UndefinePoolAsync("netgl");
    }

    [Fact]
    public async Task A_volume_the_server_lacks_fails_the_start_as_libvirtd()
    {
        var target = Path.Combine(Work, "mnt", "glbad");
        using var mgr = NewManager();
        await mgr.DefinePoolAsync(PoolXml("netglbadvol", "nosuchvol", target));
        await mgr.BuildPoolAsync("netglbadvol", PoolBuildFlags.None);
        var ex = await Assert.ThrowsAsync<VirtPoolException>(() => mgr.StartPoolAsync("netglbadvol", PoolBuildFlags.None, false));
        Assert.Equal(Golden("19-gl-badvol-start-bad"), _ran.Take());
        Assert.Equal(
            GoldenText("19-gl-badvol-start-bad.err").Split('\n')[1]["error: ".Length..],
            ex.Message.TrimEnd('\n'));
        Assert.Equal(PoolState.Inactive, (await mgr.GetPoolInfoAsync("netglbadvol")).State);
    }
}
