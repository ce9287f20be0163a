using System.Diagnostics;
using System.Text.Json;
using VirtPool.Backends.Network;
using VirtPool.Backends.Rbd;
using VirtPool.Backends.Tests.Rbd;
using VirtPool.Core.Backends;
using VirtPool.Core.Errors;
using VirtPool.Core.Process;
using VirtPool.TestSupport;

namespace VirtPool.Backends.Tests;

/// <summary>
/// Adversarial review of issue 12's rbd backend on the real Ceph of the fixture: each test is a defect
/// the review found, fails until it is fixed, and says what is wrong and what is expected.
/// </summary>
[Collection(RbdCollection.Name)]
public sealed class AttackIssue12RbdTests
{
    private const long Mib = 1L << 20;

    /// <summary>
    /// DEFECT (data loss). RbdBackend.RemoveImage with --delete-snapshots "checks every snapshot first and
    /// refuses before anything changes" (its doc), but it checks only for clones: it unprotects and
    /// removes every snapshot, and only then rbd_remove finds the image in use (a watcher: a running VM,
    /// an rbd-nbd map) and fails with EBUSY. The volume stays, its snapshots are gone for good. libvirt
    /// 9.0 has the same order, but VirtPool claims to do better and the loss is irreversible. Expected:
    /// an image with watchers is refused before any snapshot is touched (rbd_watchers_list, or
    /// rbd_remove's own check first), and the snapshots are still there.
    /// </summary>
    [Fact]
    public async Task Delete_with_snapshots_of_an_image_in_use_removes_the_snapshots_and_then_fails_busy()
    {
        using var rbd = new RbdTestPool();
        var pool = await rbd.StartPoolAsync();
        var name = rbd.NewImageName("busy");
        var vol = await rbd.Manager.CreateVolumeAsync(pool, $"<volume><name>{name}</name><capacity unit='MiB'>8</capacity></volume>");
        rbd.Ceph.Rbd("snap", "create", $"{CephCluster.Pool}/{name}@backup");
        rbd.Ceph.Rbd("snap", "create", $"{CephCluster.Pool}/{name}@golden");
        rbd.Ceph.Rbd("snap", "protect", $"{CephCluster.Pool}/{name}@golden");

        // Another client holds the image open read-write (as a running VM does): an endless rbd bench keeps a watch on it.
        using var watcher = Process.Start(new ProcessStartInfo("sh", ["-c", "exec \"$@\" >/dev/null 2>&1", "sh", "rbd", "--conf", rbd.Ceph.AdminConf, "bench", "--io-type", "write", "--io-size", "4096", "--io-threads", "1", "--io-total", "1T", "--io-pattern", "rand", $"{CephCluster.Pool}/{name}"]))!;
        try
        {
            await Eventually.UntilAsync(() => rbd.Ceph.Rbd("status", $"{CephCluster.Pool}/{name}").Contains("watcher=", StringComparison.Ordinal), "the other client watches the image");

            var refused = await Assert.ThrowsAsync<VirtPoolException>(() => rbd.Manager.DeleteVolumeAsync(vol, VolumeDeleteFlags.WithSnapshots));
            Assert.True(rbd.Exists(name), "the image in use is not deleted");

            // What is wrong: the snapshots were removed before the refusal.
            Assert.True(
                rbd.Snapshots(name).Select(s => s.Name).Order(StringComparer.Ordinal).SequenceEqual(["backup", "golden"]),
                $"a refused delete ({refused.Message}) must leave the snapshots; left: [{string.Join(", ", rbd.Snapshots(name).Select(s => s.Name))}]");
        }
        finally
        {
            watcher.Kill();
            await watcher.WaitForExitAsync();
        }
    }

