using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Win32.SafeHandles;
using VirtPool.Backends.Local;
using VirtPool.Core.Backends;
using VirtPool.Core.Interop;
using VirtPool.Core.Model;
using VirtPool.Core.Process;

namespace VirtPool.Backends.Tests;

/// <summary>
/// Block devices as volumes, on real loop devices: wipe, upload and download with holes, clones in and
/// out, checksum, sizes, LUKS and owner/mode on the node. Devices start filled with 0xAA, so a hole
/// that is not made zeroes on the device shows as old data.
/// </summary>
public sealed partial class BlockVolumeTests : IDisposable
{
    private const int MiB = 1 << 20;
    private const byte Old = 0xAA;

    private readonly LoopDevices _loops = new();

    public void Dispose() => _loops.Dispose();

    private static VolumeDefinition BlockVolume(string device, string name = "lv0", ulong? capacity = null) => new()
    {
        Name = name,
        Key = device,
        Type = VolumeType.Block,
        Capacity = capacity ?? (ulong)DeviceSize(device),
        Target = new VolumeTarget { Path = device, Format = "raw" },
    };

    private static VolumeDefinition FileVolume(string path, string name, ulong capacity, ulong? allocation = null) => new()
    {
        Name = name,
        Key = path,
        Type = VolumeType.File,
        Capacity = capacity,
        Allocation = allocation,
        Target = new VolumeTarget { Path = path, Format = "raw" },
    };

    [Fact]
    public async Task Wipe_zero_zeroes_the_whole_device_and_reports_it_fully_allocated()
    {
        var device = await _loops.AttachAsync(32 * MiB, Old);

        var after = await LocalVolumeData.WipeAsync(BlockVolume(device), VolumeWipeAlgorithm.Zero, null, CancellationToken.None);

        Assert.True(ReadDevice(device).AsSpan().IndexOfAnyExcept((byte)0) < 0, "the device still holds old data");
        Assert.Equal(VolumeType.Block, after.Type);
        Assert.Equal(32UL * MiB, after.Capacity);
        Assert.Equal(32UL * MiB, after.Allocation);
        Assert.Equal(32UL * MiB, after.Physical);
    }

    [Fact]
    public async Task Wipe_trim_discards_the_device_which_then_reads_zeroes()
    {
        var device = await _loops.AttachAsync(32 * MiB, Old);
        var backing = LoopDevices.BackingFileOf(device);
        Assert.True(FileStat.TryStat(backing, out var before, out _));

        _ = await LocalVolumeData.WipeAsync(BlockVolume(device), VolumeWipeAlgorithm.Trim, null, CancellationToken.None);

        // A loop device's discard punches its backing file: the blocks are gone, the data with them.
        Assert.True(ReadDevice(device).AsSpan().IndexOfAnyExcept((byte)0) < 0);
        Assert.True(FileStat.TryStat(backing, out var after, out _));
        Assert.True(after.Blocks < before.Blocks / 8, $"backing file kept {after.Blocks} of {before.Blocks} blocks");
    }

    [Fact]
    public async Task Wipe_with_a_scrub_method_overwrites_the_whole_device_with_its_pattern()
    {
        var device = await _loops.AttachAsync(16 * MiB, Old);

        // DoD: random, 0x00, then 0xff verified; scrub's signature at offset 0 as every libvirt scrub leaves.
        _ = await LocalVolumeData.WipeAsync(BlockVolume(device), VolumeWipeAlgorithm.Dod, null, CancellationToken.None);

        var bytes = ReadDevice(device);
        var signature = Formats.Wipe.VolumeWiper.ScrubSignature;
        Assert.True(bytes.AsSpan(0, signature.Length).SequenceEqual(signature));
        Assert.True(bytes.AsSpan(signature.Length).IndexOfAnyExcept((byte)0xff) < 0, "the pattern did not reach the device's end");
    }

