using System.Buffers.Binary;
using VirtPool.Core.Backends;
using VirtPool.Core.Errors;
using VirtPool.Rpc;
using VirtPool.TestSupport;

namespace VirtPool.Daemon.Tests;

/// <summary>Streams (spec 6) through the connection, with scripted consumers and producers; then real virsh.</summary>
public sealed class StreamTests
{
    private const RemoteProcedure Upload = RemoteProcedure.StorageVolUpload;
    private const RemoteProcedure Download = RemoteProcedure.StorageVolDownload;

    private static RpcHeader StreamHeader(RemoteProcedure proc, uint serial, RpcMessageType type, RpcMessageStatus status)
        => RpcHeader.Call(proc, serial) with { Type = type, Status = status };

    private static byte[] Hole(long length)
    {
        byte[] bytes = new byte[StreamHole.EncodedSize];
        new StreamHole(length).Write(bytes);
        return bytes;
    }

    /// <summary>Registers 208 whose handler starts an upload into <paramref name="consumer"/>; args: i32 sparse.</summary>
    private static Task<ConnectionHarness> UploadHarness(Func<ISparseStream, CancellationToken, Task> consumer)
        => ConnectionHarness.StartAsync(table => table.Register(Upload, (ctx, args) =>
        {
            bool sparse = BinaryPrimitives.ReadInt32BigEndian(args.Span) != 0;
            ctx.Connection.StartUpload(ctx.Call, sparse, consumer);
            return ValueTask.CompletedTask;
        }));

    private static Task<ConnectionHarness> DownloadHarness(Func<ISparseStream, CancellationToken, Task> producer)
        => ConnectionHarness.StartAsync(table => table.Register(Download, (ctx, args) =>
        {
            bool sparse = BinaryPrimitives.ReadInt32BigEndian(args.Span) != 0;
            ctx.Connection.StartDownload(ctx.Call, sparse, producer);
            return ValueTask.CompletedTask;
        }));

    /// <summary>Reads everything the stream yields: data as bytes, holes as ('H', length).</summary>
    private static async Task<(MemoryStream Data, List<long> Holes)> Drain(ISparseStream stream, CancellationToken ct)
    {
        var data = new MemoryStream();
        var holes = new List<long>();
        byte[] buffer = new byte[1000];
        while (true)
        {
            var read = await stream.ReadAsync(buffer, ct);
            if (read.IsEnd)
            {
                return (data, holes);
            }

            if (read.HoleLength > 0)
            {
                holes.Add(read.HoleLength);
            }
            else
            {
                data.Write(buffer, 0, read.DataLength);
            }
        }
    }

    [Fact]
    public async Task Upload_delivers_data_and_holes_then_answers_finish()
    {
        var result = new TaskCompletionSource<(MemoryStream, List<long>)>();
        await using var harness = await UploadHarness(async (stream, ct) => result.SetResult(await Drain(stream, ct)));
        await harness.OpenAsync();
        var c = harness.Client;
        Assert.Equal(RpcMessageStatus.Ok, (await c.CallAsync(Upload, 9, Payload.Int(1))).Header.Status);
        byte[] first = Enumerable.Range(0, 5000).Select(i => (byte)i).ToArray();
        c.Send(StreamHeader(Upload, 9, RpcMessageType.Stream, RpcMessageStatus.Continue), first);
        c.Send(StreamHeader(Upload, 9, RpcMessageType.StreamHole, RpcMessageStatus.Continue), Hole(1 << 20));
        c.Send(StreamHeader(Upload, 9, RpcMessageType.Stream, RpcMessageStatus.Continue), "tail"u8);
        c.Send(StreamHeader(Upload, 9, RpcMessageType.Stream, RpcMessageStatus.Ok), []);

        var answer = await c.ReadAsync();
        Assert.Equal((RpcMessageType.Stream, RpcMessageStatus.Ok, 9u), (answer!.Header.Type, answer.Header.Status, answer.Header.Serial));
        var (data, holes) = await result.Task.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(first.Concat("tail"u8.ToArray()), data.ToArray());
        Assert.Equal([1L << 20], holes);
        // The answer is queued before the stream is forgotten (so nothing can overtake it): forgotten just after.
        await Eventually.UntilAsync(() => harness.Connection.StreamCount == 0, "the answered stream to be forgotten");
    }

