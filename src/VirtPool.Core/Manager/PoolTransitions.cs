namespace VirtPool.Core.Manager;

/// <summary>
/// The pools whose lifecycle this process is changing right now (define, create, build, start, destroy,
/// delete, undefine, refresh, autostart). libvirt holds a pool's lock through such a change and every
/// call about that pool waits for the lock, so a call that overlaps the change answers with its outcome:
/// a client never sees the old state once any client got the change's reply or its lifecycle event.
/// Readers here take no lock; a read about a pool in transition in this process waits (without
/// blocking a thread) until the transition ends instead. A transition begins only once its pool's
/// lock is held, so a read never waits for another process, only for work this process is doing.
/// </summary>
internal sealed class PoolTransitions
{
    private readonly Lock _sync = new();
    private readonly Dictionary<string, Running> _running = new(StringComparer.Ordinal);

    // Read without the lock on every read: the common case (nothing in transition) costs one load.
    private volatile int _count;

    /// <summary>Marks <paramref name="name"/> in transition until the result is disposed. Call with the pool's lock held.</summary>
    public IDisposable Begin(string name)
    {
        lock (_sync)
        {
            if (!_running.TryGetValue(name, out var running))
            {
                running = new Running();
                _running[name] = running;
                _count = _running.Count;
            }

            running.Depth++;
            return new Ending(this, name, running);
        }
    }

    /// <summary>
    /// Completes once no transition of <paramref name="name"/> (null: of any pool) that runs now is
    /// running any more; already completed when there is none.
    /// </summary>
    public Task WhenSettled(string? name)
    {
        if (_count == 0)
        {
            return Task.CompletedTask;
        }

        lock (_sync)
        {
            if (name is not null)
            {
                return _running.TryGetValue(name, out var running) ? running.Done.Task : Task.CompletedTask;
            }

            return _running.Count == 0 ? Task.CompletedTask : Task.WhenAll(_running.Values.Select(r => r.Done.Task));
        }
    }

    private void End(string name, Running running)
    {
        lock (_sync)
        {
            if (--running.Depth > 0)
            {
                return;
            }

            _running.Remove(name);
            _count = _running.Count;
        }

        // Outside the lock; the waiting reads continue on the thread pool.
        running.Done.TrySetResult();
    }

    private sealed class Running
    {
        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public int Depth { get; set; }
    }

    private sealed class Ending(PoolTransitions owner, string name, Running running) : IDisposable
    {
        private int _ended;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _ended, 1) == 0)
            {
                owner.End(name, running);
            }
        }
    }
}
