using VirtPool.Core.Errors;
using VirtPool.Rpc.Xdr;

namespace VirtPool.Rpc;

/// <summary>virErrorLevel.</summary>
public enum VirErrorLevel
{
    None = 0,
    Warning = 1,
    Error = 2,
}

/// <summary>
/// The <c>remote_error</c> struct (virNetMessageError), payload of REPLY/ERROR and STREAM/ERROR (spec 3.1).
/// Clients only look at code, domain and message; str1/str2/int1/int2 mirror what libvirtd fills in.
/// </summary>
public sealed record RemoteError
{
    /// <summary>Longest message we send, in UTF-16 chars: at most 3 UTF-8 bytes each, so under the 4 MiB limit.</summary>
    private const int MaxStringChars = RpcLimits.StringMax / 4;

    public required VirErrorCode Code { get; init; }

    public required VirErrorDomain Domain { get; init; }

    /// <summary>The full text virsh prints after "error: ".</summary>
    public string? Message { get; init; }

    public VirErrorLevel Level { get; init; } = VirErrorLevel.Error;

    public string? Str1 { get; init; }

    public string? Str2 { get; init; }

    public string? Str3 { get; init; }

    public int Int1 { get; init; } = -1;

    public int Int2 { get; init; } = -1;

    /// <summary>Field order of virnetprotocol.x; dom and net are always sent absent (storage never has them).</summary>
    public void Encode(XdrWriter writer)
    {
        writer.WriteInt32((int)Code);
        writer.WriteInt32((int)Domain);
        writer.WriteOptionalString(Message);
        writer.WriteInt32((int)Level);
        writer.WriteBool(false); // dom
        writer.WriteOptionalString(Str1);
        writer.WriteOptionalString(Str2);
        writer.WriteOptionalString(Str3);
        writer.WriteInt32(Int1);
        writer.WriteInt32(Int2);
        writer.WriteBool(false); // net
    }

    /// <summary>Decodes the struct; a present dom or net is parsed and dropped.</summary>
    public static RemoteError Decode(ref XdrReader reader)
    {
        var code = (VirErrorCode)reader.ReadInt32();
        var domain = (VirErrorDomain)reader.ReadInt32();
        string? message = reader.ReadOptionalString();
        var level = (VirErrorLevel)reader.ReadInt32();
        if (reader.ReadBool())
        {
            // remote_nonnull_domain { name, uuid, id }
            reader.ReadString();
            reader.ReadFixedOpaque(RpcLimits.UuidLength);
            reader.ReadInt32();
        }

        string? str1 = reader.ReadOptionalString();
        string? str2 = reader.ReadOptionalString();
        string? str3 = reader.ReadOptionalString();
        int int1 = reader.ReadInt32();
        int int2 = reader.ReadInt32();
        if (reader.ReadBool())
        {
            // remote_nonnull_network { name, uuid }
            reader.ReadString();
            reader.ReadFixedOpaque(RpcLimits.UuidLength);
        }

        return new RemoteError
        {
            Code = code,
            Domain = domain,
            Message = message,
            Level = level,
            Str1 = str1,
            Str2 = str2,
            Str3 = str3,
            Int1 = int1,
            Int2 = int2,
        };
    }

    public static RemoteError Decode(ReadOnlySpan<byte> payload)
    {
        var reader = new XdrReader(payload);
        return Decode(ref reader);
    }

    /// <summary>
    /// The error libvirtd would send for this exception: message = prefix + detail, str1 = the prefix template,
    /// str2 = the detail, int1 = int2 = -1 (virRaiseErrorFull). A verbatim error (no prefix, like "unsupported
    /// flags ...") has no template; its str1/str2 are left absent and int1/int2 are 0 as virReportInvalidArg has them.
    /// </summary>
    public static RemoteError FromException(VirtPoolException exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        bool verbatim = !string.Equals(exception.Message, VirtPoolException.Compose(exception.Code, exception.Detail), StringComparison.Ordinal);
        return new RemoteError
        {
            Code = exception.Code,
            Domain = exception.Domain,
            Message = Cap(exception.Message),
            Level = VirErrorLevel.Error,
            Str1 = verbatim ? null : Cap(exception.Template),
            Str2 = verbatim ? null : Cap(exception.Detail),
            Int1 = verbatim ? 0 : -1,
            Int2 = verbatim ? 0 : -1,
        };
    }

    /// <summary>The client-side view: an exception carrying code, domain and the message as sent.</summary>
    public VirtPoolException ToException()
        => VirtPoolException.Verbatim(Code, Message ?? VirtPoolException.Compose(Code, null), Domain);

    /// <summary>A VIR_ERR_RPC / VIR_FROM_RPC error; its message is the detail verbatim ("%s" template).</summary>
    public static RemoteError Rpc(string message)
        => FromException(new VirtPoolException(VirErrorCode.Rpc, message, VirErrorDomain.Rpc));

    /// <summary>libvirtd's answer to a procedure it does not implement; libvirt clients turn it into NO_SUPPORT.</summary>
    public static RemoteError UnknownProcedure(int procedure) => Rpc($"unknown procedure: {procedure}");

    /// <summary>libvirtd formats the ids with %d, so an id above int.MaxValue prints negative there too.</summary>
    public static RemoteError UnknownProgram(uint program, uint version)
        => Rpc($"Cannot find program {(int)program} version {(int)version}");

    /// <summary>The args struct ended early or broke a limit (spec 2.2).</summary>
    public static RemoteError PayloadDecodeFailed() => Rpc("Unable to decode message payload");

    /// <summary>The ret struct broke a limit (virNetMessageEncodePayload): a string, array or the message too large.</summary>
    public static RemoteError PayloadEncodeFailed() => Rpc(PayloadEncodeFailedMessage);

    /// <summary>libvirt's words when a message cannot be encoded, by the daemon or by the client.</summary>
    public const string PayloadEncodeFailedMessage = "Unable to encode message payload";

    /// <summary>
    /// virNetMessageSaveError's answer for a call that failed without a libvirt error: what an unexpected
    /// .NET exception is. Its text stays in the daemon's log; the client never sees .NET's words.
    /// </summary>
    public static RemoteError NoErrorSet() => new()
    {
        Code = VirErrorCode.InternalError,
        Domain = VirErrorDomain.Rpc,
        Message = "Library function returned error but did not set virError",
        Int1 = 0,
        Int2 = 0,
    };

    public static RemoteError UnexpectedStatus(RpcMessageStatus status) => Rpc($"Unexpected message status {(uint)status}");

    public static RemoteError UnexpectedType(RpcMessageType type) => Rpc($"Unexpected message type {(uint)type}");

    private static string? Cap(string? text) => text is { Length: > MaxStringChars } ? text[..MaxStringChars] : text;
}
