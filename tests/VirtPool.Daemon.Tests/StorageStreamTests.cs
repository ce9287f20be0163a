using VirtPool.Core.Backends;
using VirtPool.Core.Errors;
using VirtPool.Core.Interop;
using VirtPool.Core.Manager;
using VirtPool.Rpc;

namespace VirtPool.Daemon.Tests;

/// <summary>
/// A sparse stream scripted for uploads (pieces of data and holes) and recording for downloads, as the
/// connection's stream plumbing presents one to a handler.
/// </summary>
internal sealed class ScriptedSparseStream(bool acceptsHoles = true) : ISparseStream
{
    private readonly Queue<(byte[]? Data, long Hole)> _pieces = new();
    private byte[]? _partial;
    private int _partialOffset;

    public bool AcceptsHoles { get; } = acceptsHoles;

    /// <summary>Download output: data pieces as byte arrays, holes as their length.</summary>
    public List<(byte[]? Data, long Hole)> Written { get; } = [];

    public ScriptedSparseStream Data(byte[] data)
    {
        _pieces.Enqueue((data, 0));
        return this;
    }

    public ScriptedSparseStream Hole(long length)
    {
        _pieces.Enqueue((null, length));
        return this;
    }

    public ValueTask<SparseRead> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        // A piece larger than the buffer comes out in parts, as a large packet would.
        if (_partial is null)
        {
            if (!_pieces.TryDequeue(out var next))
            {
                return ValueTask.FromResult(new SparseRead(0, 0));
            }

            if (next.Data is null)
            {
                return ValueTask.FromResult(new SparseRead(0, next.Hole));
            }

            _partial = next.Data;
            _partialOffset = 0;
        }

        var n = Math.Min(buffer.Length, _partial.Length - _partialOffset);
        _partial.AsSpan(_partialOffset, n).CopyTo(buffer.Span);
        _partialOffset += n;
        if (_partialOffset == _partial.Length)
        {
            _partial = null;
        }

        return ValueTask.FromResult(new SparseRead(n, 0));
    }

    public ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        Written.Add((data.ToArray(), 0));
        return ValueTask.CompletedTask;
    }

    public ValueTask WriteHoleAsync(long length, CancellationToken cancellationToken)
    {
        Assert.True(AcceptsHoles, "a hole was sent to a receiver that does not take holes");
        Written.Add((null, length));
        return ValueTask.CompletedTask;
    }

    /// <summary>The downloaded bytes with holes expanded to zeros.</summary>
    public byte[] Flatten()
    {
        using var ms = new MemoryStream();
        foreach (var (data, hole) in Written)
        {
            if (data is not null)
            {
                ms.Write(data);
            }
            else
            {
                ms.Write(new byte[hole]);
            }
        }

        return ms.ToArray();
    }
}

/// <summary>VOL_UPLOAD / VOL_DOWNLOAD: the CALL's checks, then the stream work the connection would run.</summary>
public sealed class StorageStreamTests : IDisposable
{
    private const int MiB = 1 << 20;

    private readonly StorageHarness _h = new();

    public void Dispose() => _h.Dispose();

    private static byte[] Pattern(int length, int seed)
    {
        var data = new byte[length];
        new Random(seed).NextBytes(data);
        return data;
    }

    private Task<StorageReply> UploadCallAsync(VolumeRef vol, ulong offset, ulong length, uint flags)
        => _h.CallAsync(RemoteProcedure.StorageVolUpload, w =>
        {
            StorageHarness.Vol(w, vol);
            w.WriteUInt64(offset);
            w.WriteUInt64(length);
            w.WriteUInt32(flags);
        });

    private Task<StorageReply> DownloadCallAsync(VolumeRef vol, ulong offset, ulong length, uint flags)
        => _h.CallAsync(RemoteProcedure.StorageVolDownload, w =>
        {
            StorageHarness.Vol(w, vol);
            w.WriteUInt64(offset);
            w.WriteUInt64(length);
            w.WriteUInt32(flags);
        });

    [Fact]
    public async Task Sparse_upload_writes_data_and_punches_holes_then_refreshes_the_pool()
    {
        var pool = await _h.StartedDirPoolAsync("up");
        var vol = await _h.CreateVolumeAsync(pool, "u.raw", 8 * MiB, 8 * MiB); // fully allocated: holes must be punched
        _h.Events.Events.Clear();

        var head = Pattern(MiB + 123, 1); // larger than the consumer's buffer: arrives in parts
        var tail = Pattern(4096, 2);
        (await UploadCallAsync(vol, 0, 0, 1)).AssertVoid();
        var (call, sparse, work) = Assert.Single(_h.Connection.Uploads);
        Assert.True(sparse);
        Assert.Equal((int)RemoteProcedure.StorageVolUpload, call.Procedure);

        var hole = 3 * MiB - 123;
        await work(new ScriptedSparseStream().Data(head).Hole(hole).Data(tail), CancellationToken.None);

        var bytes = await File.ReadAllBytesAsync(vol.Key);
        Assert.Equal(8 * MiB, bytes.Length);
        Assert.Equal(head, bytes[..head.Length]);
        Assert.All(bytes[head.Length..(head.Length + hole)], b => Assert.Equal(0, b));
        Assert.Equal(tail, bytes[(4 * MiB)..(4 * MiB + 4096)]);
        Assert.True(FileStat.TryStat(vol.Key, out var st, out _));
        Assert.True(st.Blocks * 512 < 8L * MiB, $"the hole was punched (allocated {st.Blocks * 512})");
        Assert.Equal(["pool up refresh"], _h.Events.Events);
    }

