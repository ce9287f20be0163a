using System.Runtime.InteropServices;
using VirtPool.Core.Interop;
using VirtPool.Core.Model;

namespace VirtPool.Backends.Rbd;

/// <summary>An image as rbd_list2 names it: its id (empty for an old format 1 image) and name.</summary>
internal readonly record struct RbdImageName(string Id, string Name);

/// <summary>
/// What a refresh knows of an image without opening it: the versions of its header object and of
/// its object map. RADOS bumps an object's version with every write to it, so a resize, a snapshot or
/// a feature change (the header) and a newly allocated or discarded object (the map) all show here.
/// </summary>
internal readonly record struct RbdImageVersion(ulong Header, ulong ObjectMap)
{
    /// <summary>Unknown (an old format image, a failed stat): the image is read again.</summary>
    public static RbdImageVersion Unknown { get; } = new(0, 0);

    public bool IsKnown => Header != 0;
}

/// <summary>
/// libvirt's refreshPool steps, each one blocking librados/librbd work on a connection: the sizes, the
/// image names, then (the addition) the image versions and the descriptions of the images whose
/// versions changed, many at a time through librados's and librbd's asynchronous calls.
/// </summary>
internal static unsafe class RbdListing
{
    /// <summary>libvirt's pool sizes: the cluster's kb and kb_avail (×1024) and the pool's num_bytes.</summary>
    public static PoolSizes ReadSizes(RbdCluster cluster)
    {
        var rc = RadosNative.ClusterStat(cluster.Cluster, out var clusterStats);
        if (rc < 0)
        {
            throw new RbdException("failed to stat the RADOS cluster", rc);
        }

        RadosNative.PoolStats poolStats;
        rc = RadosNative.PoolStat(cluster.Ioctx, &poolStats);
        if (rc < 0)
        {
            throw new RbdException($"failed to stat the RADOS pool '{cluster.PoolName}'", rc);
        }

        return new PoolSizes(clusterStats.Kb * 1024, poolStats.NumBytes, clusterStats.KbAvail * 1024);
    }

    /// <summary>The images by name (rbd_list2, as libvirt lists them), with their ids.</summary>
    public static List<RbdImageName> ListImages(RbdCluster cluster)
    {
        nuint max = 64;
        while (true)
        {
            var specs = new RbdNative.ImageSpec[(int)max];
            fixed (RbdNative.ImageSpec* p = specs)
            {
                var rc = RbdNative.List2(cluster.Ioctx, p, ref max);
                if (rc == -RbdErrno.ERANGE)
                {
                    continue;
                }

                if (rc < 0)
                {
                    throw new RbdException("Unable to list RBD images", rc);
                }

                var names = new List<RbdImageName>((int)max);
                for (var i = 0; i < (int)max; i++)
                {
                    names.Add(new RbdImageName(RbdNative.Utf8(p[i].Id) ?? string.Empty, RbdNative.Utf8(p[i].Name) ?? string.Empty));
                }

                RbdNative.ImageSpecListCleanup(p, max);
                return names;
            }
        }
    }

    /// <summary>
    /// The versions of images[start..start+count): an asynchronous stat of rbd_header.ID each, and of
    /// rbd_object_map.ID when the allocation comes from it, all sent before any is waited for. A
    /// missing object map (no object-map feature) is version 0; a failed header stat leaves the image
    /// <see cref="RbdImageVersion.Unknown"/>.
    /// </summary>
    public static void ReadVersions(RbdCluster cluster, IReadOnlyList<RbdImageName> images, int start, int count, bool withObjectMap, RbdImageVersion[] into)
    {
        var completions = new nint[count * 2];
        var sizes = (ulong*)NativeMemory.Alloc((nuint)(count * 2), sizeof(ulong));
        var times = (long*)NativeMemory.Alloc((nuint)(count * 2), sizeof(long));
        try
        {
            for (var i = 0; i < count; i++)
            {
                var id = images[start + i].Id;
                if (id.Length == 0)
                {
                    continue;
                }

                completions[2 * i] = Stat(cluster, "rbd_header." + id, sizes + (2 * i), times + (2 * i));
                if (withObjectMap)
                {
                    completions[(2 * i) + 1] = Stat(cluster, "rbd_object_map." + id, sizes + (2 * i) + 1, times + (2 * i) + 1);
                }
            }

            for (var i = 0; i < count; i++)
            {
                var header = Finish(completions[2 * i]);
                var map = withObjectMap ? Finish(completions[(2 * i) + 1]) : 0;
                into[start + i] = header is { } h && map is not null ? new RbdImageVersion(h, map.Value) : RbdImageVersion.Unknown;
                completions[2 * i] = 0;
                completions[(2 * i) + 1] = 0;
            }
        }
        finally
        {
            foreach (var completion in completions)
            {
                if (completion != 0)
                {
                    RadosNative.AioWaitForComplete(completion);
                    RadosNative.AioRelease(completion);
                }
            }

            NativeMemory.Free(sizes);
            NativeMemory.Free(times);
        }
    }

