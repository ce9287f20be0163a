using System.Diagnostics;
using VirtPool.Core.Errors;

namespace VirtPool.Backends.Network;

/// <summary>
/// Runs blocking calls into a storage client library (librados, libgfapi, libiscsi) with a time limit.
/// Such a call cannot be interrupted: when it overruns, the caller gets an error and goes on while
/// the call keeps its thread until the library returns. Every call of the process shares one bounded
/// set of slots, so a dead server can hold at most <see cref="SlotCount"/> threads, never a thread per
/// request; a call that finds no free slot within its limit fails with the same timeout error.
/// </summary>
public static class NativeCalls
{
    /// <summary>How many blocking library calls may run (or hang) at once in this process.</summary>
    public const int SlotCount = 64;

    private static readonly SemaphoreSlim Slots = new(SlotCount, SlotCount);

    /// <summary>Slots free now (for tests and the daemon's own bounds).</summary>
    public static int FreeSlots => Slots.CurrentCount;

    /// <summary>
    /// Runs <paramref name="call"/> on a thread of its own and waits at most <paramref name="limit"/>
    /// (slot wait included). <paramref name="finished"/> runs exactly once in every case: when the call
    /// really ends, with its result (null after an exception) and whether the caller had given up on it
    /// by then; or, when the call was never started (no slot in time, cancelled while waiting for one),
    /// before this method throws, with null and false. That is where a late result is released (a handle
    /// opened too late) and a count of calls on a handle dropped only once the library is done with it.
    /// </summary>
    /// <exception cref="VirtPoolException">VIR_ERR_OPERATION_TIMEOUT, from <paramref name="timeout"/>.</exception>
    public static async Task<T> RunAsync<T>(
        Func<T> call,
        TimeSpan limit,
        Func<VirtPoolException> timeout,
        Action<T?, bool>? finished,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(call);
        ArgumentNullException.ThrowIfNull(timeout);
        var started = Stopwatch.GetTimestamp();
        bool slot;
        try
        {
            slot = await Slots.WaitAsync(limit, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            finished?.Invoke(default, false);
            throw;
        }

        if (!slot)
        {
            finished?.Invoke(default, false);
            throw timeout();
        }

        var state = new CallState();
        Task<T> work;
        try
        {
            // A thread of its own, not the pool's: a hung call must not starve the daemon's I/O.
            work = Task.Factory.StartNew(() => CallLibrary(call), CancellationToken.None, TaskCreationOptions.LongRunning | TaskCreationOptions.DenyChildAttach, TaskScheduler.Default);
        }
        catch
        {
            Slots.Release();
            finished?.Invoke(default, false);
            throw;
        }

        _ = work.ContinueWith(
            done =>
            {
                Slots.Release();
                var ok = done.IsCompletedSuccessfully;
                _ = done.Exception; // observed: an abandoned call's failure has no one else to tell
                var abandoned = Interlocked.Exchange(ref state.Value, CallState.Done) == CallState.Abandoned;
                finished?.Invoke(ok ? done.Result : default, abandoned);
            },
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);

        var left = limit - Stopwatch.GetElapsedTime(started);
        try
        {
            return await work.WaitAsync(left > TimeSpan.Zero ? left : TimeSpan.Zero, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is TimeoutException or OperationCanceledException)
        {
            if (Interlocked.CompareExchange(ref state.Value, CallState.Abandoned, CallState.Waiting) == CallState.Done)
            {
                // It ended while we were giving up, and its end was reported as not abandoned: use it.
                return await work.ConfigureAwait(false);
            }

            if (ex is OperationCanceledException)
            {
                throw;
            }

            throw timeout();
        }
    }

    /// <summary>
    /// The client libraries are separate Debian packages a host may lack: the first call into a missing
    /// one says which package to install instead of the runtime's DllNotFoundException text.
    /// </summary>
    private static T CallLibrary<T>(Func<T> call)
    {
        try
        {
            return call();
        }
        catch (DllNotFoundException ex)
        {
            throw MissingLibrary(ex.Message);
        }
        catch (EntryPointNotFoundException ex)
        {
            throw VirtPoolException.Internal($"the installed client library lacks a function VirtPool calls ({FirstQuoted(ex.Message) ?? "unknown"}): its version is not supported");
        }
    }

    /// <summary>The error for a client library that cannot be loaded, named with the package that provides it.</summary>
    public static VirtPoolException MissingLibrary(string runtimeMessage)
    {
        var library = FirstQuoted(runtimeMessage) ?? "a client library";
        var package = library switch
        {
            "librados.so.2" => "librados2",
            "librbd.so.1" => "librbd1",
            "libgfapi.so.0" => "libgfapi0",
            "libiscsi.so.7" => "libiscsi7",
            _ => null,
        };
        return NetworkErrors.ServerAnswered(VirtPoolException.Internal(package is null
            ? $"cannot load {library}, which this pool type needs"
            : $"cannot load {library}, which this pool type needs: install {package}"));
    }

    private static string? FirstQuoted(string text)
    {
        var start = text.IndexOf('\'', StringComparison.Ordinal);
        var end = start < 0 ? -1 : text.IndexOf('\'', start + 1);
        return end > start + 1 ? text[(start + 1)..end] : null;
    }

    private sealed class CallState
    {
        public const int Waiting = 0;
        public const int Abandoned = 1;
        public const int Done = 2;

        public int Value;
    }
}