    /// <summary>
    /// DEFECT (handle leak; the volume cannot be deleted). RbdBackend.UploadAsync (and DownloadAsync,
    /// WipeVolumeAsync, ReadAsync) opens the image in one connection call and gets the RbdImage back as
    /// the call's result. When the caller gives up while rbd_open runs (the client cancels, or the
    /// connection's limit passes), NativeCalls drops the late result: the rbd_image_t is never closed,
    /// and a read-write open keeps its watch on the image for as long as the pool's connection lives (in
    /// the daemon: until it idles 5 minutes or the pool stops). rbd_remove then refuses the image
    /// ("Device or resource busy"). Expected: a late image is closed (the call closes what it opened
    /// when the caller is gone, e.g. through NativeCalls' finished callback), so a cancelled upload
    /// leaves nothing open and the volume can be deleted.
    /// </summary>
    [Fact]
    public async Task A_cancelled_upload_leaks_its_open_image_and_the_volume_then_cannot_be_deleted()
    {
        using var cluster = new CephCluster();
        using var rbd = new RbdTestPool(cluster: cluster);
        var socket = Path.Combine(cluster.Folder, "virtpool-client.asok");

        // The backend itself (the manager would first re-read the volume, and that read would be the
        // stuck call); the client's admin socket shows its requests in flight.
        var (backend, context) = rbd.LoadBackend(AdminSocket(socket), NetworkConnectionOptions.FromTimeoutSetting("60"));
        using var owned = backend;
        var name = rbd.NewImageName("cancelled");
        rbd.Ceph.Rbd("create", "--size", "8", $"{CephCluster.Pool}/{name}");
        await backend.StartPoolAsync(context, PoolStartFlags.None, CancellationToken.None);
        var volume = RbdListing.Volume(CephCluster.Pool, name, 8UL << 20, 8UL << 20);
        var data = rbd.SparseFile("data", 8 * Mib, (0, (int)Mib));

        CephCluster.Signal(cluster.OsdPid, "STOP");
        using var cancel = new CancellationTokenSource();
        try
        {
            using var handle = File.OpenHandle(data);
            var upload = backend.UploadAsync(context, volume, new LocalFileEndpoint(handle), 0, 0, sparse: false, progress: null, cancel.Token);
            await Eventually.UntilAsync(() => PendingOsdRequests(socket) > 0, "rbd_open waits for the stopped OSD");
            await cancel.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => upload);
        }
        finally
        {
            CephCluster.Signal(cluster.OsdPid, "CONT");
        }

        // The OSD answers: the abandoned rbd_open completes in its worker.
        await Eventually.UntilAsync(() => PendingOsdRequests(socket) == 0, "the abandoned open has completed");

