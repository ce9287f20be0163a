using Microsoft.Extensions.Logging;

namespace VirtPool.Core.Manager;

/// <summary>
/// What the pool manager logs. Source-generated: each call first asks whether its level is on, so a
/// message that is off costs no formatting and no allocation on the hot paths.
/// </summary>
internal static partial class PoolManagerLog
{
    // ----- pool lifecycle (Information) ----------------------------------------------------------

    [LoggerMessage(Level = LogLevel.Information, Message = "storage pool '{Pool}' defined")]
    public static partial void PoolDefined(this ILogger logger, string pool);

    [LoggerMessage(Level = LogLevel.Information, Message = "transient storage pool '{Pool}' created and started with {Volumes} volumes")]
    public static partial void PoolCreated(this ILogger logger, string pool, int volumes);

    [LoggerMessage(Level = LogLevel.Information, Message = "storage pool '{Pool}' built")]
    public static partial void PoolBuilt(this ILogger logger, string pool);

    [LoggerMessage(Level = LogLevel.Information, Message = "storage pool '{Pool}' started with {Volumes} volumes")]
    public static partial void PoolStarted(this ILogger logger, string pool, int volumes);

    [LoggerMessage(Level = LogLevel.Information, Message = "storage pool '{Pool}' destroyed")]
    public static partial void PoolDestroyed(this ILogger logger, string pool);

    [LoggerMessage(Level = LogLevel.Information, Message = "storage pool '{Pool}' deleted")]
    public static partial void PoolDeleted(this ILogger logger, string pool);

    [LoggerMessage(Level = LogLevel.Information, Message = "storage pool '{Pool}' undefined")]
    public static partial void PoolUndefined(this ILogger logger, string pool);

    [LoggerMessage(Level = LogLevel.Information, Message = "storage pool '{Pool}' autostart {Autostart}")]
    public static partial void PoolAutostartSet(this ILogger logger, string pool, string autostart);

    [LoggerMessage(Level = LogLevel.Debug, Message = "storage pool '{Pool}' refreshed: {Volumes} volumes")]
    public static partial void PoolRefreshed(this ILogger logger, string pool, int volumes);

    // ----- volumes (Information) -----------------------------------------------------------------

    [LoggerMessage(Level = LogLevel.Information, Message = "volume '{Volume}' created in storage pool '{Pool}': format {Format}, capacity {Capacity} bytes")]
    public static partial void VolumeCreated(this ILogger logger, string volume, string pool, string? format, ulong capacity);

    [LoggerMessage(Level = LogLevel.Information, Message = "volume '{Volume}' created in storage pool '{Pool}' from volume '{Source}' of storage pool '{SourcePool}': format {Format}, capacity {Capacity} bytes")]
    public static partial void VolumeCloned(this ILogger logger, string volume, string pool, string source, string sourcePool, string? format, ulong capacity);

    [LoggerMessage(Level = LogLevel.Information, Message = "volume '{Volume}' deleted from storage pool '{Pool}'")]
    public static partial void VolumeDeleted(this ILogger logger, string volume, string pool);

    [LoggerMessage(Level = LogLevel.Information, Message = "volume '{Volume}' of storage pool '{Pool}' resized from {From} to {To} bytes")]
    public static partial void VolumeResized(this ILogger logger, string volume, string pool, ulong from, ulong to);

    [LoggerMessage(Level = LogLevel.Information, Message = "volume '{Volume}' of storage pool '{Pool}' wiped ({Algorithm})")]
    private static partial void VolumeWipedCore(this ILogger logger, string volume, string pool, string algorithm);

    /// <summary>The algorithm by virsh's name for it (vol-wipe --algorithm): its enum name in lower case.</summary>
    public static void VolumeWiped(this ILogger logger, string volume, string pool, Backends.VolumeWipeAlgorithm algorithm)
    {
        if (logger.IsEnabled(LogLevel.Information))
        {
            logger.VolumeWipedCore(volume, pool, algorithm.ToString().ToLowerInvariant());
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "volume '{Volume}' of storage pool '{Pool}': {Bytes} bytes uploaded at offset {Offset}")]
    public static partial void VolumeUploaded(this ILogger logger, string volume, string pool, long bytes, ulong offset);

    [LoggerMessage(Level = LogLevel.Information, Message = "volume '{Volume}' of storage pool '{Pool}': {Bytes} bytes downloaded from offset {Offset}")]
    public static partial void VolumeDownloaded(this ILogger logger, string volume, string pool, long bytes, ulong offset);

    [LoggerMessage(Level = LogLevel.Debug, Message = "volume '{Volume}' of storage pool '{Pool}' could not be read before its deletion (its allocation is not accounted): {Message}")]
    public static partial void VolumeUnreadableOnDelete(this ILogger logger, string volume, string pool, string message);

    // ----- failures --------------------------------------------------------------------------------

    [LoggerMessage(Message = "{Operation} of storage pool '{Pool}' failed: {Message}")]
    public static partial void PoolOperationFailed(this ILogger logger, LogLevel level, string operation, string pool, string message);

    [LoggerMessage(Message = "{Operation} of volume '{Volume}' in storage pool '{Pool}' failed: {Message}")]
    public static partial void VolumeOperationFailed(this ILogger logger, LogLevel level, string operation, string volume, string pool, string message);

    [LoggerMessage(Level = LogLevel.Warning, Message = "refresh of storage pool '{Pool}' failed, so the pool was stopped (as libvirt stops it): {Message}")]
    public static partial void RefreshStoppedPool(this ILogger logger, string pool, string message);

    [LoggerMessage(Level = LogLevel.Warning, Message = "refresh of storage pool '{Pool}' failed: its server does not answer, so the pool stays active and is reported inaccessible until a refresh reaches it: {Message}")]
    public static partial void RefreshUnreachable(this ILogger logger, string pool, string message);

    [LoggerMessage(Level = LogLevel.Warning, Message = "refresh of storage pool '{Pool}' after an upload to volume '{Volume}' failed; its volume list stays as it was until the next refresh: {Message}")]
    public static partial void RefreshAfterUploadFailed(this ILogger logger, string pool, string volume, string message);

    [LoggerMessage(Level = LogLevel.Warning, Message = "storage pool '{Pool}': state file '{Path}' cannot be read and is skipped: {Message}")]
    public static partial void StateFileUnreadable(this ILogger logger, string pool, string path, string message);

    // ----- start-up reconciliation -----------------------------------------------------------------

    [LoggerMessage(Level = LogLevel.Information, Message = "first use of the state since boot: runtime state of an earlier boot dropped, autostart pools starting")]
    public static partial void NewBoot(this ILogger logger);

    [LoggerMessage(Level = LogLevel.Warning, Message = "storage pool '{Pool}' marked inactive: its storage is no longer there")]
    public static partial void PoolStorageGone(this ILogger logger, string pool);

    [LoggerMessage(Level = LogLevel.Error, Message = "storage pool '{Pool}' marked inactive: checking its storage failed: {Message}")]
    public static partial void PoolCheckFailed(this ILogger logger, string pool, string message);

    [LoggerMessage(Level = LogLevel.Information, Message = "storage pool '{Pool}' autostarted")]
    public static partial void PoolAutostarted(this ILogger logger, string pool);

    [LoggerMessage(Level = LogLevel.Error, Message = "Failed to autostart storage pool '{Pool}': {Message}")]
    public static partial void AutostartFailed(this ILogger logger, string pool, string message);
}