    [Theory]
    [InlineData(true, 0L)]
    [InlineData(false, 0L)]
    [InlineData(true, 1000L)]
    [InlineData(false, 1000L)]
    public async Task Upload_of_a_sparse_file_makes_its_hole_zeroes_on_the_device(bool sparse, long offset)
    {
        var device = await _loops.AttachAsync(32 * MiB, Old);
        var (source, expected) = SparseSource("upload.src");

        using (var handle = File.OpenHandle(source))
        {
            var written = await LocalVolumeData.UploadAsync(BlockVolume(device), new LocalFileEndpoint(handle), (ulong)offset, 0, sparse, null, CancellationToken.None);
            Assert.Equal(expected.Length, written);
        }

        var bytes = ReadDevice(device);
        Assert.True(bytes.AsSpan(0, (int)offset).IndexOfAnyExcept(Old) < 0, "bytes before the offset changed");
        Assert.True(bytes.AsSpan((int)offset, expected.Length).SequenceEqual(expected), "the hole kept the device's old data, or data is wrong");
        Assert.True(bytes.AsSpan((int)offset + expected.Length).IndexOfAnyExcept(Old) < 0, "bytes past the upload changed");

        // Sparse: the hole is given back to the device where it can (a loop device punches its backing
        // file); plain: it stays allocated zeroes.
        // (The backing file frees whole 4 KiB blocks only.)
        var holeStart = (offset + (2 * MiB) + 4095) / 4096 * 4096;
        var holeEnd = (offset + (4 * MiB)) / 4096 * 4096;
        var backingHole = SeekData(LoopDevices.BackingFileOf(device), holeStart) >= holeEnd;
        Assert.Equal(sparse, backingHole);
    }

    [Fact]
    public async Task Upload_over_a_sparse_rpc_stream_makes_its_hole_zeroes_on_the_device()
    {
        var device = await _loops.AttachAsync(16 * MiB, Old);
        var head = RandomBytes(MiB, 3);
        var tail = RandomBytes(MiB, 4);
        var stream = new ScriptedSparseStream([head, 2L * MiB, tail]);

        var written = await LocalVolumeData.UploadAsync(BlockVolume(device), new SparseStreamEndpoint(stream), 4096, 0, sparse: true, null, CancellationToken.None);

        Assert.Equal(4L * MiB, written);
        var bytes = ReadDevice(device);
        Assert.True(bytes.AsSpan(4096, MiB).SequenceEqual(head));
        Assert.True(bytes.AsSpan(4096 + MiB, 2 * MiB).IndexOfAnyExcept((byte)0) < 0, "the stream's hole kept the device's old data");
        Assert.True(bytes.AsSpan(4096 + (3 * MiB), MiB).SequenceEqual(tail));
        Assert.True(bytes.AsSpan(4096 + (4 * MiB)).IndexOfAnyExcept(Old) < 0);
    }

    [Fact]
    public async Task Sparse_download_of_a_device_leaves_its_zero_runs_holes_in_the_output()
    {
        var device = await _loops.AttachAsync(16 * MiB);
        var data = RandomBytes(2 * MiB, 5);
        WriteDevice(device, data, 0);
        WriteDevice(device, data, 10 * MiB);
        var output = Path.Combine(_loops.Folder, "download.out");

        using (var handle = File.OpenHandle(output, FileMode.CreateNew, FileAccess.ReadWrite))
        {
            var read = await LocalVolumeData.DownloadAsync(BlockVolume(device), new LocalFileEndpoint(handle), 0, 0, sparse: true, null, CancellationToken.None);
            Assert.Equal(16L * MiB, read);
        }

        Assert.Equal(SHA256.HashData(ReadDevice(device)), SHA256.HashData(await File.ReadAllBytesAsync(output)));
        Assert.Equal(2L * MiB, SeekHole(output, 0));
        Assert.Equal(10L * MiB, SeekData(output, 2 * MiB));
        Assert.True(FileStat.TryStat(output, out var st, out _));
        Assert.InRange(st.AllocatedBytes, 4L * MiB, 5L * MiB);
    }

    [Fact]
    public async Task Clone_of_a_file_into_a_device_keeps_its_bytes_and_zeroes_its_holes_and_the_rest()
    {
        var device = await _loops.AttachAsync(32 * MiB, Old);
        var (source, expected) = SparseSource("clone.src");
        var volumes = new BlockVolumes(ProcessRunner.Instance);

        var made = await volumes.CreateFromAsync(BlockVolume(device, "clone"), FileVolume(source, "clone.src", (ulong)expected.Length), VolumeCreateFlags.None, null, null, CancellationToken.None);

        // The new volume reads as its source followed by zeroes, to the device's end.
        var padded = new byte[32 * MiB];
        expected.CopyTo(padded, 0);
        Assert.Equal(SHA256.HashData(padded), await LocalVolumeData.Sha256Async(made, null, CancellationToken.None));
        Assert.Equal(SHA256.HashData(padded), SHA256.HashData(ReadDevice(device)));
        Assert.Equal(32UL * MiB, made.Capacity);
        Assert.Equal(VolumeType.Block, made.Type);
    }

