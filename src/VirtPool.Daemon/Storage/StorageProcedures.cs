using VirtPool.Core.Backends;
using VirtPool.Core.Errors;
using VirtPool.Core.Manager;
using VirtPool.Core.Model;
using VirtPool.Core.Xml;
using VirtPool.Rpc;
using VirtPool.Rpc.Xdr;

namespace VirtPool.Daemon.Storage;

/// <summary>
/// The storage procedures of spec 5.3 on the pool manager, with libvirt's storage driver semantics
/// (storage_driver.c): pool handles resolve by UUID, volume handles by pool name + volume name; checks
/// run in libvirt's order (read-only, flags, lookup); lifecycle events follow successful operations.
/// Event (de)registration (368/369) belongs to the connection's event plumbing, not here.
/// </summary>
public static partial class StorageProcedures
{
    /// <summary>virStoragePoolEventLifecycleType.</summary>
    internal const int EventDefined = 0;
    internal const int EventUndefined = 1;
    internal const int EventStarted = 2;
    internal const int EventStopped = 3;
    internal const int EventCreated = 4;
    internal const int EventDeleted = 5;

    /// <summary>virStoragePoolCreateFlags.</summary>
    private const uint CreateWithBuild = 1;
    private const uint CreateWithBuildOverwrite = 2;
    private const uint CreateWithBuildNoOverwrite = 4;

    /// <summary>Bits 0-19 of virConnectListAllStoragePoolsFlags.</summary>
    private const uint ListAllFilters = 0xFFFFF;

    public static void Register(ProcedureTable<DaemonCallContext> table)
    {
        ArgumentNullException.ThrowIfNull(table);
        RegisterPools(table);
        RegisterVolumes(table);
        RegisterStreams(table);
    }

    private static void RegisterPools(ProcedureTable<DaemonCallContext> table)
    {
        table.Register(RemoteProcedure.ConnectNumOfStoragePools, (ctx, _) => CountPoolsAsync(ctx, PoolListFilter.Active));
        table.Register(RemoteProcedure.ConnectNumOfDefinedStoragePools, (ctx, _) => CountPoolsAsync(ctx, PoolListFilter.Inactive));
        table.Register(RemoteProcedure.ConnectListStoragePools, (ctx, args) => ListPoolNamesAsync(ctx, args, PoolListFilter.Active));
        table.Register(RemoteProcedure.ConnectListDefinedStoragePools, (ctx, args) => ListPoolNamesAsync(ctx, args, PoolListFilter.Inactive));
        table.Register(RemoteProcedure.ConnectListAllStoragePools, ListAllPoolsAsync);
        table.Register(RemoteProcedure.ConnectFindStoragePoolSources, FindPoolSourcesAsync);
        table.Register(RemoteProcedure.ConnectGetStoragePoolCapabilities, GetPoolCapabilities);

        table.Register(RemoteProcedure.StoragePoolLookupByName, PoolLookupByNameAsync);
        table.Register(RemoteProcedure.StoragePoolLookupByUuid, PoolLookupByUuidAsync);
        table.Register(RemoteProcedure.StoragePoolLookupByVolume, PoolLookupByVolumeAsync);
        table.Register(RemoteProcedure.StoragePoolLookupByTargetPath, PoolLookupByTargetPathAsync);

        table.Register(RemoteProcedure.StoragePoolDefineXml, PoolDefineXmlAsync);
        table.Register(RemoteProcedure.StoragePoolCreateXml, PoolCreateXmlAsync);
        table.Register(RemoteProcedure.StoragePoolCreate, PoolCreateAsync);
        table.Register(RemoteProcedure.StoragePoolBuild, PoolBuildAsync);
        table.Register(RemoteProcedure.StoragePoolDestroy, PoolDestroyAsync);
        table.Register(RemoteProcedure.StoragePoolDelete, PoolDeleteAsync);
        table.Register(RemoteProcedure.StoragePoolUndefine, PoolUndefineAsync);
        table.Register(RemoteProcedure.StoragePoolRefresh, PoolRefreshAsync);

        table.Register(RemoteProcedure.StoragePoolGetInfo, PoolGetInfoAsync);
        table.Register(RemoteProcedure.StoragePoolGetXmlDesc, PoolGetXmlDescAsync);
        table.Register(RemoteProcedure.StoragePoolGetAutostart, PoolGetAutostartAsync);
        table.Register(RemoteProcedure.StoragePoolSetAutostart, PoolSetAutostartAsync);
        table.Register(RemoteProcedure.StoragePoolIsActive, (ctx, args) => PoolFlagAsync(ctx, args, s => s.Active));
        table.Register(RemoteProcedure.StoragePoolIsPersistent, (ctx, args) => PoolFlagAsync(ctx, args, s => s.Persistent));
    }

