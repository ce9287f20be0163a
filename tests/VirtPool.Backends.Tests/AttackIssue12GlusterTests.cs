using System.Globalization;
using VirtPool.Backends.Gluster;
using VirtPool.Backends.Network;
using VirtPool.Core.Backends;
using VirtPool.Core.Errors;
using VirtPool.Core.Interop;
using VirtPool.Core.Manager;
using VirtPool.Core.Model;
using VirtPool.Core.Process;
using VirtPool.Core.State;
using VirtPool.Core.Xml;
using VirtPool.TestSupport;

namespace VirtPool.Backends.Tests;

/// <summary>
/// Adversarial review of issue 12's gluster backend on a real glusterd + brick: each test is a defect
/// the review found, fails until it is fixed, and says what is wrong and what is expected.
/// </summary>
[Collection(AttackIssue12GlusterCollection.Name)]
public sealed class AttackIssue12GlusterTests(GlusterServer gluster) : IClassFixture<GlusterServer>
{
    private string Volume => gluster.Volumes[0];

    private PoolManager NewManager(NetworkConnectionOptions? options = null)
        => new(
            new StateStore(Path.Combine(gluster.Folder, "state-" + Guid.NewGuid().ToString("N"))),
            new BackendRegistry([options is null ? GlusterBackend.Type(ProcessRunner.Instance) : GlusterBackend.Type(ProcessRunner.Instance, options)]));

    private static string PoolXml(string name, string volume, string dir)
        => $"<pool type='gluster'><name>{name}</name><source><host name='127.0.0.1'/><dir path='{dir}'/><name>{volume}</name></source></pool>";

    /// <summary>
    /// DEFECT (data loss). GlusterVolumes.ResizeAsync of a non-raw volume builds the resized image in a
    /// scratch file and puts it back as "NAME.virtpool-resize" in the pool's folder, after unlinking
    /// whatever has that name: a volume of the pool called "disk.qcow2.virtpool-resize" (any user file) is
    /// deleted without a word by a resize of "disk.qcow2". Expected: the resize never removes a file it
    /// did not make (a name no volume can have, created with O_EXCL and retried, or resized in place).
    /// </summary>
    [Fact]
    public async Task Resizing_a_qcow2_volume_deletes_the_pools_volume_named_like_its_temporary_file()
    {
        using var fuse = gluster.Mount(Volume);
        var dir = Path.Combine(fuse.Path, "atk-resize-name");
        Directory.CreateDirectory(dir);
        var bystander = Path.Combine(dir, "disk.qcow2.virtpool-resize");
        var data = System.Security.Cryptography.RandomNumberGenerator.GetBytes(1 << 20);
        await File.WriteAllBytesAsync(bystander, data);

        using var mgr = NewManager();
        await mgr.CreatePoolAsync(PoolXml("atkresname", Volume, "/atk-resize-name"), PoolBuildFlags.None, false);
        var disk = await mgr.CreateVolumeAsync("atkresname", "<volume><name>disk.qcow2</name><capacity unit='M'>16</capacity><target><format type='qcow2'/></target></volume>");
        Assert.Contains("disk.qcow2.virtpool-resize", (await mgr.ListVolumesAsync("atkresname")).Select(v => v.Name));

        await mgr.ResizeVolumeAsync(disk, 32UL << 20, VolumeResizeFlags.None);

        Assert.True(File.Exists(Path.Combine(gluster.BrickOf(Volume), "atk-resize-name", "disk.qcow2.virtpool-resize")), "the other volume is still there after the resize");
        Assert.Equal(data, await File.ReadAllBytesAsync(bystander));
    }

