using VirtPool.Daemon.Host;

namespace VirtPool.Daemon.Connections;

/// <summary>What one connection may hold and how long it may take (from <see cref="DaemonOptions"/>).</summary>
internal sealed record ConnectionLimits
{
    /// <summary>Calls running at once (libvirt's max_client_requests).</summary>
    public int MaxCalls { get; init; } = DaemonOptions.DefaultMaxClientRequests;

    /// <summary>Calls read but not finished; beyond it the connection stops reading.</summary>
    public int MaxQueuedCalls { get; init; } = DaemonOptions.DefaultMaxQueuedClientRequests;

    /// <summary>Unsent output beyond which the connection is not read, and beyond which its unread events close it.</summary>
    public long MaxUnsentOutputBytes { get; init; } = DaemonOptions.DefaultMaxUnsentOutputBytes;

    public int BusyPollMicros { get; init; }

    /// <summary>How long a frame may wait on the socket for its remaining bytes; zero or less: forever.</summary>
    public TimeSpan FrameTimeout { get; init; } = DaemonOptions.DefaultFrameTimeout;

    /// <summary>How long after it was accepted a connection may go without CONNECT_OPEN; zero or less: forever.</summary>
    public TimeSpan HandshakeTimeout { get; init; } = DaemonOptions.DefaultHandshakeTimeout;

    /// <summary>The budget large frames are reserved from, shared by all connections of a daemon.</summary>
    public IncomingBudget Budget { get; init; } = new(DaemonOptions.DefaultMaxBufferedBytes);

    /// <summary>Where client-caused warnings go (rate-limited); null: all of them to the connection's logger.</summary>
    public RateLimitedLog? ProtocolErrors { get; init; }

    /// <summary>
    /// Where unexpected handler failures go (rate-limited apart from the warnings, so a flood of
    /// malformed packets cannot hide a defect); null: all of them to the connection's logger.
    /// </summary>
    public RateLimitedLog? Failures { get; init; }
}
