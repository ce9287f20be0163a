using VirtPool.Core.Backends;
using VirtPool.Core.Errors;
using VirtPool.Core.Manager;
using VirtPool.Rpc;
using VirtPool.Rpc.Xdr;

namespace VirtPool.Daemon.Storage;

/// <summary>Volume procedures (spec 5.3, 5.4 "Volumes").</summary>
public static partial class StorageProcedures
{
    /// <summary>VIR_STORAGE_VOL_CREATE_PREALLOC_METADATA | REFLINK | VALIDATE.</summary>
    private const uint VolCreatePrealloc = 1;
    private const uint VolCreateReflink = 2;
    private const uint VolCreateValidate = 4;

    /// <summary>VIR_STORAGE_VOL_GET_PHYSICAL.</summary>
    private const uint VolGetPhysical = 1;

    /// <summary>VIR_STORAGE_VOL_WIPE_ALG_LAST.</summary>
    private const uint WipeAlgorithmLast = 10;

    private static void RegisterVolumes(ProcedureTable<DaemonCallContext> table)
    {
        table.Register(RemoteProcedure.StoragePoolNumOfVolumes, PoolNumOfVolumesAsync);
        table.Register(RemoteProcedure.StoragePoolListVolumes, PoolListVolumesAsync);
        table.Register(RemoteProcedure.StoragePoolListAllVolumes, PoolListAllVolumesAsync);

        table.Register(RemoteProcedure.StorageVolLookupByName, VolLookupByNameAsync);
        table.Register(RemoteProcedure.StorageVolLookupByKey, VolLookupByKeyAsync);
        table.Register(RemoteProcedure.StorageVolLookupByPath, VolLookupByPathAsync);

        table.Register(RemoteProcedure.StorageVolCreateXml, VolCreateXmlAsync);
        table.Register(RemoteProcedure.StorageVolCreateXmlFrom, VolCreateXmlFromAsync);
        table.Register(RemoteProcedure.StorageVolDelete, VolDeleteAsync);
        table.Register(RemoteProcedure.StorageVolWipe, VolWipeAsync);
        table.Register(RemoteProcedure.StorageVolWipePattern, VolWipePatternAsync);
        table.Register(RemoteProcedure.StorageVolResize, VolResizeAsync);

        table.Register(RemoteProcedure.StorageVolGetInfo, (ctx, args) => VolGetInfoAsync(ctx, ReadVolArg(args), 0));
        table.Register(RemoteProcedure.StorageVolGetInfoFlags, VolGetInfoFlagsAsync);
        table.Register(RemoteProcedure.StorageVolGetXmlDesc, VolGetXmlDescAsync);
        table.Register(RemoteProcedure.StorageVolGetPath, VolGetPathAsync);
    }

    private static VolumeRef ReadVolArg(ReadOnlyMemory<byte> args) => XdrArgs.Read(args, static (ref XdrReader r) => RemoteStorageVol.Read(ref r));

    private static (VolumeRef Vol, uint Flags) ReadVolFlagsArgs(ReadOnlyMemory<byte> args)
        => XdrArgs.Read(args, static (ref XdrReader r) => (RemoteStorageVol.Read(ref r), r.ReadUInt32()));

    /// <summary>
    /// virStorageVolDefFromVol: pool by name (must exist and be active), then the volume by name; the key
    /// the client sent is not used. Returns the handle with the server's current key.
    /// </summary>
    internal static Task<VolumeRef> ResolveVolumeAsync(DaemonCallContext ctx, VolumeRef handle)
        => Manager(ctx).LookupVolumeByNameAsync(handle.Pool, handle.Name, ctx.CancellationToken);

    private static void WriteVol(DaemonCallContext ctx, VolumeRef vol) => RemoteStorageVol.Write(ctx.ReplyWriter, vol);

    // ----- listing -------------------------------------------------------------------------------

    private static async ValueTask PoolNumOfVolumesAsync(DaemonCallContext ctx, ReadOnlyMemory<byte> args)
    {
        var pool = await ResolvePoolAsync(ctx, ReadPoolArg(args)).ConfigureAwait(false);
        var vols = await Manager(ctx).ListVolumesAsync(pool.Name, ctx.CancellationToken).ConfigureAwait(false);
        ctx.ReplyWriter.WriteInt32(vols.Count);
    }

    private static async ValueTask PoolListVolumesAsync(DaemonCallContext ctx, ReadOnlyMemory<byte> args)
    {
        var (handle, maxnames) = XdrArgs.Read(args, static (ref XdrReader r) => (RemoteStoragePool.Read(ref r), r.ReadInt32()));
        CallGuards.CheckListMax(maxnames, RpcLimits.StorageVolListMax, "maxnames", "REMOTE_STORAGE_VOL_LIST_MAX");
        var pool = await ResolvePoolAsync(ctx, handle).ConfigureAwait(false);
        var vols = await Manager(ctx).ListVolumesAsync(pool.Name, ctx.CancellationToken).ConfigureAwait(false);
        CallGuards.WriteNames(ctx.ReplyWriter, [.. vols.Take(maxnames).Select(v => v.Name)], RpcLimits.StorageVolListMax);
    }

