namespace VirtPool.TestSupport;

/// <summary>
/// Waits for a condition by checking it again and again, never for a fixed time: a test goes on the
/// moment the condition holds, on a fast machine as on a loaded one. The limit is no deadline for the
/// condition, only what turns a hang into a failure that names what never happened.
/// </summary>
public static class Eventually
{
    /// <summary>How long a condition may take before the test is taken to hang.</summary>
    public static readonly TimeSpan HangGuard = TimeSpan.FromMinutes(2);

    private const int LongestPauseMs = 20;

    /// <summary>Returns once <paramref name="condition"/> holds; throws a <see cref="TimeoutException"/> naming <paramref name="what"/> when it never does.</summary>
    public static async Task UntilAsync(Func<bool> condition, string what, TimeSpan? hangGuard = null)
    {
        ArgumentNullException.ThrowIfNull(condition);
        var limit = hangGuard ?? HangGuard;
        var started = Environment.TickCount64;
        for (var pause = 1; !condition(); pause = Math.Min(pause * 2, LongestPauseMs))
        {
            ThrowIfHung(started, limit, what);
            await Task.Delay(pause).ConfigureAwait(false);
        }
    }

    /// <summary>As <see cref="UntilAsync(Func{bool}, string, TimeSpan?)"/>, for a condition that has to be asked for (a call to a server).</summary>
    public static async Task UntilAsync(Func<Task<bool>> condition, string what, TimeSpan? hangGuard = null)
    {
        ArgumentNullException.ThrowIfNull(condition);
        var limit = hangGuard ?? HangGuard;
        var started = Environment.TickCount64;
        for (var pause = 1; !await condition().ConfigureAwait(false); pause = Math.Min(pause * 2, LongestPauseMs))
        {
            ThrowIfHung(started, limit, what);
            await Task.Delay(pause).ConfigureAwait(false);
        }
    }

    /// <summary>As <see cref="UntilAsync(Func{bool}, string, TimeSpan?)"/>, for callers that cannot await (constructors).</summary>
    public static void Until(Func<bool> condition, string what, TimeSpan? hangGuard = null)
    {
        ArgumentNullException.ThrowIfNull(condition);
        var limit = hangGuard ?? HangGuard;
        var started = Environment.TickCount64;
        for (var pause = 1; !condition(); pause = Math.Min(pause * 2, LongestPauseMs))
        {
            ThrowIfHung(started, limit, what);
            Thread.Sleep(pause);
        }
    }

    private static void ThrowIfHung(long started, TimeSpan limit, string what)
    {
        if (Environment.TickCount64 - started > (long)limit.TotalMilliseconds)
        {
            throw new TimeoutException($"still waiting after {limit.TotalSeconds:0} s for: {what}");
        }
    }
}