    /// <summary>
    /// DEFECT (lost writes, changed owner). The same resize replaces the volume's file by a rename
    /// (a new inode) instead of growing it in place as qemu-img resize does for libvirt: a client that
    /// has the image open (a running VM, a backup) keeps writing to the old, unlinked file, and everything
    /// it writes after the resize is lost; the file's owner and group (a VM's image is qemu's) become
    /// root's, and any data written between the scratch copy and the rename is lost too. Expected: the
    /// volume's file is the same file after the resize (same inode, owner), and what an open client
    /// writes afterwards is in it.
    /// </summary>
    [Fact]
    public async Task Resizing_a_qcow2_volume_replaces_its_file_so_an_open_writer_loses_its_writes_and_the_owner_changes()
    {
        using var fuse = gluster.Mount(Volume);
        var dir = Path.Combine(fuse.Path, "atk-resize-inode");
        Directory.CreateDirectory(dir);

        using var mgr = NewManager();
        await mgr.CreatePoolAsync(PoolXml("atkresino", Volume, "/atk-resize-inode"), PoolBuildFlags.None, false);
        var disk = await mgr.CreateVolumeAsync("atkresino", "<volume><name>vm.qcow2</name><capacity unit='M'>16</capacity><target><format type='qcow2'/></target></volume>");
        var onBrick = Path.Combine(gluster.BrickOf(Volume), "atk-resize-inode", "vm.qcow2");
        Assert.Equal(0, (await ProcessRunner.Instance.RunAsync(["chown", "107:107", Path.Combine(dir, "vm.qcow2")])).ExitCode);
        var before = FileStat.TryStat(onBrick, out var st, out _) ? st : throw new IOException(onBrick);

        // A running VM has the image open.
        await using var vm = new FileStream(Path.Combine(dir, "vm.qcow2"), FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite);
        await mgr.ResizeVolumeAsync(disk, 32UL << 20, VolumeResizeFlags.None);

        var marker = Enumerable.Repeat((byte)0xA7, 4096).ToArray();
        vm.Position = 1 << 20;
        await vm.WriteAsync(marker);
        await vm.FlushAsync();
        vm.Flush(flushToDisk: true);

        var after = FileStat.TryStat(onBrick, out var now, out _) ? now : throw new IOException(onBrick);
        // What the volume's file holds where the writer wrote (nothing, if the file ends before).
        var inFile = new byte[4096];
        await using (var check = new FileStream(onBrick, FileMode.Open, FileAccess.Read, FileShare.ReadWrite))
        {
            check.Position = 1 << 20;
            _ = await check.ReadAtLeastAsync(inFile, inFile.Length, throwOnEndOfStream: false);
        }

        Assert.True(
            (before.Inode, before.Uid, before.Gid) == (after.Inode, after.Uid, after.Gid) && inFile.AsSpan().SequenceEqual(marker),
            $"inode {before.Inode}→{after.Inode}, owner {before.Uid}:{before.Gid}→{after.Uid}:{after.Gid}, the open writer's data {(inFile.AsSpan().SequenceEqual(marker) ? "is" : "is NOT")} in the volume");
    }