    private static async ValueTask PoolListAllVolumesAsync(DaemonCallContext ctx, ReadOnlyMemory<byte> args)
    {
        var (handle, needResults, flags) = XdrArgs.Read(args, static (ref XdrReader r) => (RemoteStoragePool.Read(ref r), r.ReadInt32(), r.ReadUInt32()));
        CallGuards.CheckFlags(flags, 0, "storagePoolListAllVolumes");
        var pool = await ResolvePoolAsync(ctx, handle).ConfigureAwait(false);
        var vols = await Manager(ctx).ListVolumesAsync(pool.Name, ctx.CancellationToken).ConfigureAwait(false);
        var writer = ctx.ReplyWriter;
        var shown = needResults != 0 ? vols.ToArray() : [];
        writer.WriteArray<VolumeRef>(shown, RpcLimits.StorageVolListMax, RemoteStorageVol.Write);
        writer.WriteUInt32((uint)vols.Count);
    }

    // ----- lookups -------------------------------------------------------------------------------

    private static async ValueTask VolLookupByNameAsync(DaemonCallContext ctx, ReadOnlyMemory<byte> args)
    {
        var (handle, name) = XdrArgs.Read(args, static (ref XdrReader r) => (RemoteStoragePool.Read(ref r), r.ReadString()));
        var pool = await ResolvePoolAsync(ctx, handle).ConfigureAwait(false);
        WriteVol(ctx, await Manager(ctx).LookupVolumeByNameAsync(pool.Name, name, ctx.CancellationToken).ConfigureAwait(false));
    }

    private static async ValueTask VolLookupByKeyAsync(DaemonCallContext ctx, ReadOnlyMemory<byte> args)
    {
        var key = XdrArgs.Read(args, static (ref XdrReader r) => r.ReadString());
        WriteVol(ctx, await Manager(ctx).LookupVolumeByKeyAsync(key, ctx.CancellationToken).ConfigureAwait(false));
    }

    private static async ValueTask VolLookupByPathAsync(DaemonCallContext ctx, ReadOnlyMemory<byte> args)
    {
        var path = XdrArgs.Read(args, static (ref XdrReader r) => r.ReadString());
        WriteVol(ctx, await Manager(ctx).LookupVolumeByPathAsync(path, ctx.CancellationToken).ConfigureAwait(false));
    }

    // ----- create, delete, change ----------------------------------------------------------------

    private static async ValueTask VolCreateXmlAsync(DaemonCallContext ctx, ReadOnlyMemory<byte> args)
    {
        var (handle, xml, flags) = XdrArgs.Read(args, static (ref XdrReader r) => (RemoteStoragePool.Read(ref r), r.ReadString(), r.ReadUInt32()));
        CallGuards.RequireWritable(ctx, "virStorageVolCreateXML");
        CallGuards.CheckFlags(flags, VolCreatePrealloc | VolCreateValidate, "storageVolCreateXML");
        RefuseValidate(flags & VolCreateValidate);
        var pool = await ResolvePoolAsync(ctx, handle).ConfigureAwait(false);
        var vol = await Manager(ctx).CreateVolumeAsync(pool.Name, xml, (VolumeCreateFlags)(flags & VolCreatePrealloc), null, ctx.CancellationToken).ConfigureAwait(false);
        WriteVol(ctx, vol);
    }

    private static async ValueTask VolCreateXmlFromAsync(DaemonCallContext ctx, ReadOnlyMemory<byte> args)
    {
        var (handle, xml, source, flags) = XdrArgs.Read(
            args,
            static (ref XdrReader r) => (RemoteStoragePool.Read(ref r), r.ReadString(), RemoteStorageVol.Read(ref r), r.ReadUInt32()));
        CallGuards.RequireWritable(ctx, "virStorageVolCreateXMLFrom");
        CallGuards.CheckFlags(flags, VolCreatePrealloc | VolCreateReflink | VolCreateValidate, "storageVolCreateXMLFrom");
        RefuseValidate(flags & VolCreateValidate);
        var pool = await ResolvePoolAsync(ctx, handle).ConfigureAwait(false);
        var create = (VolumeCreateFlags)(flags & (VolCreatePrealloc | VolCreateReflink));
        var vol = await Manager(ctx).CreateVolumeFromAsync(pool.Name, xml, source, create, null, ctx.CancellationToken).ConfigureAwait(false);
        WriteVol(ctx, vol);
    }

