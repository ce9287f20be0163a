using Microsoft.Extensions.Hosting;

namespace VirtPool.Daemon.Host;

/// <summary>
/// Gives memory back when the daemon goes idle after heavy work. Listing and inspecting thousands of
/// volumes, thousands of connections coming and going, a flood of large packets: all allocate
/// short-lived objects, and the GC keeps the grown heap resident until it needs it again.
/// Once a second the trimmer looks at how much was allocated: after a burst of more than
/// <see cref="BurstBytes"/> followed by a quiet second, one compacting collection returns the pages
/// (a few milliseconds for the daemon's small live heap).
/// </summary>
internal sealed class IdleMemoryTrimmer : BackgroundService
{
    private const long BurstBytes = 4L << 20;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var trimmedAt = GC.GetTotalAllocatedBytes(precise: false);
        var previous = trimmedAt;
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
        {
            var now = GC.GetTotalAllocatedBytes(precise: false);
            var quiet = now - previous < (1L << 20);
            if (quiet && now - trimmedAt > BurstBytes)
            {
                VirtPool.Rpc.RpcBufferPool.ReleaseIdle();
                GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
                trimmedAt = GC.GetTotalAllocatedBytes(precise: false);
            }

            previous = now;
        }
    }
}
