using VirtPool.Core.Errors;
using VirtPool.Core.Model;
using VirtPool.Core.Xml;

namespace VirtPool.Core.Manager;

/// <summary>Pool-source discovery (storageConnectFindStoragePoolSources): needs no pool, takes no lock.</summary>
public sealed partial class PoolManager
{
    /// <summary>
    /// libvirt 9.0's order: an unknown type name, a type libvirtd has no backend for, a type whose backend
    /// has no findPoolSources, then the backend: it checks the flags, parses srcSpec (when it reads one at
    /// all) and asks the storage. The answer is virStoragePoolSourceListFormat's document.
    /// </summary>
    public async Task<string> FindPoolSourcesAsync(string type, string? sourceSpecXml, uint flags, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(type);
        if (!PoolTypeNames.TryParse(type, out var poolType))
        {
            throw VirtPoolException.Internal($"unknown storage pool type {type}");
        }

        PoolXml.EnsureBackend(poolType);
        var finder = _backends.SourceFinderFor(poolType)
            ?? throw VirtPoolException.NoSupport($"pool type '{type}' does not support source discovery");

        finder.CheckFlags(flags);
        var hint = sourceSpecXml is not null && finder.ReadsSourceSpec ? PoolXml.ParseSource(sourceSpecXml, poolType) : null;
        var sources = await finder.FindPoolSourcesAsync(hint, flags, ct).ConfigureAwait(false);
        return PoolXml.FormatSourceList(poolType, sources);
    }
}
