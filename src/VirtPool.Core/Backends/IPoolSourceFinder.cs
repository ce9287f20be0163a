using VirtPool.Core.Model;

namespace VirtPool.Core.Backends;

/// <summary>
/// Optional, per pool type (libvirt's findPoolSources): the sources a pool of this type could use on
/// this host or at the host the hint names (volume groups, NFS exports, gluster volumes). It needs no
/// pool, so it belongs to the type, not to one pool's backend.
/// </summary>
public interface IPoolSourceFinder
{
    /// <param name="hint">The parsed srcSpec document (a host to ask, an initiator), or null when none was given.</param>
    /// <param name="flags">The call's flags, checked by the finder as libvirt's virCheckFlags does in its callback.</param>
    /// <returns>The sources found, in the order libvirt lists them.</returns>
    Task<IReadOnlyList<PoolSource>> FindPoolSourcesAsync(PoolSource? hint, uint flags, CancellationToken cancellationToken);

    /// <summary>
    /// Whether the finder reads srcSpec. libvirt parses it inside each backend's findPoolSources, so a
    /// finder that ignores it (logical) gets no hint and a malformed srcSpec is no error there.
    /// </summary>
    bool ReadsSourceSpec => true;
}
