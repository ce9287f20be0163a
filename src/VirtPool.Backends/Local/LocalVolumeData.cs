using System.Buffers;
using Microsoft.Win32.SafeHandles;
using VirtPool.Core.Backends;
using VirtPool.Core.Errors;
using VirtPool.Core.Interop;
using VirtPool.Core.Model;
using VirtPool.Formats;
using VirtPool.Formats.Copy;
using VirtPool.Formats.Wipe;

namespace VirtPool.Backends.Local;

/// <summary>
/// The data operations on a volume that is a local path, a regular file or a block device (libvirt's
/// virStorageBackendVol{Wipe,Upload,Download}Local, which every local pool type shares): wipe, upload,
/// download, checksum. What differs for a device is decided here, from the open descriptor: a device
/// has no holes (a hole written onto it becomes zeroes, see <see cref="BlockDeviceZeroing"/>), no
/// SEEK_HOLE (its zero runs are found by reading), and no size to grow or truncate.
/// </summary>
internal static partial class LocalVolumeData
{
    /// <summary>
    /// libvirt's wipeVol for local volumes, every algorithm natively (<see cref="VolumeWiper"/>: BLKZEROOUT
    /// and BLKDISCARD over a device's whole size, scrub patterns over it); the volume is then re-read.
    /// </summary>
    public static async Task<VolumeDefinition> WipeAsync(VolumeDefinition volume, VolumeWipeAlgorithm algorithm, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        LocalVolumeProbe.RefusePloop(volume, "unable to find ploop tools, please install them");
        await VolumeWiper.WipeAsync(volume.Target.Path!, algorithm, volume.Allocation ?? 0, progress, cancellationToken).ConfigureAwait(false);
        return Rediscover(volume);
    }

