using VirtPool.Core.Errors;
using VirtPool.Core.Manager;
using VirtPool.Rpc.Xdr;

namespace VirtPool.Daemon.Storage;

/// <summary><c>remote_nonnull_storage_pool</c> = { name, uuid } (spec 5.1).</summary>
internal static class RemoteStoragePool
{
    public static PoolRef Read(ref XdrReader reader)
    {
        var name = reader.ReadString();
        var uuid = reader.ReadUuid();
        return new PoolRef(name, uuid);
    }

    public static void Write(XdrWriter writer, PoolRef pool)
    {
        writer.WriteString(pool.Name);
        writer.WriteUuid(pool.Uuid);
    }
}

/// <summary><c>remote_nonnull_storage_vol</c> = { pool, name, key } (spec 5.1).</summary>
internal static class RemoteStorageVol
{
    public static VolumeRef Read(ref XdrReader reader)
    {
        var pool = reader.ReadString();
        var name = reader.ReadString();
        var key = reader.ReadString();
        return new VolumeRef(pool, name, key);
    }

    public static void Write(XdrWriter writer, VolumeRef vol)
    {
        writer.WriteString(vol.Pool);
        writer.WriteString(vol.Name);
        writer.WriteString(vol.Key);
    }
}

/// <summary>Decoding an args struct in one synchronous step, so async handlers never hold the ref-struct reader.</summary>
internal static class XdrArgs
{
    public static T Read<T>(ReadOnlyMemory<byte> args, XdrElementReader<T> read)
    {
        // Trailing bytes after a complete struct are tolerated, as libvirtd does (spec 2.2).
        var reader = new XdrReader(args.Span);
        return read(ref reader);
    }
}

/// <summary>The checks every mutating or flag-taking procedure makes, worded as libvirt words them.</summary>
internal static class CallGuards
{
    /// <summary>virCheckReadOnlyGoto in the public API: code 29 naming the API (spec 3.6, 10.4).</summary>
    public static void RequireWritable(DaemonCallContext context, string api, VirErrorDomain domain = VirErrorDomain.Storage)
    {
        if (context.Connection.IsReadOnly)
        {
            throw new VirtPoolException(VirErrorCode.OperationDenied, $"read only access prevents {api}", domain);
        }
    }

    /// <summary>virCheckFlags: the unknown bits, verbatim "unsupported flags (0x..) in function F".</summary>
    public static void CheckFlags(uint flags, uint allowed, string function, VirErrorDomain domain = VirErrorDomain.Storage)
    {
        var unsupported = flags & ~allowed;
        if (unsupported != 0)
        {
            throw VirtPoolException.UnsupportedFlags(unsupported, function, domain);
        }
    }

    /// <summary>
    /// libvirtd's generated dispatcher checks list sizes before the driver runs (observed for secrets;
    /// the storage stubs come from the same generator): RPC errors, not invalid-argument ones.
    /// </summary>
    public static void CheckListMax(int requested, int max, string argument, string limitName)
    {
        if (requested < 0)
        {
            throw new VirtPoolException(VirErrorCode.Rpc, $"{argument} must be non-negative", VirErrorDomain.Rpc);
        }

        if (requested > max)
        {
            throw new VirtPoolException(VirErrorCode.Rpc, $"{argument} > {limitName}", VirErrorDomain.Rpc);
        }
    }

    /// <summary>A string array ret (<c>remote_nonnull_string names&lt;N&gt;</c>).</summary>
    public static void WriteNames(XdrWriter writer, IReadOnlyList<string> names, int max)
    {
        writer.WriteArray<string>(names.ToArray(), max, static (w, name) => w.WriteString(name));
    }
}
