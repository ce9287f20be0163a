using VirtPool.Core.Errors;
using VirtPool.Core.Model;
using VirtPool.Formats;

namespace VirtPool.Backends.Local;

/// <summary>What qemu-img is asked for a volume, whatever its storage (a file made here, or a device a pool type's tool made).</summary>
internal static class QemuImgRequests
{
    /// <summary>The qemu-img create request a volume definition stands for.</summary>
    public static QemuImgCreateRequest Build(VolumeDefinition volume, StorageFileFormat format, bool preallocMetadata)
    {
        StorageFileFormat? backingFormat = null;
        if (volume.BackingStore?.Format is { } bf && StorageFileFormatNames.TryParse(bf, out var parsed))
        {
            backingFormat = parsed;
        }

        var request = new QemuImgCreateRequest(
            volume.Target.Path!,
            format,
            volume.Capacity,
            volume.BackingStore?.Path,
            backingFormat,
            volume.Target.Compat,
            volume.Target.ClusterSize,
            volume.Target.Features.LazyRefcounts,
            volume.Target.Features.ExtendedL2,
            preallocMetadata,
            volume.Target.NoCow) { Allocation = volume.Allocation };
        return request;
    }

    /// <summary>
    /// Refuses a backing chain that loops or nests beyond libvirt's limit, with libvirt's message. Other
    /// chain problems (a missing layer, an unprobed format) are left to qemu-img to report, as libvirt does.
    /// </summary>
    public static void RefuseLoopingChain(string top, StorageFileFormat format)
    {
        try
        {
            _ = BackingChain.Resolve(top, format: format);
        }
        catch (VirtPoolException ex) when (!ex.Message.Contains("self-referential", StringComparison.Ordinal))
        {
        }
    }

    /// <summary>A volume's format as qemu-img knows it; libvirt's error for a name it does not.</summary>
    public static StorageFileFormat FormatOf(string? name)
        => StorageFileFormatNames.TryParse(name ?? "raw", out var format) ? format : throw VirtPoolException.Unsupported($"unknown storage vol format type {name}");
}