    /// <summary>
    /// virStorageBackendRefreshVolTargetUpdate: the volume as a refresh would find it now. A file is
    /// probed again; a block volume keeps its definition and is re-sized from its device.
    /// </summary>
    public static VolumeDefinition Rediscover(VolumeDefinition volume)
    {
        if (volume.Type == VolumeType.Block)
        {
            return LocalVolumeProbe.DescribeDevice(volume);
        }

        var path = volume.Target.Path!;
        var buffer = ArrayPool<byte>.Shared.Rent(ImageProbe.HeaderBytes);
        try
        {
            return LocalVolumeProbe.Probe(path, volume.Name, buffer) ?? throw LocalVolumeProbe.Unprobeable(path);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// libvirt's uploadVol: written in place at the offset, nothing truncated. Sparse uploads make the
    /// source's holes holes in a file (punched) and zeroes on a device (deallocated where it can);
    /// plain ones write them as zeroes. Never past the capacity.
    /// </summary>
    public static async Task<long> UploadAsync(VolumeDefinition volume, VolumeDataEndpoint source, ulong offset, ulong length, bool sparse, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        LocalVolumeProbe.RefusePloop(volume, LocalVolumeProbe.PloopToolMissing);
        var path = volume.Target.Path!;
        using var target = OpenVolume(path, FileAccess.Write);
        var isDevice = BlockDevice.IsBlockDevice((int)target.DangerousGetHandle());
        var room = volume.Capacity - Math.Min(offset, volume.Capacity);
        switch (source)
        {
            case LocalFileEndpoint file:
                var available = (ulong)DataExtents.GetSize(file.Handle);
                var count = length == 0 ? available : Math.Min(length, available);
                if (count > room)
                {
                    throw VirtPoolException.System("cannot write to stream", Errno.ENOSPC);
                }

                if (isDevice)
                {
                    return await BlockDeviceCopy.CopyAsync(file.Handle, 0, target, path, (long)offset, (long)count, deallocateHoles: sparse, sync: false, progress, cancellationToken).ConfigureAwait(false);
                }

                var options = new CopyOptions { Reflink = ReflinkMode.Never, Holes = sparse ? HoleMode.Preserve : HoleMode.Fill, TargetName = path };
                var result = await SparseCopy.CopyAsync(file.Handle, 0, target, (long)offset, (long)count, options, progress, cancellationToken).ConfigureAwait(false);
                return result.Bytes;
            case StreamEndpoint stream:
                var limit = length == 0 ? room : Math.Min(length, room);

                // A plain stream's zero blocks are written as they come onto a device: zeroes are what
                // a hole there has to read as anyway.
                var written = await VolumeTransfer.WriteFromStreamAsync(stream.Stream, target, (long)offset, (long)limit, sparse && !isDevice, progress, cancellationToken).ConfigureAwait(false);

                // A stream of unknown length that brings more than the volume holds fails as libvirt's
                // does when a stream overruns its length (the bytes that fitted are written).
                if (length == 0 && (ulong)written == limit && await stream.Stream.ReadAsync(new byte[1], cancellationToken).ConfigureAwait(false) > 0)
                {
                    throw VirtPoolException.System("cannot write to stream", Errno.ENOSPC);
                }

                return written;
            case SparseStreamEndpoint rpc:
                var into = new UploadTarget(target, path, isDevice);
                return await UploadFromSparseStreamAsync(rpc.Stream, into, (long)offset, (long)(length == 0 ? room : Math.Min(length, room)), sparse, progress, cancellationToken).ConfigureAwait(false);
            default:
                throw VirtPoolException.Internal("unknown upload source");
        }
    }

    /// <summary>
    /// libvirt's downloadVol: from the offset to the end, or <paramref name="length"/> bytes. A sparse
    /// download of a device finds its zero runs by reading (a device has no SEEK_HOLE) and leaves them
    /// holes in the output file or hole packets on the stream.
    /// </summary>
    public static async Task<long> DownloadAsync(VolumeDefinition volume, VolumeDataEndpoint target, ulong offset, ulong length, bool sparse, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        LocalVolumeProbe.RefusePloop(volume, LocalVolumeProbe.PloopToolMissing);
        var path = volume.Target.Path!;
        using var source = OpenVolume(path, FileAccess.Read);
        if (offset > long.MaxValue)
        {
            // libvirt's lseek to the offset, which no file offset (off_t) can be.
            throw new VirtPoolException(VirErrorCode.SystemError, $"Unable to seek {path} to {offset}: {StrError.Describe(Errno.EINVAL)}", VirErrorDomain.Streams);
        }

        var size = (ulong)DataExtents.GetSize(source);
        var available = size - Math.Min(offset, size);
        var count = length == 0 ? available : Math.Min(length, available);
        switch (target)
        {
            case LocalFileEndpoint file:
                var options = new CopyOptions
                {
                    Reflink = ReflinkMode.Auto,
                    Holes = sparse ? HoleMode.Preserve : HoleMode.Fill,
                    DetectZeros = sparse && BlockDevice.IsBlockDevice((int)source.DangerousGetHandle()),
                    SourceName = path,
                };
                var result = await SparseCopy.CopyAsync(source, (long)offset, file.Handle, 0, (long)count, options, progress, cancellationToken).ConfigureAwait(false);
                return result.Bytes;
            case StreamEndpoint stream:
                return await VolumeTransfer.ReadToStreamAsync(source, (long)offset, (long)count, stream.Stream, progress, cancellationToken).ConfigureAwait(false);
            case SparseStreamEndpoint rpc:
                // ZeroScan.Auto reads a device for its zero runs; a file's holes come from SEEK_HOLE.
                return await DownloadToSparseStreamAsync(source, path, (long)offset, (long)count, sparse && rpc.Stream.AcceptsHoles, rpc.Stream, progress, cancellationToken).ConfigureAwait(false);
            default:
                throw VirtPoolException.Internal("unknown download target");
        }
    }

    /// <summary>SHA-256 over the volume's size: a file's st_size, a device's BLKGETSIZE64.</summary>
    public static async Task<byte[]> Sha256Async(VolumeDefinition volume, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        LocalVolumeProbe.RefusePloop(volume, LocalVolumeProbe.PloopToolMissing);
        using var source = OpenVolume(volume.Target.Path!, FileAccess.Read);
        return await VolumeChecksum.Sha256Async(source, progress, cancellationToken).ConfigureAwait(false);
    }

    internal static SafeFileHandle OpenVolume(string path, FileAccess access)
    {
        var fd = LibC.Open(path, (access == FileAccess.Read ? LibC.O_RDONLY : LibC.O_WRONLY) | LibC.O_CLOEXEC, 0);
        if (fd < 0)
        {
            throw VirtPoolException.System($"cannot open volume '{path}'", LibC.Errno);
        }

        return new SafeFileHandle(fd, ownsHandle: true);
    }

    internal static long FileLength(int fd) => FileStat.TryFStat(fd, out var st, out _) ? st.Size : 0;
}