    /// <summary>
    /// The in-place qcow2 grow that fixes the two resize defects above: a grow that needs more L1
    /// entries (16 MiB → 3 GiB: one L2 table maps 512 MiB) gives an image qemu-img checks clean, of the
    /// new virtual size, whose new end takes data and keeps what was written before; a shrink and a
    /// non-qcow2 image are refused with VIR_ERR_NO_SUPPORT and leave the file as it was.
    /// </summary>
    [Fact]
    public async Task A_qcow2_grown_in_place_checks_clean_and_keeps_its_data_and_a_shrink_is_refused_untouched()
    {
        using var fuse = gluster.Mount(Volume);
        var dir = Path.Combine(fuse.Path, "atk-resize-grow");
        Directory.CreateDirectory(dir);

        using var mgr = NewManager();
        await mgr.CreatePoolAsync(PoolXml("atkresgrow", Volume, "/atk-resize-grow"), PoolBuildFlags.None, false);
        var disk = await mgr.CreateVolumeAsync("atkresgrow", "<volume><name>big.qcow2</name><capacity unit='M'>16</capacity><target><format type='qcow2'/></target></volume>");
        var onBrick = Path.Combine(gluster.BrickOf(Volume), "atk-resize-grow", "big.qcow2");
        var qemuIo = ProcessRunner.Instance;
        var early = await qemuIo.RunAsync(["qemu-io", "-f", "qcow2", "-c", "write -P 0x5c 1M 64k", Path.Combine(dir, "big.qcow2")]);
        Assert.True(early.ExitCode == 0, early.StandardError);

        await mgr.ResizeVolumeAsync(disk, 3UL << 30, VolumeResizeFlags.None);

        Assert.Equal(3UL << 30, (await mgr.GetVolumeInfoAsync(disk)).Capacity);
        var check = await qemuIo.RunAsync(["qemu-img", "check", "-f", "qcow2", onBrick]);
        Assert.True(check.ExitCode == 0, check.StandardOutput + check.StandardError);
        var info = await qemuIo.RunAsync(["qemu-img", "info", "--output=json", onBrick]);
        Assert.Contains($"\"virtual-size\": {3L << 30}", info.StandardOutput, StringComparison.Ordinal);
        // A new client (a fresh FUSE mount): the first mount's page cache still holds the header it read before the grow.
        using var fresh = gluster.Mount(Volume);
        var late = await qemuIo.RunAsync(["qemu-io", "-f", "qcow2", "-c", "write -P 0xa9 3071M 64k", "-c", "read -P 0xa9 3071M 64k", "-c", "read -P 0x5c 1M 64k", Path.Combine(fresh.Path, "atk-resize-grow", "big.qcow2")]);
        Assert.True(late.ExitCode == 0 && !late.StandardOutput.Contains("Pattern verification failed", StringComparison.Ordinal), late.StandardOutput + late.StandardError);
        Assert.True((await qemuIo.RunAsync(["qemu-img", "check", "-f", "qcow2", onBrick])).ExitCode == 0, "the grown image checks clean after writes at its new end");

        var image = await File.ReadAllBytesAsync(onBrick);
        var shrink = await Assert.ThrowsAsync<VirtPoolException>(() => mgr.ResizeVolumeAsync(disk, 1UL << 30, VolumeResizeFlags.Shrink));
        Assert.Equal(VirErrorCode.NoSupport, shrink.Code);
        Assert.Equal(image, await File.ReadAllBytesAsync(onBrick));

        var vmdk = await mgr.CreateVolumeAsync("atkresgrow", "<volume><name>d.vmdk</name><capacity unit='M'>16</capacity><target><format type='vmdk'/></target></volume>");
        var vmdkOnBrick = Path.Combine(gluster.BrickOf(Volume), "atk-resize-grow", "d.vmdk");
        var vmdkBytes = await File.ReadAllBytesAsync(vmdkOnBrick);
        var refused = await Assert.ThrowsAsync<VirtPoolException>(() => mgr.ResizeVolumeAsync(vmdk, 32UL << 20, VolumeResizeFlags.None));
        Assert.Equal(VirErrorCode.NoSupport, refused.Code);
        Assert.Equal(vmdkBytes, await File.ReadAllBytesAsync(vmdkOnBrick));
    }