    [Fact]
    public async Task Plain_upload_at_an_offset_and_too_much_data_fails_the_stream()
    {
        var pool = await _h.StartedDirPoolAsync("up2");
        var vol = await _h.CreateVolumeAsync(pool, "v.raw", 2 * MiB);

        (await UploadCallAsync(vol, MiB, 0, 0)).AssertVoid();
        var (_, sparse, work) = Assert.Single(_h.Connection.Uploads);
        Assert.False(sparse);
        var data = Pattern(MiB, 3);
        await work(new ScriptedSparseStream().Data(data), CancellationToken.None);
        var bytes = await File.ReadAllBytesAsync(vol.Key);
        Assert.Equal(data, bytes[MiB..]);

        // One byte more than the volume has room for.
        (await UploadCallAsync(vol, MiB, 0, 0)).AssertVoid();
        var overrun = _h.Connection.Uploads[1].Work;
        var ex = await Assert.ThrowsAsync<VirtPoolException>(() => overrun(new ScriptedSparseStream().Data(Pattern(MiB + 1, 4)), CancellationToken.None));
        Assert.Equal(VirErrorCode.SystemError, ex.Code);
        Assert.Contains("No space left on device", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Upload_call_is_refused_in_the_reply_when_it_cannot_work()
    {
        var pool = await _h.StartedDirPoolAsync("up3");
        var vol = await _h.CreateVolumeAsync(pool, "w.raw", MiB);

        (await UploadCallAsync(vol, MiB + 1, 0, 0)).AssertError(
            VirErrorCode.InvalidArg, VirErrorDomain.Storage, $"invalid argument: cannot upload 0 bytes at offset {MiB + 1} into volume 'w.raw' of capacity {MiB}");
        (await UploadCallAsync(vol, 0, 0, 2)).AssertError(VirErrorCode.InvalidArg, VirErrorDomain.Storage, "unsupported flags (0x2) in function storageVolUpload");
        (await UploadCallAsync(vol with { Name = "nope" }, 0, 0, 0)).AssertError(
            VirErrorCode.NoStorageVol, VirErrorDomain.Storage, "Storage volume not found: no storage vol with matching name 'nope'");
        _h.Connection.IsReadOnly = true;
        (await UploadCallAsync(vol, 0, 0, 0)).AssertError(VirErrorCode.OperationDenied, VirErrorDomain.Storage, "operation forbidden: read only access prevents virStorageVolUpload");
        (await DownloadCallAsync(vol, 0, 0, 0)).AssertError(VirErrorCode.OperationDenied, VirErrorDomain.Storage, "operation forbidden: read only access prevents virStorageVolDownload");
        Assert.Empty(_h.Connection.Uploads);
        Assert.Empty(_h.Connection.Downloads);
    }

    [Fact]
    public async Task Sparse_download_sends_data_and_holes_in_small_pieces()
    {
        var pool = await _h.StartedDirPoolAsync("down");
        var vol = await _h.CreateVolumeAsync(pool, "d.raw", 16 * MiB);
        var data = Pattern(MiB, 5);
        await using (var f = new FileStream(vol.Key, FileMode.Open, FileAccess.Write))
        {
            f.Write(data);
        }

        (await DownloadCallAsync(vol, 0, 0, 1)).AssertVoid();
        var (_, sparse, work) = Assert.Single(_h.Connection.Downloads);
        Assert.True(sparse);
        var stream = new ScriptedSparseStream(acceptsHoles: true);
        await work(stream, CancellationToken.None);

        Assert.All(stream.Written, p => Assert.True(p.Data is null || p.Data.Length is > 0 and <= 262_144));
        var holeBytes = stream.Written.Where(p => p.Data is null).Sum(p => p.Hole);
        Assert.True(holeBytes >= 14L * MiB, $"the unwritten tail went as holes ({holeBytes})");
        var all = stream.Flatten();
        Assert.Equal(16 * MiB, all.Length);
        Assert.Equal(data, all[..MiB]);
        Assert.All(all[MiB..], b => Assert.Equal(0, b));
    }

    [Fact]
    public async Task Plain_download_of_a_range_sends_zeros_for_holes()
    {
        var pool = await _h.StartedDirPoolAsync("down2");
        var vol = await _h.CreateVolumeAsync(pool, "e.raw", 4 * MiB);
        var data = Pattern(4096, 6);
        await using (var f = new FileStream(vol.Key, FileMode.Open, FileAccess.Write))
        {
            f.Seek(2 * MiB, SeekOrigin.Begin);
            f.Write(data);
        }

        (await DownloadCallAsync(vol, MiB, 2 * MiB, 0)).AssertVoid();
        var (_, sparse, work) = Assert.Single(_h.Connection.Downloads);
        Assert.False(sparse);
        var stream = new ScriptedSparseStream(acceptsHoles: false);
        await work(stream, CancellationToken.None);

        Assert.All(stream.Written, p => Assert.NotNull(p.Data));
        var all = stream.Flatten();
        Assert.Equal(2 * MiB, all.Length);
        Assert.All(all[..MiB], b => Assert.Equal(0, b));
        Assert.Equal(data, all[MiB..(MiB + 4096)]);
    }
}
