using VirtPool.Core.Errors;
using VirtPool.Core.Interop;

namespace VirtPool.Core.State;

/// <summary>
/// An exclusive lock shared by this process's callers and other processes: first an in-process
/// semaphore (its waiters go in turn; polling the flock alone lets a caller in a loop take it again
/// before a waiter wakes, for ever), then a flock on an open descriptor, polled without blocking a
/// thread and backing off to 50 ms. A flock dies with its process, so a killed one leaves no lock behind.
/// </summary>
public static class GatedFlock
{
    /// <summary>
    /// Waits for <paramref name="gate"/>, opens the file with <paramref name="open"/> (which throws its
    /// own error) and takes the flock; disposing the result closes the descriptor, which drops the
    /// flock, then releases the gate.
    /// </summary>
    public static async Task<IDisposable> AcquireAsync(SemaphoreSlim gate, Func<int> open, string path, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(gate);
        ArgumentNullException.ThrowIfNull(open);
        await gate.WaitAsync(ct).ConfigureAwait(false);
        var fd = -1;
        try
        {
            fd = open();
            var delay = 1;
            while (LibC.Flock(fd, LibC.LOCK_EX | LibC.LOCK_NB) < 0)
            {
                var errno = LibC.Errno;
                if (errno == Errno.EINTR)
                {
                    continue;
                }

                if (errno != Errno.EAGAIN)
                {
                    throw VirtPoolException.System($"cannot lock '{path}'", errno);
                }

                // Held by another process: poll, backing off to 50 ms (an operation there takes at least that).
                await Task.Delay(delay, ct).ConfigureAwait(false);
                delay = Math.Min(delay * 2, 50);
            }

            return new Releaser(gate, fd);
        }
        catch
        {
            if (fd >= 0)
            {
                LibC.Close(fd);
            }

            gate.Release();
            throw;
        }
    }

    private sealed class Releaser(SemaphoreSlim gate, int fd) : IDisposable
    {
        private int _fd = fd;

        public void Dispose()
        {
            var fd = Interlocked.Exchange(ref _fd, -1);
            if (fd >= 0)
            {
                // Closing the descriptor drops the flock; a lock file stays (unlinking a file others may
                // have open would let two holders in).
                LibC.Close(fd);
                gate.Release();
            }
        }
    }
}
