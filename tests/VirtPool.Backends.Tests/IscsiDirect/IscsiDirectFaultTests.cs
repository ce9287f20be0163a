using System.Security.Cryptography;
using VirtPool.Backends.Dir;
using VirtPool.Backends.IscsiDirect;
using VirtPool.Backends.Network;
using VirtPool.Core.Backends;
using VirtPool.Core.Errors;
using VirtPool.Core.Manager;
using VirtPool.Core.Model;
using VirtPool.Core.Process;
using VirtPool.Core.State;
using VirtPool.TestSupport;

namespace VirtPool.Backends.Tests.IscsiDirect;

/// <summary>
/// Fault drills on a real tgtd: the target freezes or stops while a transfer runs. The transfer fails
/// with a clear error (a frozen target within the short time limit), the manager keeps answering for
/// another pool, the pool is reported inaccessible and stays active; once the target is back, a
/// refresh recovers it, and the LUN holds what it should.
/// </summary>
public sealed class IscsiDirectFaultTests(IscsiTarget target) : IClassFixture<IscsiTarget>, IDisposable
{
    /// <summary>Short limits: libiscsi's PDU timeout is a second under the call limit.</summary>
    private static readonly NetworkConnectionOptions Short = new(TimeSpan.FromSeconds(3), TimeSpan.FromSeconds(3), TimeSpan.FromMinutes(5), CloseInBackground: false);

    /// <summary>A guard so a broken drill fails instead of hanging the suite; far above the limits.</summary>
    private static readonly TimeSpan Guard = TimeSpan.FromMinutes(2);

    private readonly string _state = Directory.CreateTempSubdirectory("vp-iscsid-fault-").FullName;

    public void Dispose() => Directory.Delete(_state, recursive: true);

