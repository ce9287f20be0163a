using Microsoft.Win32.SafeHandles;
using VirtPool.Core.Backends;
using VirtPool.Core.Errors;
using VirtPool.Core.Interop;
using VirtPool.Core.Model;
using VirtPool.Formats.Copy;
using VirtPool.Formats.Wipe;

namespace VirtPool.Backends.Local;

/// <summary>Data operations on file volumes: clone, wipe, upload, download, checksum.</summary>
public sealed partial class LocalFileVolumes
{
    /// <summary>
    /// libvirt's buildVolFrom for file pools: raw to raw natively (reflink when the filesystem can,
    /// else copy_file_range over the source's data, holes kept), anything else with qemu-img convert.
    /// </summary>
    public async Task<VolumeDefinition> CreateFromAsync(VolumeDefinition volume, VolumeDefinition source, VolumeCreateFlags flags, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        if (volume.Target.Encryption is not null)
        {
            throw VirtPoolException.Unsupported("storage pool does not support building encrypted volumes from other volumes");
        }

        var rawToRaw = volume.Type == VolumeType.File && volume.Target.Format is "raw" or null
                       && source.Type == VolumeType.File && source.Target.Format is "raw" or null && source.Target.Encryption is null;
        if (!rawToRaw)
        {
            await ConvertWithQemuImgAsync(volume, source, flags, cancellationToken).ConfigureAwait(false);
            return Refresh(volume);
        }

        if (flags.HasFlag(VolumeCreateFlags.PreallocMetadata))
        {
            throw VirtPoolException.Unsupported("metadata preallocation is not supported for raw volumes");
        }

        if (volume.BackingStore is not null)
        {
            throw VirtPoolException.NoSupport("backing storage not supported for raw volumes");
        }

        var path = volume.Target.Path!;
        var mode = volume.Target.Permissions.Mode ?? DefaultVolumeMode;
        var fd = ReserveExclusive(path, LibC.O_RDWR, mode);
        using var target = new SafeFileHandle(fd, ownsHandle: true);
        try
        {
            ApplyOwnerAndMode(fd, volume.Target.Permissions, mode, path);
            var options = new CopyOptions
            {
                // Without --reflink a clone still shares extents where the filesystem can: the result
                // is the same bytes, in O(1). --reflink demands it, as libvirt's FICLONE does.
                Reflink = flags.HasFlag(VolumeCreateFlags.Reflink) ? ReflinkMode.Always : ReflinkMode.Auto,
                Holes = HoleMode.Preserve,
                SourceName = source.Target.Path,
                TargetName = path,
            };
            var copied = await SparseCopy.CloneFileAsync(source.Target.Path!, target, options, progress, cancellationToken).ConfigureAwait(false);

            // libvirt's createRawFile: capacity up front, and unless the new allocation is below the
            // original's capacity (a sparse clone), the whole allocation is reserved.
            if (LibC.FTruncate(fd, Math.Max((long)volume.Capacity, FileLength(fd))) < 0)
            {
                throw VirtPoolException.System($"cannot extend file '{path}'", LibC.Errno);
            }

            // A reflinked clone shares the original's extents: libvirt's up-front allocation is replaced
            // by FICLONE there too, so nothing more is reserved.
            var allocation = (long)(volume.Allocation ?? volume.Capacity);
            if (!copied.Reflinked && volume.Allocation >= source.Capacity && allocation > 0
                && LibC.FAllocate(fd, 0, 0, allocation) < 0 && LibC.PosixFAllocate(fd, 0, allocation) != 0)
            {
                throw VirtPoolException.System($"cannot allocate {allocation} bytes in file '{path}'", LibC.Errno);
            }

            if (LibC.FSync(fd) < 0)
            {
                throw VirtPoolException.System($"cannot sync file '{path}'", LibC.Errno);
            }
        }
        catch
        {
            // Also on Ctrl-C: no half-made volume stays behind.
            LibC.Unlink(path);
            throw;
        }

        return Refresh(volume);
    }

    /// <summary>libvirt's wipeVol for files, every algorithm natively; the file is then re-discovered.</summary>
    public static async Task<VolumeDefinition> WipeAsync(VolumeDefinition volume, VolumeWipeAlgorithm algorithm, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        await VolumeWiper.WipeAsync(volume.Target.Path!, (WipeAlgorithm)(int)algorithm, volume.Allocation ?? 0, progress, cancellationToken).ConfigureAwait(false);
        return Rediscover(volume);
    }

