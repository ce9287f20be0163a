using VirtPool.Core.Errors;
using VirtPool.Core.Interop;
using VirtPool.Core.Model;
using VirtPool.Core.Process;
using VirtPool.Formats;

namespace VirtPool.Backends.Local;

/// <summary>
/// What a local volume is, read natively: one open, fstat and pread. Files and folders (ploop folders by
/// their image) as libvirt's file pools see them; block devices sized as libvirt sizes them
/// (virStorageSourceUpdateBackingSizes: capacity, allocation and physical are all the device's size).
/// </summary>
internal static class LocalVolumeProbe
{
    /// <summary>
    /// Why a volume's file could not be probed, in libvirt's words (virStorageBackendVolOpen): a file
    /// that is gone means the volume is gone (VIR_ERR_NO_STORAGE_VOL), anything else is a system error.
    /// </summary>
    internal static VirtPoolException Unprobeable(string path)
    {
        if (!FileStat.TryLStat(path, out var st, out var errno))
        {
            return errno == Errno.ENOENT
                ? new VirtPoolException(VirErrorCode.NoStorageVol, $"no storage vol with matching path '{path}'")
                : VirtPoolException.System($"cannot stat file '{path}'", errno);
        }

        if ((st.Mode & 0xF000) is 0x1000 or 0xC000)
        {
            return VirtPoolException.Internal($"Volume path '{path}' is a {((st.Mode & 0xF000) == 0x1000 ? "FIFO" : "socket")}");
        }

        // It exists but is no file, folder or block device, or cannot be opened (permissions, a
        // dangling link), or has vanished just now.
        var fd = LibC.Open(path, LibC.O_RDONLY | LibC.O_NOCTTY | LibC.O_CLOEXEC | LibC.O_NONBLOCK, 0);
        if (fd >= 0)
        {
            LibC.Close(fd);
            return VirtPoolException.Internal($"unexpected storage mode for '{path}'");
        }

        var openErrno = LibC.Errno;
        return openErrno == Errno.ENOENT
            ? new VirtPoolException(VirErrorCode.NoStorageVol, $"no storage vol with matching path '{path}'")
            : VirtPoolException.System($"cannot open volume '{path}'", openErrno);
    }

    /// <summary>One open + fstat + pread: what the volume is, without qemu-img.</summary>
    public static VolumeDefinition? Probe(string path, string name, byte[] buffer)
    {
        var fd = LibC.Open(path, LibC.O_RDONLY | LibC.O_NOCTTY | LibC.O_CLOEXEC | LibC.O_NONBLOCK, 0);
        if (fd < 0)
        {
            // Dangling symlinks and unreadable entries are skipped, as libvirt does.
            return null;
        }

        try
        {
            if (!FileStat.TryFStat(fd, out var st, out _))
            {
                return null;
            }

            if (st.IsDirectory)
            {
                // libvirt reports directories with capacity 0, ploop directories by their image.
                return IsPloopDirectory(path)
                    ? ProbePloop(path, name, buffer)
                    : Describe(path, name, st, VolumeType.Dir, new ImageInfo { Format = StorageFileFormat.Dir, Capacity = 0 });
            }

            if (!st.IsRegular && !st.IsBlockDevice)
            {
                return null;
            }

            // st_size of a device node is 0: its size is asked of the device. A node in a file pool's
            // directory stays a file volume, as libvirt's refresh has it.
            var size = st.IsBlockDevice ? BlockDevice.SizeOrZero(fd) : st.Size;
            var read = ReadHeader(fd, buffer);
            var info = read > 0
                ? ImageProbe.Probe(buffer.AsSpan(0, (int)read), (ulong)size)
                : new ImageInfo { Format = StorageFileFormat.Raw, Capacity = (ulong)size };
            return Describe(path, name, st, VolumeType.File, info, size);
        }
        finally
        {
            LibC.Close(fd);
        }
    }

    /// <summary>
    /// A block volume as libvirt's refresh sizes it (virStorageSourceUpdateBackingSizes): capacity,
    /// allocation and physical are the device's size, less the LUKS payload offset for an encrypted
    /// volume whose device holds a LUKS header (virStorageSourceUpdateCapacity); owner, mode and times
    /// from the node. Format, encryption and the rest stay what the pool type gave the volume.
    /// </summary>
    public static VolumeDefinition DescribeDevice(VolumeDefinition volume)
    {
        var path = volume.Target.Path ?? throw VirtPoolException.Internal($"volume '{volume.Name}' has no path");
        var fd = LibC.Open(path, LibC.O_RDONLY | LibC.O_NOCTTY | LibC.O_CLOEXEC | LibC.O_NONBLOCK, 0);
        if (fd < 0)
        {
            throw Unprobeable(path);
        }

        try
        {
            if (!FileStat.TryFStat(fd, out var st, out var errno))
            {
                throw VirtPoolException.System($"cannot stat file '{path}'", errno);
            }

            if (!st.IsBlockDevice)
            {
                throw VirtPoolException.Internal($"unexpected storage mode for '{path}'");
            }

            var size = (ulong)BlockDevice.Size(fd, path);
            var capacity = size;
            if (volume.Target.Encryption is not null)
            {
                var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(ImageProbe.HeaderBytes);
                try
                {
                    var read = ReadHeader(fd, buffer);
                    var info = read > 0 ? ImageProbe.Probe(buffer.AsSpan(0, read), size) : null;
                    if (info is { EncryptionFormat: "luks" })
                    {
                        capacity = info.Capacity;
                    }
                }
                finally
                {
                    System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
                }
            }

            return volume with
            {
                Type = VolumeType.Block,
                Key = volume.Key ?? path,
                Capacity = capacity,
                Allocation = size,
                Physical = size,
                Target = volume.Target with
                {
                    Permissions = new Permissions { Mode = st.Mode & VolumeOwnership.PermissionBits, Owner = st.Uid, Group = st.Gid, Label = volume.Target.Permissions.Label },
                    Timestamps = Timestamps(st),
                },
            };
        }
        finally
        {
            LibC.Close(fd);
        }
    }

