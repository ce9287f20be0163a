using System.Runtime.InteropServices;
using VirtPool.Core.Errors;
using VirtPool.Core.Interop;
using VirtPool.Core.Model;

namespace VirtPool.Formats;

/// <summary>What a layer of a backing chain is.</summary>
public enum BackingLayerKind
{
    /// <summary>A regular file.</summary>
    File,

    /// <summary>A block device.</summary>
    Block,

    /// <summary>A directory (a dir or ploop volume, or a qemu "fat:" backing, which is never read).</summary>
    Directory,

    /// <summary>A network backing (nbd, rbd, gluster, iscsi, http..., json:): reported, never opened.</summary>
    Network,
}

/// <summary>One layer of a backing chain, as <see cref="BackingChain.Resolve"/> found it.</summary>
public sealed record BackingLayer
{
    /// <summary>1 for the image the walk started from, 2 for its backing file, and so on (libvirt's depth).</summary>
    public required int Depth { get; init; }

    /// <summary>
    /// The path the layer was opened at: the top's path as given; for a backing file its name, made relative to
    /// the directory of the image that names it when it is relative (libvirt's and qemu's rule). For a
    /// network layer the name verbatim; for "fat:" the directory after the prefix.
    /// </summary>
    public required string Path { get; init; }

    /// <summary>The backing name exactly as the parent's header holds it; null for the top layer.</summary>
    public string? Name { get; init; }

    public required BackingLayerKind Kind { get; init; }

    /// <summary>
    /// The format the layer is used with: the one the parent's header declares, else the probed one (when
    /// probing is trusted). Null for a network layer whose format the parent leaves to probing.
    /// </summary>
    public StorageFileFormat? Format { get; init; }

    /// <summary>True when <see cref="Format"/> came from probing the layer's own header.</summary>
    public bool FormatProbed { get; init; }

    /// <summary>The probe of the layer's header; null for network and "fat:" layers, which are not read.</summary>
    public ImageInfo? Info { get; init; }

    /// <summary>The network protocol (libvirt's names: nbd, rbd, gluster, ...); null for local layers and json: backings.</summary>
    public string? Protocol { get; init; }

    /// <summary>st_dev of the opened file (0 for layers that are not opened).</summary>
    public ulong Device { get; init; }

    /// <summary>st_ino of the opened file (0 for layers that are not opened).</summary>
    public ulong Inode { get; init; }
}

/// <summary>
/// Walks a backing chain from an image down to its base, as libvirt 9.0's virStorageSourceGetMetadata
/// (storage_file/storage_source.c, virStorageSourceGetMetadataRecurse) does with report_broken set, plus an
/// explicit loop guard on (st_dev, st_ino).
/// </summary>
/// <remarks>
/// Rules followed from libvirt:
/// <list type="bullet">
/// <item>A relative backing name (no leading '/', and no ':' before the first '/') is taken relative to the
/// directory of the path of the image naming it (virStorageSourceNewFromBackingRelative).</item>
/// <item>A name with a ':' before any '/' is not a file (virStorageIsFile): json:, URIs and "proto:..." are
/// network layers, "fat:" a directory; none of them is opened, and the walk stops there.</item>
/// <item>A backing layer is read with the format its parent's header declares. Without one its format is
/// probed, and a probed layer may not have a backing file of its own (it could be a raw disk whose guest wrote
/// a qcow2 header): that fails with libvirt's "format of backing image ... was not specified" error. A qed
/// backing without the "backing is raw" bit (AUTO_SAFE) is probed and trusted, as libvirt does.</item>
/// <item>The walk fails with libvirt's error when a layer deeper than <c>maxDepth</c> is named.</item>
/// </list>
/// Beyond libvirt 9.0 (which relies on the depth limit alone): a layer whose (st_dev, st_ino) was already seen in
/// the chain, by any name, symlink or hard link, fails at once with the message older libvirt (up to 6.x) gave
/// for its cycle check, which named the canonical path.
/// Where the declared format is not what the layer's header holds, this walk reports the declared format but does
/// not follow a backing name (libvirt parses the header as the declared format regardless; ImageProbe cannot).
/// Only regular files, block devices and directories are opened, so a FIFO in the chain cannot hang the walk.
/// Memory is bounded by maxDepth layers of at most one header each.
/// </remarks>
public static partial class BackingChain
{
    /// <summary>libvirt's qemu driver limit for a backing chain (QEMU_DOMAIN_STORAGE_SOURCE_CHAIN_MAX_DEPTH).</summary>
    public const int DefaultMaxDepth = 200;

    /// <summary>libvirt 9.0's virStorageNetProtocol names, in its order.</summary>
    private static readonly string[] Protocols =
        ["none", "nbd", "rbd", "sheepdog", "gluster", "iscsi", "http", "https", "ftp", "ftps", "tftp", "ssh", "vxhs", "nfs"];

    private static readonly string[] Transports = ["tcp", "unix", "rdma"];

    private enum FormatSource
    {
        /// <summary>The format is known (declared by the parent, or given by the caller for the top).</summary>
        Declared,

