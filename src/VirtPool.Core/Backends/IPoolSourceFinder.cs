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
    /// <param name="flags">The call's flags, already passed by <see cref="CheckFlags"/>.</param>
    /// <returns>The sources found, in the order libvirt lists them.</returns>
    Task<IReadOnlyList<PoolSource>> FindPoolSourcesAsync(PoolSource? hint, uint flags, CancellationToken cancellationToken);

    /// <summary>
    /// Whether the finder reads srcSpec. libvirt parses it inside each backend's findPoolSources, so a
    /// finder that ignores it (logical) gets no hint and a malformed srcSpec is no error there.
    /// </summary>
    bool ReadsSourceSpec => true;

    /// <summary>
    /// libvirt's virCheckFlags at the top of findPoolSources, with the backend's function name. The
    /// manager calls it before it parses srcSpec, since libvirt checks flags before it parses: refused
    /// flags are the error even when srcSpec is malformed. A finder that reads srcSpec must implement
    /// it; one that reads none may leave the check to <see cref="FindPoolSourcesAsync"/>.
    /// </summary>
    void CheckFlags(uint flags)
    {
    }
}
