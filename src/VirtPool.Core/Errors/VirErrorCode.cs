namespace VirtPool.Core.Errors;

/// <summary>libvirt's virErrorNumber values (virterror.h); numbers are part of the wire protocol.</summary>
public enum VirErrorCode
{
    Ok = 0,
    InternalError = 1,
    NoMemory = 2,
    NoSupport = 3,
    NoConnect = 5,
    InvalidArg = 8,
    OperationFailed = 9,
    XmlError = 27,
    OperationDenied = 29,
    XmlDetail = 35,
    SystemError = 38,
    Rpc = 39,
    AuthFailed = 45,
    InvalidStoragePool = 46,
    InvalidStorageVol = 47,
    NoStoragePool = 49,
    NoStorageVol = 50,
    OperationInvalid = 55,
    InvalidSecret = 65,
    NoSecret = 66,
    ConfigUnsupported = 67,
    OperationTimeout = 68,
    Overflow = 70,
    InvalidStream = 73,
    ArgumentUnsupported = 74,
    StorageProbeFailed = 75,
    StoragePoolBuilt = 76,
    OperationAborted = 78,
    OperationUnsupported = 84,
    ResourceBusy = 87,
    AccessDenied = 88,
    StorageVolExist = 90,
    XmlInvalidSchema = 92,
    AuthUnavailable = 94,
}

/// <summary>libvirt's virErrorDomain values used by storage.</summary>
public enum VirErrorDomain
{
    None = 0,
    Xml = 5,
    Rpc = 7,
    Remote = 13,
    Storage = 18,
    Secret = 30,
    Streams = 38,
}
