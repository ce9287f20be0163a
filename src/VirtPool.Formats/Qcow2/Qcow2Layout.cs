namespace VirtPool.Formats.Qcow2;

/// <summary>
/// Where qemu-img 7.2 puts every cluster of a new qcow2 image, found by replaying its allocator
/// (block/qcow2-refcount.c, qcow2-cluster.c, qcow2.c) on a model: which clusters have refcount 1, the
/// refcount table, the L1 table and the guest-to-host mapping of preallocated clusters. Contents are
/// produced afterwards from the final state; only the set of regions qemu writes is recorded, since
/// holes depend on it.
/// </summary>
/// <remarks>
/// The model follows the C closely, including update_refcount's undo and retry on -EAGAIN after a new
/// refcount block was placed, because that decides where later clusters land. Growing the refcount
/// table is not modelled: <see cref="Plan"/> returns null when qemu would have to.
/// </remarks>
internal sealed class Qcow2Layout
{
    /// <summary>QCOW_OFLAG_COPIED: refcount is exactly one.</summary>
    public const ulong OflagCopied = 1UL << 63;

    /// <summary>QCOW_MAX_L1_SIZE / sizeof(uint64_t).</summary>
    public const long MaxL1Entries = 32L * 1024 * 1024 / 8;

    /// <summary>BDRV_REQUEST_MAX_BYTES: the largest single request qcow2 allocates for.</summary>
    private const long RequestMaxBytes = int.MaxValue & ~511L;

    private const long Invalid = -1;

    private readonly ClusterSet allocated = new();
    private readonly List<long> refblockClusters = [];
    private readonly List<(long Guest, long Host, long Count)> mappings = [];
    private readonly List<(long L1Index, long Cluster)> l2Tables = [];
    private readonly List<(long Offset, long Length)> zeroWrites = [];
    private readonly bool extendedL2;
    private long freeClusterIndex;

    private Qcow2Layout(Qcow2CreateOptions options)
    {
        ClusterBits = System.Numerics.BitOperations.Log2(options.ClusterSize);
        ClusterSize = options.ClusterSize;
        L2Entries = ClusterSize / (options.ExtendedL2 ? 16 : 8);
        RefblockEntries = ClusterSize / 2;
        Reftable = new long[ClusterSize / 8];
        L1Size = L1EntriesFor(options);
        extendedL2 = options.ExtendedL2;
    }

    private sealed class ReftableGrowthException : Exception
    {
    }

    public int ClusterBits { get; }

    public long ClusterSize { get; }

    public long L2Entries { get; }

    /// <summary>Refcounts per refcount block (16-bit refcounts).</summary>
    public long RefblockEntries { get; }

    /// <summary>Byte offsets of the refcount blocks; one cluster at cluster 1.</summary>
    public long[] Reftable { get; }

    public long L1Size { get; }

    public long L1Offset { get; private set; }

    /// <summary>Refcount blocks in the order qemu wrote them (cluster indices), the first being cluster 2.</summary>
    public IReadOnlyList<long> RefblockClusters => refblockClusters;

    /// <summary>L2 tables: L1 index and cluster index, in allocation (and guest) order.</summary>
    public IReadOnlyList<(long L1Index, long Cluster)> L2Tables => l2Tables;

    /// <summary>Preallocated data: runs of guest clusters mapped to contiguous host clusters, in guest order.</summary>
    public IReadOnlyList<(long Guest, long Host, long Count)> Mappings => mappings;

    /// <summary>Regions qemu wrote zeros to (copy-on-write of preallocated clusters), by byte offset.</summary>
    public IReadOnlyList<(long Offset, long Length)> ZeroWrites => zeroWrites;

    /// <summary>Clusters with refcount 1.</summary>
    public ClusterSet Allocated => allocated;

    /// <summary>The file's final length.</summary>
    public long FileLength { get; private set; }

    /// <summary>size_to_l1: the L1 entries qemu gives an image of this size (exact_size growth).</summary>
    public static long L1EntriesFor(Qcow2CreateOptions options)
    {
        var clusterBits = System.Numerics.BitOperations.Log2(options.ClusterSize);
        var l2Bits = clusterBits - (options.ExtendedL2 ? 4 : 3);
        var shift = clusterBits + l2Bits;
        var entries = options.Capacity >> shift;
        if ((options.Capacity & ((1UL << shift) - 1)) != 0)
        {
            entries++;
        }

        return entries > MaxL1Entries ? MaxL1Entries + 1 : (long)entries;
    }