    // ----- shared helpers ------------------------------------------------------------------------

    private static PoolManager Manager(DaemonCallContext ctx) => ctx.Services.Manager;

    private static PoolRef ReadPoolArg(ReadOnlyMemory<byte> args) => XdrArgs.Read(args, static (ref XdrReader r) => RemoteStoragePool.Read(ref r));

    private static (PoolRef Pool, uint Flags) ReadPoolFlagsArgs(ReadOnlyMemory<byte> args)
        => XdrArgs.Read(args, static (ref XdrReader r) => (RemoteStoragePool.Read(ref r), r.ReadUInt32()));

    private static (string Xml, uint Flags) ReadXmlFlagsArgs(ReadOnlyMemory<byte> args)
        => XdrArgs.Read(args, static (ref XdrReader r) => (r.ReadString(), r.ReadUInt32()));

    /// <summary>
    /// virStoragePoolObjFromStoragePool: a pool handle resolves by UUID; when none has it, the error
    /// names the UUID and the name the client gave.
    /// </summary>
    internal static async Task<PoolRef> ResolvePoolAsync(DaemonCallContext ctx, PoolRef handle)
    {
        // libvirt finds a handle's pool by UUID alone. The handle also carries the name, and by name
        // is one cached file where by UUID is a scan of every pool: try the name, keep it only when
        // the UUID agrees (a pool redefined under the same name is a different pool).
        try
        {
            var byName = await Manager(ctx).LookupPoolByNameAsync(handle.Name, ctx.CancellationToken).ConfigureAwait(false);
            if (byName.Uuid == handle.Uuid)
            {
                return byName;
            }
        }
        catch (VirtPoolException ex) when (ex.Code == VirErrorCode.NoStoragePool)
        {
        }

        try
        {
            return await Manager(ctx).LookupPoolByUuidAsync(handle.Uuid, ctx.CancellationToken).ConfigureAwait(false);
        }
        catch (VirtPoolException ex) when (ex.Code == VirErrorCode.NoStoragePool)
        {
            throw new VirtPoolException(VirErrorCode.NoStoragePool, $"no storage pool with matching uuid '{handle.Uuid:D}' ({handle.Name})");
        }
    }

    private static void WritePool(DaemonCallContext ctx, PoolRef pool) => RemoteStoragePool.Write(ctx.ReplyWriter, pool);

    // ----- listing -------------------------------------------------------------------------------

    private static async ValueTask CountPoolsAsync(DaemonCallContext ctx, PoolListFilter filter)
    {
        var pools = await Manager(ctx).ListPoolsAsync(filter, ctx.CancellationToken).ConfigureAwait(false);
        ctx.ReplyWriter.WriteInt32(pools.Count);
    }

    private static async ValueTask ListPoolNamesAsync(DaemonCallContext ctx, ReadOnlyMemory<byte> args, PoolListFilter filter)
    {
        var maxnames = XdrArgs.Read(args, static (ref XdrReader r) => r.ReadInt32());
        CallGuards.CheckListMax(maxnames, RpcLimits.StoragePoolListMax, "maxnames", "REMOTE_STORAGE_POOL_LIST_MAX");
        var pools = await Manager(ctx).ListPoolsAsync(filter, ctx.CancellationToken).ConfigureAwait(false);

        // The client rejects a reply with more than maxnames entries.
        CallGuards.WriteNames(ctx.ReplyWriter, [.. pools.Take(maxnames).Select(p => p.Pool.Name)], RpcLimits.StoragePoolListMax);
    }

    private static async ValueTask ListAllPoolsAsync(DaemonCallContext ctx, ReadOnlyMemory<byte> args)
    {
        var (needResults, flags) = XdrArgs.Read(args, static (ref XdrReader r) => (r.ReadInt32(), r.ReadUInt32()));
        CallGuards.CheckFlags(flags, ListAllFilters, "storageConnectListAllStoragePools");
        var pools = await Manager(ctx).ListPoolsAsync((PoolListFilter)flags, ctx.CancellationToken).ConfigureAwait(false);
        var writer = ctx.ReplyWriter;
        var refs = needResults != 0 ? pools.Select(p => p.Pool).ToArray() : [];
        writer.WriteArray<PoolRef>(refs, RpcLimits.StoragePoolListMax, RemoteStoragePool.Write);
        writer.WriteUInt32((uint)pools.Count);
    }

