using VirtPool.Backends.Local;
using VirtPool.Core.Errors;
using VirtPool.Core.Interop;
using VirtPool.Core.State;

namespace VirtPool.Backends.Disk;

/// <summary>
/// The whole device of a disk pool: its table read natively (no tool run per refresh: libvirt runs
/// libvirt_parthelper twice), its partitions' device names, and the label wipe of build and delete.
/// </summary>
internal static class DiskDevice
{
    /// <summary>libvirt's virStorageBackendZeroPartitionTable: the first and last MiB.</summary>
    public const long LabelZeroBytes = 1024 * 1024;

    private const ulong BLKRRPART = 0x125F;

    public static bool Exists(string path) => File.Exists(path) || Directory.Exists(path) || FileStat.TryStat(path, out _, out _);

    /// <summary>The label on the device (libvirt's blkid probe); the open error in libvirt's words when it cannot be read.</summary>
    public static DiskLabel ProbeLabel(string path)
    {
        var fd = Open(path, LibC.O_RDONLY);
        try
        {
            // The GPT header is in the second *logical* sector: byte 4096 on a 4Kn disk, as libblkid looks.
            var sector = BlockDevice.SectorSize(fd);
            var mbr = new byte[PartitionTableReader.SectorSize];
            var gpt = new byte[PartitionTableReader.SectorSize];
            return LibC.PReadFully(fd, mbr, 0) < mbr.Length || LibC.PReadFully(fd, gpt, sector) < gpt.Length
                ? DiskLabel.None
                : PartitionTableReader.Probe(mbr, gpt);
        }
        finally
        {
            LibC.Close(fd);
        }
    }

    /// <summary>The device's table now; libvirt-style errors for a device that cannot be read or a malformed table.</summary>
    public static PartitionTable ReadTable(string path)
    {
        var fd = Open(path, LibC.O_RDONLY);
        try
        {
            if (BlockDevice.SectorSize(fd) != PartitionTableReader.SectorSize)
            {
                throw VirtPoolException.Unsupported($"device '{path}' has sectors of {BlockDevice.SectorSize(fd)} bytes: only 512-byte sectors are supported");
            }

            var sectors = BlockDevice.Size(fd, path) / PartitionTableReader.SectorSize;
            byte[]? ReadSector(long lba)
            {
                if (lba < 0 || lba >= sectors)
                {
                    return null;
                }

                var buffer = new byte[PartitionTableReader.SectorSize];
                return LibC.PReadFully(fd, buffer, lba * PartitionTableReader.SectorSize) == buffer.Length ? buffer : null;
            }

            if (!PartitionTableReader.TryRead(ReadSector, sectors, out var table, out var error))
            {
                throw VirtPoolException.Internal($"cannot read the partition table of '{path}': {error}");
            }

            return table!;
        }
        finally
        {
            LibC.Close(fd);
        }
    }

    /// <summary>
    /// The device node of partition <paramref name="number"/>, as libparted names it (and libvirt with
    /// it): a "p" between a device name ending in a digit and the number (loop0p1, nvme0n1p1), none
    /// otherwise (sdb1); part_separator='yes' forces the "p".
    /// </summary>
    public static string PartitionPath(string device, int number, bool? partSeparator)
    {
        var separator = partSeparator == true || (device.Length > 0 && char.IsAsciiDigit(device[^1])) ? "p" : string.Empty;
        return $"{device}{separator}{number}";
    }

    /// <summary>
    /// libvirt's virStorageBackendZeroPartitionTable (first and last MiB), then BLKRRPART so the kernel
    /// drops the partitions it knew (libvirt leaves their nodes behind); a device whose partitions are
    /// in use keeps them until it is free (EBUSY), the label is gone all the same.
    /// </summary>
    public static unsafe void ZeroLabel(string path, CancellationToken cancellationToken)
    {
        var fd = LibC.Open(path, LibC.O_WRONLY | LibC.O_CLOEXEC | LibC.O_NOCTTY, 0);
        if (fd < 0)
        {
            throw VirtPoolException.System($"Failed to open storage volume with path '{path}'", LibC.Errno);
        }

        try
        {
            var size = BlockDevice.Size(fd, path);
            var zeroing = new BlockDeviceZeroing(fd, path);
            var head = Math.Min(LabelZeroBytes, size);
            zeroing.Zero(0, head, deallocate: false, cancellationToken);
            var tailStart = Math.Max(head, size - LabelZeroBytes);
            if (tailStart < size)
            {
                zeroing.Zero(tailStart, size - tailStart, deallocate: false, cancellationToken);
            }

            if (LibC.FDataSync(fd) < 0)
            {
                throw VirtPoolException.System($"cannot sync data to file '{path}'", LibC.Errno);
            }

            LibC.Ioctl(fd, BLKRRPART, null);
        }
        finally
        {
            LibC.Close(fd);
        }
    }

    /// <summary>
    /// An exclusive BSD lock on the whole device (the convention udev and systemd honour) for one
    /// read-decide-write of the table: two creates in parallel (two CLI processes, or the daemon's
    /// requests) must not both take the same free extent or entry. Waits, cancellably, while another holds it.
    /// </summary>
    public static Task<IDisposable> LockTableAsync(string path, CancellationToken cancellationToken)
        => GatedFlock.AcquireAsync(Gates.GetOrAdd(path, static _ => new SemaphoreSlim(1, 1)), () => Open(path, LibC.O_RDONLY), path, cancellationToken);

    /// <summary>One in-process queue per device path this process has locked (a handful: the disk pools' devices).</summary>
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, SemaphoreSlim> Gates = new(StringComparer.Ordinal);

    private static int Open(string path, int flags)
    {
        var fd = LibC.Open(path, flags | LibC.O_CLOEXEC | LibC.O_NOCTTY, 0);
        if (fd < 0)
        {
            throw VirtPoolException.System($"Failed to open storage volume with path '{path}'", LibC.Errno);
        }

        return fd;
    }
}
