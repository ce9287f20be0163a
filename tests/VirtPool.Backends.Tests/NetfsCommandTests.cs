using System.Runtime.CompilerServices;
using VirtPool.Backends.Netfs;
using VirtPool.Core.Backends;
using VirtPool.Core.Errors;
using VirtPool.Core.Manager;
using VirtPool.Core.Model;
using VirtPool.Core.Process;
using VirtPool.Core.State;
using VirtPool.Core.Xml;
using VirtPool.TestSupport;

namespace VirtPool.Backends.Tests;

/// <summary>
/// The netfs backend's mount commands compared with libvirtd 9.0's recorded argv (Golden/netfs,
/// copied from tests/testdata/libvirt-local/netfs; @WORK@ the work folder), the NFS and CIFS starts
/// run for real on this kernel (which has neither client, so they fail as libvirtd's did), and
/// libvirt's validity checks.
/// </summary>
public sealed class NetfsCommandTests : IDisposable
{
    private readonly string _work = Directory.CreateTempSubdirectory("vp-netfs-").FullName;

    public void Dispose() => Directory.Delete(_work, recursive: true);

    private static string GoldenText(string file, string work, [CallerFilePath] string thisFile = "")
        => File.ReadAllText(Path.Combine(Path.GetDirectoryName(thisFile)!, "Golden", "netfs", file)).Replace("@WORK@", work, StringComparison.Ordinal);

    private string[] Golden(string step) => [.. GoldenText(step + ".argv", _work).Split('\n', StringSplitOptions.RemoveEmptyEntries)];

    private static string PoolXml(string name, string format, string dir, string target, string extraSource = "", string extra = "")
        => $"<pool type='netfs' xmlns:fs='http://libvirt.org/schemas/storagepool/fs/1.0'><name>{name}</name><source><host name='127.0.0.1'/><dir path='{dir}'/><format type='{format}'/>{extraSource}</source>"
           + $"<target><path>{target}</path></target>{extra}</pool>";

    private static (IStorageBackend Backend, PoolContext Pool) Load(IProcessRunner runner, string xml)
    {
        var pool = new PoolContext(VirtPool.Core.Xml.PoolXml.Parse(xml));
        return (NetfsBackend.Type(runner).Load(pool), pool);
    }

    [Theory]
    [InlineData("glusterfs", "/gv0", "mnt/gl", "04-gl-start")]
    [InlineData("glusterfs", "/nosuchvol", "mnt/glbad", "19-gl-badvol-start-bad")]
    [InlineData("nfs", "/export", "mnt/nfs", "25-nfs-start-no-kernel-client-bad")]
    [InlineData("auto", "/export", "mnt/auto", "30-nfs-auto-start-bad")]
    [InlineData("cifs", "share", "mnt/cifs", "34-cifs-start-bad")]
    public async Task Start_mounts_with_libvirts_argv(string format, string dir, string target, string step)
    {
        var runner = new RecordingProcessRunner();
        var (backend, pool) = Load(runner, PoolXml("p", format, dir, Path.Combine(_work, target)));
        await backend.StartPoolAsync(pool, PoolStartFlags.None, CancellationToken.None);
        Assert.Equal(Golden(step), runner.Calls.Select(ChildProcessErrors.CommandText));

        // Nothing is mounted there, so stop has nothing to unmount and check says inactive.
        await backend.StopPoolAsync(pool, CancellationToken.None);
        Assert.Single(runner.Calls);
        Assert.False(await backend.CheckPoolAsync(pool, CancellationToken.None));
    }