    private static ValueTask GetPoolCapabilities(DaemonCallContext ctx, ReadOnlyMemory<byte> args)
    {
        var flags = XdrArgs.Read(args, static (ref XdrReader r) => r.ReadUInt32());
        CallGuards.CheckFlags(flags, 0, "storageConnectGetStoragePoolCapabilities");

        // The same answer as the embedded CLI's pool-capabilities: the types this daemon has a backend for.
        ctx.ReplyWriter.WriteString(PoolCapabilitiesXml.Format(Manager(ctx).Backends.Types));
        return ValueTask.CompletedTask;
    }

    // ----- lookups -------------------------------------------------------------------------------

    private static async ValueTask PoolLookupByNameAsync(DaemonCallContext ctx, ReadOnlyMemory<byte> args)
    {
        var name = XdrArgs.Read(args, static (ref XdrReader r) => r.ReadString());
        WritePool(ctx, await Manager(ctx).LookupPoolByNameAsync(name, ctx.CancellationToken).ConfigureAwait(false));
    }

    private static async ValueTask PoolLookupByUuidAsync(DaemonCallContext ctx, ReadOnlyMemory<byte> args)
    {
        var uuid = XdrArgs.Read(args, static (ref XdrReader r) => r.ReadUuid());
        WritePool(ctx, await Manager(ctx).LookupPoolByUuidAsync(uuid, ctx.CancellationToken).ConfigureAwait(false));
    }

    /// <summary>storagePoolLookupByVolume: the volume's pool by name.</summary>
    private static async ValueTask PoolLookupByVolumeAsync(DaemonCallContext ctx, ReadOnlyMemory<byte> args)
    {
        var vol = XdrArgs.Read(args, static (ref XdrReader r) => RemoteStorageVol.Read(ref r));
        WritePool(ctx, await Manager(ctx).LookupPoolByNameAsync(vol.Pool, ctx.CancellationToken).ConfigureAwait(false));
    }

    /// <summary>storagePoolLookupByTargetPath: active pools whose target path equals the sanitized path.</summary>
    private static async ValueTask PoolLookupByTargetPathAsync(DaemonCallContext ctx, ReadOnlyMemory<byte> args)
    {
        var path = XdrArgs.Read(args, static (ref XdrReader r) => r.ReadString());
        var clean = PoolXml.SanitizePath(path);
        var mgr = Manager(ctx);
        foreach (var pool in await mgr.ListPoolsAsync(PoolListFilter.Active, ctx.CancellationToken).ConfigureAwait(false))
        {
            string xml;
            try
            {
                xml = await mgr.GetPoolXmlAsync(pool.Pool.Name, inactive: false, ctx.CancellationToken).ConfigureAwait(false);
            }
            catch (VirtPoolException)
            {
                // Undefined or stopped meanwhile: not a candidate.
                continue;
            }

            if (PoolXml.Parse(xml).Target.Path == clean)
            {
                WritePool(ctx, pool.Pool);
                return;
            }
        }

        throw new VirtPoolException(
            VirErrorCode.NoStoragePool,
            path == clean
                ? $"no storage pool with matching target path '{path}'"
                : $"no storage pool with matching target path '{path}' ({clean})");
    }

    // ----- lifecycle -----------------------------------------------------------------------------

    private static async ValueTask PoolDefineXmlAsync(DaemonCallContext ctx, ReadOnlyMemory<byte> args)
    {
        var (xml, flags) = ReadXmlFlagsArgs(args);
        CallGuards.RequireWritable(ctx, "virStoragePoolDefineXML");
        CallGuards.CheckFlags(flags, 1, "storagePoolDefineXML");
        RefuseValidate(flags & 1);
        var pool = await Manager(ctx).DefinePoolAsync(xml, ctx.CancellationToken).ConfigureAwait(false);
        WritePool(ctx, pool);
        ctx.Services.Events.PoolLifecycle(pool, EventDefined, 0);
    }

    private static async ValueTask PoolCreateXmlAsync(DaemonCallContext ctx, ReadOnlyMemory<byte> args)
    {
        var (xml, flags) = ReadXmlFlagsArgs(args);
        CallGuards.RequireWritable(ctx, "virStoragePoolCreateXML");
        CallGuards.CheckFlags(flags, CreateWithBuild | CreateWithBuildOverwrite | CreateWithBuildNoOverwrite, "storagePoolCreateXML");
        var (build, doBuild) = BuildFromCreateFlags(flags);
        var pool = await Manager(ctx).CreatePoolAsync(xml, build, doBuild, ctx.CancellationToken).ConfigureAwait(false);
        WritePool(ctx, pool);
        ctx.Services.Events.PoolLifecycle(pool, EventStarted, 0);
    }