    /// <summary>virStorageBackendRefreshVolTargetUpdate: the volume as a pool refresh would find it now.</summary>
    public static VolumeDefinition Rediscover(VolumeDefinition volume)
    {
        var path = volume.Target.Path!;
        var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(Formats.ImageProbe.HeaderBytes);
        try
        {
            return Probe(path, volume.Name, buffer) ?? throw VirtPoolException.System($"cannot stat file '{path}'", Errno.ENOENT);
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// libvirt's uploadVol: written in place at the offset, nothing truncated. Sparse uploads punch the
    /// source's holes into the volume; plain ones write them as zeros. Never past the capacity.
    /// </summary>
    public static async Task<long> UploadAsync(VolumeDefinition volume, VolumeDataEndpoint source, ulong offset, ulong length, bool sparse, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        var path = volume.Target.Path!;
        using var target = OpenVolume(path, FileAccess.Write);
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

                var options = new CopyOptions { Reflink = ReflinkMode.Never, Holes = sparse ? HoleMode.Preserve : HoleMode.Fill, TargetName = path };
                var result = await SparseCopy.CopyAsync(file.Handle, 0, target, (long)offset, (long)count, options, progress, cancellationToken).ConfigureAwait(false);
                return result.Bytes;
            case StreamEndpoint stream:
                var limit = length == 0 ? room : Math.Min(length, room);
                var written = await VolumeTransfer.WriteFromStreamAsync(stream.Stream, target, (long)offset, (long)limit, sparse, progress, cancellationToken).ConfigureAwait(false);

                // A stream of unknown length that brings more than the volume holds fails as libvirt's
                // does when a stream overruns its length (the bytes that fitted are written).
                if (length == 0 && (ulong)written == limit && await stream.Stream.ReadAsync(new byte[1], cancellationToken).ConfigureAwait(false) > 0)
                {
                    throw VirtPoolException.System("cannot write to stream", Errno.ENOSPC);
                }

                return written;
            default:
                throw VirtPoolException.Internal("unknown upload source");
        }
    }

    /// <summary>libvirt's downloadVol: from the offset to the end, or <paramref name="length"/> bytes.</summary>
    public static async Task<long> DownloadAsync(VolumeDefinition volume, VolumeDataEndpoint target, ulong offset, ulong length, bool sparse, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        var path = volume.Target.Path!;
        using var source = OpenVolume(path, FileAccess.Read);
        var size = (ulong)DataExtents.GetSize(source);
        var available = size - Math.Min(offset, size);
        var count = length == 0 ? available : Math.Min(length, available);
        switch (target)
        {
            case LocalFileEndpoint file:
                var options = new CopyOptions { Reflink = ReflinkMode.Auto, Holes = sparse ? HoleMode.Preserve : HoleMode.Fill, SourceName = path };
                var result = await SparseCopy.CopyAsync(source, (long)offset, file.Handle, 0, (long)count, options, progress, cancellationToken).ConfigureAwait(false);
                return result.Bytes;
            case StreamEndpoint stream:
                return await VolumeTransfer.ReadToStreamAsync(source, (long)offset, (long)count, stream.Stream, progress, cancellationToken).ConfigureAwait(false);
            default:
                throw VirtPoolException.Internal("unknown download target");
        }
    }

    public static async Task<byte[]> Sha256Async(VolumeDefinition volume, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        using var source = OpenVolume(volume.Target.Path!, FileAccess.Read);
        return await VolumeChecksum.Sha256Async(source, progress, cancellationToken).ConfigureAwait(false);
    }

    private static SafeFileHandle OpenVolume(string path, FileAccess access)
    {
        var fd = LibC.Open(path, (access == FileAccess.Read ? LibC.O_RDONLY : LibC.O_WRONLY) | LibC.O_CLOEXEC, 0);
        if (fd < 0)
        {
            throw VirtPoolException.System($"cannot open volume '{path}'", LibC.Errno);
        }

        return new SafeFileHandle(fd, ownsHandle: true);
    }

    private static long FileLength(int fd) => FileStat.TryFStat(fd, out var st, out _) ? st.Size : 0;
}
