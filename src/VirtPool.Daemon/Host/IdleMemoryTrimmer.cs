using Microsoft.Extensions.Hosting;
using VirtPool.Daemon.Connections;

namespace VirtPool.Daemon.Host;

/// <summary>
/// Gives memory back when the daemon goes idle after heavy work. Listing and inspecting thousands of
/// volumes, thousands of connections coming and going, a flood of large packets: all allocate
/// short-lived objects, and the GC keeps the grown heap resident until it needs it again.
/// Once a second the trimmer asks its <see cref="TrimTrigger"/> whether a burst just ended; if so, one
/// compacting collection returns the pages (a few milliseconds for the daemon's small live heap).
/// </summary>
internal sealed class IdleMemoryTrimmer : BackgroundService
{
    /// <summary>
    /// What a closed connection is taken to have held (its socket, reader, queues and buffers: about
    /// 5 KiB measured idle, more once used). 3000 idle clients leaving allocate almost nothing, so
    /// without this their garbage would stay resident until the next burst.
    /// </summary>
    private const long ClosedConnectionBytes = 16 << 10;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var trigger = new TrimTrigger(GC.GetTotalAllocatedBytes(precise: false), GivenBack());
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
        {
            if (trigger.Tick(GC.GetTotalAllocatedBytes(precise: false), GivenBack()))
            {
                VirtPool.Rpc.RpcBufferPool.ReleaseIdle();
                GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
                trigger.Trimmed(GC.GetTotalAllocatedBytes(precise: false), GivenBack());
            }
        }
    }

    /// <summary>Memory that became garbage without allocating: buffered packets released, connections closed.</summary>
    private static long GivenBack() => IncomingBudget.TotalReleasedBytes + (VirtPoolDaemon.ClosedConnections * ClosedConnectionBytes);
}

/// <summary>
/// When to trim, from two counters sampled once a second: bytes allocated, and bytes given back without
/// allocating (buffered incoming packets released, <see cref="IncomingBudget.TotalReleasedBytes"/>, and
/// an estimate for each closed connection). Either one having
/// moved by more than <see cref="BurstBytes"/> since the last trim, then a second in which both stayed
/// quiet, means a burst is over. Watching allocation alone misses memory that becomes garbage without
/// allocating: 64 clients holding 16 MiB packets allocate while they send, the trim after that finds
/// the packets still held, and when they close seconds later nothing allocates again. Requiring both
/// quiet keeps a running upload (whose packets pass through the budget) from being trimmed every second.
/// </summary>
internal sealed class TrimTrigger(long allocated, long released)
{
    public const long BurstBytes = 4L << 20;

    public const long QuietBytes = 1L << 20;

    private long _allocatedAtTrim = allocated;
    private long _releasedAtTrim = released;
    private long _previousAllocated = allocated;
    private long _previousReleased = released;

    /// <summary>Takes this second's counters; true when a trim is due.</summary>
    public bool Tick(long allocated, long released)
    {
        bool quiet = allocated - _previousAllocated < QuietBytes && released - _previousReleased < QuietBytes;
        bool burst = allocated - _allocatedAtTrim > BurstBytes || released - _releasedAtTrim > BurstBytes;
        _previousAllocated = allocated;
        _previousReleased = released;
        return quiet && burst;
    }

    /// <summary>Records the counters right after a trim: the next one needs a new burst.</summary>
    public void Trimmed(long allocated, long released)
    {
        _allocatedAtTrim = _previousAllocated = allocated;
        _releasedAtTrim = _previousReleased = released;
    }
}