    private static async ValueTask PoolCreateAsync(DaemonCallContext ctx, ReadOnlyMemory<byte> args)
    {
        var (handle, flags) = ReadPoolFlagsArgs(args);
        CallGuards.RequireWritable(ctx, "virStoragePoolCreate");
        CallGuards.CheckFlags(flags, CreateWithBuild | CreateWithBuildOverwrite | CreateWithBuildNoOverwrite, "storagePoolCreate");
        var pool = await ResolvePoolAsync(ctx, handle).ConfigureAwait(false);
        var (build, doBuild) = BuildFromCreateFlags(flags);
        await Manager(ctx).StartPoolAsync(pool.Name, build, doBuild, ctx.CancellationToken).ConfigureAwait(false);
        ctx.Services.Events.PoolLifecycle(pool, EventStarted, 0);
        MemoryTrim.AfterScan();
    }

    private static async ValueTask PoolBuildAsync(DaemonCallContext ctx, ReadOnlyMemory<byte> args)
    {
        var (handle, flags) = ReadPoolFlagsArgs(args);
        CallGuards.RequireWritable(ctx, "virStoragePoolBuild");

        // libvirt leaves the flag check to the pool's backend (a type without buildPool ignores them).
        var pool = await ResolvePoolAsync(ctx, handle).ConfigureAwait(false);
        await Manager(ctx).BuildPoolAsync(pool.Name, (PoolBuildFlags)flags, ctx.CancellationToken).ConfigureAwait(false);
        ctx.Services.Events.PoolLifecycle(pool, EventCreated, 0);
    }

    private static async ValueTask PoolDestroyAsync(DaemonCallContext ctx, ReadOnlyMemory<byte> args)
    {
        var handle = ReadPoolArg(args);
        CallGuards.RequireWritable(ctx, "virStoragePoolDestroy");
        var pool = await ResolvePoolAsync(ctx, handle).ConfigureAwait(false);
        await Manager(ctx).DestroyPoolAsync(pool.Name, ctx.CancellationToken).ConfigureAwait(false);
        ctx.Services.Events.PoolLifecycle(pool, EventStopped, 0);
    }

    private static async ValueTask PoolDeleteAsync(DaemonCallContext ctx, ReadOnlyMemory<byte> args)
    {
        var (handle, flags) = ReadPoolFlagsArgs(args);
        CallGuards.RequireWritable(ctx, "virStoragePoolDelete");
        var pool = await ResolvePoolAsync(ctx, handle).ConfigureAwait(false);

        // The pool's backend checks the flags, as each libvirt deletePool does.
        await Manager(ctx).DeletePoolAsync(pool.Name, (PoolDeleteFlags)flags, ctx.CancellationToken).ConfigureAwait(false);
        ctx.Services.Events.PoolLifecycle(pool, EventDeleted, 0);
    }

    private static async ValueTask PoolUndefineAsync(DaemonCallContext ctx, ReadOnlyMemory<byte> args)
    {
        var handle = ReadPoolArg(args);
        CallGuards.RequireWritable(ctx, "virStoragePoolUndefine");
        var pool = await ResolvePoolAsync(ctx, handle).ConfigureAwait(false);
        await Manager(ctx).UndefinePoolAsync(pool.Name, ctx.CancellationToken).ConfigureAwait(false);
        ctx.Services.Events.PoolLifecycle(pool, EventUndefined, 0);
    }

    private static async ValueTask PoolRefreshAsync(DaemonCallContext ctx, ReadOnlyMemory<byte> args)
    {
        var (handle, flags) = ReadPoolFlagsArgs(args);
        CallGuards.RequireWritable(ctx, "virStoragePoolRefresh");
        CallGuards.CheckFlags(flags, 0, "storagePoolRefresh");
        var pool = await ResolvePoolAsync(ctx, handle).ConfigureAwait(false);
        var mgr = Manager(ctx);
        try
        {
            await mgr.RefreshPoolAsync(pool.Name, ctx.CancellationToken).ConfigureAwait(false);
            MemoryTrim.AfterScan();
        }
        catch (VirtPoolException)
        {
            // A failed rescan stops the pool (libvirt emits STOPPED then); a refused one leaves it running.
            if (!await IsActiveOrGoneAsync(mgr, pool.Name).ConfigureAwait(false))
            {
                ctx.Services.Events.PoolLifecycle(pool, EventStopped, 0);
            }

            throw;
        }

        ctx.Services.Events.PoolRefresh(pool);
    }

