namespace VirtPool.Core.Errors;

/// <summary>
/// An error with libvirt's code, domain and message. <see cref="Exception.Message"/> is the full text
/// virsh prints after "error: " (prefix for the code + detail), built the way virerror.c builds it.
/// </summary>
public sealed class VirtPoolException : Exception
{
    public VirtPoolException(VirErrorCode code, string? detail, VirErrorDomain domain = VirErrorDomain.Storage, Exception? inner = null)
        : base(Compose(code, detail), inner)
    {
        Code = code;
        Domain = domain;
        Detail = detail;
    }

    /// <summary>
    /// An error whose message libvirt raises verbatim, without the code's prefix (virReportInvalidArg's
    /// "Flags 'A' and 'B' are mutually exclusive", "unsupported flags (0x2) in function F").
    /// </summary>
    private VirtPoolException(VirErrorCode code, VirErrorDomain domain, string message)
        : base(message)
    {
        Code = code;
        Domain = domain;
        Detail = message;
    }

    public static VirtPoolException Verbatim(VirErrorCode code, string message, VirErrorDomain domain = VirErrorDomain.Storage)
        => new(code, domain, message);

    public VirErrorCode Code { get; }

    public VirErrorDomain Domain { get; }

    /// <summary>The detail part (libvirt's str2), or null.</summary>
    public string? Detail { get; }

    /// <summary>The prefix template with %s for the detail (libvirt's str1).</summary>
    public string Template => PrefixTemplate(Code, Detail is not null);

    public static string Compose(VirErrorCode code, string? detail)
        => detail is null ? PrefixTemplate(code, false) : PrefixTemplate(code, true).Replace("%s", detail, StringComparison.Ordinal);

