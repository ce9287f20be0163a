namespace VirtPool.Rpc;

/// <summary>
/// REMOTE_PROGRAM procedure numbers this server knows about (REMOTE_PROC_* without the prefix). Numbers are
/// fixed by libvirt's remote_protocol.x; they come from the spec's tables in sections 4, 5.3, 7 and 10.3.
/// Anything not listed is answered with "unknown procedure".
/// </summary>
public enum RemoteProcedure
{
    // Connection (spec 4 and 7).
    ConnectOpen = 1,
    ConnectClose = 2,
    ConnectGetType = 3,
    ConnectGetVersion = 4,
    ConnectGetMaxVcpus = 5,
    NodeGetInfo = 6,
    ConnectGetCapabilities = 7,
    ConnectNumOfDomains = 51,
    ConnectGetHostname = 59,
    ConnectSupportsFeature = 60,
    AuthList = 66,
    AuthSaslInit = 67,
    AuthSaslStart = 68,
    AuthSaslStep = 69,
    AuthPolkit = 70,
    ConnectGetUri = 110,
    ConnectIsSecure = 149,
    ConnectGetLibVersion = 157,
    ConnectGetSysinfo = 203,
    ConnectListAllDomains = 273,
    ConnectRegisterCloseCallback = 360,
    ConnectUnregisterCloseCallback = 361,

    /// <summary>MESSAGE, server to client.</summary>
    ConnectEventConnectionClosed = 362,

    // Storage (spec 5.3).
    ConnectNumOfStoragePools = 71,
    ConnectListStoragePools = 72,
    ConnectNumOfDefinedStoragePools = 73,
    ConnectListDefinedStoragePools = 74,
    ConnectFindStoragePoolSources = 75,
    StoragePoolCreateXml = 76,
    StoragePoolDefineXml = 77,
    StoragePoolCreate = 78,
    StoragePoolBuild = 79,
    StoragePoolDestroy = 80,
    StoragePoolDelete = 81,
    StoragePoolUndefine = 82,
    StoragePoolRefresh = 83,
    StoragePoolLookupByName = 84,
    StoragePoolLookupByUuid = 85,
    StoragePoolLookupByVolume = 86,
    StoragePoolGetInfo = 87,
    StoragePoolGetXmlDesc = 88,
    StoragePoolGetAutostart = 89,
    StoragePoolSetAutostart = 90,
    StoragePoolNumOfVolumes = 91,
    StoragePoolListVolumes = 92,
    StorageVolCreateXml = 93,
    StorageVolDelete = 94,
    StorageVolLookupByName = 95,
    StorageVolLookupByKey = 96,
    StorageVolLookupByPath = 97,
    StorageVolGetInfo = 98,
    StorageVolGetXmlDesc = 99,
    StorageVolGetPath = 100,
    StorageVolCreateXmlFrom = 125,
    StoragePoolIsActive = 154,
    StoragePoolIsPersistent = 155,
    StorageVolWipe = 165,
    StorageVolUpload = 208,
    StorageVolDownload = 209,
    StorageVolWipePattern = 259,
    StorageVolResize = 260,
    ConnectListAllStoragePools = 281,
    StoragePoolListAllVolumes = 282,
    ConnectStoragePoolEventRegisterAny = 368,
    ConnectStoragePoolEventDeregisterAny = 369,

    /// <summary>MESSAGE, server to client.</summary>
    StoragePoolEventLifecycle = 370,

    /// <summary>MESSAGE, server to client.</summary>
    StoragePoolEventRefresh = 373,
    StorageVolGetInfoFlags = 378,
    StoragePoolLookupByTargetPath = 391,
    ConnectGetStoragePoolCapabilities = 403,

    // Secrets (spec 10.3).
    ConnectNumOfSecrets = 139,
    ConnectListSecrets = 140,
    SecretLookupByUuid = 141,
    SecretDefineXml = 142,
    SecretGetXmlDesc = 143,
    SecretSetValue = 144,
    SecretGetValue = 145,
    SecretUndefine = 146,
    SecretLookupByUsage = 147,
    ConnectListAllSecrets = 287,
    ConnectSecretEventRegisterAny = 380,
    ConnectSecretEventDeregisterAny = 381,

    /// <summary>MESSAGE, server to client.</summary>
    SecretEventLifecycle = 382,

    /// <summary>MESSAGE, server to client.</summary>
    SecretEventValueChanged = 383,
}
