namespace VirtPool.Backends.Gluster;

/// <summary>
/// Runs blocking gfapi calls on one connected mount, each bounded in time (the backend's is a lease on
/// the pool's NetworkConnection). A long operation (a transfer, a wipe) is many short calls, so a dead
/// server fails it within one call's timeout, never after the whole transfer's.
/// </summary>
public interface IGlusterSession
{
    Task<T> RunAsync<T>(Func<GlusterMount, T> call, string operation, CancellationToken cancellationToken);

    /// <summary>
    /// Closes a file (glfs_close may wait for the server); never cancelled, so the fd is not leaked. On a
    /// session whose connection was lost it does nothing: glfs_fini of the retired handle frees it.
    /// </summary>
    Task CloseAsync(GlusterFile file);
}

/// <summary>Session helpers.</summary>
public static class GlusterSessions
{
    public static Task RunAsync(this IGlusterSession session, Action<GlusterMount> call, string operation, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(session);
        return session.RunAsync(
            mount =>
            {
                call(mount);
                return true;
            },
            operation,
            cancellationToken);
    }
}
