using System.Text;
using Microsoft.Extensions.Logging;
using VirtPool.Core.Backends;
using VirtPool.Core.Errors;
using VirtPool.Core.Manager;
using VirtPool.Core.Process;
using VirtPool.Core.State;
using VirtPool.TestSupport;

namespace VirtPool.Backends.Tests;

/// <summary>
/// What the pool manager, the dir backend and the process runner log, on real files and real
/// failures: changes at Information, storage that fails at Warning, refused requests never above
/// Debug, and no secret in any message.
/// </summary>
public sealed class ManagerLoggingTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("vp-log-").FullName;
    private readonly CollectingLogger _log = new();

    private string State => Path.Combine(_root, "state");

    private string Target => Path.Combine(_root, "images");

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private PoolManager NewManager() => new(new StateStore(State), BackendCatalog.Create(new ProcessRunner(_log)), _log);

    private async Task<PoolManager> StartedPoolAsync()
    {
        var mgr = NewManager();
        await mgr.DefinePoolAsync($"<pool type='dir'><name>p</name><target><path>{Target}</path></target></pool>");
        await mgr.BuildPoolAsync("p", PoolBuildFlags.None);
        await mgr.StartPoolAsync("p", PoolBuildFlags.None, false);
        return mgr;
    }

    private IEnumerable<string> At(LogLevel level) => _log.Entries.Where(e => e.Level == level).Select(e => e.Message);

    [Fact]
    public async Task A_refresh_failing_after_an_upload_is_logged_and_leaves_the_pool_active_with_its_volumes()
    {
        using var mgr = await StartedPoolAsync();
        var vol = await mgr.CreateVolumeAsync("p", "<volume><name>v.raw</name><capacity>1048576</capacity><allocation>0</allocation></volume>");
        var source = Path.Combine(_root, "data.bin");
        await File.WriteAllBytesAsync(source, new byte[65536]);
        var moved = Target + ".moved";

        // While the upload writes (its file is open), the pool's folder goes away: the refresh that
        // follows the upload cannot open it.
        using (var handle = File.OpenHandle(source))
        {
            var written = await mgr.UploadVolumeAsync(vol, new LocalFileEndpoint(handle), 0, 0, sparse: false, new SyncProgress(_ =>
            {
                if (Directory.Exists(Target))
                {
                    Directory.Move(Target, moved);
                }
            }));
            Assert.Equal(65536, written);
        }

        Assert.True(Directory.Exists(moved), "the upload never reported progress");
        var warning = Assert.Single(At(LogLevel.Warning));
        Assert.Equal(
            $"refresh of storage pool 'p' after an upload to volume 'v.raw' failed; its volume list stays as it was until the next refresh: cannot open directory '{Target}': No such file or directory",
            warning);
        Assert.Contains("volume 'v.raw' of storage pool 'p': 65536 bytes uploaded at offset 0", At(LogLevel.Information));

        // Not stopped (libvirt's refresh thread does not stop it either), volumes still listed.
        Assert.Equal(PoolState.Running, (await mgr.GetPoolInfoAsync("p")).State);
        Assert.Equal(["v.raw"], (await mgr.ListVolumesAsync("p")).Select(v => v.Name));

        Directory.Move(moved, Target);
        await mgr.RefreshPoolAsync("p");
        Assert.Equal(["v.raw"], (await mgr.ListVolumesAsync("p")).Select(v => v.Name));
    }

    [Fact]
    public async Task An_asked_for_refresh_that_fails_stops_the_pool_and_says_so()
    {
        using var mgr = await StartedPoolAsync();
        Directory.Delete(Target);

        var error = await Assert.ThrowsAsync<VirtPoolException>(() => mgr.RefreshPoolAsync("p"));

        Assert.Equal(PoolState.Inactive, (await mgr.GetPoolInfoAsync("p")).State);
        Assert.Equal([$"refresh of storage pool 'p' failed, so the pool was stopped (as libvirt stops it): {error.Message}"], At(LogLevel.Warning));
    }

    [Fact]
    public async Task Pool_and_volume_changes_are_logged_at_information_in_order()
    {
        using (var mgr = await StartedPoolAsync())
        {
            await mgr.SetAutostartAsync("p", true);
            var vol = await mgr.CreateVolumeAsync("p", "<volume><name>a.raw</name><capacity>1048576</capacity></volume>");
            await mgr.ResizeVolumeAsync(vol, 2097152, VolumeResizeFlags.None);
            await mgr.WipeVolumeAsync(vol, VolumeWipeAlgorithm.Zero);
            var copy = await mgr.CreateVolumeFromAsync("p", "<volume><name>b.qcow2</name><capacity>0</capacity><target><format type='qcow2'/></target></volume>", vol);
            await mgr.DeleteVolumeAsync(copy);
            await mgr.DeleteVolumeAsync(vol);
            await mgr.DestroyPoolAsync("p");
            await mgr.DeletePoolAsync("p");
            await mgr.UndefinePoolAsync("p");
        }

        Assert.Equal(
            [
                "storage pool 'p' defined",
                "storage pool 'p' built",
                "storage pool 'p' started with 0 volumes",
                "storage pool 'p' autostart enabled",
                "volume 'a.raw' created in storage pool 'p': format raw, capacity 1048576 bytes",
                "volume 'a.raw' of storage pool 'p' resized from 1048576 to 2097152 bytes",
                "volume 'a.raw' of storage pool 'p' wiped (zero)",
                "volume 'b.qcow2' created in storage pool 'p' from volume 'a.raw' of storage pool 'p': format qcow2, capacity 2097152 bytes",
                "volume 'b.qcow2' deleted from storage pool 'p'",
                "volume 'a.raw' deleted from storage pool 'p'",
                "storage pool 'p' destroyed",
                "storage pool 'p' deleted",
                "storage pool 'p' undefined",
            ],
            At(LogLevel.Information));
        Assert.Empty(At(LogLevel.Warning));

        // The clone into qcow2 ran qemu-img convert: its argv before, its exit after.
        var debug = At(LogLevel.Debug).ToList();
        var convert = Assert.Single(debug, m => m.StartsWith("running: ", StringComparison.Ordinal) && m.Contains(" convert ", StringComparison.Ordinal));
        Assert.EndsWith($" {Path.Combine(Target, "a.raw")} {Path.Combine(Target, "b.qcow2")}", convert, StringComparison.Ordinal);
        Assert.Contains(debug, m => m.Contains("qemu-img exited with status 0 after ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Requests_refused_by_the_manager_or_by_storage_are_no_warnings()
    {
        using var mgr = await StartedPoolAsync();

        // Refused by the manager, before storage is asked.
        await Assert.ThrowsAsync<VirtPoolException>(() => mgr.StartPoolAsync("p", PoolBuildFlags.None, false));
        // Refused by the backend (a raw volume cannot have a backing store).
        var refused = await Assert.ThrowsAsync<VirtPoolException>(() => mgr.CreateVolumeAsync(
            "p", "<volume><name>r.raw</name><capacity>1048576</capacity><backingStore><path>/dev/null</path></backingStore></volume>"));

        Assert.Empty(At(LogLevel.Warning));
        Assert.Empty(At(LogLevel.Error));
        Assert.Contains($"create of volume 'r.raw' in storage pool 'p' failed: {refused.Message}", At(LogLevel.Debug));
    }

    [Fact]
    public async Task A_tool_that_fails_is_a_warning_with_its_argv_status_and_stderr()
    {
        using var mgr = await StartedPoolAsync();
        await File.WriteAllTextAsync(Path.Combine(Target, "not-an-image.vmdk"), "plain text");

        // qemu-img cannot open a backing file of the wrong format: it fails, and says why on stderr.
        var error = await Assert.ThrowsAsync<VirtPoolException>(() => mgr.CreateVolumeAsync(
            "p", $"<volume><name>top.qcow2</name><capacity>1048576</capacity><target><format type='qcow2'/></target><backingStore><path>{Target}/not-an-image.vmdk</path><format type='vmdk'/></backingStore></volume>"));

        var warnings = At(LogLevel.Warning).ToList();
        Assert.Equal(2, warnings.Count);
        Assert.Matches(@"^/\S*qemu-img create -f qcow2 -b \S*not-an-image\.vmdk .* exited with status 1 after [0-9.]+ ms, stderr: qemu-img: ", warnings[0]);
        Assert.Equal($"create of volume 'top.qcow2' in storage pool 'p' failed: {error.Message}", warnings[1]);
    }

    [Fact]
    public async Task Entries_a_refresh_skips_are_logged_in_libvirts_words()
    {
        using var mgr = await StartedPoolAsync();
        File.CreateSymbolicLink(Path.Combine(Target, "dangling"), Path.Combine(_root, "nowhere"));
        var fifo = await ProcessRunner.Instance.RunAsync(["mkfifo", Path.Combine(Target, "fifo")]);
        Assert.True(fifo.Succeeded, fifo.StandardError);

        await mgr.RefreshPoolAsync("p");

        Assert.Equal(
            [
                $"ignoring FIFO '{Target}/fifo' (refresh of '{Target}')",
                $"ignoring dangling symlink '{Target}/dangling' (refresh of '{Target}')",
            ],
            At(LogLevel.Warning).Order(StringComparer.Ordinal));
        Assert.Empty(await mgr.ListVolumesAsync("p"));
    }

    [Fact]
    public async Task A_luks_passphrase_never_appears_in_the_logged_argv()
    {
        const string passphrase = "correct-horse-battery-staple";
        using var mgr = await StartedPoolAsync();
        var path = Path.Combine(Target, "enc.raw");
        var secret = mgr.Secrets.Define($"<secret ephemeral='no' private='yes'><usage type='volume'><volume>{path}</volume></usage></secret>");
        mgr.Secrets.SetValue(secret.Uuid, Encoding.UTF8.GetBytes(passphrase));

        await mgr.CreateVolumeAsync("p", $"<volume><name>enc.raw</name><capacity>1048576</capacity><target><format type='raw'/><encryption format='luks'><secret type='passphrase' uuid='{secret.Uuid}'/></encryption></target></volume>");

        // qemu-img's PBKDF calibration fails now and then on a loaded machine and the create is retried:
        // every run is logged, each with the key as a file, never inline.
        var creates = At(LogLevel.Debug).Where(m => m.StartsWith("running: ", StringComparison.Ordinal) && m.Contains(" create ", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(creates);
        Assert.All(creates, create => Assert.Matches(@"--object secret,id=\S+,file=/proc/[0-9]+/fd/[0-9]+ ", create));
        Assert.DoesNotContain(_log.Entries, e => e.Message.Contains(passphrase, StringComparison.Ordinal)
            || e.Message.Contains(Convert.ToBase64String(Encoding.UTF8.GetBytes(passphrase)), StringComparison.Ordinal));
    }

    /// <summary>Progress reported on the reporting thread, while the operation waits for it.</summary>
    private sealed class SyncProgress(Action<long> report) : IProgress<long>
    {
        public void Report(long value) => report(value);
    }
}