    [Fact]
    public async Task Clone_of_a_qcow2_file_into_a_device_goes_through_qemu_img_and_zeroes_holes_and_the_rest()
    {
        var device = await _loops.AttachAsync(16 * MiB, Old);
        var (raw, expected) = SparseSource("qcow2.src");
        var qcow2 = Path.Combine(_loops.Folder, "src.qcow2");
        var convert = await ProcessRunner.Instance.RunAsync(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, qcow2]);
        Assert.True(convert.Succeeded, convert.StandardError);
        var source = FileVolume(qcow2, "src.qcow2", (ulong)expected.Length) with { Target = new VolumeTarget { Path = qcow2, Format = "qcow2" } };

        _ = await new BlockVolumes(ProcessRunner.Instance).CreateFromAsync(BlockVolume(device, "clone"), source, VolumeCreateFlags.None, null, null, CancellationToken.None);

        var padded = new byte[16 * MiB];
        expected.CopyTo(padded, 0);
        Assert.Equal(SHA256.HashData(padded), SHA256.HashData(ReadDevice(device)));
    }

    [Fact]
    public async Task Clone_into_an_encrypted_device_formats_luks_and_writes_the_source_decryptable()
    {
        var device = await _loops.AttachAsync(12 * MiB, Old);
        var (raw, expected) = SparseSource("plain.src");
        var uuid = Guid.NewGuid();
        var volume = BlockVolume(device, "enc", capacity: 10UL * MiB) with
        {
            Target = new VolumeTarget
            {
                Path = device,
                Format = "raw",
                Encryption = new EncryptionDefinition { Format = EncryptionFormat.Luks, Secrets = [new EncryptionSecret { Uuid = uuid }] },
            },
        };

        var made = await new BlockVolumes(ProcessRunner.Instance).CreateFromAsync(volume, FileVolume(raw, "plain.src", (ulong)expected.Length), VolumeCreateFlags.None, _ => "pass phrase"u8.ToArray(), null, CancellationToken.None);

        var plain = Path.Combine(_loops.Folder, "decrypted.raw");
        var open = await ProcessRunner.Instance.RunAsync(["qemu-img", "convert", "--object", "secret,id=s0,data=pass phrase", "--image-opts", $"driver=luks,file.filename={device},key-secret=s0", "-O", "raw", plain]);
        Assert.True(open.Succeeded, open.StandardError);
        var decrypted = await File.ReadAllBytesAsync(plain);
        Assert.True(decrypted.AsSpan(0, expected.Length).SequenceEqual(expected));

        // The payload fills the device past the header (the pool type sized it capacity + 2 MiB, as
        // libvirt's lvcreate does); the refresh reports what qemu decrypts: device size less the header.
        Assert.Equal((ulong)decrypted.Length, made.Capacity);
        Assert.InRange(made.Capacity, 10UL * MiB, (12UL * MiB) - 1);
    }

    [Fact]
    public async Task Clone_of_a_device_into_a_file_keeps_its_bytes_and_its_zero_runs_as_holes()
    {
        var device = await _loops.AttachAsync(16 * MiB);
        var data = RandomBytes(MiB, 6);
        WriteDevice(device, data, 0);
        WriteDevice(device, data, 12 * MiB);
        var pool = Directory.CreateDirectory(Path.Combine(_loops.Folder, "pool")).FullName;
        var files = new LocalFileVolumes(ProcessRunner.Instance);
        var source = BlockVolume(device);
        var volume = files.Prepare(pool, FileVolume(string.Empty, "copy.raw", source.Capacity, allocation: 0));

        var made = await files.CreateFromAsync(volume, source, VolumeCreateFlags.None, null, null, CancellationToken.None);

        var path = Path.Combine(pool, "copy.raw");
        Assert.Equal(await LocalVolumeData.Sha256Async(source, null, CancellationToken.None), SHA256.HashData(await File.ReadAllBytesAsync(path)));
        Assert.Equal(16UL * MiB, made.Capacity);
        Assert.Equal(MiB, SeekHole(path, 0));
        Assert.InRange(made.Allocation ?? 0, 2UL * MiB, 3UL * MiB);
    }

    [Fact]
    public async Task Checksum_of_a_device_is_sha256_over_its_whole_size()
    {
        var device = await _loops.AttachAsync(8 * MiB, Old);
        WriteDevice(device, RandomBytes(MiB, 7), 3 * MiB);

        var sum = await LocalVolumeData.Sha256Async(BlockVolume(device), null, CancellationToken.None);

        Assert.Equal(SHA256.HashData(ReadDevice(device)), sum);
    }

    [Fact]
    public async Task Luks_on_a_device_is_made_by_qemu_img_and_opens_with_its_secret_only()
    {
        var device = await _loops.AttachAsync(34 * MiB, Old);
        var passphrase = "correct horse"u8.ToArray();
        var uuid = Guid.NewGuid();
        var volume = BlockVolume(device, "secret-lv", capacity: 32UL * MiB) with
        {
            Target = new VolumeTarget
            {
                Path = device,
                Format = "raw",
                Permissions = new Permissions { Mode = 0x1A0 /* 0640 */, Owner = 107, Group = 6 },
                Encryption = new EncryptionDefinition { Format = EncryptionFormat.Luks, Secrets = [new EncryptionSecret { Uuid = uuid }] },
            },
        };
        var volumes = new BlockVolumes(ProcessRunner.Instance);

        await volumes.FormatLuksAsync(volume, secret => secret.Uuid == uuid ? (byte[])passphrase.Clone() : throw new InvalidOperationException("wrong secret"), CancellationToken.None);

        var info = await ProcessRunner.Instance.RunAsync(["qemu-img", "info", "--output=json", device]);
        Assert.True(info.Succeeded, info.StandardError);
        Assert.Contains("\"format\": \"luks\"", info.StandardOutput, StringComparison.Ordinal);
        Assert.True((await OpenLuksAsync(device, "correct horse")).Succeeded);
        Assert.False((await OpenLuksAsync(device, "wrong horse")).Succeeded);

        // The node carries the volume's owner and mode; the refresh sizes the payload as libvirt does.
        Assert.True(FileStat.TryStat(device, out var st, out _));
        Assert.Equal((0x1A0u, 107u, 6u), (st.Mode & 0x1FF, st.Uid, st.Gid));
        var refreshed = volumes.Refresh(volume);
        Assert.Equal(34UL * MiB, refreshed.Allocation);
        Assert.InRange(refreshed.Capacity, 32UL * MiB, (34UL * MiB) - 1);
    }

    [Fact]
    public async Task Device_node_gets_the_volume_mode_and_the_default_mode_without_one()
    {
        var device = await _loops.AttachAsync(MiB);
        var volumes = new BlockVolumes(ProcessRunner.Instance);

        volumes.ApplyPermissions(BlockVolume(device) with { Target = new VolumeTarget { Path = device, Permissions = new Permissions { Mode = 0x1B0 /* 0660 */, Group = 6 } } });
        Assert.True(FileStat.TryStat(device, out var st, out _));
        Assert.Equal((0x1B0u, 6u), (st.Mode & 0x1FF, st.Gid));

        volumes.ApplyPermissions(BlockVolume(device));
        Assert.True(FileStat.TryStat(device, out st, out _));
        Assert.Equal(0x180u, st.Mode & 0x1FF); // libvirt's 0600
    }

    [Fact]
    public async Task A_device_node_in_a_dir_pool_is_sized_by_its_device()
    {
        var device = await _loops.AttachAsync(8 * MiB);
        var pool = Directory.CreateDirectory(Path.Combine(_loops.Folder, "nodes")).FullName;
        Assert.True(FileStat.TryStat(device, out var st, out _));
        var node = Path.Combine(pool, "disk0");
        Assert.Equal(0, Mknod(node, st.Mode, st.RDev));

        var scan = new LocalFileVolumes(ProcessRunner.Instance).Scan(pool, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance, CancellationToken.None);

        var vol = Assert.Single(scan.Volumes);
        Assert.Equal((8UL * MiB, 8UL * MiB, 8UL * MiB), (vol.Capacity, vol.Allocation ?? 0, vol.Physical));
        Assert.Equal(VolumeType.File, vol.Type); // as libvirt's dir pool lists it
    }

    /// <summary>A 6 MiB file of data, a 2 MiB hole, data: the hole is a real hole (SEEK_HOLE finds it).</summary>
    private (string Path, byte[] Bytes) SparseSource(string name)
    {
        var path = Path.Combine(_loops.Folder, name);
        var bytes = new byte[6 * MiB];
        RandomBytes(2 * MiB, 1).CopyTo(bytes, 0);
        RandomBytes(2 * MiB, 2).CopyTo(bytes, 4 * MiB);
        using (var handle = File.OpenHandle(path, FileMode.CreateNew, FileAccess.Write))
        {
            RandomAccess.Write(handle, bytes.AsSpan(0, 2 * MiB), 0);
            RandomAccess.Write(handle, bytes.AsSpan(4 * MiB), 4 * MiB);
        }

        Assert.Equal(2L * MiB, SeekHole(path, 0));
        return (path, bytes);
    }

    /// <summary>Reads the payload through qemu's LUKS driver (qemu-img info opens without unlocking a keyslot; convert must).</summary>
    private Task<ProcessResult> OpenLuksAsync(string device, string passphrase)
        => ProcessRunner.Instance.RunAsync(["qemu-img", "convert", "--object", $"secret,id=s0,data={passphrase}", "--image-opts", $"driver=luks,file.filename={device},key-secret=s0", "-O", "raw", Path.Combine(_loops.Folder, $"{Guid.NewGuid():N}.plain")]);

    private static byte[] RandomBytes(int length, int seed)
    {
        var data = new byte[length];
        new Random(seed).NextBytes(data);
        return data;
    }

    private static long DeviceSize(string device)
    {
        using var handle = File.OpenHandle(device);
        return BlockDevice.Size((int)handle.DangerousGetHandle(), device);
    }

    private static byte[] ReadDevice(string device)
    {
        using var handle = File.OpenHandle(device);
        var bytes = new byte[DeviceSize(device)];
        for (var done = 0; done < bytes.Length;)
        {
            var n = RandomAccess.Read(handle, bytes.AsSpan(done), done);
            Assert.True(n > 0, "short read from the device");
            done += n;
        }

        return bytes;
    }

    private static void WriteDevice(string device, byte[] data, long offset)
    {
        using var handle = File.OpenHandle(device, FileMode.Open, FileAccess.Write);
        RandomAccess.Write(handle, data, offset);
        RandomAccess.FlushToDisk(handle);
    }

    private static long SeekHole(string path, long from) => Seek(path, from, 4);

    private static long SeekData(string path, long from) => Seek(path, from, 3);

    private static long Seek(string path, long from, int whence)
    {
        using SafeFileHandle handle = File.OpenHandle(path);
        return LSeek((int)handle.DangerousGetHandle(), from, whence);
    }

    [LibraryImport("libc", EntryPoint = "lseek", SetLastError = true)]
    private static partial long LSeek(int fd, long offset, int whence);

    [LibraryImport("libc", EntryPoint = "mknod", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Mknod(string path, uint mode, ulong dev);

    /// <summary>A sparse stream as the daemon receives it from a client: data pieces and holes, in order.</summary>
    private sealed class ScriptedSparseStream(IReadOnlyList<object> pieces) : ISparseStream
    {
        private int _next;

        public bool AcceptsHoles => true;

        public ValueTask<SparseRead> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken)
        {
            if (_next == pieces.Count)
            {
                return ValueTask.FromResult(new SparseRead(0, 0));
            }

            switch (pieces[_next++])
            {
                case byte[] data:
                    data.AsSpan().CopyTo(buffer.Span);
                    return ValueTask.FromResult(new SparseRead(data.Length, 0));
                case long hole:
                    return ValueTask.FromResult(new SparseRead(0, hole));
                default:
                    throw new InvalidOperationException("unknown piece");
            }
        }

        public ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken) => throw new NotSupportedException();

        public ValueTask WriteHoleAsync(long length, CancellationToken cancellationToken) => throw new NotSupportedException();
    }
}
