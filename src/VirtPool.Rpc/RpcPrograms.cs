namespace VirtPool.Rpc;

/// <summary>RPC program ids and versions (spec 1.6).</summary>
public static class RpcPrograms
{
    /// <summary>REMOTE_PROGRAM: every storage, secret and connection procedure.</summary>
    public const uint Remote = 0x20008086;

    public const uint RemoteVersion = 1;

    /// <summary>KEEPALIVE_PROGRAM, "keep" in ASCII.</summary>
    public const uint Keepalive = 0x6b656570;

    public const uint KeepaliveVersion = 1;

    /// <summary>Programs libvirtd serves that we do not; a call to them gets "Cannot find program".</summary>
    public const uint Qemu = 0x20008087;

    public const uint Lxc = 0x00068000;

    public const uint Admin = 0x06900690;
}

/// <summary>Keepalive program procedures; both are MESSAGEs with an empty payload.</summary>
public enum KeepaliveProcedure
{
    Ping = 1,
    Pong = 2,
}
