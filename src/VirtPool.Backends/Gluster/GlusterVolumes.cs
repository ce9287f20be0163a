using Microsoft.Win32.SafeHandles;
using VirtPool.Backends.Local;
using VirtPool.Core.Backends;
using VirtPool.Core.Errors;
using VirtPool.Core.Interop;
using VirtPool.Core.Model;
using VirtPool.Core.Process;
using VirtPool.Formats;
using VirtPool.Formats.Copy;
using VirtPool.Formats.Qcow2;

namespace VirtPool.Backends.Gluster;

/// <summary>
/// Making, resizing and removing the files of a gluster pool over gfapi. libvirt 9.0's gluster backend
/// only lists and deletes; create, resize and clone are VirtPool's additions, done the way libvirt's
/// local file pools do them: raw files natively (O_EXCL create, ftruncate, fallocate, fsync); other
/// formats built in a private scratch file on this host (the native qcow2 writer, else qemu-img) and
/// copied over gfapi with their holes, so no qemu-img ever opens a gluster:// URL (each such run pays
/// glfs_fini's ~10 s). A resize keeps the volume's file: raw is truncated, qcow2 grown in place.
/// </summary>
public sealed class GlusterVolumes(IProcessRunner runner, GlusterLocation location)
{
    /// <summary>Bytes per fallocate call, so a large allocation is many bounded calls.</summary>
    private const long AllocateChunk = 1L << 30;