        // What is wrong: the image opened for nobody is still open (a watcher of this client), so the
        // delete is refused with EBUSY instead of removing the volume.
        var watchers = rbd.Ceph.Rbd("status", $"{CephCluster.Pool}/{name}");
        await backend.DeleteVolumeAsync(context, volume, VolumeDeleteFlags.None, CancellationToken.None);
        Assert.False(rbd.Exists(name), $"the volume is deleted after a cancelled upload; rbd status said: {watchers}");
    }

    /// <summary>
    /// DEFECT (silent wrong data). RbdBackend.CreateVolumeFromAsync takes the source for an image of its
    /// own RADOS pool when <c>source.Key == "POOL/NAME"</c>, i.e. when the source pool's RADOS pool has the
    /// same name — whatever cluster it is on. Cloning volume "twin" of a pool on another Ceph cluster
    /// (both use the usual RADOS pool "rbd") into this pool therefore clones THIS cluster's image "twin",
    /// a different image, and reports success (with no image of that name here it fails with "failed to
    /// open the RBD image" instead of the documented full copy). Expected: a copy-on-write clone only
    /// when the source volume belongs to a pool on the same cluster (same monitors, same RADOS pool);
    /// otherwise a full copy of the source's bytes, or a clear refusal — never another image's data.
    /// </summary>
    [Fact]
    public async Task Cloning_a_volume_of_another_clusters_pool_clones_this_clusters_image_of_the_same_name()
    {
        using var other = new CephCluster();
        using var rbd = new RbdTestPool();
        var here = await rbd.StartPoolAsync();
        var there = $"atkthere{Environment.ProcessId}";
        var otherKey = await rbd.DefineCephSecretAsync(other.LibvirtKeyBytes);
        await rbd.Manager.DefinePoolAsync(rbd.PoolXml(there, RbdTestPool.CephAuth(otherKey), port: other.MonPort));
        await rbd.Manager.StartPoolAsync(there, PoolBuildFlags.None, doBuild: false);

        // The same image name on both clusters, different bytes.
        var twin = rbd.NewImageName("twin");
        var copy = rbd.NewImageName("copy");
        var hereVol = await rbd.Manager.CreateVolumeAsync(here, $"<volume><name>{twin}</name><capacity unit='MiB'>4</capacity></volume>");
        var thereVol = await rbd.Manager.CreateVolumeAsync(there, $"<volume><name>{twin}</name><capacity unit='MiB'>4</capacity></volume>");
        var hereData = rbd.SparseFile("here", 4 * Mib, (0, (int)Mib));
        var thereData = rbd.SparseFile("there", 4 * Mib, (0, (int)Mib));
        using (var handle = File.OpenHandle(hereData))
        {
            await rbd.Manager.UploadVolumeAsync(hereVol, new LocalFileEndpoint(handle), 0, 0, sparse: false);
        }

        using (var handle = File.OpenHandle(thereData))
        {
            await rbd.Manager.UploadVolumeAsync(thereVol, new LocalFileEndpoint(handle), 0, 0, sparse: false);
        }

        var made = await Record.ExceptionAsync(() => rbd.Manager.CreateVolumeFromAsync(here, $"<volume><name>{copy}</name><capacity unit='MiB'>4</capacity></volume>", thereVol));
        if (made is null)
        {
            // A clone was made: it must hold the source's bytes (the other cluster's), not this cluster's twin.
            Assert.Equal(RbdTestPool.Sha256(thereData), rbd.ExportSha256(copy));
        }
        else
        {
            // The doc's other allowed outcome: a clear refusal, and nothing made (this backend copies only local volumes in).
            Assert.IsType<VirtPoolException>(made);
            Assert.Contains("another Ceph cluster", made.Message, StringComparison.Ordinal);
            Assert.False(rbd.Exists(copy), "a refused clone leaves no image");
        }
    }

    /// <summary>
    /// DEFECT (silent wrong data). A download (or checksum) opens the image read-only, which registers no
    /// watch, so another client (a second virtpool process, a CLI run beside the daemon, rbd rm) removes the
    /// image while it is read; librbd then reads the removed objects as holes and the download ends
    /// "successfully" with zeros where the data was. A local pool's download of an unlinked file keeps
    /// reading the file's data; an rbd one silently changes it. Expected: a download whose image is removed
    /// meanwhile fails (e.g. the image's id/header checked after the last read, or -ENOENT of the header
    /// seen through a watch) instead of returning zeros.
    /// </summary>
    [Fact]
    public async Task A_download_racing_a_delete_by_another_client_returns_zeros_as_success()
    {
        using var rbd = new RbdTestPool();
        var (backend, context) = rbd.LoadBackend();
        using var owned = backend;
        var name = rbd.NewImageName("deleted-under");
        rbd.Ceph.Rbd("create", "--size", "160", $"{CephCluster.Pool}/{name}");
        var volume = RbdListing.Volume(CephCluster.Pool, name, 160UL << 20, 160UL << 20);
        var data = Path.Combine(rbd.Root, "ones");
        await File.WriteAllBytesAsync(data, Enumerable.Repeat((byte)0x11, (int)(160 * Mib)).ToArray());
        using (var handle = File.OpenHandle(data))
        {
            await backend.UploadAsync(context, volume, new LocalFileEndpoint(handle), 0, 0, sparse: false, progress: null, CancellationToken.None);
        }

        // The first batch is read (and the next one read ahead); while the sink holds the download,
        // another client removes the image. The later batches are read after the removal.
        var sink = new GatedSink();
        var download = backend.DownloadAsync(context, volume, new StreamEndpoint(sink), 0, 0, sparse: false, progress: null, CancellationToken.None);
        await sink.Reached.Task.WaitAsync(Eventually.HangGuard);
        rbd.Ceph.Rbd("rm", $"{CephCluster.Pool}/{name}");
        sink.Gate.TrySetResult();

        var failure = await Record.ExceptionAsync(() => download);
        var zeros = sink.Received.Count(b => b == 0);
        Assert.True(
            failure is not null || zeros == 0,
            $"the download of a removed image succeeded with {zeros} zero bytes of {sink.Received.Count} where the image held 0x11");
    }

    /// <summary>A sink that keeps what it gets and holds the first write until <see cref="Gate"/> opens.</summary>
    private sealed class GatedSink : Stream
    {
        public TaskCompletionSource Reached { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource Gate { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public List<byte> Received { get; } = [];

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => Received.Count;

        public override long Position { get => Received.Count; set => throw new NotSupportedException(); }

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Reached.TrySetResult();
            await Gate.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
            Received.AddRange(buffer.ToArray());
        }

        public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();
    }

    /// <summary>
    /// DEFECT (differs from libvirt without reason). The manager keeps a network pool active (reported
    /// inaccessible) when its refresh fails and the backend says IsReachable == false, "so it recovers
    /// when the server returns". NetworkConnection sets IsReachable = false after ANY failed open, so a
    /// refresh that never reached the server — the pool's secret was undefined, or holds no value, or
    /// the key was refused — also keeps the pool active and inaccessible, logged as "its server does not
    /// answer", where libvirt stops the pool. Expected: only a failure to reach the server (a timeout, a
    /// lost or refused connection) leaves the pool active; a missing secret stops it as libvirt does.
    /// </summary>
    [Fact]
    public async Task A_refresh_failing_for_a_missing_secret_keeps_the_pool_active_as_if_the_server_were_down()
    {
        using var rbd = new RbdTestPool();
        var pool = await rbd.StartPoolAsync();

        // The daemon restarts (a new manager on the same state); meanwhile the pool's secret was undefined.
        rbd.Manager.Dispose();
        using var restarted = new Core.Manager.PoolManager(new Core.State.StateStore(rbd.Root), new BackendRegistry([RbdBackend.Type()]));
        var definition = await restarted.GetPoolXmlAsync(pool, inactive: true);
        var usage = System.Text.RegularExpressions.Regex.Match(definition, "usage='([^']+)'").Groups[1].Value;
        var secret = restarted.Secrets.LookupByUsage((int)Core.Secrets.SecretUsageType.Ceph, usage);
        restarted.Secrets.Undefine(secret.Uuid);

        var failed = await Assert.ThrowsAsync<VirtPoolException>(() => restarted.RefreshPoolAsync(pool));
        Assert.Equal(VirErrorCode.NoSecret, failed.Code);
        var state = (await restarted.GetPoolInfoAsync(pool)).State;
        Assert.True(state == Core.Manager.PoolState.Inactive, $"a refresh that failed for a missing secret ({failed.Message}) left the pool {state}, not stopped as libvirt stops it");
    }

    /// <summary>
    /// DEFECT (a healthy delete times out half-way). RbdBackend.DeleteVolumeAsync runs RemoveImage —
    /// every snapshot's unprotect and remove, then rbd_remove — as ONE connection call, bounded by the
    /// per-call limit meant to catch a dead cluster (30 s + 5 s by default). Removing a snapshot is a few
    /// monitor and OSD round trips (about 1 s each on this machine, as `rbd snap purge` shows), so an image
    /// with a few dozen snapshots cannot be deleted with --delete-snapshots on a healthy cluster: the call
    /// is abandoned, the error says the cluster "did not answer", the connection is retired and the pool
    /// reads inaccessible, while the abandoned call goes on removing snapshots behind the caller's back
    /// and then the image. Here the limit is 3 s (+5 s margin) and the image has 20 snapshots. Expected:
    /// each snapshot's removal is its own bounded call (progress can be reported), so the delete completes.
    /// </summary>
    [Fact]
    public async Task Deleting_an_image_with_many_snapshots_is_one_bounded_call_and_times_out_on_a_healthy_cluster()
    {
        using var rbd = new RbdTestPool();
        var (backend, context) = rbd.LoadBackend(options: NetworkConnectionOptions.FromTimeoutSetting("3"));
        using var owned = backend;
        var name = rbd.NewImageName("many-snaps");
        rbd.Ceph.Rbd("create", "--size", "8", $"{CephCluster.Pool}/{name}");
        for (var i = 0; i < 20; i++)
        {
            rbd.Ceph.Rbd("snap", "create", $"{CephCluster.Pool}/{name}@s{i}");
        }

        var volume = RbdListing.Volume(CephCluster.Pool, name, 8UL << 20, 8UL << 20);
        var failure = await Record.ExceptionAsync(() => backend.DeleteVolumeAsync(context, volume, VolumeDeleteFlags.WithSnapshots, CancellationToken.None));
        Assert.True(failure is null, $"deleting an image with 20 snapshots failed: {failure?.Message} (snapshots left then: {(rbd.Exists(name) ? rbd.Snapshots(name).Count.ToString(System.Globalization.CultureInfo.InvariantCulture) : "none, the image is gone")})");
    }

    /// <summary>
    /// DEFECT (wrong error, differs from libvirt). When rados_connect times out, RbdCluster.Open blames
    /// the key ("Permission denied (the monitor answers, but did not authenticate client.libvirt …: is
    /// the secret's key that user's?)") if any of the pool's &lt;host&gt;s greets with Ceph's banner. But
    /// librados connects to the EFFECTIVE mon_host, which &lt;rbd:config_opts&gt; may override (RbdCluster
    /// applies the options after mon_host, on purpose): with the right key and an override naming a
    /// monitor that does not answer, the user is told the key is wrong. libvirt reports "failed to
    /// connect to the RADOS monitor on: …: Connection timed out". Expected: the probe asks the monitors
    /// librados used (rados_conf_get mon_host after the options), or the message stays libvirt's.
    /// </summary>
    [Fact]
    public async Task A_mon_host_override_that_does_not_answer_is_reported_as_a_refused_key()
    {
        using var rbd = new RbdTestPool();
        var (backend, context) = rbd.LoadBackend(
            "<rbd:config_opts xmlns:rbd='http://libvirt.org/schemas/storagepool/rbd/1.0'><rbd:option name='mon_host' value='127.0.0.1:9'/></rbd:config_opts>",
            NetworkConnectionOptions.FromTimeoutSetting("3"));
        using var owned = backend;
        var failed = await Assert.ThrowsAsync<VirtPoolException>(() => backend.StartPoolAsync(context, PoolStartFlags.None, CancellationToken.None));
        Assert.DoesNotContain("Permission denied", failed.Message, StringComparison.Ordinal);
        Assert.EndsWith(": Connection timed out", failed.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// DEFECT (memory corruption: another transfer's data). RbdBackend.ReadAsync (download, checksum)
    /// returns its pinned buffer sets to RbdBuffers in its finally once the task of the batch in flight
    /// has completed, "never … under a read still in flight" — but that task is the connection call's,
    /// which completes as soon as the caller gives up (a cancelled download, the connection's limit)
    /// while RbdAio.Run still has its rbd_aio_read requests in flight into those buffers. The next
    /// transfer rents the same buffers; when the OSD answers, the abandoned reads land in them — over an
    /// upload's source data, which is then written into ANOTHER volume. WriteAsync has the same flaw
    /// for writes (a reused buffer is changed under a write). Expected: buffers go back only once the
    /// native call that uses them has returned (NativeCalls' finished callback), never when the caller
    /// stops waiting.
    /// </summary>
    [Fact]
    public async Task A_cancelled_download_returns_its_buffers_while_late_reads_still_write_into_them()
    {
        using var cluster = new CephCluster();
        using var rbd = new RbdTestPool(cluster: cluster);
        var socket = Path.Combine(cluster.Folder, "virtpool-client.asok");
        var (backend, context) = rbd.LoadBackend(AdminSocket(socket), NetworkConnectionOptions.FromTimeoutSetting("60"));
        using var owned = backend;
        var name = rbd.NewImageName("late-reads");
        rbd.Ceph.Rbd("create", "--size", "160", $"{CephCluster.Pool}/{name}");
        var volume = RbdListing.Volume(CephCluster.Pool, name, 160UL << 20, 160UL << 20);
        var data = Path.Combine(rbd.Root, "pattern");
        await File.WriteAllBytesAsync(data, Enumerable.Repeat((byte)0x5A, (int)(160 * Mib)).ToArray());
        using (var handle = File.OpenHandle(data))
        {
            await backend.UploadAsync(context, volume, new LocalFileEndpoint(handle), 0, 0, sparse: false, progress: null, CancellationToken.None);
        }

        var free = (System.Collections.Concurrent.ConcurrentBag<byte[][]>)typeof(RbdBackend).Assembly.GetType("VirtPool.Backends.Rbd.RbdBuffers")!
            .GetField("Free", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)!.GetValue(null)!;

        // Batch 1 is read and handed to the sink, which holds it; batch 2 is read ahead meanwhile.
        var sink = new GatedSink();
        using var cancel = new CancellationTokenSource();
        var download = backend.DownloadAsync(context, volume, new StreamEndpoint(sink), 0, 0, sparse: false, progress: null, cancel.Token);
        await sink.Reached.Task.WaitAsync(Eventually.HangGuard);
        await Eventually.UntilAsync(() => PendingOsdRequests(socket) == 0, "the read-ahead batch is read");
        var mine = new List<byte[][]>();
        CephCluster.Signal(cluster.OsdPid, "STOP");
        try
        {
            // Batch 3's reads wait for the stopped OSD; the client goes away.
            sink.Gate.TrySetResult();
            await Eventually.UntilAsync(() => PendingOsdRequests(socket) > 0, "batch 3 waits for the stopped OSD");
            await cancel.CancelAsync();

            // Once the cancelled download has ended for its caller, the next transfer of the process rents
            // whatever buffers are free. (Fixed: the download's own come back only once its reads end,
            // after the OSD resumes below; before the fix they were free here already.)
            _ = await Record.ExceptionAsync(() => download);
            while (free.TryTake(out var set))
            {
                foreach (var buffer in set)
                {
                    buffer.AsSpan().Fill(0xC3);
                }

                mine.Add(set);
            }
        }
        finally
        {
            CephCluster.Signal(cluster.OsdPid, "CONT");
        }

        await Eventually.UntilAsync(() => PendingOsdRequests(socket) == 0, "the abandoned reads have completed");
        await Eventually.UntilAsync(() => free.Count + mine.Count >= 2, "the download's buffers are returned once its reads have ended");
        var overwritten = mine.SelectMany(set => set).Count(buffer => buffer.AsSpan().ContainsAnyExcept((byte)0xC3));
        Assert.True(overwritten == 0, $"{overwritten} chunk buffer(s) the next transfer rented were overwritten by the cancelled download's late reads");
    }

    private static string AdminSocket(string path)
        => $"<rbd:config_opts xmlns:rbd='http://libvirt.org/schemas/storagepool/rbd/1.0'><rbd:option name='admin_socket' value='{path}'/></rbd:config_opts>";

    /// <summary>The client's OSD requests in flight (objecter_requests on its admin socket).</summary>
    private static int PendingOsdRequests(string socket)
    {
        if (!File.Exists(socket))
        {
            return 0;
        }

        var result = ProcessRunner.Instance.RunAsync(new ProcessRequest(["ceph", "--admin-daemon", socket, "objecter_requests"]) { Timeout = TimeSpan.FromSeconds(30) }).GetAwaiter().GetResult();
        if (result.ExitCode != 0)
        {
            return 0;
        }

        using var doc = JsonDocument.Parse(result.StandardOutput);
        return doc.RootElement.GetProperty("ops").GetArrayLength();
    }
}
