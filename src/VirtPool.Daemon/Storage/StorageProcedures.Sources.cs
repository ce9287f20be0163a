using VirtPool.Rpc.Xdr;

namespace VirtPool.Daemon.Storage;

/// <summary>CONNECT_FIND_STORAGE_POOL_SOURCES (75): pool-source discovery, which needs no pool.</summary>
public static partial class StorageProcedures
{
    /// <summary>
    /// remoteDispatchConnectFindStoragePoolSources: the public API refuses a read-only connection first
    /// (libvirt counts discovery as a privileged call: it runs tools and may query other hosts), then the
    /// manager checks as storageConnectFindStoragePoolSources does; the backend checks the flags.
    /// </summary>
    private static async ValueTask FindPoolSourcesAsync(DaemonCallContext ctx, ReadOnlyMemory<byte> args)
    {
        var (type, sourceSpec, flags) = XdrArgs.Read(args, static (ref XdrReader r) => (r.ReadString(), r.ReadOptionalString(), r.ReadUInt32()));
        CallGuards.RequireWritable(ctx, "virConnectFindStoragePoolSources");
        var xml = await Manager(ctx).FindPoolSourcesAsync(type, sourceSpec, flags, ctx.CancellationToken).ConfigureAwait(false);
        ctx.ReplyWriter.WriteString(xml);
    }
}