    /// <summary>A new file or folder, as a refresh then finds it; whatever failed half-way is removed.</summary>
    public async Task<VolumeDefinition> CreateAsync(IGlusterSession session, VolumeDefinition volume, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(session);
        ArgumentNullException.ThrowIfNull(volume);
        if (volume.Target.Encryption is not null)
        {
            throw VirtPoolException.Unsupported("storage pool does not support encrypted volumes");
        }

        if (volume.BackingStore?.Path is not null)
        {
            throw VirtPoolException.Unsupported("backing stores are not supported for volumes of gluster pools");
        }

        var format = QemuImgRequests.FormatOf(volume.Target.Format);
        var path = location.PathOf(volume.Name);
        var uri = location.UriOf(volume.Name);
        var mode = VolumeOwnership.ModeOf(volume.Target.Permissions);
        if (format == StorageFileFormat.Dir)
        {
            await session.RunAsync(m => MakeDirectory(m, volume, path, uri, mode), "mkdir", cancellationToken).ConfigureAwait(false);
            return await session.RunAsync(m => GlusterScan.Rediscover(m, volume.Name), "stat", cancellationToken).ConfigureAwait(false);
        }

        var file = await session.RunAsync(m => Reserve(m, volume, path, uri, mode), "create", cancellationToken).ConfigureAwait(false);
        try
        {
            if (format == StorageFileFormat.Raw)
            {
                await session.RunAsync(_ => file.Truncate((long)volume.Capacity), "truncate", cancellationToken).ConfigureAwait(false);
                await AllocateAsync(session, file, 0, (long)(volume.Allocation ?? volume.Capacity), progress, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                using var scratch = new ScratchImage();
                await BuildImageAsync(volume, format, scratch.Path, cancellationToken).ConfigureAwait(false);
                await CopyLocalAsync(session, scratch.Open(), file, progress, cancellationToken).ConfigureAwait(false);
            }

            await session.RunAsync(_ => file.Sync(), "fsync", cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await session.CloseAsync(file).ConfigureAwait(false);
            await session.RunAsync(m => m.Unlink(path), "unlink", CancellationToken.None).ConfigureAwait(false);
            throw;
        }

        await session.CloseAsync(file).ConfigureAwait(false);
        return await session.RunAsync(m => GlusterScan.Rediscover(m, volume.Name), "stat", cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// A new volume from another's data: a volume of this gluster volume or a local file. Same format: the
    /// bytes copied as they are, holes kept, a raw copy grown to the new capacity; another format:
    /// qemu-img convert into a scratch file here, then copied.
    /// </summary>
    public async Task<VolumeDefinition> CloneAsync(IGlusterSession session, VolumeDefinition volume, VolumeDefinition source, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(session);
        ArgumentNullException.ThrowIfNull(volume);
        ArgumentNullException.ThrowIfNull(source);
        if (volume.Target.Encryption is not null || source.Target.Encryption is not null)
        {
            throw VirtPoolException.Unsupported("storage pool does not support encrypted volumes");
        }

        var format = QemuImgRequests.FormatOf(volume.Target.Format);
        var sourceFormat = QemuImgRequests.FormatOf(source.Target.Format);
        var sourcePath = source.Target.Path ?? throw VirtPoolException.Internal($"volume '{source.Name}' has no path");
        var sourceName = location.VolumeNameOf(sourcePath);
        var sourceIsLocal = sourceName is null && source.Type is VolumeType.File or VolumeType.Block && sourcePath.StartsWith('/');
        if (sourceName is null && !sourceIsLocal || format == StorageFileFormat.Dir || sourceFormat == StorageFileFormat.Dir)
        {
            throw VirtPoolException.NoSupport($"cannot copy volume '{source.Name}' into a gluster pool: only files of the same gluster volume or local files can be copied");
        }

        var path = location.PathOf(volume.Name);
        var uri = location.UriOf(volume.Name);
        var mode = VolumeOwnership.ModeOf(volume.Target.Permissions);
        var file = await session.RunAsync(m => Reserve(m, volume, path, uri, mode), "create", cancellationToken).ConfigureAwait(false);
        try
        {
            if (format != sourceFormat)
            {
                // qemu-img reads no gluster:// here (that needs qemu-block-extra, and pays glfs_fini): a
                // gluster source is first copied to a scratch file on this host, holes kept.
                using var input = new ScratchImage();
                if (!sourceIsLocal)
                {
                    await DownloadToAsync(session, location.PathOf(sourceName!), sourcePath, input.Path, cancellationToken).ConfigureAwait(false);
                }

                using var scratch = new ScratchImage();
                var request = new QemuImgConvertRequest(QemuImgRequests.Build(volume with { Target = volume.Target with { Path = scratch.Path } }, format, preallocMetadata: false), sourceIsLocal ? sourcePath : input.Path, sourceFormat)
                {
                    InputIsBlockDevice = source.Type == VolumeType.Block,
                };
                await QemuImgConvert.RunAsync(runner, request, cancellationToken).ConfigureAwait(false);
                await CopyLocalAsync(session, scratch.Open(), file, progress, cancellationToken).ConfigureAwait(false);
            }
            else if (sourceIsLocal)
            {
                using var handle = File.OpenHandle(sourcePath, FileMode.Open, FileAccess.Read);
                await CopyLocalAsync(session, handle, file, progress, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                await CopyWithinAsync(session, location.PathOf(sourceName!), sourcePath, file, progress, cancellationToken).ConfigureAwait(false);
            }

            // A raw copy takes the new capacity; libvirt's local clone also allocates it fully.
            if (format == StorageFileFormat.Raw)
            {
                var size = await session.RunAsync(_ => file.Stat().Size, "stat", cancellationToken).ConfigureAwait(false);
                if ((long)volume.Capacity > size)
                {
                    await session.RunAsync(_ => file.Truncate((long)volume.Capacity), "truncate", cancellationToken).ConfigureAwait(false);
                }
            }

            await session.RunAsync(_ => file.Sync(), "fsync", cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await session.CloseAsync(file).ConfigureAwait(false);
            await session.RunAsync(m => m.Unlink(path), "unlink", CancellationToken.None).ConfigureAwait(false);
            throw;
        }

        await session.CloseAsync(file).ConfigureAwait(false);
        return await session.RunAsync(m => GlusterScan.Rediscover(m, volume.Name), "stat", cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// libvirt's local resize for raw files (fallocate over the whole new capacity with --allocate, then
    /// ftruncate, fsync); a qcow2 image grown in place (<see cref="GlusterQcow2Grow"/>); other formats refused.
    /// </summary>
    public async Task ResizeAsync(IGlusterSession session, VolumeDefinition volume, ulong capacity, bool allocate, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(session);
        ArgumentNullException.ThrowIfNull(volume);
        var format = QemuImgRequests.FormatOf(volume.Target.Format);
        var path = location.PathOf(volume.Name);
        var uri = location.UriOf(volume.Name);
        if (format == StorageFileFormat.Raw)
        {
            var file = await session.RunAsync(m => m.Open(path, LibC.O_RDWR, uri), "open", cancellationToken).ConfigureAwait(false);
            try
            {
                if (allocate)
                {
                    await AllocateAsync(session, file, 0, (long)capacity, progress: null, cancellationToken).ConfigureAwait(false);
                }

                await session.RunAsync(_ => file.Truncate((long)capacity, "Failed to truncate file"), "truncate", cancellationToken).ConfigureAwait(false);
                await session.RunAsync(_ => file.Sync(), "fsync", cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                await session.CloseAsync(file).ConfigureAwait(false);
            }

            return;
        }

        if (allocate)
        {
            throw new VirtPoolException(VirErrorCode.OperationUnsupported, "preallocate is only supported for raw type volume");
        }

        // Never a replacement file (a new inode, owner root, an open client's writes lost, a name that
        // may be another volume's): qcow2 grows in place, other formats are refused untouched.
        if (format != StorageFileFormat.Qcow2)
        {
            throw VirtPoolException.NoSupport($"storage pool does not support changing the capacity of '{uri}': only raw and qcow2 volumes of gluster pools can be resized");
        }

        await GlusterQcow2Grow.GrowAsync(session, path, uri, volume.Capacity, capacity, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>A gluster file copied to a new local file, its holes left unwritten.</summary>
    private static async Task DownloadToAsync(IGlusterSession session, string path, string uri, string localPath, CancellationToken cancellationToken)
    {
        using var local = File.OpenHandle(localPath, FileMode.CreateNew, FileAccess.Write);
        _ = await GlusterVolumeData.DownloadAsync(session, path, uri, new LocalFileEndpoint(local), 0, 0, sparse: true, progress: null, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>libvirt's virStorageBackendGlusterVolDelete: a file unlinked, a folder removed (it must be empty); gone already is fine.</summary>
    public static async Task DeleteAsync(IGlusterSession session, GlusterLocation location, VolumeDefinition volume, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(session);
        ArgumentNullException.ThrowIfNull(location);
        ArgumentNullException.ThrowIfNull(volume);
        var path = location.PathOf(volume.Name);
        var uri = volume.Target.Path ?? location.UriOf(volume.Name);
        switch (volume.Type)
        {
            case VolumeType.Network:
                var errno = await session.RunAsync(m => m.Unlink(path), "unlink", cancellationToken).ConfigureAwait(false);
                if (errno is not (0 or Errno.ENOENT))
                {
                    throw VirtPoolException.System($"cannot remove gluster volume file '{uri}'", errno);
                }

                break;
            case VolumeType.NetDir:
                // libvirt 9.0 passes the URI to glfs_rmdir, which never names a folder, and takes the
                // ENOENT for success: the folder stays. Here the folder's own path is removed.
                var dirErrno = await session.RunAsync(m => m.RemoveDirectory(path), "rmdir", cancellationToken).ConfigureAwait(false);
                if (dirErrno is not (0 or Errno.ENOENT))
                {
                    throw VirtPoolException.System($"cannot remove gluster volume dir '{uri}'", dirErrno);
                }

                break;
            default:
                throw VirtPoolException.NoSupport($"removing of '{volume.Type.ToName()}' volumes is not supported by the gluster backend: {uri}");
        }
    }

    private static GlusterFile Reserve(GlusterMount mount, VolumeDefinition volume, string path, string uri, uint mode)
    {
        GlusterFile file;
        try
        {
            file = mount.CreateExclusive(path, mode, uri);
        }
        catch (VirtPoolException) when (mount.TryLStat(path, out _, out _))
        {
            throw VirtPoolException.InvalidOperation($"volume target path '{uri}' already exists");
        }

        var perms = volume.Target.Permissions;
        if (perms.Owner is not null || perms.Group is not null)
        {
            var errno = mount.SetOwnerAndMode(path, perms.Owner, perms.Group, mode);
            if (errno != 0)
            {
                file.Dispose();
                mount.Unlink(path);
                throw VirtPoolException.System($"cannot chown '{uri}' to ({perms.Owner?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "-1"}, {perms.Group?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "-1"})", errno);
            }
        }

        return file;
    }

    private static void MakeDirectory(GlusterMount mount, VolumeDefinition volume, string path, string uri, uint mode)
    {
        if (GfapiNative.MkDir(mount.Handle, path, mode) < 0)
        {
            var errno = GlusterMount.Errno(GfapiNative.LastErrno);
            throw errno == Errno.EEXIST
                ? VirtPoolException.InvalidOperation($"volume target path '{uri}' already exists")
                : VirtPoolException.System($"cannot create path '{uri}'", errno);
        }

        var perms = volume.Target.Permissions;
        if (perms.Owner is not null || perms.Group is not null)
        {
            _ = mount.SetOwnerAndMode(path, perms.Owner, perms.Group, mode);
        }
    }

    private static async Task AllocateAsync(IGlusterSession session, GlusterFile file, long offset, long length, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        for (var done = 0L; done < length;)
        {
            var n = Math.Min(AllocateChunk, length - done);
            var at = offset + done;
            await session.RunAsync(_ => file.Allocate(at, n), "fallocate", cancellationToken).ConfigureAwait(false);
            done += n;
            progress?.Report(done);
        }
    }

    /// <summary>The image qemu-img would write for the volume, into a local scratch file: natively for the qcow2 shapes the writer covers.</summary>
    private async Task BuildImageAsync(VolumeDefinition volume, StorageFileFormat format, string scratchPath, CancellationToken cancellationToken)
    {
        var request = QemuImgRequests.Build(volume with { Target = volume.Target with { Path = scratchPath } }, format, preallocMetadata: false);
        if (format == StorageFileFormat.Qcow2 && Qcow2CreateOptions.FromRequest(request, _ => null) is { } options)
        {
            using var handle = File.OpenHandle(scratchPath, FileMode.CreateNew, FileAccess.ReadWrite);
            if (Qcow2Writer.TryWrite(handle, options))
            {
                return;
            }
        }

        File.Delete(scratchPath);
        await QemuImgCreate.RunAsync(runner, request, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>A local file's data extents written into the gluster file at the same offsets; its size taken over (holes stay holes).</summary>
    private static async Task CopyLocalAsync(IGlusterSession session, SafeFileHandle source, GlusterFile target, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        using (source)
        {
            var size = DataExtents.GetSize(source);
            var buffer = GlusterVolumeData.TransferBuffer(GlusterVolumeData.Chunk);
            var copied = 0L;
            foreach (var segment in DataExtents.Enumerate(source, 0, size, ZeroScan.Never))
            {
                if (segment.IsHole)
                {
                    continue;
                }

                for (var at = segment.Offset; at < segment.End;)
                {
                    var n = RandomAccess.Read(source, buffer.AsSpan(0, (int)Math.Min(GlusterVolumeData.Chunk, segment.End - at)), at);
                    if (n <= 0)
                    {
                        throw VirtPoolException.System($"failed reading from file '{target.Name}'", Errno.EIO);
                    }

                    var where = at;
                    await session.RunAsync(_ => target.WriteFully(buffer.AsSpan(0, n), where), "write", cancellationToken).ConfigureAwait(false);
                    at += n;
                    copied += n;
                    progress?.Report(copied);
                }
            }

            await session.RunAsync(_ => target.Truncate(size), "truncate", cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Another file of the same gluster volume, data extents only.</summary>
    private static async Task CopyWithinAsync(IGlusterSession session, string sourcePath, string sourceUri, GlusterFile target, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        var source = await session.RunAsync(m => m.Open(sourcePath, LibC.O_RDONLY, sourceUri), "open", cancellationToken).ConfigureAwait(false);
        var buffer = GlusterVolumeData.TransferBuffer(GlusterVolumeData.Chunk);
        try
        {
            var end = await session.RunAsync(_ => source.Stat().Size, "stat", cancellationToken).ConfigureAwait(false);
            var copied = 0L;
            for (var pos = 0L; pos < end;)
            {
                var at = pos;
                var data = await session.RunAsync(_ => source.NextData(at, end), "seek", cancellationToken).ConfigureAwait(false);
                if (data is null)
                {
                    break;
                }

                for (pos = data.Value.Start; pos < data.Value.End;)
                {
                    var want = (int)Math.Min(GlusterVolumeData.Chunk, data.Value.End - pos);
                    var from = pos;
                    var n = await session.RunAsync(
                        _ =>
                        {
                            var got = source.ReadFully(buffer.AsSpan(0, want), from);
                            target.WriteFully(buffer.AsSpan(0, got), from);
                            return got;
                        },
                        "copy",
                        cancellationToken).ConfigureAwait(false);
                    if (n == 0)
                    {
                        break;
                    }

                    pos += n;
                    copied += n;
                    progress?.Report(copied);
                }
            }

            await session.RunAsync(_ => target.Truncate(end), "truncate", cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            await session.CloseAsync(source).ConfigureAwait(false);
        }
    }

    /// <summary>A private scratch folder on this host for an image built before it is copied over gfapi; removed with what it holds.</summary>
    private sealed class ScratchImage : IDisposable
    {
        private readonly string _folder = Directory.CreateTempSubdirectory("virtpool-gluster-").FullName;

        public string Path => System.IO.Path.Combine(_folder, "image");

        public SafeFileHandle Open() => File.OpenHandle(Path, FileMode.Open, FileAccess.Read);

        public void Dispose() => Directory.Delete(_folder, recursive: true);
    }
}