    [Fact]
    public async Task Upload_hole_on_a_non_sparse_stream_fails_the_stream()
    {
        await using var harness = await UploadHarness((stream, ct) => Drain(stream, ct));
        await harness.OpenAsync();
        var c = harness.Client;
        await c.CallAsync(Upload, 3, Payload.Int(0));
        c.Send(StreamHeader(Upload, 3, RpcMessageType.StreamHole, RpcMessageStatus.Continue), Hole(4096));
        var answer = await c.ReadAsync();
        Assert.Equal((RpcMessageType.Stream, RpcMessageStatus.Error), (answer!.Header.Type, answer.Header.Status));
        Assert.Equal(VirErrorDomain.Streams, answer.Error.Domain);

        // The stream is gone: a later finish gets "invalid stream" instead of silence (spec 6.1).
        c.Send(StreamHeader(Upload, 3, RpcMessageType.Stream, RpcMessageStatus.Ok), []);
        var late = await c.ReadAsync();
        Assert.Equal((RpcMessageStatus.Error, VirErrorCode.InvalidStream), (late!.Header.Status, late.Error.Code));
    }

    [Fact]
    public async Task Upload_abort_cancels_the_consumer_and_is_answered_ok()
    {
        var outcome = new TaskCompletionSource<Exception?>();
        await using var harness = await UploadHarness(async (stream, ct) =>
        {
            try
            {
                await Drain(stream, ct);
                outcome.SetResult(null);
            }
            catch (Exception ex)
            {
                outcome.SetResult(ex);
                throw;
            }
        });
        await harness.OpenAsync();
        var c = harness.Client;
        await c.CallAsync(Upload, 4, Payload.Int(0));
        c.Send(StreamHeader(Upload, 4, RpcMessageType.Stream, RpcMessageStatus.Continue), new byte[100]);
        c.Send(StreamHeader(Upload, 4, RpcMessageType.Stream, RpcMessageStatus.Error), []);
        var answer = await c.ReadAsync();
        Assert.Equal((RpcMessageType.Stream, RpcMessageStatus.Ok, 4u), (answer!.Header.Type, answer.Header.Status, answer.Header.Serial));
        Assert.IsAssignableFrom<OperationCanceledException>(await outcome.Task.WaitAsync(TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public async Task Upload_back_pressure_stops_reading_but_loses_nothing()
    {
        var gate = new TaskCompletionSource();
        var result = new TaskCompletionSource<byte[]>();
        await using var harness = await UploadHarness(async (stream, ct) =>
        {
            await gate.Task.WaitAsync(ct);
            result.SetResult((await Drain(stream, ct)).Data.ToArray());
        });
        await harness.OpenAsync();
        var c = harness.Client;
        await c.CallAsync(Upload, 5, Payload.Int(0));
        const int Chunk = 256 * 1024, Count = 64; // 16 MiB while the consumer does not read
        int sent = 0;
        var sender = Task.Run(() =>
        {
            byte[] chunk = new byte[Chunk];
            for (int i = 0; i < Count; i++)
            {
                Array.Fill(chunk, (byte)i);
                c.Send(StreamHeader(Upload, 5, RpcMessageType.Stream, RpcMessageStatus.Continue), chunk);
                Interlocked.Increment(ref sent);
            }

            c.Send(StreamHeader(Upload, 5, RpcMessageType.Stream, RpcMessageStatus.Ok), []);
        });

        // With the consumer stalled, the sender must stall: the daemon does not buffer the whole upload.
        // That the daemon reads no further can only be seen over time: the sender is taken to have
        // stalled once three looks in a row find it no further. A loaded machine only makes this
        // take longer (up to 100 looks); it cannot make a bounded daemon fail it.
        int last = -1, stable = 0;
        for (int i = 0; i < 100 && stable < 3 && !sender.IsCompleted; i++)
        {
            await Task.Delay(200);
            int now = Volatile.Read(ref sent);
            stable = now == last ? stable + 1 : 0;
            last = now;
        }

        Assert.False(sender.IsCompleted, "the daemon read the whole upload while the consumer was stalled");
        Assert.InRange(Volatile.Read(ref sent), 1, Count / 2);
        gate.SetResult();
        await sender.WaitAsync(TimeSpan.FromSeconds(30));
        byte[] data = await result.Task.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(Chunk * Count, data.Length);
        for (int i = 0; i < Count; i++)
        {
            Assert.Equal((byte)i, data[i * Chunk]);
            Assert.Equal((byte)i, data[(i * Chunk) + Chunk - 1]);
        }

        var answer = await c.ReadAsync();
        Assert.Equal((RpcMessageType.Stream, RpcMessageStatus.Ok), (answer!.Header.Type, answer.Header.Status));
    }

    [Fact]
    public async Task A_client_vanishing_mid_upload_leaves_no_hung_task()
    {
        var outcome = new TaskCompletionSource<Exception?>();
        await using var harness = await UploadHarness(async (stream, ct) =>
        {
            try
            {
                await Drain(stream, ct);
                outcome.SetResult(null);
            }
            catch (Exception ex)
            {
                outcome.SetResult(ex);
            }
        });
        await harness.OpenAsync();
        var c = harness.Client;
        await c.CallAsync(Upload, 6, Payload.Int(0));
        c.Send(StreamHeader(Upload, 6, RpcMessageType.Stream, RpcMessageStatus.Continue), new byte[65536]);
        c.Dispose();

        Assert.IsAssignableFrom<OperationCanceledException>(await outcome.Task.WaitAsync(TimeSpan.FromSeconds(10)));
        await harness.Run.WaitAsync(TimeSpan.FromSeconds(10));
        await harness.Connection.Completion.WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task Download_sends_bounded_chunks_holes_end_and_confirms_finish()
    {
        byte[] payload = Enumerable.Range(0, 700_000).Select(i => (byte)(i * 7)).ToArray();
        await using var harness = await DownloadHarness(async (stream, ct) =>
        {
            Assert.True(stream.AcceptsHoles);
            await stream.WriteAsync(payload, ct);
            await stream.WriteHoleAsync(1 << 24, ct);
            await stream.WriteAsync("end"u8.ToArray(), ct);
        });
        await harness.OpenAsync();
        var c = harness.Client;
        var reply = await c.CallAsync(Download, 10, Payload.Int(1));
        Assert.Equal(RpcMessageStatus.Ok, reply.Header.Status);

        var received = new MemoryStream();
        var holes = new List<long>();
        while (true)
        {
            var packet = await c.ReadAsync();
            Assert.NotNull(packet);
            Assert.Equal((10u, (int)Download), (packet.Header.Serial, packet.Header.Procedure));
            if (packet.Header.Type == RpcMessageType.StreamHole)
            {
                holes.Add(StreamHole.Decode(packet.Payload).Length);
                continue;
            }

            Assert.Equal((RpcMessageType.Stream, RpcMessageStatus.Continue), (packet.Header.Type, packet.Header.Status));
            Assert.InRange(packet.Payload.Length, 0, RpcLimits.LegacyPayloadMax);
            if (packet.Payload.Length == 0)
            {
                break;
            }

            received.Write(packet.Payload);
        }

        Assert.Equal(payload.Concat("end"u8.ToArray()), received.ToArray());
        Assert.Equal([1L << 24], holes);
        c.Send(StreamHeader(Download, 10, RpcMessageType.Stream, RpcMessageStatus.Ok), []);
        var confirm = await c.ReadAsync();
        Assert.Equal((RpcMessageType.Stream, RpcMessageStatus.Ok), (confirm!.Header.Type, confirm.Header.Status));
        // The answer is queued before the stream is forgotten (so nothing can overtake it): forgotten just after.
        await Eventually.UntilAsync(() => harness.Connection.StreamCount == 0, "the answered stream to be forgotten");
    }

    [Fact]
    public async Task Download_hole_without_sparse_is_sent_as_zeros()
    {
        await using var harness = await DownloadHarness(async (stream, ct) =>
        {
            Assert.False(stream.AcceptsHoles);
            await stream.WriteHoleAsync(300_000, ct);
        });
        await harness.OpenAsync();
        var c = harness.Client;
        await c.CallAsync(Download, 11, Payload.Int(0));
        long zeros = 0;
        while (true)
        {
            var packet = await c.ReadAsync();
            Assert.Equal(RpcMessageType.Stream, packet!.Header.Type);
            if (packet.Payload.Length == 0)
            {
                break;
            }

            Assert.All(packet.Payload, b => Assert.Equal(0, b));
            zeros += packet.Payload.Length;
        }

        Assert.Equal(300_000, zeros);
    }

    [Fact]
    public async Task Download_failure_is_a_stream_error_and_abort_is_answered_ok()
    {
        await using var failing = await DownloadHarness((_, _) => throw new VirtPoolException(VirErrorCode.SystemError, "cannot read: Input/output error"));
        await failing.OpenAsync();
        await failing.Client.CallAsync(Download, 12, Payload.Int(0));
        var error = await failing.Client.ReadAsync();
        Assert.Equal((RpcMessageType.Stream, RpcMessageStatus.Error), (error!.Header.Type, error.Header.Status));
        Assert.Equal((VirErrorCode.SystemError, "cannot read: Input/output error"), (error.Error.Code, error.Error.Message));

        var producing = new TaskCompletionSource();
        await using var endless = await DownloadHarness(async (stream, ct) =>
        {
            producing.TrySetResult();
            byte[] chunk = new byte[4096];
            while (true)
            {
                await stream.WriteAsync(chunk, ct);
            }
        });
        await endless.OpenAsync();
        var c = endless.Client;
        await c.CallAsync(Download, 13, Payload.Int(0));
        await producing.Task.WaitAsync(TimeSpan.FromSeconds(5));
        c.Send(StreamHeader(Download, 13, RpcMessageType.Stream, RpcMessageStatus.Error), []);
        while (true)
        {
            var packet = await c.ReadAsync();
            if (packet!.Header.Status == RpcMessageStatus.Ok)
            {
                Assert.Equal(RpcMessageType.Stream, packet.Header.Type);
                break;
            }

            Assert.Equal(RpcMessageStatus.Continue, packet.Header.Status);
        }

        // The answer is queued before the stream is forgotten (so nothing can overtake it): forgotten just after.
        await Eventually.UntilAsync(() => endless.Connection.StreamCount == 0, "the answered stream to be forgotten");
    }

    [Fact]
    public async Task Download_without_finish_like_go_libvirt_then_close_is_clean()
    {
        await using var harness = await DownloadHarness((stream, ct) => stream.WriteAsync(new byte[10], ct).AsTask());
        await harness.OpenAsync();
        var c = harness.Client;
        await c.CallAsync(Download, 14, Payload.Int(0));
        Assert.Equal(10, (await c.ReadAsync())!.Payload.Length);
        Assert.Empty((await c.ReadAsync())!.Payload);
        var close = await c.CallAsync(RemoteProcedure.ConnectClose, 15, []);
        Assert.Equal(RpcMessageStatus.Ok, close.Header.Status);
        Assert.True(await c.ClosedByServerAsync(TimeSpan.FromSeconds(10)));
        await harness.Run.WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task Virsh_vol_upload_and_download_round_trip_including_sparse()
    {
        await using var daemon = await TestDaemon.StartAsync();
        string target = Path.Combine(daemon.Dir, "pool");
        Directory.CreateDirectory(target);
        Assert.Equal(0, (await Tool.VirshAsync(daemon.Uri, "pool-create-as", "st", "dir", "--target", target)).Exit);
        Assert.Equal(0, (await Tool.VirshAsync(daemon.Uri, "vol-create-as", "st", "v", "8M")).Exit);

        string input = Path.Combine(daemon.Dir, "in.bin"), output = Path.Combine(daemon.Dir, "out.bin");
        byte[] bytes = new byte[8 << 20];
        Random.Shared.NextBytes(bytes.AsSpan(0, 3 << 20));
        "end"u8.CopyTo(bytes.AsSpan(bytes.Length - 3));
        await File.WriteAllBytesAsync(input, bytes);

        foreach (string[] sparse in new[] { Array.Empty<string>(), ["--sparse"] })
        {
            File.Delete(output);
            var up = await Tool.VirshAsync(daemon.Uri, ["vol-upload", "--pool", "st", "v", input, .. sparse]);
            Assert.True(up.Exit == 0, up.Err);
            var down = await Tool.VirshAsync(daemon.Uri, ["vol-download", "--pool", "st", "v", output, .. sparse]);
            Assert.True(down.Exit == 0, down.Err);
            byte[] downloaded = await File.ReadAllBytesAsync(output);
            Assert.True(bytes.AsSpan().SequenceEqual(downloaded), "downloaded bytes differ");
        }
    }

    [Fact]
    public async Task A_client_vanishing_mid_vol_upload_leaves_the_volume_usable()
    {
        await using var daemon = await TestDaemon.StartAsync();
        string target = Path.Combine(daemon.Dir, "pool");
        Directory.CreateDirectory(target);
        Assert.Equal(0, (await Tool.VirshAsync(daemon.Uri, "pool-create-as", "st", "dir", "--target", target)).Exit);
        Assert.Equal(0, (await Tool.VirshAsync(daemon.Uri, "vol-create-as", "st", "v", "4M")).Exit);
        var pool = await daemon.Daemon.Services.Manager.LookupPoolByNameAsync("st");
        var vol = await daemon.Daemon.Services.Manager.LookupVolumeByNameAsync("st", "v");

        using (var client = RawClient.Unix(daemon.Socket))
        {
            Assert.Equal(RpcMessageStatus.Ok, (await client.CallAsync(RemoteProcedure.ConnectOpen, 1, Payload.Open("qemu:///system"))).Header.Status);
            byte[] args = Payload.Build(w =>
            {
                w.WriteString(pool.Name);
                w.WriteString(vol.Name);
                w.WriteString(vol.Key);
                w.WriteUInt64(0);
                w.WriteUInt64(0);
                w.WriteUInt32(0);
            });
            var reply = await client.CallAsync(Upload, 2, args);
            Assert.True(reply.Header.Status == RpcMessageStatus.Ok, reply.Header.Status == RpcMessageStatus.Error ? reply.Error.Message : null);
            client.Send(StreamHeader(Upload, 2, RpcMessageType.Stream, RpcMessageStatus.Continue), new byte[100_000]);
        }

        // The connection, its stream and the volume job all go away; the volume can be used again.
        await Eventually.UntilAsync(() => daemon.Daemon.ConnectionCount == 0, "the daemon to drop the vanished client");
        string input = Path.Combine(daemon.Dir, "small.bin");
        await File.WriteAllBytesAsync(input, new byte[1000]);
        var again = await Tool.VirshAsync(daemon.Uri, "vol-upload", "--pool", "st", "v", input);
        Assert.True(again.Exit == 0, again.Err);
        var delete = await Tool.VirshAsync(daemon.Uri, "vol-delete", "--pool", "st", "v");
        Assert.True(delete.Exit == 0, delete.Err);
    }
}
