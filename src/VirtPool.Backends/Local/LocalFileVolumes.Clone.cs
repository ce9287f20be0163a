using Microsoft.Win32.SafeHandles;
using VirtPool.Core.Backends;
using VirtPool.Core.Errors;
using VirtPool.Core.Interop;
using VirtPool.Core.Model;
using VirtPool.Formats.Copy;

namespace VirtPool.Backends.Local;

/// <summary>Clones into a new file volume (vol-clone, vol-create-from in file pools).</summary>
public sealed partial class LocalFileVolumes
{
    /// <summary>
    /// libvirt's buildVolFrom for file pools: raw to raw natively (reflink when the filesystem can,
    /// else copy_file_range over the source's data, holes kept), anything else with qemu-img convert.
    /// </summary>
    /// <param name="passphrases">Where encrypted volumes' passphrases come from (the pool context's).</param>
    public async Task<VolumeDefinition> CreateFromAsync(VolumeDefinition volume, VolumeDefinition source, VolumeCreateFlags flags, Func<EncryptionSecret, byte[]>? passphrases, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        if (volume.Target.Encryption is not null || source.Target.Encryption is not null)
        {
            await ConvertEncryptedAsync(volume, source, flags, passphrases, cancellationToken).ConfigureAwait(false);
            return Refresh(volume);
        }

        // A block volume is read as raw whatever its format says, as libvirt reads it.
        var sourceIsBlock = source.Type == VolumeType.Block;
        var rawToRaw = volume.Type == VolumeType.File && volume.Target.Format is "raw" or null
                       && (sourceIsBlock || (source.Type == VolumeType.File && source.Target.Format is "raw" or null));
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
        var mode = VolumeOwnership.ModeOf(volume.Target.Permissions);
        var fd = ReserveExclusive(path, LibC.O_RDWR, mode);
        using var target = new SafeFileHandle(fd, ownsHandle: true);
        try
        {
            VolumeOwnership.Apply(fd, volume.Target.Permissions, mode, path);
            var options = new CopyOptions
            {
                // Without --reflink a clone still shares extents where the filesystem can: the result
                // is the same bytes, in O(1). --reflink demands it, as libvirt's FICLONE does.
                Reflink = flags.HasFlag(VolumeCreateFlags.Reflink) ? ReflinkMode.Always : ReflinkMode.Auto,
                Holes = HoleMode.Preserve,

                // A device has no holes to seek: its zero runs, read, become the file's holes.
                DetectZeros = sourceIsBlock,
                SourceName = source.Target.Path,
                TargetName = path,
            };
            var copied = await SparseCopy.CloneFileAsync(source.Target.Path!, target, options, progress, cancellationToken).ConfigureAwait(false);

            // libvirt's createRawFile: capacity up front, and unless the new allocation is below the
            // original's capacity (a sparse clone), the whole allocation is reserved.
            if (LibC.FTruncate(fd, Math.Max((long)volume.Capacity, LocalVolumeData.FileLength(fd))) < 0)
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
}