    /// <summary>
    /// Opens images read-only, all at once (rbd_aio_open_read_only), and describes each as libvirt's
    /// volStorageBackendRBDRefreshVolInfo does. An image that is gone or whose header times out is left
    /// out (null), as libvirt skips ENOENT and ETIMEDOUT; any other failure fails the refresh.
    /// </summary>
    public static VolumeDefinition?[] Describe(RbdCluster cluster, IReadOnlyList<string> names, bool allocationByDiff)
    {
        var count = names.Count;
        var handles = (nint*)NativeMemory.AllocZeroed((nuint)count, (nuint)sizeof(nint));
        var completions = new nint[count];
        var described = new VolumeDefinition?[count];
        try
        {
            for (var i = 0; i < count; i++)
            {
                completions[i] = RbdCompletion();
                var rc = RbdNative.AioOpenReadOnly(cluster.Ioctx, names[i], handles + i, null, completions[i]);
                if (rc < 0)
                {
                    RbdNative.AioRelease(completions[i]);
                    completions[i] = 0;
                    handles[i] = 0;
                    if (rc is not (-Errno.ENOENT or -RbdErrno.ETIMEDOUT))
                    {
                        throw new RbdException($"failed to open the RBD image '{names[i]}'", rc);
                    }
                }
            }

            RbdException? failure = null;
            for (var i = 0; i < count; i++)
            {
                if (completions[i] == 0)
                {
                    continue;
                }

                RbdNative.AioWaitForComplete(completions[i]);
                var rc = (int)RbdNative.AioGetReturnValue(completions[i]);
                RbdNative.AioRelease(completions[i]);
                completions[i] = 0;
                if (rc < 0)
                {
                    // A failed asynchronous open frees the image itself.
                    handles[i] = 0;
                    if (rc is not (-Errno.ENOENT or -RbdErrno.ETIMEDOUT))
                    {
                        failure ??= new RbdException($"failed to open the RBD image '{names[i]}'", rc);
                    }

                    continue;
                }

                if (failure is not null)
                {
                    continue;
                }

                using var image = RbdImage.Adopt(handles[i], names[i]);
                handles[i] = 0;
                try
                {
                    described[i] = DescribeOpen(cluster.PoolName, image, allocationByDiff);
                }
                catch (RbdException ex) when (ex.Errno is Errno.ENOENT or RbdErrno.ETIMEDOUT)
                {
                    described[i] = null;
                }
                catch (RbdException ex)
                {
                    failure = ex;
                }
            }

            return failure is null ? described : throw failure;
        }
        finally
        {
            for (var i = 0; i < count; i++)
            {
                if (completions[i] != 0)
                {
                    RbdNative.AioWaitForComplete(completions[i]);
                    var rc = (int)RbdNative.AioGetReturnValue(completions[i]);
                    RbdNative.AioRelease(completions[i]);
                    if (rc >= 0 && handles[i] != 0)
                    {
                        RbdNative.Close(handles[i]);
                    }
                }
                else if (handles[i] != 0)
                {
                    RbdNative.Close(handles[i]);
                }
            }

            NativeMemory.Free(handles);
        }
    }

    /// <summary>
    /// libvirt's volStorageBackendRBDRefreshVolInfo: capacity = the image's size; allocation = what
    /// rbd_diff_iterate2 finds by whole objects when the pool asks for it (&lt;refresh&gt;&lt;volume
    /// allocation='default'/&gt;) and the fast-diff map is valid, else objects × object size.
    /// </summary>
    public static VolumeDefinition DescribeOpen(string poolName, RbdImage image, bool allocationByDiff)
    {
        var info = image.Stat();
        var allocation = allocationByDiff && image.UsesFastDiff()
            ? image.AllocatedBytes(info.Size)
            : info.ObjectSize * info.ObjectCount;
        return Volume(poolName, image.Name, info.Size, allocation);
    }

    public static VolumeDefinition Volume(string poolName, string name, ulong capacity, ulong allocation) => new()
    {
        Name = name,
        Key = $"{poolName}/{name}",
        Type = VolumeType.Network,
        Capacity = capacity,
        HasCapacity = true,
        Allocation = allocation,
        Target = new VolumeTarget { Path = $"{poolName}/{name}", Format = "raw" },
    };

    private static nint Stat(RbdCluster cluster, string objectName, ulong* size, long* mtime)
    {
        var rc = RadosNative.AioCreateCompletion(0, 0, out var completion);
        if (rc < 0)
        {
            throw new RbdException("failed to create a RADOS completion", rc);
        }

        rc = RadosNative.AioStat(cluster.Ioctx, objectName, completion, size, mtime);
        if (rc < 0)
        {
            RadosNative.AioRelease(completion);
            return 0;
        }

        return completion;
    }

    /// <summary>The object's version; 0 when it does not exist; null when the stat failed otherwise (or was never sent).</summary>
    private static ulong? Finish(nint completion)
    {
        if (completion == 0)
        {
            return null;
        }

        RadosNative.AioWaitForComplete(completion);
        var rc = RadosNative.AioGetReturnValue(completion);
        var version = RadosNative.AioGetVersion(completion);
        RadosNative.AioRelease(completion);
        return rc switch
        {
            >= 0 => version,
            -Errno.ENOENT => 0,
            _ => null,
        };
    }

    private static nint RbdCompletion()
    {
        var rc = RbdNative.AioCreateCompletion(0, 0, out var completion);
        return rc < 0 ? throw new RbdException("failed to create an RBD completion", rc) : completion;
    }
}

/// <summary>The errno values that say the cluster, not the call, failed (Linux numbering).</summary>
internal static class RbdErrno
{
    public const int ERANGE = 34;
    public const int ENOTCONN = 107;
    public const int ESHUTDOWN = 108;
    public const int ETIMEDOUT = 110;
    public const int ECONNREFUSED = 111;

    public static bool MeansConnectionLost(int errno) => errno is ENOTCONN or ESHUTDOWN or ETIMEDOUT or ECONNREFUSED;
}
