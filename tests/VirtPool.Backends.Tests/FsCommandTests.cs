using System.Runtime.CompilerServices;
using VirtPool.Backends.Fs;
using VirtPool.Backends.Mounts;
using VirtPool.Core.Backends;
using VirtPool.Core.Errors;
using VirtPool.Core.Model;
using VirtPool.Core.Process;
using VirtPool.Core.Xml;
using VirtPool.TestSupport;

namespace VirtPool.Backends.Tests;

/// <summary>
/// The fs backend's commands where this kernel cannot run them (vfat is not built in; mkfs has no
/// "auto" helper), recorded instead of run and compared with libvirtd 9.0's recorded argv
/// (Golden/fs); and the mount-table reader and mount argv that netfs shares.
/// </summary>
public sealed class FsCommandTests : IDisposable
{
    private readonly string _work = Directory.CreateTempSubdirectory("vp-fsargv-").FullName;

    public void Dispose() => Directory.Delete(_work, recursive: true);

    private static string[] Golden(string step, string work, string device, [CallerFilePath] string thisFile = "")
    {
        var text = File.ReadAllText(Path.Combine(Path.GetDirectoryName(thisFile)!, "Golden", "fs", step + ".argv"));
        return [.. text.Replace("@WORK@", work, StringComparison.Ordinal).Replace("/dev/@LOOP_FS2@", device, StringComparison.Ordinal)
            .Split('\n', StringSplitOptions.RemoveEmptyEntries)];
    }

    private (IStorageBackend Backend, PoolContext Pool) Load(RecordingProcessRunner runner, string format, string device, string target)
    {
        var xml = $"<pool type='fs'><name>fs{format}</name><source><device path='{device}'/><format type='{format}'/></source><target><path>{target}</path></target></pool>";
        var pool = new PoolContext(PoolXml.Parse(xml));
        return (FsBackend.Type(runner).Load(pool), pool);
    }

    [Theory]
    [InlineData("vfat", "53-vfat-build-overwrite")]
    [InlineData("auto", "45-auto-build-overwrite-bad")]
    public async Task Build_with_overwrite_runs_libvirts_mkfs(string format, string step)
    {
        // A stand-in for the device: the recording runner runs nothing, the build only checks it exists.
        var device = Path.Combine(_work, "device");
        await File.WriteAllBytesAsync(device, []);
        var runner = new RecordingProcessRunner();
        var (backend, pool) = Load(runner, format, device, Path.Combine(_work, "fs", format));
        await ((IPoolBuilder)backend).BuildPoolAsync(pool, PoolBuildFlags.Overwrite, CancellationToken.None);
        Assert.Equal(Golden(step, _work, device), runner.Calls.Select(ChildProcessErrors.CommandText));
    }

    [Fact]
    public async Task Start_of_an_auto_pool_mounts_with_type_auto()
    {
        var device = Path.Combine(_work, "device");
        var runner = new RecordingProcessRunner();
        var (backend, pool) = Load(runner, "auto", device, Path.Combine(_work, "fs", "auto"));
        await backend.StartPoolAsync(pool, PoolStartFlags.None, CancellationToken.None);
        Assert.Equal(Golden("47-auto-start", _work, device), runner.Calls.Select(ChildProcessErrors.CommandText));

        // Not mounted, so nothing to unmount.
        await backend.StopPoolAsync(pool, CancellationToken.None);
        Assert.Single(runner.Calls);
    }

    [Fact]
    public async Task No_overwrite_maps_blkid_answers_to_libvirts_outcomes()
    {
        var device = Path.Combine(_work, "device");
        await File.WriteAllBytesAsync(device, []);
        async Task<Exception?> BuildAsync(ProcessResult blkid)
        {
            var runner = new RecordingProcessRunner(argv => argv.Contains("-p") ? blkid : new ProcessResult(0, string.Empty, string.Empty));
            var (backend, pool) = Load(runner, "ext4", device, Path.Combine(_work, "fs", "ext4"));
            return await Record.ExceptionAsync(() => ((IPoolBuilder)backend).BuildPoolAsync(pool, PoolBuildFlags.NoOverwrite, CancellationToken.None));
        }

        Assert.Null(await BuildAsync(new ProcessResult(2, string.Empty, string.Empty)));
        Assert.Equal($"Storage pool already built: Device '{device}' already formatted using 'ext4'", (await BuildAsync(new ProcessResult(0, "DEVNAME=x\nTYPE=ext4\nUSAGE=filesystem\n", string.Empty)))?.Message);
        Assert.Equal($"Storage pool already built: Format of device '{device}' does not match the expected format 'ext4', forced overwrite is necessary", (await BuildAsync(new ProcessResult(0, "PTUUID=1\nPTTYPE=dos\n", string.Empty)))?.Message);
        Assert.Equal($"Storage pool already built: Format of device '{device}' does not match the expected format 'ext4', forced overwrite is necessary", (await BuildAsync(new ProcessResult(8, string.Empty, string.Empty)))?.Message);
        var unreadable = Assert.IsType<VirtPoolException>(await BuildAsync(new ProcessResult(2, string.Empty, "error: x: Permission denied\n")));
        Assert.Equal($"Storage pool probe failed: Failed to create filesystem probe for device {device}", unreadable.Message);
    }

    [Fact]
    public void Mount_argv_orders_options_as_libvirt_for_netfs_too()
    {
        Assert.Equal(
            ["/bin/mount", "-o", "nodev,nosuid,noexec,direct-io-mode=1,sync", "-t", "glusterfs", "127.0.0.1:/gv0", "/t"],
            MountCommand.MountArgv("/bin/mount", "glusterfs", "127.0.0.1:/gv0", "/t", "direct-io-mode=1", ["sync"]));
        Assert.Equal(
            ["/bin/mount", "-o", "nodev,nosuid,noexec", "host:/export", "/t"],
            MountCommand.MountArgv("/bin/mount", null, "host:/export", "/t"));
        Assert.Equal(["/bin/umount", "/t"], MountCommand.UmountArgv("/bin/umount", "/t"));
    }

    [Fact]
    public void Mount_table_decodes_escapes_and_compares_canonical_paths()
    {
        var table = MountTable.Parse("/dev/loop7 /srv/my\\040pool ext4 rw,nodev 0 0\nproc /proc proc rw 0 0\n");
        Assert.Equal(new MountEntry("/dev/loop7", "/srv/my pool", "ext4"), table[0]);
        Assert.True(MountTable.IsMounted(table, "/dev/loop7", "/srv/my pool"));
        Assert.False(MountTable.IsMounted(table, "/dev/loop8", "/srv/my pool"));

        // A symlinked target is the same place (virFileComparePaths canonicalizes both sides).
        var real = Directory.CreateDirectory(Path.Combine(_work, "real")).FullName;
        var link = Path.Combine(_work, "link");
        File.CreateSymbolicLink(link, real);
        var mounted = MountTable.Parse($"/dev/loop7 {real} ext4 rw 0 0\n");
        Assert.True(MountTable.IsMounted(mounted, "/dev/loop7", link));
    }
}