    /// <summary>The image's layout, or null when qemu would need a layout this model does not produce.</summary>
    public static Qcow2Layout? Plan(Qcow2CreateOptions options)
    {
        var layout = new Qcow2Layout(options);
        if (layout.L1Size > MaxL1Entries || !layout.MightFit(options))
        {
            return null;
        }

        try
        {
            layout.Run(options);
        }
        catch (ReftableGrowthException)
        {
            return null;
        }

        return layout;
    }

    /// <summary>Cheap early refusal of images whose refcounts cannot fit in one refcount table cluster.</summary>
    private bool MightFit(Qcow2CreateOptions options)
    {
        var covered = Reftable.Length * RefblockEntries;
        var l1Clusters = ((L1Size * 8) + ClusterSize - 1) / ClusterSize;
        var needed = 3 + l1Clusters;
        if (options.PreallocMetadata)
        {
            var dataClusters = (long)((options.Capacity + (ulong)ClusterSize - 1) >> ClusterBits);
            needed += dataClusters + ((dataClusters + L2Entries - 1) / L2Entries);
        }

        return needed < covered;
    }

    private void Run(Qcow2CreateOptions options)
    {
        // qcow2_co_create: header, a one-cluster refcount table and one refcount block, then opening the
        // image and allocating those three clusters.
        Reftable[0] = 2 * ClusterSize;
        refblockClusters.Add(2);
        FileLength = 3 * ClusterSize;
        AllocClusters(3 * ClusterSize);

        // qcow2_co_truncate: qcow2_grow_l1_table with the exact size, writing the (zero) table.
        if (L1Size > 0)
        {
            L1Offset = AllocClusters(L1Size * 8);
            FileLength = Math.Max(FileLength, L1Offset + (L1Size * 8));
        }

        if (options.PreallocMetadata)
        {
            Preallocate((long)options.Capacity);
        }
    }

    /// <summary>preallocate_co from 0 to <paramref name="length"/>.</summary>
    private void Preallocate(long length)
    {
        var offset = 0L;
        var bytes = length;
        var hostOffset = 0L;
        var curBytes = 0L;
        while (bytes > 0)
        {
            curBytes = Math.Min(bytes, int.MaxValue & ~(ClusterSize - 1));
            hostOffset = AllocHostOffset(offset, ref curBytes);
            bytes -= curBytes;
            offset += curBytes;
        }

        // The file is extended (as a hole) to the end of the last data allocation.
        FileLength = Math.Max(FileLength, hostOffset + curBytes);
    }

    /// <summary>qcow2_alloc_host_offset for a fresh image (nothing is ever already allocated there).</summary>
    private long AllocHostOffset(long offset, ref long bytes)
    {
        var start = offset;
        var remaining = bytes;
        var clusterOffset = Invalid;
        var hostOffset = Invalid;
        var curBytes = 0L;
        while (true)
        {
            if (hostOffset == Invalid && clusterOffset != Invalid)
            {
                hostOffset = clusterOffset;
            }

            start += curBytes;
            remaining -= curBytes;
            if (clusterOffset != Invalid)
            {
                clusterOffset += curBytes;
            }

            if (remaining == 0)
            {
                break;
            }

            curBytes = remaining;

            // handle_copied: only looks (allocating the L2 table on the way) and finds nothing to reuse.
            GetClusterTable(start);

            if (!HandleAlloc(start, ref clusterOffset, ref curBytes))
            {
                break;
            }
        }

        bytes -= remaining;
        return hostOffset;
    }

    private bool HandleAlloc(long guestOffset, ref long hostOffset, ref long bytes)
    {
        var inCluster = guestOffset & (ClusterSize - 1);
        var nbClusters = (inCluster + bytes + ClusterSize - 1) >> ClusterBits;
        var l2Index = (guestOffset >> ClusterBits) & (L2Entries - 1);
        nbClusters = Math.Min(nbClusters, L2Entries - l2Index);
        nbClusters = Math.Min(nbClusters, RequestMaxBytes >> ClusterBits);

        GetClusterTable(guestOffset);

        long allocOffset;
        if (hostOffset == Invalid)
        {
            allocOffset = AllocClusters(nbClusters * ClusterSize);
        }
        else
        {
            allocOffset = hostOffset & ~(ClusterSize - 1);
            nbClusters = AllocClustersAt(allocOffset >> ClusterBits, nbClusters);
        }

        if (nbClusters == 0)
        {
            bytes = 0;
            return false;
        }

        var nbBytes = Math.Min(bytes + inCluster, nbClusters << ClusterBits);
        hostOffset = allocOffset + inCluster;
        bytes = Math.Min(bytes, nbBytes - inCluster);

        // qcow2_alloc_cluster_link_l2 for the clusters the request touches.
        var linked = (inCluster + bytes + ClusterSize - 1) >> ClusterBits;
        AddMapping(guestOffset >> ClusterBits, allocOffset >> ClusterBits, linked);

        // perform_cow: the rest of a last, partly covered cluster is copied from the (absent) backing
        // file, i.e. zeros are written there; with subclusters only the rest of the last subcluster,
        // the others staying unallocated.
        var tail = (inCluster + bytes) & (ClusterSize - 1);
        if (tail != 0)
        {
            var subcluster = extendedL2 ? ClusterSize / 32 : ClusterSize;
            var to = (tail + subcluster - 1) / subcluster * subcluster;
            if (to > tail)
            {
                var lastCluster = allocOffset + ((linked - 1) << ClusterBits);
                zeroWrites.Add((lastCluster + tail, to - tail));
                FileLength = Math.Max(FileLength, lastCluster + to);
            }
        }

        return true;
    }