    /// <summary>
    /// DEFECT (one dead server starves every pool). With glusterd stopped (SIGSTOP: the kernel still
    /// accepts its TCP connections), glfs_init never returns. Each use of the pool fails after the
    /// connection's limit, as it should, but NetworkConnection.AcquireAsync starts a NEW open every
    /// time while the abandoned ones still hang, and each hung glfs_init keeps one of NativeCalls' 64
    /// process-wide slots. A client that retries (virsh pool-start, pool-refresh, a monitoring loop)
    /// uses them all up, and then every blocking call of every other network pool (rbd, iscsi-direct,
    /// other gluster volumes) fails with "did not answer … within N s" without being started. Expected:
    /// while an abandoned open of this connection still runs, a new use fails at once with the last
    /// error (or waits for that open) instead of starting another, so one dead server holds at most one
    /// slot per pool and the other pools keep working.
    /// </summary>
    [Fact]
    public async Task A_stopped_glusterd_makes_retried_uses_pile_up_hung_opens_until_no_other_pool_gets_a_slot()
    {
        var definition = PoolXml("atkhung", Volume, "/");
        var context = new PoolContext(Core.Xml.PoolXml.Parse(definition));
        var options = new NetworkConnectionOptions(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1), TimeSpan.FromMinutes(5), CloseInBackground: true);
        using var backend = (GlusterBackend)GlusterBackend.Type(ProcessRunner.Instance, options).Load(context);
        var glusterd = int.Parse(File.ReadAllText(Path.Combine(gluster.Folder, "glusterd.pid")).Trim(), CultureInfo.InvariantCulture);
        var attempts = 0;
        var freeAfter = new List<int>();
        CephCluster.Signal(glusterd, "STOP");
        try
        {
            // A client retrying pool-refresh: each attempt fails in the connection's 1 s, as it should.
            while (attempts < NativeCalls.SlotCount + 8 && NativeCalls.FreeSlots > 0)
            {
                attempts++;
                var failed = await Assert.ThrowsAsync<VirtPoolException>(() => backend.RefreshPoolAsync(context, CancellationToken.None));
                Assert.Equal(VirErrorCode.OperationTimeout, failed.Code);
                freeAfter.Add(NativeCalls.FreeSlots);
            }

            // Another pool's call (any backend's) now: it must get a slot.
            var other = await Record.ExceptionAsync(() => NativeCalls.RunAsync(() => 42, TimeSpan.FromSeconds(1), () => new VirtPoolException(VirErrorCode.OperationTimeout, "no slot for another pool"), null, CancellationToken.None));
            Assert.True(
                other is null,
                $"after {attempts} failed uses of one dead gluster pool, another pool's call failed: {other?.Message}; free slots after each attempt: {string.Join(",", freeAfter)}");
        }
        finally
        {
            CephCluster.Signal(glusterd, "CONT");

            // The hung opens return once glusterd runs again: the process gets its slots back before other tests run.
            await Eventually.UntilAsync(() => NativeCalls.FreeSlots == NativeCalls.SlotCount, "every hung glfs_init has returned", TimeSpan.FromMinutes(5));
        }
    }

    /// <summary>
    /// DEFECT (memory corruption: another transfer's data). GlusterVolumeData.DownloadAsync (also
    /// Sha256Async, CopyWithinAsync, CopyLocalAsync, UploadAsync) rents its 1 MiB buffer from
    /// ArrayPool.Shared and returns it in its finally, also when a glfs_pread on it was abandoned by the
    /// connection's time limit (a brick that stopped answering; gfapi itself waits its 42 s ping-timeout).
    /// The next renter of the process gets that array while the stuck pread still holds its address; when
    /// the brick answers, gfapi copies the read into it, over the new owner's data (in the daemon: another
    /// client's upload, which then writes those bytes into its volume). Expected: a buffer handed to a
    /// call goes back to the pool (or is freed) only once the call has returned, e.g. in NativeCalls'
    /// finished callback.
    /// </summary>
    [Fact]
    public async Task An_abandoned_gluster_read_writes_into_a_pooled_buffer_that_another_user_has_rented()
    {
        using var fuse = gluster.Mount(Volume);
        Directory.CreateDirectory(Path.Combine(fuse.Path, "atk-late-read"));
        await File.WriteAllBytesAsync(Path.Combine(fuse.Path, "atk-late-read", "data.raw"), Enumerable.Repeat((byte)0x5A, 8 << 20).ToArray());
        var context = new PoolContext(Core.Xml.PoolXml.Parse(PoolXml("atklate", Volume, "/atk-late-read")));
        var options = new NetworkConnectionOptions(TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(2), TimeSpan.FromMinutes(5), CloseInBackground: true);
        using var backend = (GlusterBackend)GlusterBackend.Type(ProcessRunner.Instance, options).Load(context);
        var volume = (await backend.RefreshPoolAsync(context, CancellationToken.None)).Volumes.Single(v => v.Name == "data.raw");

        // The first read goes through; the sink holds the download while the brick is stopped.
        var sink = new GatedSink();
        var download = backend.DownloadAsync(context, volume, new StreamEndpoint(sink), 0, 0, sparse: false, progress: null, CancellationToken.None);
        await sink.Reached.Task.WaitAsync(Eventually.HangGuard);
        var brick = BrickPid(Volume);
        var mine = new System.Collections.Concurrent.ConcurrentBag<byte[]>();
        CephCluster.Signal(brick, "STOP");
        try
        {
            sink.Gate.TrySetResult();
            var failed = await Assert.ThrowsAsync<VirtPoolException>(() => download);
            Assert.Equal(VirErrorCode.OperationTimeout, failed.Code);

            // The process goes on: other work rents 1 MiB buffers (on every pool thread) and fills them.
            await Task.WhenAll(Enumerable.Range(0, 256).Select(_ => Task.Run(() =>
            {
                var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(GlusterVolumeData.Chunk);
                buffer.AsSpan().Fill(0xC3);
                mine.Add(buffer);
            })));
        }
        finally
        {
            CephCluster.Signal(brick, "CONT");
        }

        // The brick answers: the abandoned pread (and close) return.
        await Eventually.UntilAsync(() => NativeCalls.FreeSlots == NativeCalls.SlotCount, "the abandoned gfapi calls have returned");
        var overwritten = mine.Count(buffer => buffer.AsSpan().ContainsAnyExcept((byte)0xC3));
        Assert.True(overwritten == 0, $"{overwritten} buffer(s) another user rented were overwritten by the abandoned download's late read");
    }

    /// <summary>
    /// FIXED by c12-gluster 9026138 (a refresh is now one bounded call per file probe); kept as the
    /// regression test. The defect: a large healthy pool could never refresh. GlusterBackend.RefreshPoolAsync ran the whole
    /// scan — readdir, then an open, a 0x8200-byte read and a close of EVERY file — as ONE call bounded by
    /// the connection's per-call limit, although IGlusterSession says "a long operation is many short
    /// calls". The limit is there to catch a dead server, but a live one with enough files (with the
    /// default 30 s: some thousands, on a loaded brick fewer) exceeds it: the refresh fails with "did not
    /// answer refresh within N s", the connection is retired, the pool reads inaccessible, every later
    /// refresh fails the same way, and each attempt leaves a thread scanning. Here the limit is a quarter
    /// of the scan's own time, still far above any single gfapi call. Expected: the refresh is bounded per
    /// gfapi call (or per small batch), so it completes whatever the number of files.
    /// </summary>
    [Fact]
    public async Task A_refresh_of_many_files_is_one_bounded_call_and_times_out_against_a_live_server()
    {
        using var fuse = gluster.Mount(Volume);
        var dir = Path.Combine(fuse.Path, "atk-many");
        Directory.CreateDirectory(dir);
        await Parallel.ForEachAsync(Enumerable.Range(0, 1500), new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (i, ct) =>
            await File.WriteAllBytesAsync(Path.Combine(dir, $"f{i:D5}.img"), [1, 2, 3, 4], ct));

        // How long the scan itself takes on this server, with a limit it cannot reach.
        var context = new PoolContext(Core.Xml.PoolXml.Parse(PoolXml("atkmany", Volume, "/atk-many")));
        var patient = new NetworkConnectionOptions(TimeSpan.FromMinutes(5), TimeSpan.FromMinutes(5), TimeSpan.FromMinutes(5), CloseInBackground: true);
        TimeSpan scan;
        using (var backend = (GlusterBackend)GlusterBackend.Type(ProcessRunner.Instance, patient).Load(context))
        {
            await backend.StartPoolAsync(context, PoolStartFlags.None, CancellationToken.None);
            var watch = System.Diagnostics.Stopwatch.StartNew();
            Assert.Equal(1500, (await backend.RefreshPoolAsync(context, CancellationToken.None)).Volumes.Count);
            scan = watch.Elapsed;
        }

        var limit = scan / 4;
        var options = new NetworkConnectionOptions(TimeSpan.FromMinutes(5), limit, TimeSpan.FromMinutes(5), CloseInBackground: true);
        using var bounded = (GlusterBackend)GlusterBackend.Type(ProcessRunner.Instance, options).Load(context);
        await bounded.StartPoolAsync(context, PoolStartFlags.None, CancellationToken.None);
        var failure = await Record.ExceptionAsync(() => bounded.RefreshPoolAsync(context, CancellationToken.None));
        Assert.True(failure is null, $"a refresh of 1500 files (scan {scan.TotalMilliseconds:0} ms) with a per-call limit of {limit.TotalMilliseconds:0} ms failed: {failure?.Message}; the pool now reads reachable={bounded.IsReachable}");
    }

    private int BrickPid(string volume)
    {
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid))
            {
                continue;
            }

            try
            {
                var cmdline = File.ReadAllText(Path.Combine(dir, "cmdline")).Replace('\0', ' ');
                if (File.ReadAllText(Path.Combine(dir, "comm")).Trim() == "glusterfsd" && cmdline.Contains(gluster.BrickOf(volume), StringComparison.Ordinal))
                {
                    return pid;
                }
            }
            catch (IOException)
            {
                // Gone meanwhile.
            }
        }

        throw new InvalidOperationException($"no brick process for {volume}");
    }

    /// <summary>A sink that holds its first write until <see cref="Gate"/> opens.</summary>
    private sealed class GatedSink : Stream
    {
        public TaskCompletionSource Reached { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource Gate { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Reached.TrySetResult();
            await Gate.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }

        public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();
    }
}

/// <summary>
/// The gluster attack tests run alone: one of them takes every native call slot of the test process
/// on purpose, which would fail the network tests of other classes running meanwhile.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class AttackIssue12GlusterCollection
{
    public const string Name = "attack-issue12-gluster";
}