    [Fact]
    public async Task A_frozen_target_fails_an_upload_within_the_limit_and_a_refresh_recovers_after_it_thaws()
    {
        using var manager = await StartPoolsAsync();
        var lun2 = await manager.LookupVolumeByNameAsync("drill", "unit:0:0:2");
        IscsiDirectPoolTests.FillRandom(target.PlainLunFile(2), [0, 8L << 20, 16L << 20, 30L << 20]);
        var before = File.ReadAllBytes(target.PlainLunFile(2));

        var data = RandomNumberGenerator.GetBytes((int)IscsiTarget.PlainLun2Bytes);
        var source = new GatedStream(data, gateAt: 4 << 20);
        var upload = manager.UploadVolumeAsync(lun2, new StreamEndpoint(source), 0, 0, sparse: false);
        await source.Reached.WaitAsync(Guard);
        target.Freeze();
        try
        {
            source.Open();
            var error = await Assert.ThrowsAsync<VirtPoolException>(() => upload.WaitAsync(Guard));
            Assert.Equal("internal error: failed to write to LUN 2: the target did not answer within 2 s", error.Message);

            // The manager answers for the other pool; this one is active and inaccessible.
            Assert.Equal(PoolState.Running, (await manager.GetPoolInfoAsync("other")).State);
            Assert.NotEmpty(await manager.ListVolumesAsync("other"));
            Assert.Equal(PoolState.Inaccessible, (await manager.GetPoolInfoAsync("drill")).State);

            // A refresh while frozen fails within the limit too, and leaves the pool active.
            var refresh = await Assert.ThrowsAsync<VirtPoolException>(() => manager.RefreshPoolAsync("drill").WaitAsync(Guard));
            Assert.Equal("internal error: Failed to login: command timed out", refresh.Message);
            Assert.True((await manager.GetPoolSummaryAsync("drill")).Active);
        }
        finally
        {
            target.Thaw();
        }

        await manager.RefreshPoolAsync("drill");
        Assert.Equal(PoolState.Running, (await manager.GetPoolInfoAsync("drill")).State);

        // What was sent before the freeze is on the LUN; from the window in flight on, nothing changed.
        var after = File.ReadAllBytes(target.PlainLunFile(2));
        Assert.True(after.AsSpan(0, 4 << 20).SequenceEqual(data.AsSpan(0, 4 << 20)), "the bytes uploaded before the freeze are not on the LUN");
        Assert.True(after.AsSpan(6 << 20).SequenceEqual(before.AsSpan(6 << 20)), "bytes the upload never sent changed");
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(after)), Convert.ToHexStringLower(await manager.ChecksumVolumeAsync(lun2)));
    }

    [Fact]
    public async Task A_stopped_target_fails_a_download_at_once_and_after_its_restart_a_refresh_recovers_with_the_data_unchanged()
    {
        using var manager = await StartPoolsAsync();
        var lun1 = await manager.LookupVolumeByNameAsync("drill", "unit:0:0:1");
        IscsiDirectPoolTests.FillRandom(target.PlainLunFile(1), [0, 10L << 20, 50L << 20]);
        var sha = IscsiDirectPoolTests.Sha256(target.PlainLunFile(1));

        var sink = new GatedSink();
        var download = manager.DownloadVolumeAsync(lun1, new StreamEndpoint(sink), 0, 0, sparse: false);
        await sink.Reached.WaitAsync(Guard);
        target.Stop();
        try
        {
            sink.Open();
            var error = await Assert.ThrowsAsync<VirtPoolException>(() => download.WaitAsync(Guard));
            Assert.Equal("internal error: failed to read from LUN 1: the connection to the target was lost", error.Message);
            Assert.Equal(PoolState.Inaccessible, (await manager.GetPoolInfoAsync("drill")).State);
            Assert.Equal(PoolState.Running, (await manager.GetPoolInfoAsync("other")).State);

            var refresh = await Assert.ThrowsAsync<VirtPoolException>(() => manager.RefreshPoolAsync("drill").WaitAsync(Guard));
            Assert.StartsWith("internal error: Failed to connect: ", refresh.Message, StringComparison.Ordinal);
            Assert.True((await manager.GetPoolSummaryAsync("drill")).Active);
        }
        finally
        {
            target.Start();
        }

        await manager.RefreshPoolAsync("drill");
        Assert.Equal(PoolState.Running, (await manager.GetPoolInfoAsync("drill")).State);
        Assert.Equal(3, (await manager.ListVolumesAsync("drill")).Count);
        Assert.Equal(sha, IscsiDirectPoolTests.Sha256(target.PlainLunFile(1)));
        Assert.Equal(sha, Convert.ToHexStringLower(await manager.ChecksumVolumeAsync(lun1)));
    }

    [Fact]
    public async Task A_session_the_target_dropped_between_operations_is_replaced_without_an_error()
    {
        using var manager = await StartPoolsAsync();

        // The pool's session is open; the target restarts behind it.
        target.Stop();
        target.Start();
        await manager.RefreshPoolAsync("drill");
        Assert.Equal(PoolState.Running, (await manager.GetPoolInfoAsync("drill")).State);
    }

    private async Task<PoolManager> StartPoolsAsync()
    {
        var registry = new BackendRegistry([DirBackend.Type(ProcessRunner.Instance), BackendType.Of(PoolType.IscsiDirect, p => IscsiDirectBackend.Load(p, Short))]);
        var manager = new PoolManager(new StateStore(Path.Combine(_state, "state")), registry);
        var dir = Directory.CreateDirectory(Path.Combine(_state, "other")).FullName;
        await File.WriteAllBytesAsync(Path.Combine(dir, "a.img"), new byte[4096]);
        await manager.DefinePoolAsync($"<pool type='dir'><name>other</name><target><path>{dir}</path></target></pool>");
        await manager.StartPoolAsync("other", PoolBuildFlags.None, doBuild: false);
        await manager.DefinePoolAsync(IscsiDirectPoolTests.PoolXml("drill", IscsiTarget.PlainIqn));
        await manager.StartPoolAsync("drill", PoolBuildFlags.None, doBuild: false);
        return manager;
    }

    /// <summary>A source that gives its bytes and, at <paramref name="gateAt"/>, waits until the test opens the gate.</summary>
    private sealed class GatedStream(byte[] data, int gateAt) : Stream
    {
        private readonly TaskCompletionSource _reached = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource _open = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _position;

        public Task Reached => _reached.Task;

        public void Open() => _open.TrySetResult();

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => _position; set => throw new NotSupportedException(); }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (_position == gateAt)
            {
                _reached.TrySetResult();
                await _open.Task.WaitAsync(cancellationToken);
            }

            var limit = _position < gateAt ? gateAt : data.Length;
            var count = Math.Min(buffer.Length, limit - _position);
            data.AsMemory(_position, count).CopyTo(buffer);
            _position += count;
            return count;
        }

        public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    /// <summary>A target that takes the first write, then waits until the test opens the gate.</summary>
    private sealed class GatedSink : Stream
    {
        private readonly TaskCompletionSource _reached = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource _open = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task Reached => _reached.Task;

        public void Open() => _open.TrySetResult();

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            _reached.TrySetResult();
            await _open.Task.WaitAsync(cancellationToken);
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
