using VirtPool.Backends.Local;
using VirtPool.Core.Backends;
using VirtPool.Core.Errors;
using VirtPool.Core.Model;
using VirtPool.Core.Process;

namespace VirtPool.Backends.Tests;

/// <summary>Block-device volume data on a device that refuses writes: libvirt-style errors, never .NET text (found by an adversarial review).</summary>
public sealed class BlockVolumeReadOnlyTests : IDisposable
{
    private const int MiB = 1 << 20;
    private readonly LoopDevices _loops = new();
    private readonly List<string> _readOnly = [];

    public void Dispose()
    {
        foreach (var device in _readOnly)
        {
            _ = ProcessRunner.Instance.RunAsync(["losetup", "-d", device]).GetAwaiter().GetResult();
        }

        _loops.Dispose();
    }

    /// <summary>A read-only loop device (losetup -r) over a new backing file of 0xAA.</summary>
    private async Task<string> AttachReadOnlyAsync(long bytes)
    {
        var scratch = await _loops.AttachAsync(bytes, 0xAA);
        var backing = LoopDevices.BackingFileOf(scratch);
        var result = await ProcessRunner.Instance.RunAsync(["losetup", "-r", "-f", "--show", backing]);
        Assert.True(result.Succeeded, result.StandardError);
        var device = result.StandardOutput.Trim();
        _readOnly.Add(device);
        return device;
    }

    private static VolumeDefinition BlockVolume(string device, ulong capacity) => new()
    {
        Name = "ro",
        Key = device,
        Type = VolumeType.Block,
        Capacity = capacity,
        Target = new VolumeTarget { Path = device, Format = "raw" },
    };

    /// <summary>
    /// An upload onto a read-only device (a read-only LV, a write-protected disk): open(O_WRONLY)
    /// succeeds, the first pwrite fails with EPERM, which .NET raises as UnauthorizedAccessException;
    /// WriteAtAsync catches IOException only, so the client gets "internal error: Access to the path is
    /// denied." (.NET's text; seen through virsh vol-upload against virtpoold on a device node in a dir
    /// pool, scripts/adversarial/device_node_diff.sh) instead of libvirt's system error.
    /// </summary>
    [Fact]
    public async Task Upload_onto_a_read_only_device_fails_with_a_libvirt_style_error()
    {
        var device = await AttachReadOnlyAsync(4 * MiB);
        var stream = new OnePieceStream(new byte[4096]);

        var error = await Record.ExceptionAsync(() => LocalVolumeData.UploadAsync(BlockVolume(device, 4 * MiB), new SparseStreamEndpoint(stream), 0, 0, sparse: false, null, CancellationToken.None));

        var refused = Assert.IsType<VirtPoolException>(error);
        Assert.Equal(VirErrorCode.SystemError, refused.Code);
        Assert.DoesNotContain("Access to the path", refused.Message, StringComparison.Ordinal);
    }

    private sealed class OnePieceStream(byte[] data) : ISparseStream
    {
        private bool _sent;

        public bool AcceptsHoles => true;

        public ValueTask<SparseRead> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken)
        {
            if (_sent)
            {
                return ValueTask.FromResult(new SparseRead(0, 0));
            }

            _sent = true;
            data.CopyTo(buffer.Span);
            return ValueTask.FromResult(new SparseRead(data.Length, 0));
        }

        public ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken) => throw new NotSupportedException();

        public ValueTask WriteHoleAsync(long length, CancellationToken cancellationToken) => throw new NotSupportedException();
    }
}
