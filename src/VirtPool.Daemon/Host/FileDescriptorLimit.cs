using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using VirtPool.Core.Interop;

namespace VirtPool.Daemon.Host;

/// <summary>
/// The process's open files limit (RLIMIT_NOFILE): every connection holds a descriptor. The JIT
/// runtime raises the soft limit to the hard one as it starts, NativeAOT does not, and the usual soft
/// default (1024) is far below max_clients (libvirtd's unit file raises it the same way, LimitNOFILE).
/// </summary>
internal static partial class FileDescriptorLimit
{
    /// <summary>
    /// Descriptors kept for the daemon itself: listeners, epoll, the state folder and its watch, the
    /// files and pipes of running operations (and, for the JIT runtime, assemblies it loads late). A
    /// tiny limit keeps half of itself instead.
    /// </summary>
    public const int Margin = 128;

    private const int RlimitNofile = 7;

    /// <summary>
    /// Raises the soft limit to the hard limit, and warns when max_clients and the margin do not fit
    /// under it (then <see cref="ClientCapacity"/> serves fewer clients).
    /// </summary>
    public static void RaiseForClients(int maxClients, ILogger log)
    {
        if (!TryRaiseSoftToHard(out _, out int errno))
        {
            log.LogWarning("Could not raise the open files limit (RLIMIT_NOFILE): {Error}", StrError.Describe(errno));
        }

        int capacity = ClientCapacity(maxClients);
        if (capacity < maxClients && Read() is { } limit)
        {
            log.LogWarning(
                "max_clients {MaxClients} and {Margin} descriptors for the daemon itself exceed the open files limit {Limit} (RLIMIT_NOFILE): "
                + "at most {Capacity} clients are served; raise the hard limit (LimitNOFILE=) or lower --max-clients",
                maxClients, Reserve(limit.Soft), limit.Soft, capacity);
        }
    }

    /// <summary>
    /// How many clients may hold a descriptor at once: max_clients, or fewer when the soft limit less
    /// the daemon's own reserve is lower. Beyond it new connections are closed like those over
    /// max_clients, so clients can never take the descriptors an operation (or the runtime) needs,
    /// and accept never fails with EMFILE because of them.
    /// </summary>
    public static int ClientCapacity(int maxClients)
    {
        if (Read() is not { } limit)
        {
            return maxClients;
        }

        ulong usable = limit.Soft - Reserve(limit.Soft);
        return usable < (ulong)maxClients ? (int)Math.Max(usable, 1) : maxClients;
    }

    private static ulong Reserve(ulong soft) => Math.Min(Margin, soft / 2);

    /// <summary>Sets the soft limit to the hard limit. <paramref name="soft"/>: the soft limit in force afterwards (0 if unknown).</summary>
    public static bool TryRaiseSoftToHard(out ulong soft, out int errno)
    {
        soft = 0;
        if (GetRLimit(RlimitNofile, out var limit) != 0)
        {
            errno = Marshal.GetLastPInvokeError();
            return false;
        }

        soft = limit.Current;
        if (limit.Current < limit.Maximum)
        {
            var raised = limit with { Current = limit.Maximum };
            if (SetRLimit(RlimitNofile, in raised) != 0)
            {
                errno = Marshal.GetLastPInvokeError();
                return false;
            }

            soft = raised.Current;
        }

        errno = 0;
        return true;
    }

    /// <summary>The soft and hard limits now, or null when they cannot be read.</summary>
    public static (ulong Soft, ulong Hard)? Read()
        => GetRLimit(RlimitNofile, out var limit) == 0 ? (limit.Current, limit.Maximum) : null;

    /// <summary>Sets both limits (tests lower the soft limit to see it raised again).</summary>
    public static bool TrySet(ulong soft, ulong hard) => SetRLimit(RlimitNofile, new RLimit(soft, hard)) == 0;

    [LibraryImport("libc", EntryPoint = "getrlimit", SetLastError = true)]
    private static partial int GetRLimit(int resource, out RLimit limit);

    [LibraryImport("libc", EntryPoint = "setrlimit", SetLastError = true)]
    private static partial int SetRLimit(int resource, in RLimit limit);

    /// <summary>struct rlimit: rlim_cur, rlim_max (64-bit on Linux x86-64 and arm64).</summary>
    [StructLayout(LayoutKind.Sequential)]
    private readonly record struct RLimit(ulong Current, ulong Maximum);
}