    [Theory]
    [InlineData("nfs", "<protocol ver='4'/>", "/bin/mount -o nodev,nosuid,noexec,nfsvers=4,sync -t nfs 127.0.0.1:/export /t")]
    [InlineData("auto", "<protocol ver='4'/>", "/bin/mount -o nodev,nosuid,noexec,nfsvers=4,sync 127.0.0.1:/export /t")]
    [InlineData("nfs", "", "/bin/mount -o nodev,nosuid,noexec,sync -t nfs 127.0.0.1:/export /t")]
    [InlineData("glusterfs", "", "/bin/mount -o nodev,nosuid,noexec,direct-io-mode=1,sync -t glusterfs 127.0.0.1:/export /t")]
    [InlineData("cifs", "", "/bin/mount -o nodev,nosuid,noexec,guest,sync -t cifs //127.0.0.1//export /t")]
    public void Type_option_comes_between_libvirts_defaults_and_the_pools_mount_options(string format, string protocol, string expected)
    {
        // storage_util.c: nfsvers= for nfs and auto (the parser refuses <protocol> for the others);
        // gluster and cifs have their own option in its place.
        var xml = PoolXml("p", format, "/export", "/t", protocol, "<fs:mount_opts><fs:option name='sync'/></fs:mount_opts>");
        var pool = new PoolContext(VirtPool.Core.Xml.PoolXml.Parse(xml));
        var argv = NetfsBackend.MountArgv("/bin/mount", pool.Definition, NetfsBackend.SourceText(pool), "/t");
        Assert.Equal(expected, string.Join(' ', argv));
    }

    [Fact]
    public void More_than_one_host_is_refused_as_libvirt()
    {
        var xml = "<pool type='netfs'><name>p</name><source><host name='a'/><host name='b'/><dir path='/x'/></source><target><path>/t</path></target></pool>";
        var ex = Assert.Throws<VirtPoolException>(() => NetfsBackend.SourceText(new PoolContext(VirtPool.Core.Xml.PoolXml.Parse(xml))));
        Assert.Equal(VirErrorCode.ConfigUnsupported, ex.Code);
        Assert.Equal("unsupported configuration: expected exactly 1 host for the storage pool", ex.Message);
    }

    [Fact]
    public async Task Build_with_overwrite_is_refused_after_making_the_target()
    {
        var target = Path.Combine(_work, "mnt", "nfs");
        var (backend, pool) = Load(new RecordingProcessRunner(), PoolXml("netnfs", "nfs", "/export", target));
        var ex = await Assert.ThrowsAsync<VirtPoolException>(() => ((IPoolBuilder)backend).BuildPoolAsync(pool, PoolBuildFlags.Overwrite, CancellationToken.None));
        Assert.Equal("Requested operation is not valid: No source device specified when formatting pool 'netnfs'", ex.Message);
        Assert.True(Directory.Exists(target));
    }

    [Theory]
    [InlineData("netnfs", "nfs", "/export", "mnt/nfs", "25-nfs-start-no-kernel-client-bad")]
    [InlineData("netauto", "auto", "/export", "mnt/auto", "30-nfs-auto-start-bad")]
    [InlineData("netcifs", "cifs", "share", "mnt/cifs", "34-cifs-start-bad")]
    public async Task Start_without_a_kernel_client_fails_as_libvirtd_and_stays_inactive(string name, string format, string dir, string target, string step)
    {
        using var mgr = new PoolManager(new StateStore(Path.Combine(_work, "state")), new BackendRegistry([NetfsBackend.Type(ProcessRunner.Instance)]));
        await mgr.DefinePoolAsync(PoolXml(name, format, dir, Path.Combine(_work, target)));
        await mgr.BuildPoolAsync(name, PoolBuildFlags.None);
        var ex = await Assert.ThrowsAsync<VirtPoolException>(() => mgr.StartPoolAsync(name, PoolBuildFlags.None, false));

        // virsh prints "error: Failed to start pool NAME" and then the error itself.
        var recorded = GoldenText(step + ".err", _work).Split('\n', 2)[1];
        // The runner keeps the tool's last newline; virsh drops it when printing (as the fs tests compare).
        Assert.Equal(recorded.TrimEnd('\n')["error: ".Length..], ex.Message.TrimEnd('\n'));
        Assert.Equal(PoolState.Inactive, (await mgr.GetPoolInfoAsync(name)).State);
    }
}
