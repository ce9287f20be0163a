using System.Globalization;
using VirtPool.Core.Errors;
using VirtPool.Core.Model;

namespace VirtPool.Formats.Qcow2;

/// <summary>
/// What <c>qemu-img create -f qcow2</c> is asked for, in qemu's terms, for <see cref="Qcow2Writer"/>.
/// </summary>
/// <param name="Capacity">Virtual size in bytes, as qemu-img receives it (a multiple of 512).</param>
/// <param name="Compat">"0.10" (qcow2 version 2) or "1.1" (version 3).</param>
/// <param name="ClusterSize">A power of two from 512 to 2 MiB.</param>
/// <param name="LazyRefcounts">Compatible feature bit 0 (version 3 only).</param>
/// <param name="ExtendedL2">Incompatible feature bit 4: 16-byte L2 entries (version 3, clusters of 16 KiB or more).</param>
/// <param name="BackingFile">The backing file name stored in the header, verbatim.</param>
/// <param name="BackingFormat">The qemu driver name stored in the backing format header extension.</param>
/// <param name="PreallocMetadata">preallocation=metadata: L2 tables and refcounts for every cluster, data left as a hole.</param>
public sealed record Qcow2CreateOptions(
    ulong Capacity,
    string Compat = "0.10",
    uint ClusterSize = Qcow2CreateOptions.DefaultClusterSize,
    bool LazyRefcounts = false,
    bool ExtendedL2 = false,
    string? BackingFile = null,
    string? BackingFormat = null,
    bool PreallocMetadata = false)
{
    /// <summary>qemu's default cluster size.</summary>
    public const uint DefaultClusterSize = 65536;

    /// <summary>The qcow2 header version the compat level stands for.</summary>
    public int Version => Compat == "0.10" ? 2 : 3;

    /// <summary>
    /// The native equivalent of <see cref="QemuImgCreate.BuildArgv(QemuImgCreateRequest)"/> for <paramref name="request"/>,
    /// derived from that very argv so that both paths mean the same thing; null whenever the native writer
    /// cannot promise qemu-img's exact result, or qemu-img (or libvirt before it) would reject the request,
    /// so that running qemu-img yields the real file or the real error.
    /// </summary>
    /// <param name="request">The create request.</param>
    /// <param name="backingCapacity">
    /// Called with the backing path exactly as in the request; must return the virtual size qemu-img sees
    /// when it opens that file with the request's backing format (ImageProbe's capacity), or null when the
    /// file cannot be opened that way. qemu-img opens the backing file even when a size is given, so a null
    /// always means fallback.
    /// </param>
    public static Qcow2CreateOptions? FromRequest(QemuImgCreateRequest request, Func<string, ulong?> backingCapacity)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(backingCapacity);

        IReadOnlyList<string> argv;
        try
        {
            argv = QemuImgCreate.BuildArgv(request);
        }
        catch (VirtPoolException)
        {
            // libvirt's own configuration errors come from the qemu-img path.
            return null;
        }

        return FromArgv(argv, backingCapacity);
    }

    /// <summary>Parses the argv BuildArgv makes (create -f qcow2 [-b B] [-o OPTS] PATH [SIZEK]); null for anything not handled natively.</summary>
    private static Qcow2CreateOptions? FromArgv(IReadOnlyList<string> argv, Func<string, ulong?> backingCapacity)
    {
        if (argv.Count < 5 || argv[1] != "create" || argv[2] != "-f" || argv[3] != "qcow2")
        {
            return null;
        }

        var i = 4;
        string? backing = null;
        if (argv[i] == "-b")
        {
            backing = argv[i + 1];
            i += 2;
        }

        string? opts = null;
        if (i < argv.Count && argv[i] == "-o")
        {
            opts = argv[i + 1];
            i += 2;
        }

        i++; // the image path
        string? size = i < argv.Count ? argv[i] : null;

        string? compat = null;
        string? backingFormat = null;
        uint clusterSize = DefaultClusterSize;
        bool lazy = false, extendedL2 = false, prealloc = false;
        foreach (var opt in (opts ?? string.Empty).Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = opt.IndexOf('=', StringComparison.Ordinal);
            var key = eq < 0 ? opt : opt[..eq];
            var value = eq < 0 ? null : opt[(eq + 1)..];
            switch (key)
            {
                case "backing_fmt":
                    backingFormat = value;
                    break;
                case "compat":
                    compat = value;
                    break;
                case "cluster_size":
                    if (!uint.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out clusterSize))
                    {
                        return null;
                    }

                    break;
                case "lazy_refcounts" when value is null or "on":
                    lazy = true;
                    break;
                case "extended_l2" when value is "on":
                    extendedL2 = true;
                    break;
                case "preallocation" when value is "metadata":
                    prealloc = true;
                    break;
                default:
                    // falloc/full preallocation, nocow and anything new: qemu-img's business.
                    return null;
            }
        }

        if (compat is not ("0.10" or "1.1"))
        {
            return null;
        }

        ulong capacity;
        if (size is not null)
        {
            if (!size.EndsWith('K') ||
                !ulong.TryParse(size.AsSpan(0, size.Length - 1), NumberStyles.None, CultureInfo.InvariantCulture, out var kib) ||
                kib > ulong.MaxValue / 1024)
            {
                return null;
            }

            capacity = kib * 1024;
        }
        else
        {
            capacity = 0;
        }

        if (backing is not null)
        {
            // qemu-img opens the backing file in every case; without a size it takes the backing file's,
            // which the block layer reports in whole sectors.
            if (backingCapacity(backing) is not { } backingSize)
            {
                return null;
            }

            if (size is null)
            {
                if (backingSize > ulong.MaxValue - 511)
                {
                    return null;
                }

                capacity = (backingSize + 511) & ~511UL;
            }

            if (backingFormat is not ("raw" or "qcow2"))
            {
                return null;
            }
        }
        else if (size is null)
        {
            return null;
        }

        var options = new Qcow2CreateOptions(capacity, compat, clusterSize, lazy, extendedL2, backing, backingFormat, prealloc);
        return Qcow2Writer.CanWrite(options) ? options : null;
    }
}
