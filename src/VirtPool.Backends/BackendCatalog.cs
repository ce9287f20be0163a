using VirtPool.Backends.Dir;
using VirtPool.Backends.Disk;
using VirtPool.Backends.Logical;
using VirtPool.Core.Backends;
using VirtPool.Core.Model;
using VirtPool.Core.Process;

namespace VirtPool.Backends;

/// <summary>The pool types this build ships; each later pool type adds one line here.</summary>
public static class BackendCatalog
{
    public static BackendRegistry Create(IProcessRunner runner) => new(
    [
        DirBackend.Type(runner),
        Fs.FsBackend.Type(runner),
        Netfs.NetfsBackend.Type(runner),
        DiskBackend.Type(runner),
        Zfs.ZfsBackend.Type(runner),
        LogicalBackend.Type(runner),
        Rbd.RbdBackend.Type(),
        Iscsi.IscsiBackend.Type(runner),
        IscsiDirect.IscsiDirectBackend.Type(),

        // Source discovery needs no backend: gluster pools can be discovered before they can be run.
        BackendType.FinderOnly(PoolType.Gluster, new Gluster.GlusterSourceFinder(runner)),
    ]);
}