    /// <summary>virStorageBackendIsPloopDir: a folder holding a ploop image and its descriptor.</summary>
    private static bool IsPloopDirectory(string path)
        => File.Exists(Path.Combine(path, PloopImage)) && File.Exists(Path.Combine(path, PloopDescriptor));

    /// <summary>
    /// virStorageBackendRedoPloopUpdate: a ploop volume is its folder, described by its image (size,
    /// allocation, owner, times), format ploop; libvirt 9.0 still calls it a file volume.
    /// </summary>
    private static VolumeDefinition? ProbePloop(string path, string name, byte[] buffer)
    {
        var fd = LibC.Open(Path.Combine(path, PloopImage), LibC.O_RDONLY | LibC.O_NOCTTY | LibC.O_CLOEXEC | LibC.O_NONBLOCK, 0);
        if (fd < 0)
        {
            return null;
        }

        try
        {
            if (!FileStat.TryFStat(fd, out var st, out _) || !st.IsRegular)
            {
                return null;
            }

            var read = ReadHeader(fd, buffer);
            var info = read > 0 ? ImageProbe.Probe(buffer.AsSpan(0, read), (ulong)st.Size) : new ImageInfo { Capacity = (ulong)st.Size };
            return Describe(path, name, st, VolumeType.File, info with { Format = StorageFileFormat.Ploop, Capacity = (ulong)st.Size });
        }
        finally
        {
            LibC.Close(fd);
        }
    }

    /// <summary>
    /// libvirt drives ploop volumes with the ploop tools, which Debian does not ship; without them it
    /// refuses every data operation on one with this message. VirtPool does not drive them at all.
    /// </summary>
    internal static void RefusePloop(VolumeDefinition volume, string messageWithoutTools)
    {
        if (volume.Target.Format != "ploop")
        {
            return;
        }

        throw ExternalTools.Find("ploop") is null
            ? VirtPoolException.Internal(messageWithoutTools)
            : VirtPoolException.NoSupport("VirtPool does not drive the ploop tools: ploop volumes are read-only here");
    }

    internal const string PloopToolMissing = "unable to find ploop, please install ploop tools";

    internal const string PloopImage = "root.hds";

    private const string PloopDescriptor = "DiskDescriptor.xml";

    /// <summary>The header, as much of it as the file has; a read error counts as an empty header (raw).</summary>
    public static int ReadHeader(int fd, byte[] buffer) => Math.Max(0, LibC.PReadFully(fd, buffer.AsSpan(0, ImageProbe.HeaderBytes), 0));

    public static VolumeTimestamps Timestamps(FileStat st)
        => new(new TimeSpec(st.ATimeSec, st.ATimeNsec), new TimeSpec(st.MTimeSec, st.MTimeNsec), new TimeSpec(st.CTimeSec, st.CTimeNsec));

    /// <param name="deviceSize">For a block device, its size (BLKGETSIZE64); ignored for anything else.</param>
    public static VolumeDefinition Describe(string path, string name, FileStat st, VolumeType type, ImageInfo info, long deviceSize = 0)
    {
        // virStorageSourceUpdateBackingSizes: a folder has no size at all (no allocation, no <physical>); a
        // block device is taken as fully allocated, so allocation and physical are its size.
        var (allocation, physical) = st.IsDirectory ? (0UL, 0UL)
            : st.IsBlockDevice ? ((ulong)deviceSize, (ulong)deviceSize)
            : ((ulong)st.AllocatedBytes, (ulong)st.Size);
        return new VolumeDefinition
        {
            Name = name,
            Key = path,
            Type = type,
            Capacity = info.Capacity,
            Allocation = allocation,
            Physical = physical,
            Target = new VolumeTarget
            {
                Path = path,
                Format = info.Format.ToName(),
                Compat = info.Compat,
                ClusterSize = info.ClusterSize,
                Permissions = new Permissions { Mode = st.Mode & VolumeOwnership.PermissionBits, Owner = st.Uid, Group = st.Gid },
                Timestamps = Timestamps(st),
                Features = new VolumeFeatures { LazyRefcounts = info.LazyRefcounts, ExtendedL2 = info.ExtendedL2 },
                // As libvirt's probe: the header names the encryption format only, no secret.
                Encryption = EncryptionNames.TryParse(info.EncryptionFormat, out EncryptionFormat encryption)
                    ? new EncryptionDefinition { Format = encryption }
                    : null,
            },
            BackingStore = info.BackingStore is null
                ? null
                : new VolumeBackingStore { Path = info.BackingStore, Format = info.BackingFormat?.ToName() },
        };
    }
}