    private void AddMapping(long guest, long host, long count)
    {
        if (mappings.Count > 0)
        {
            var last = mappings[^1];
            if (last.Guest + last.Count == guest && last.Host + last.Count == host)
            {
                mappings[^1] = (last.Guest, last.Host, last.Count + count);
                return;
            }
        }

        mappings.Add((guest, host, count));
    }

    /// <summary>get_cluster_table: allocates the L2 table (l2_allocate) when the L1 entry is empty.</summary>
    private void GetClusterTable(long guestOffset)
    {
        var l1Index = guestOffset >> ClusterBits >> System.Numerics.BitOperations.Log2((ulong)L2Entries);
        if (l2Tables.Count > 0 && l2Tables[^1].L1Index >= l1Index)
        {
            return;
        }

        var l2Offset = AllocClusters(ClusterSize);
        l2Tables.Add((l1Index, l2Offset >> ClusterBits));
        FileLength = Math.Max(FileLength, l2Offset + ClusterSize);
    }

    /// <summary>qcow2_alloc_clusters.</summary>
    private long AllocClusters(long size)
    {
        var count = (size + ClusterSize - 1) >> ClusterBits;
        long first;
        do
        {
            first = AllocClustersNoref(count);
        }
        while (!UpdateRefcount(first, count));

        return first << ClusterBits;
    }

    /// <summary>qcow2_alloc_clusters_at: as many free clusters as there are from <paramref name="cluster"/>, up to <paramref name="count"/>.</summary>
    private long AllocClustersAt(long cluster, long count)
    {
        long free;
        do
        {
            var used = allocated.FirstIn(cluster, cluster + count);
            free = used < 0 ? count : used - cluster;
        }
        while (!UpdateRefcount(cluster, free));

        return free;
    }

    /// <summary>alloc_clusters_noref: the first run of <paramref name="count"/> free clusters from the free index.</summary>
    private long AllocClustersNoref(long count)
    {
        while (true)
        {
            var start = freeClusterIndex;
            var used = allocated.FirstIn(start, start + count);
            if (used < 0)
            {
                freeClusterIndex = start + count;
                return start;
            }

            freeClusterIndex = used + 1;
        }
    }

    /// <summary>update_refcount(+1); false is -EAGAIN, after undoing what it did, as the C does.</summary>
    private bool UpdateRefcount(long first, long count)
    {
        var end = first + count;
        var cluster = first;
        while (cluster < end)
        {
            var blockEnd = Math.Min(end, ((cluster / RefblockEntries) + 1) * RefblockEntries);
            if (!AllocRefcountBlock(cluster))
            {
                // The caller searches again from the same clusters, so the undone ones are reused.
                allocated.Remove(first, cluster - first);
                freeClusterIndex = Math.Min(freeClusterIndex, first);
                return false;
            }

            allocated.Add(cluster, blockEnd - cluster);
            cluster = blockEnd;
        }

        return true;
    }

    /// <summary>alloc_refcount_block: true when the block exists; false (-EAGAIN) after creating it.</summary>
    private bool AllocRefcountBlock(long clusterIndex)
    {
        var tableIndex = clusterIndex / RefblockEntries;
        if (tableIndex < Reftable.Length && Reftable[tableIndex] != 0)
        {
            return true;
        }

        var newBlock = AllocClustersNoref(1);
        if (newBlock / RefblockEntries == tableIndex)
        {
            if (tableIndex >= Reftable.Length)
            {
                throw new ReftableGrowthException();
            }

            // Describes itself.
            allocated.Add(newBlock, 1);
        }
        else if (!UpdateRefcount(newBlock, 1))
        {
            return false;
        }

        if (tableIndex >= Reftable.Length)
        {
            throw new ReftableGrowthException();
        }

        refblockClusters.Add(newBlock);
        FileLength = Math.Max(FileLength, (newBlock + 1) << ClusterBits);
        Reftable[tableIndex] = newBlock << ClusterBits;
        return false;
    }
}
