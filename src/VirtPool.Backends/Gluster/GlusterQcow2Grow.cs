using System.Buffers.Binary;
using VirtPool.Core.Errors;

namespace VirtPool.Backends.Gluster;

/// <summary>
/// Grows a qcow2 image on gluster in place, as qemu-img resize does when its L1 table needs no new
/// clusters: the header's virtual size (and, if more L1 entries are needed, its L1 size, the new
/// entries being the zero tail of the table's last cluster) is rewritten in one write. The file stays
/// the same file (inode, owner, an open client's descriptor); nothing is copied or replaced. Anything
/// this cannot do safely (a shrink, snapshots, encryption, a feature bit it does not know, an L1 table
/// that would need another cluster) is refused before the file is touched.
/// </summary>
internal static class GlusterQcow2Grow
{
    private const uint Magic = 0x514649fb;
    private const int SizeOffset = 24;
    private const int HeaderBytes = 104;

    /// <summary>qcow2 incompatible feature bit 3 (compression type) does not change the L1/L2 geometry.</summary>
    private const ulong GeometryNeutralFeatures = 1UL << 3;

    public static async Task GrowAsync(IGlusterSession session, string path, string uri, ulong oldCapacity, ulong capacity, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(session);
        if (capacity < oldCapacity)
        {
            throw Refused(uri, "shrinking a qcow2 image in place is not supported");
        }

        if (capacity % 512 != 0)
        {
            throw VirtPoolException.InvalidArg($"the new capacity of '{uri}' must be a multiple of 512 bytes");
        }

        var file = await session.RunAsync(m => m.Open(path, Core.Interop.LibC.O_RDWR, uri), "open", cancellationToken).ConfigureAwait(false);
        try
        {
            var header = GlusterVolumeData.TransferBuffer(HeaderBytes);
            var got = await session.RunAsync(_ => file.ReadFully(header, 0), "read", cancellationToken).ConfigureAwait(false);
            if (got < 72 || BinaryPrimitives.ReadUInt32BigEndian(header) != Magic)
            {
                throw Refused(uri, "the file is not a qcow2 image");
            }

            var version = BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(4));
            var clusterBits = BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(20));
            var size = BinaryPrimitives.ReadUInt64BigEndian(header.AsSpan(SizeOffset));
            var cryptMethod = BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(32));
            var l1Size = BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(36));
            var l1Offset = BinaryPrimitives.ReadUInt64BigEndian(header.AsSpan(40));
            var snapshots = BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(60));
            var incompatible = version >= 3 && got >= HeaderBytes ? BinaryPrimitives.ReadUInt64BigEndian(header.AsSpan(72)) : 0;
            if (version is not (2 or 3) || (version == 3 && got < HeaderBytes) || clusterBits is < 9 or > 21)
            {
                throw Refused(uri, $"qcow2 version {version} with cluster bits {clusterBits} is not supported");
            }

            if (cryptMethod != 0 || snapshots != 0 || (incompatible & ~GeometryNeutralFeatures) != 0)
            {
                throw Refused(uri, "the image is encrypted, has internal snapshots or uses qcow2 features a resize in place does not handle");
            }

            if (capacity <= size)
            {
                return;
            }

            // One L2 table maps cluster/8 clusters; the L1 table must hold an entry per L2 table.
            var cluster = 1UL << (int)clusterBits;
            var perL2 = cluster * (cluster / 8);
            var needed = (capacity + perL2 - 1) / perL2;
            var l1Room = (l1Size * 8UL + cluster - 1) / cluster * cluster / 8;
            if (needed > l1Room || needed > int.MaxValue / 8)
            {
                throw Refused(uri, $"growing it to {capacity} bytes needs a larger L1 table");
            }

            if (needed > l1Size)
            {
                // The entries taken into use must be unused (zero) in the table's last cluster.
                var tail = GlusterVolumeData.TransferBuffer((int)(needed - l1Size) * 8);
                var at = (long)(l1Offset + (l1Size * 8UL));
                var read = await session.RunAsync(_ => file.ReadFully(tail, at), "read", cancellationToken).ConfigureAwait(false);
                if (read != tail.Length || tail.AsSpan().ContainsAnyExcept((byte)0))
                {
                    throw Refused(uri, $"growing it to {capacity} bytes needs a larger L1 table");
                }
            }

            // size (8), crypt_method (4, unchanged), l1_size (4): one write, so the header is never half-updated.
            var update = GlusterVolumeData.TransferBuffer(16);
            BinaryPrimitives.WriteUInt64BigEndian(update, capacity);
            BinaryPrimitives.WriteUInt32BigEndian(update.AsSpan(8), cryptMethod);
            BinaryPrimitives.WriteUInt32BigEndian(update.AsSpan(12), (uint)Math.Max(needed, l1Size));
            await session.RunAsync(_ => file.WriteFully(update, SizeOffset), "write", cancellationToken).ConfigureAwait(false);
            await session.RunAsync(_ => file.Sync(), "fsync", cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            await session.CloseAsync(file).ConfigureAwait(false);
        }
    }

    /// <summary>libvirt 9.0's gluster backend cannot resize at all (VIR_ERR_NO_SUPPORT); VirtPool grows qcow2 in place only.</summary>
    private static VirtPoolException Refused(string uri, string why)
        => VirtPoolException.NoSupport($"storage pool does not support changing the capacity of '{uri}': {why}");
}
