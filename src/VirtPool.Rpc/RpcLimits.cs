namespace VirtPool.Rpc;

/// <summary>Size limits of libvirt's RPC protocol (spec 1.7); the client rejects anything larger.</summary>
public static class RpcLimits
{
    /// <summary>The leading length word, which counts itself.</summary>
    public const int LengthWordSize = 4;

    public const int HeaderSize = 24;

    /// <summary>Smallest legal length word: the word itself plus the header, empty payload.</summary>
    public const int MinPacketLength = LengthWordSize + HeaderSize;

    /// <summary>Largest header + payload (VIR_NET_MESSAGE_MAX).</summary>
    public const int MaxMessage = 16 * 1024 * 1024;

    /// <summary>Largest legal length word.</summary>
    public const int MaxPacketLength = MaxMessage + LengthWordSize;

    public const int MaxPayload = MaxMessage - HeaderSize;

    /// <summary>What old clients can receive; download stream chunks stay at or under it.</summary>
    public const int LegacyPayloadMax = 262_144;

    /// <summary>REMOTE_STRING_MAX: any <c>remote_nonnull_string</c>, also the error struct's strings.</summary>
    public const int StringMax = 4_194_304;

    public const int UuidLength = 16;

    public const int AuthTypeListMax = 20;

    public const int StoragePoolListMax = 16_384;

    public const int StorageVolListMax = 16_384;

    public const int SecretValueMax = 65_536;

    public const int SecretListMax = 16_384;
}