    /// <summary>True when the pool still runs; false when it stopped (a vanished transient pool also stopped).</summary>
    private static async Task<bool> IsActiveOrGoneAsync(PoolManager mgr, string name)
    {
        try
        {
            return (await mgr.GetPoolSummaryAsync(name, CancellationToken.None).ConfigureAwait(false)).Active;
        }
        catch (VirtPoolException)
        {
            return false;
        }
    }

    /// <summary>
    /// storagePoolCreate/CreateXML: any WITH_BUILD* bit builds first; OVERWRITE wins over NO_OVERWRITE.
    /// (libvirt's exclusivity check tests the BUILD_* values, which these flags never carry, so it never fires.)
    /// </summary>
    private static (PoolBuildFlags Build, bool DoBuild) BuildFromCreateFlags(uint flags)
    {
        var build = (flags & CreateWithBuildOverwrite) != 0 ? PoolBuildFlags.Overwrite
            : (flags & CreateWithBuildNoOverwrite) != 0 ? PoolBuildFlags.NoOverwrite
            : PoolBuildFlags.None;
        return (build, flags != 0);
    }

    /// <summary>
    /// VALIDATE asks for RNG schema validation, which VirtPool does not have; refused plainly (as the CLI
    /// refuses --validate) rather than silently skipped.
    /// </summary>
    internal static void RefuseValidate(uint validateBit, VirErrorDomain domain = VirErrorDomain.Storage)
    {
        if (validateBit != 0)
        {
            throw new VirtPoolException(VirErrorCode.NoSupport, "virtpoold does not implement XML schema validation (VALIDATE flag) yet", domain);
        }
    }

    // ----- state and description -----------------------------------------------------------------

    private static async ValueTask PoolGetInfoAsync(DaemonCallContext ctx, ReadOnlyMemory<byte> args)
    {
        var pool = await ResolvePoolAsync(ctx, ReadPoolArg(args)).ConfigureAwait(false);
        var info = await Manager(ctx).GetPoolInfoAsync(pool.Name, ctx.CancellationToken).ConfigureAwait(false);
        var writer = ctx.ReplyWriter;
        writer.WriteInt32((int)info.State); // unsigned char, widened to 4 bytes
        writer.WriteUInt64(info.Capacity);
        writer.WriteUInt64(info.Allocation);
        writer.WriteUInt64(info.Available);
    }

    private static async ValueTask PoolGetXmlDescAsync(DaemonCallContext ctx, ReadOnlyMemory<byte> args)
    {
        var (handle, flags) = ReadPoolFlagsArgs(args);
        CallGuards.CheckFlags(flags, 1, "storagePoolGetXMLDesc");
        var pool = await ResolvePoolAsync(ctx, handle).ConfigureAwait(false);
        var xml = await Manager(ctx).GetPoolXmlAsync(pool.Name, inactive: (flags & 1) != 0, ctx.CancellationToken).ConfigureAwait(false);
        ctx.ReplyWriter.WriteString(xml);
    }

    private static async ValueTask PoolGetAutostartAsync(DaemonCallContext ctx, ReadOnlyMemory<byte> args)
    {
        var pool = await ResolvePoolAsync(ctx, ReadPoolArg(args)).ConfigureAwait(false);
        var autostart = await Manager(ctx).GetAutostartAsync(pool.Name, ctx.CancellationToken).ConfigureAwait(false);
        ctx.ReplyWriter.WriteInt32(autostart ? 1 : 0);
    }

    private static async ValueTask PoolSetAutostartAsync(DaemonCallContext ctx, ReadOnlyMemory<byte> args)
    {
        var (handle, autostart) = XdrArgs.Read(args, static (ref XdrReader r) => (RemoteStoragePool.Read(ref r), r.ReadInt32()));
        CallGuards.RequireWritable(ctx, "virStoragePoolSetAutostart");
        var pool = await ResolvePoolAsync(ctx, handle).ConfigureAwait(false);
        await Manager(ctx).SetAutostartAsync(pool.Name, autostart != 0, ctx.CancellationToken).ConfigureAwait(false);
    }

    private static async ValueTask PoolFlagAsync(DaemonCallContext ctx, ReadOnlyMemory<byte> args, Func<PoolSummary, bool> flag)
    {
        var pool = await ResolvePoolAsync(ctx, ReadPoolArg(args)).ConfigureAwait(false);
        var summary = await Manager(ctx).GetPoolSummaryAsync(pool.Name, ctx.CancellationToken).ConfigureAwait(false);
        ctx.ReplyWriter.WriteInt32(flag(summary) ? 1 : 0);
    }
}
