namespace VirtPool.Cli.Output;

/// <summary>
/// virsh 9.0's fixed texts for the storage and secret commands.
/// <para>Methods ending in a newline are stdout messages that virsh prints with vshPrintExtra: write them
/// with <see cref="VirshConsole.PrintExtra"/> (nothing under -q).</para>
/// <para>The others are error texts without the "error: " prefix and newline: write them with
/// <see cref="VirshConsole.Error"/>. A failing command usually prints its own error first and then the
/// library error (a <c>VirtPoolException</c>'s Message) as a second "error:" line.</para>
/// </summary>
public static class VirshMessages
{
    // ---- pool-* success messages (vshPrintExtra) ----
    public static string PoolMarkedAutostart(string pool) => $"Pool {pool} marked as autostarted\n";

    public static string PoolUnmarkedAutostart(string pool) => $"Pool {pool} unmarked as autostarted\n";

    public static string PoolCreatedFrom(string pool, string file) => $"Pool {pool} created from {file}\n";

    public static string PoolCreated(string pool) => $"Pool {pool} created\n";

    public static string PoolDefinedFrom(string pool, string file) => $"Pool {pool} defined from {file}\n";

    public static string PoolDefined(string pool) => $"Pool {pool} defined\n";

    public static string PoolBuilt(string pool) => $"Pool {pool} built\n";

    public static string PoolStarted(string pool) => $"Pool {pool} started\n";

    public static string PoolDestroyed(string pool) => $"Pool {pool} destroyed\n";

    public static string PoolDeleted(string pool) => $"Pool {pool} deleted\n";

    public static string PoolRefreshed(string pool) => $"Pool {pool} refreshed\n";

    public static string PoolUndefined(string pool) => $"Pool {pool} has been undefined\n";

    // ---- vol-* success messages (vshPrintExtra) ----
    public static string VolCreated(string vol) => $"Vol {vol} created\n";

    public static string VolCreatedFrom(string vol, string file) => $"Vol {vol} created from {file}\n";

    public static string VolCreatedFromInput(string vol, string inputVol) => $"Vol {vol} created from input vol {inputVol}\n";

    public static string VolCloned(string vol, string original) => $"Vol {vol} cloned from {original}\n";

    public static string VolDeleted(string vol) => $"Vol {vol} deleted\n";

    public static string VolWiped(string vol) => $"Vol {vol} wiped\n";

    /// <summary>vol-resize; <paramref name="capacity"/> is the text the user gave (after a leading '-' was stripped).</summary>
    public static string VolResized(string vol, string capacity, bool delta)
        => delta ? $"Size of volume '{vol}' successfully changed by {capacity}\n" : $"Size of volume '{vol}' successfully changed to {capacity}\n";

    // ---- errors (vshError) ----

    /// <summary>VSH_EXCLUSIVE_OPTIONS: "Options --all and --inactive are mutually exclusive".</summary>
    public static string MutuallyExclusive(string first, string second) => $"Options --{first} and --{second} are mutually exclusive";

    public static string FailedToGetPool(string pool) => $"failed to get pool '{pool}'";

    /// <summary>A volume was not found; without --pool virsh suggests giving it.</summary>
    public static string FailedToGetVol(string vol, string? poolOptionHint = null)
        => poolOptionHint is null ? $"failed to get vol '{vol}'" : $"failed to get vol '{vol}', specifying --{poolOptionHint} might help";

    public static string PoolNotActive(string pool) => $"pool '{pool}' is not active";

    public static string VolNotInPool(string vol, string pool) => $"Requested volume '{vol}' is not in pool '{pool}'";

    public static string FailedToMarkAutostart(string pool) => $"failed to mark pool {pool} as autostarted";

    public static string FailedToUnmarkAutostart(string pool) => $"failed to unmark pool {pool} as autostarted";

    public static string FailedToCreatePoolFrom(string file) => $"Failed to create pool from {file}";

    public static string FailedToCreatePool(string pool) => $"Failed to create pool {pool}";

    public static string FailedToDefinePoolFrom(string file) => $"Failed to define pool from {file}";

    public static string FailedToDefinePool(string pool) => $"Failed to define pool {pool}";

    public static string FailedToBuildPool(string pool) => $"Failed to build pool {pool}";

    public static string FailedToStartPool(string pool) => $"Failed to start pool {pool}";

    public static string FailedToDestroyPool(string pool) => $"Failed to destroy pool {pool}";

    public static string FailedToDeletePool(string pool) => $"Failed to delete pool {pool}";

    public static string FailedToRefreshPool(string pool) => $"Failed to refresh pool {pool}";

    public static string FailedToUndefinePool(string pool) => $"Failed to undefine pool {pool}";

    public const string FailedToGetPoolUuid = "failed to get pool UUID";

    public const string FailedToListPools = "Failed to list pools";

    public const string CouldNotRetrievePoolInformation = "Could not retrieve pool information";

    public const string FailedToGetPoolCapabilities = "failed to get storage pool capabilities";

    public static string InvalidPoolType(string type) => $"Invalid pool type '{type}'";

    public static string MalformedSize(string size) => $"Malformed size {size}";

    public static string FailedToCreateVol(string vol) => $"Failed to create vol {vol}";

    public static string FailedToCreateVolFrom(string file) => $"Failed to create vol from {file}";

    public const string FailedToGetParentPool = "failed to get parent pool";

    public static string FailedToCloneVol(string original) => $"Failed to clone vol from {original}";

    public static string FailedToDeleteVol(string vol) => $"Failed to delete vol {vol}";

    public static string UnsupportedWipeAlgorithm(string algorithm) => $"Unsupported algorithm '{algorithm}'";

    public static string FailedToWipeVol(string vol) => $"Failed to wipe vol {vol}";

    public const string NegativeSizeRequiresShrink = "negative size requires --shrink";

    public static string FailedToResizeVol(string vol, string capacity, bool delta)
        => delta ? $"Failed to change size of volume '{vol}' by {capacity}" : $"Failed to change size of volume '{vol}' to {capacity}";

    public const string FailedToListVolumes = "Failed to list volumes";

    public static string CannotRead(string file) => $"cannot read {file}";

    public static string CannotCreate(string file) => $"cannot create {file}";

    public static string UnableToStat(string file) => $"unable to stat {file}";

    public const string CannotCreateStream = "cannot create a new stream";

    public static string CannotUploadToVolume(string vol) => $"cannot upload to volume {vol}";

    public static string CannotSendDataToVolume(string vol) => $"cannot send data to volume {vol}";

    public static string CannotDownloadFromVolume(string vol) => $"cannot download from volume {vol}";

    public static string CannotReceiveDataFromVolume(string vol) => $"cannot receive data from volume {vol}";

    public static string CannotCloseFile(string file) => $"cannot close file {file}";

    public static string CannotCloseVolume(string vol) => $"cannot close volume {vol}";

    /// <summary>virFileReadAll's failure when pool-define/pool-create/vol-create cannot open the XML file.</summary>
    public static string FailedToOpenFile(string file, string strerror) => $"Failed to open file '{file}': {strerror}";

    /// <summary><c>help NAME</c> for a name that is neither a command nor a group keyword.</summary>
    public static string NoSuchCommandOrGroup(string name) => $"command or command group '{name}' doesn't exist";
}