        /// <summary>The top image without a given format: probed, as a pool probes its volumes.</summary>
        ProbeTop,

        /// <summary>libvirt's AUTO: probed, and the result may not have a backing file.</summary>
        Auto,

        /// <summary>libvirt's AUTO_SAFE: probed and trusted.</summary>
        AutoSafe,
    }

    /// <summary>
    /// Resolves the backing chain of <paramref name="path"/>: the layers from the image itself (depth 1) down to
    /// the base, or to the first layer that is not a local file.
    /// </summary>
    /// <param name="path">The top image.</param>
    /// <param name="maxDepth">The most layers the chain may have, the top included (libvirt's max_depth).</param>
    /// <param name="format">The top image's format; null to probe it (as a storage pool does for its volumes).</param>
    /// <exception cref="VirtPoolException">
    /// The chain loops, is deeper than <paramref name="maxDepth"/>, has a missing or unreadable layer, names an
    /// invalid network backing, or needs an unsafe probe; with libvirt's messages.
    /// </exception>
    public static IReadOnlyList<BackingLayer> Resolve(string path, int maxDepth = DefaultMaxDepth, StorageFileFormat? format = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxDepth, 1);

        var layers = new List<BackingLayer>();
        var seen = new HashSet<(ulong Device, ulong Inode)>();
        var current = path;
        string? name = null;
        string? parentPath = null;
        var source = format is null ? FormatSource.ProbeTop : FormatSource.Declared;
        var declared = format;