    /// <summary>libvirt's message table (virErrorMsgStrings) for the codes storage uses.</summary>
    public static string PrefixTemplate(VirErrorCode code, bool withDetail) => (code, withDetail) switch
    {
        (VirErrorCode.InternalError, false) => "internal error",
        (VirErrorCode.InternalError, true) => "internal error: %s",
        (VirErrorCode.NoMemory, _) => "out of memory",
        (VirErrorCode.NoSupport, false) => "this function is not supported by the connection driver",
        (VirErrorCode.NoSupport, true) => "this function is not supported by the connection driver: %s",
        (VirErrorCode.NoConnect, false) => "no connection driver available",
        (VirErrorCode.NoConnect, true) => "no connection driver available for %s",
        (VirErrorCode.InvalidArg, false) => "invalid argument",
        (VirErrorCode.InvalidArg, true) => "invalid argument: %s",
        (VirErrorCode.OperationFailed, false) => "operation failed",
        (VirErrorCode.OperationFailed, true) => "operation failed: %s",
        (VirErrorCode.XmlError, false) => "XML description is invalid or not well formed",
        (VirErrorCode.XmlError, true) => "XML error: %s",
        (VirErrorCode.OperationDenied, false) => "operation forbidden for read only access",
        (VirErrorCode.OperationDenied, true) => "operation forbidden: %s",
        (VirErrorCode.XmlDetail, false) => "parser error",
        (VirErrorCode.SystemError, false) => "system call error",
        (VirErrorCode.Rpc, false) => "RPC error",
        (VirErrorCode.AuthFailed, false) => "authentication failed",
        (VirErrorCode.AuthFailed, true) => "authentication failed: %s",
        (VirErrorCode.InvalidStoragePool, false) => "invalid storage pool pointer in",
        (VirErrorCode.InvalidStoragePool, true) => "invalid storage pool pointer in %s",
        (VirErrorCode.InvalidStorageVol, false) => "invalid storage volume pointer in",
        (VirErrorCode.InvalidStorageVol, true) => "invalid storage volume pointer in %s",
        (VirErrorCode.NoStoragePool, false) => "Storage pool not found",
        (VirErrorCode.NoStoragePool, true) => "Storage pool not found: %s",
        (VirErrorCode.NoStorageVol, false) => "Storage volume not found",
        (VirErrorCode.NoStorageVol, true) => "Storage volume not found: %s",
        (VirErrorCode.OperationInvalid, false) => "Requested operation is not valid",
        (VirErrorCode.OperationInvalid, true) => "Requested operation is not valid: %s",
        (VirErrorCode.InvalidSecret, false) => "Invalid secret",
        (VirErrorCode.InvalidSecret, true) => "Invalid secret: %s",
        (VirErrorCode.NoSecret, false) => "Secret not found",
        (VirErrorCode.NoSecret, true) => "Secret not found: %s",
        (VirErrorCode.ConfigUnsupported, false) => "unsupported configuration",
        (VirErrorCode.ConfigUnsupported, true) => "unsupported configuration: %s",
        (VirErrorCode.OperationTimeout, false) => "Timed out during operation",
        (VirErrorCode.OperationTimeout, true) => "Timed out during operation: %s",
        (VirErrorCode.Overflow, false) => "numerical overflow",
        (VirErrorCode.Overflow, true) => "numerical overflow: %s",
        (VirErrorCode.ArgumentUnsupported, false) => "argument unsupported",
        (VirErrorCode.ArgumentUnsupported, true) => "argument unsupported: %s",
        (VirErrorCode.StorageProbeFailed, false) => "Storage pool probe failed",
        (VirErrorCode.StorageProbeFailed, true) => "Storage pool probe failed: %s",
        (VirErrorCode.StoragePoolBuilt, false) => "Storage pool already built",
        (VirErrorCode.StoragePoolBuilt, true) => "Storage pool already built: %s",
        (VirErrorCode.OperationAborted, false) => "operation aborted",
        (VirErrorCode.OperationAborted, true) => "operation aborted: %s",
        (VirErrorCode.OperationUnsupported, false) => "Operation not supported",
        (VirErrorCode.OperationUnsupported, true) => "Operation not supported: %s",
        (VirErrorCode.ResourceBusy, false) => "resource busy",
        (VirErrorCode.ResourceBusy, true) => "resource busy: %s",
        (VirErrorCode.AccessDenied, false) => "access denied",
        (VirErrorCode.AccessDenied, true) => "access denied: %s",
        (VirErrorCode.StorageVolExist, false) => "this storage volume exists already",
        (VirErrorCode.StorageVolExist, true) => "storage volume %s exists already",
        (VirErrorCode.XmlInvalidSchema, false) => "XML document failed to validate against schema",
        (VirErrorCode.XmlInvalidSchema, true) => "XML document failed to validate against schema: %s",
        (VirErrorCode.AuthUnavailable, false) => "authentication unavailable",
        (VirErrorCode.AuthUnavailable, true) => "authentication unavailable: %s",
        // XmlDetail, SystemError and Rpc with detail: the detail verbatim.
        (_, true) => "%s",
        _ => "unknown error",
    };

    // Shorthands for the errors every layer raises.
    public static VirtPoolException Xml(string detail) => new(VirErrorCode.XmlError, detail);

    public static VirtPoolException Internal(string detail) => new(VirErrorCode.InternalError, detail);

    public static VirtPoolException InvalidOperation(string detail) => new(VirErrorCode.OperationInvalid, detail);

    public static VirtPoolException InvalidArg(string detail) => new(VirErrorCode.InvalidArg, detail);

    public static VirtPoolException Failed(string detail) => new(VirErrorCode.OperationFailed, detail);

    public static VirtPoolException Unsupported(string detail) => new(VirErrorCode.ConfigUnsupported, detail);

    public static VirtPoolException NoSupport(string detail) => new(VirErrorCode.NoSupport, detail);

    /// <summary>virCheckFlags' error: VIR_ERR_INVALID_ARG with its own text, without the usual prefix.</summary>
    public static VirtPoolException UnsupportedFlags(uint unsupported, string function, VirErrorDomain domain = VirErrorDomain.Storage)
        => Verbatim(VirErrorCode.InvalidArg, $"unsupported flags (0x{unsupported:x}) in function {function}", domain);

    /// <summary>An OS failure: libvirt's virReportSystemError, "what: strerror".</summary>
    public static VirtPoolException System(string what, int errno)
        => new(VirErrorCode.SystemError, $"{what}: {Interop.StrError.Describe(errno)}");

    public static VirtPoolException System(string what, Exception ex)
        => new(VirErrorCode.SystemError, $"{what}: {Interop.StrError.Describe(ex)}", inner: ex);
}
