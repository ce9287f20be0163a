using VirtPool.Daemon.Host;

namespace VirtPool.Daemon.Tests;

/// <summary>When the idle trimmer gives memory back (its effect on RSS is measured by bench/daemon-memory.sh).</summary>
public sealed class IdleMemoryTrimmerTests
{
    private const long MiB = 1L << 20;

    [Fact]
    public void A_burst_of_allocation_is_trimmed_after_a_quiet_second_and_only_once()
    {
        var trigger = new TrimTrigger(100 * MiB, 0);
        Assert.False(trigger.Tick(130 * MiB, 0));      // allocating
        Assert.True(trigger.Tick(130 * MiB, 0));       // quiet: the burst is over
        trigger.Trimmed(130 * MiB, 0);
        Assert.False(trigger.Tick(130 * MiB, 0));      // nothing new
        Assert.False(trigger.Tick(130 * MiB + (MiB / 2), 0));
    }

    [Fact]
    public void Buffered_packets_given_back_long_after_the_burst_are_trimmed_without_new_allocation()
    {
        // Clients hold 90 MiB of packets: allocated, trimmed while still held.
        var trigger = new TrimTrigger(0, 0);
        Assert.False(trigger.Tick(90 * MiB, 0));
        Assert.True(trigger.Tick(90 * MiB, 0));
        trigger.Trimmed(90 * MiB, 0);
        for (int second = 0; second < 5; second++)
        {
            Assert.False(trigger.Tick(90 * MiB, 0));
        }

        // They close: nothing is allocated, the packets become garbage.
        Assert.False(trigger.Tick(90 * MiB, 90 * MiB));
        Assert.True(trigger.Tick(90 * MiB, 90 * MiB));
    }

    [Fact]
    public void A_running_upload_is_not_trimmed_every_second_but_once_when_it_ends()
    {
        // Stream packets pass through the budget from pooled buffers: hardly any allocation.
        var trigger = new TrimTrigger(0, 0);
        long released = 0;
        for (int second = 0; second < 10; second++)
        {
            released += 500 * MiB;
            Assert.False(trigger.Tick(second * (MiB / 4), released));
        }

        Assert.True(trigger.Tick(10 * (MiB / 4), released));
    }
}