        for (var depth = 1; ; depth++)
        {
            if (depth > maxDepth)
            {
                throw VirtPoolException.Internal($"backing store for {current} is self-referential or too deeply nested");
            }

            if (!FileStat.TryStat(current, out var st, out var errno))
            {
                throw BrokenChain(errno, current, path, depth == 1);
            }

            var kind = st.IsRegular ? BackingLayerKind.File
                : st.IsBlockDevice ? BackingLayerKind.Block
                : st.IsDirectory ? BackingLayerKind.Directory
                : throw VirtPoolException.Unsupported(depth == 1
                    ? $"storage file '{current}' is not a regular file, block device or directory"
                    : $"backing file '{current}' of storage file '{path}' is not a regular file, block device or directory");

            if (!seen.Add((st.Device, st.Inode)))
            {
                throw VirtPoolException.Internal($"backing store for {current} ({Canonical(current)}) is self-referential");
            }

            if (source == FormatSource.Declared && declared == StorageFileFormat.None)
            {
                // virStorageFileProbeGetMetadata refuses NONE (a qcow2 backing-format extension saying "none").
                throw VirtPoolException.System($"unknown storage file meta->format {(int)StorageFileFormat.None}", Errno.EINVAL);
            }

            var info = ImageProbe.ProbeFile(current);
            if (info.ProbeFailed)
            {
                // libvirt's metadata probe fails without reporting an error.
                throw VirtPoolException.Verbatim(VirErrorCode.InternalError, "An error occurred, but the cause is unknown");
            }

            string? next;
            StorageFileFormat used;
            switch (source)
            {
                case FormatSource.Declared:
                    used = declared!.Value;
                    next = info.Format == used ? info.BackingStore : null;
                    break;
                case FormatSource.Auto when info.BackingStore is not null:
                    throw NotSpecified(name!, parentPath!);
                default:
                    used = info.Format;
                    next = info.BackingStore;
                    break;
            }

            layers.Add(new BackingLayer
            {
                Depth = depth,
                Path = current,
                Name = name,
                Kind = kind,
                Format = used,
                FormatProbed = source != FormatSource.Declared,
                Info = info,
                Device = st.Device,
                Inode = st.Inode,
            });

            if (next is null)
            {
                return layers;
            }

            // The next layer's format, as the header declares it.
            (source, declared) = info.BackingFormat is { } f ? (FormatSource.Declared, (StorageFileFormat?)f)
                : info.BackingFormatAutoSafe ? (FormatSource.AutoSafe, null)
                : (FormatSource.Auto, null);
            parentPath = current;
            name = next;

            if (!IsFile(next))
            {
                if (depth + 1 > maxDepth)
                {
                    throw VirtPoolException.Internal($"backing store for {NonFilePath(next)} is self-referential or too deeply nested");
                }

                layers.Add(NonFileLayer(next, depth + 1, source, declared, parentPath));
                return layers;
            }

            current = IsRelative(next) ? Combine(DirName(parentPath), next) : next;
        }
    }

    /// <summary>libvirt's virStorageIsFile: anything with a ':' before its first '/' looks like a protocol.</summary>
    public static bool IsFile(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        var colon = name.IndexOf(':', StringComparison.Ordinal);
        var slash = name.IndexOf('/', StringComparison.Ordinal);
        return !(colon >= 0 && (slash < 0 || colon < slash));
    }

    /// <summary>libvirt's virStorageIsRelative.</summary>
    public static bool IsRelative(string name) => IsFile(name) && !name.StartsWith('/');

    /// <summary>glib's g_path_get_dirname, which libvirt uses to resolve relative backing names.</summary>
    public static string DirName(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var last = path.LastIndexOf('/');
        if (last < 0)
        {
            return ".";
        }

        while (last > 0 && path[last] == '/')
        {
            last--;
        }

        return path[..(last + 1)];
    }

    private static string Combine(string dir, string rel) => dir == "/" ? "/" + rel : dir + "/" + rel;

    private static string NonFilePath(string name) => name.StartsWith("fat:", StringComparison.Ordinal) ? name[4..] : name;

    /// <summary>
    /// A backing that is not a local file (virStorageSourceNewFromBackingAbsolute's network and fat: cases),
    /// checked as libvirt parses it, and never opened.
    /// </summary>
    private static BackingLayer NonFileLayer(string name, int depth, FormatSource source, StorageFileFormat? declared, string parentPath)
    {
        if (name.StartsWith("fat:", StringComparison.Ordinal))
        {
            return new BackingLayer { Depth = depth, Path = name[4..], Name = name, Kind = BackingLayerKind.Directory, Format = StorageFileFormat.Fat };
        }

        string? protocol = null;
        if (!name.StartsWith("json:", StringComparison.Ordinal))
        {
            protocol = name.Contains("://", StringComparison.Ordinal) ? UriProtocol(name) : ColonProtocol(name);
        }

        // The layer cannot be read; with AUTO libvirt reports that its format was never given.
        if (source == FormatSource.Auto)
        {
            throw NotSpecified(name, parentPath);
        }

        return new BackingLayer
        {
            Depth = depth,
            Path = name,
            Name = name,
            Kind = BackingLayerKind.Network,
            Format = declared,
            Protocol = protocol,
        };
    }

    /// <summary>virStorageSourceParseBackingURI: "proto[+transport]://...".</summary>
    private static string UriProtocol(string name)
    {
        var scheme = name[..name.IndexOf("://", StringComparison.Ordinal)];
        if (scheme.Length == 0 || !char.IsAsciiLetter(scheme[0]) ||
            !scheme.All(c => char.IsAsciiLetterOrDigit(c) || c is '+' or '-' or '.'))
        {
            throw VirtPoolException.Internal($"failed to parse backing file location '{name}'");
        }

        var parts = scheme.Split('+', 2);
        if (Array.IndexOf(Protocols, parts[0]) < 0)
        {
            throw VirtPoolException.Internal($"invalid backing protocol '{parts[0]}'");
        }

        if (parts.Length == 2 && Array.IndexOf(Transports, parts[1]) < 0)
        {
            throw VirtPoolException.Internal($"invalid protocol transport type '{parts[1]}'");
        }

        return parts[0];
    }

    /// <summary>virStorageSourceParseBackingColon: "nbd:..." and "rbd:..." only.</summary>
    private static string ColonProtocol(string name)
    {
        var protocol = name[..name.IndexOf(':', StringComparison.Ordinal)];
        return protocol switch
        {
            "nbd" or "rbd" => protocol,
            "none" or "sheepdog" => throw VirtPoolException.Internal($"backing store parser is not implemented for protocol {protocol}"),
            _ when Array.IndexOf(Protocols, protocol) >= 0 => throw VirtPoolException.Internal($"malformed backing store path for protocol {protocol}"),
            _ => throw VirtPoolException.Internal($"invalid backing protocol '{protocol}'"),
        };
    }

    /// <summary>virStorageSourceReportBrokenChain, with the uid/gid the files are accessed as.</summary>
    private static VirtPoolException BrokenChain(int errno, string layer, string top, bool isTop)
    {
        var uid = LibC.GetEuid();
        var gid = LibC.GetEgid();
        return VirtPoolException.System(
            isTop
                ? $"Cannot access storage file '{layer}' (as uid:{uid}, gid:{gid})"
                : $"Cannot access backing file '{layer}' of storage file '{top}' (as uid:{uid}, gid:{gid})",
            errno);
    }

    private static VirtPoolException NotSpecified(string name, string parent) => new(
        VirErrorCode.OperationInvalid,
        $"format of backing image '{name}' of image '{parent}' was not specified in the image metadata (See https://libvirt.org/kbase/backing_chains.html for troubleshooting)");

    /// <summary>The canonical path (realpath), which older libvirt used as a layer's unique identifier.</summary>
    private static string Canonical(string path)
    {
        var resolved = Native.RealPath(path, 0);
        if (resolved == 0)
        {
            return System.IO.Path.GetFullPath(path);
        }

        try
        {
            return Marshal.PtrToStringUTF8(resolved) ?? path;
        }
        finally
        {
            Native.Free(resolved);
        }
    }

    private static partial class Native
    {
        [LibraryImport("libc", EntryPoint = "realpath", StringMarshalling = StringMarshalling.Utf8)]
        public static partial nint RealPath(string path, nint resolved);

        [LibraryImport("libc", EntryPoint = "free")]
        public static partial void Free(nint ptr);
    }
}