    private static async ValueTask VolDeleteAsync(DaemonCallContext ctx, ReadOnlyMemory<byte> args)
    {
        var (vol, flags) = ReadVolFlagsArgs(args);
        CallGuards.RequireWritable(ctx, "virStorageVolDelete");

        // The backend judges the flags (libvirt's driver passes them through), with its own message.
        await Manager(ctx).DeleteVolumeAsync(vol, (VolumeDeleteFlags)flags, ctx.CancellationToken).ConfigureAwait(false);
    }

    private static async ValueTask VolWipeAsync(DaemonCallContext ctx, ReadOnlyMemory<byte> args)
    {
        var (vol, flags) = ReadVolFlagsArgs(args);
        CallGuards.RequireWritable(ctx, "virStorageVolWipe");

        // storageVolWipe is storageVolWipePattern with ZERO: its flag check names that function.
        CallGuards.CheckFlags(flags, 0, "storageVolWipePattern");
        await Manager(ctx).WipeVolumeAsync(vol, VolumeWipeAlgorithm.Zero, null, ctx.CancellationToken).ConfigureAwait(false);
    }

    private static async ValueTask VolWipePatternAsync(DaemonCallContext ctx, ReadOnlyMemory<byte> args)
    {
        var (vol, algorithm, flags) = XdrArgs.Read(args, static (ref XdrReader r) => (RemoteStorageVol.Read(ref r), r.ReadUInt32(), r.ReadUInt32()));
        CallGuards.RequireWritable(ctx, "virStorageVolWipePattern");
        CallGuards.CheckFlags(flags, 0, "storageVolWipePattern");
        if (algorithm >= WipeAlgorithmLast)
        {
            // libvirt prints the unsigned algorithm with %d.
            throw VirtPoolException.InvalidArg($"wiping algorithm {(int)algorithm} not supported");
        }

        await Manager(ctx).WipeVolumeAsync(vol, (VolumeWipeAlgorithm)algorithm, null, ctx.CancellationToken).ConfigureAwait(false);
    }

    private static async ValueTask VolResizeAsync(DaemonCallContext ctx, ReadOnlyMemory<byte> args)
    {
        var (vol, capacity, flags) = XdrArgs.Read(args, static (ref XdrReader r) => (RemoteStorageVol.Read(ref r), r.ReadUInt64(), r.ReadUInt32()));
        CallGuards.RequireWritable(ctx, "virStorageVolResize");
        CallGuards.CheckFlags(flags, (uint)(VolumeResizeFlags.Allocate | VolumeResizeFlags.Delta | VolumeResizeFlags.Shrink), "storageVolResize");
        await Manager(ctx).ResizeVolumeAsync(vol, capacity, (VolumeResizeFlags)flags, ctx.CancellationToken).ConfigureAwait(false);
    }

    // ----- description ---------------------------------------------------------------------------

    private static ValueTask VolGetInfoFlagsAsync(DaemonCallContext ctx, ReadOnlyMemory<byte> args)
    {
        var (vol, flags) = ReadVolFlagsArgs(args);
        return VolGetInfoAsync(ctx, vol, flags);
    }

    /// <summary>storageVolGetInfoFlags (GET_INFO is it with flags 0): refreshed numbers; physical size with flag 1.</summary>
    private static async ValueTask VolGetInfoAsync(DaemonCallContext ctx, VolumeRef vol, uint flags)
    {
        CallGuards.CheckFlags(flags, VolGetPhysical, "storageVolGetInfoFlags");
        var def = await Manager(ctx).GetVolumeAsync(vol, ctx.CancellationToken).ConfigureAwait(false);
        var writer = ctx.ReplyWriter;
        writer.WriteInt32((int)def.Type); // char, widened to 4 bytes
        writer.WriteUInt64(def.Capacity);
        writer.WriteUInt64((flags & VolGetPhysical) != 0 ? def.Physical : def.Allocation ?? 0);
    }

    private static async ValueTask VolGetXmlDescAsync(DaemonCallContext ctx, ReadOnlyMemory<byte> args)
    {
        var (vol, flags) = ReadVolFlagsArgs(args);
        CallGuards.CheckFlags(flags, 0, "storageVolGetXMLDesc");
        ctx.ReplyWriter.WriteString(await Manager(ctx).GetVolumeXmlAsync(vol, ctx.CancellationToken).ConfigureAwait(false));
    }

    private static async ValueTask VolGetPathAsync(DaemonCallContext ctx, ReadOnlyMemory<byte> args)
    {
        // The manager's path lookup does not check the pool; libvirt's does (exists, active).
        var vol = await ResolveVolumeAsync(ctx, ReadVolArg(args)).ConfigureAwait(false);
        ctx.ReplyWriter.WriteString(await Manager(ctx).GetVolumePathAsync(vol, ctx.CancellationToken).ConfigureAwait(false));
    }
}
