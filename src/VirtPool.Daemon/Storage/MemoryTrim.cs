namespace VirtPool.Daemon.Storage;

/// <summary>
/// A pool scan allocates in proportion to the pool (headers probed in parallel, the new index), all of it
/// garbage once the index is written. A long-lived daemon would otherwise keep that peak as resident
/// memory until enough other work triggered a full collection; one compacting collection after a scan
/// gives it back to the system.
/// </summary>
internal static class MemoryTrim
{
    public static void AfterScan() => GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
}
