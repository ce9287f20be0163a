namespace VirtPool.Daemon.Connections;

/// <summary>
/// The daemon's budget for buffered incoming frames, shared by all connections. A frame larger than a
/// connection's own small read buffer is reserved in full from its length word, before any of its
/// bytes are read past that buffer: when the budget is spent, the connection stops reading and the
/// kernel's socket buffer throttles its client, instead of the daemon allocating for it.
/// <para>
/// Frames up to <see cref="MediumFrameLimit"/> (stream data packets are 256 KiB) have a quarter of the
/// budget to themselves, the larger ones the rest: clients stalling in the middle of 16 MiB frames
/// cannot hold up an upload. In each share reservations are granted in arrival order, so a big frame
/// is never starved by a stream of smaller ones; a frame larger than its whole share waits until it
/// is alone and then takes all of it. Waiting connections hold nothing, and those holding a
/// reservation either complete their frame or are dropped by the frame timeout, so every share frees
/// up again: there is no deadlock.
/// </para>
/// </summary>
internal sealed class IncomingBudget
{
    /// <summary>Frames up to this length reserve from the medium share.</summary>
    public const int MediumFrameLimit = 1 << 20;

    private static long s_totalReleased;

    private readonly Lane _medium;
    private readonly Lane _large;
    private long _buffered;
    private long _peakBuffered;

    public IncomingBudget(long capacity)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacity);
        Capacity = capacity;
        long medium = Math.Max(capacity / 4, 1);
        _medium = new Lane(medium);
        _large = new Lane(Math.Max(capacity - medium, 1));
    }

    public long Capacity { get; }

    /// <summary>Bytes reserved by frames being read or held (declared lengths).</summary>
    public long ReservedBytes => _medium.Reserved + _large.Reserved;

    /// <summary>Bytes of large frames actually received and held now: never more than <see cref="ReservedBytes"/>.</summary>
    public long BufferedBytes => Interlocked.Read(ref _buffered);

    /// <summary>The most <see cref="BufferedBytes"/> has been since the daemon started.</summary>
    public long PeakBufferedBytes => Interlocked.Read(ref _peakBuffered);

    /// <summary>Connections waiting for their reservation.</summary>
    public int Waiting => _medium.Waiting + _large.Waiting;

    /// <summary>
    /// Bytes of large frames given back by every budget of the process since it started (counted like
    /// GC.GetTotalAllocatedBytes): the idle trimmer's cue that buffered memory became garbage.
    /// </summary>
    public static long TotalReleasedBytes => Interlocked.Read(ref s_totalReleased);

    /// <summary>The share a frame of <paramref name="length"/> bytes reserves from.</summary>
    public Lane LaneFor(int length) => length <= MediumFrameLimit ? _medium : _large;

    /// <summary>Counts bytes received into a reserved frame.</summary>
    public void AddBuffered(long bytes)
    {
        long now = Interlocked.Add(ref _buffered, bytes);
        long peak;
        while (now > (peak = Interlocked.Read(ref _peakBuffered)) && Interlocked.CompareExchange(ref _peakBuffered, now, peak) != peak)
        {
        }
    }

    /// <summary>Uncounts the bytes of a frame that was handled or dropped.</summary>
    public void RemoveBuffered(long bytes)
    {
        Interlocked.Add(ref _buffered, -bytes);
        Interlocked.Add(ref s_totalReleased, bytes);
    }

    /// <summary>One share of the budget: reservations granted in arrival order while they fit.</summary>
    internal sealed class Lane
    {
        private readonly Lock _gate = new();
        private readonly LinkedList<Waiter> _waiters = new();
        private long _reserved;

        public Lane(long capacity) => Capacity = capacity;

        public long Capacity { get; }

        public long Reserved
        {
            get
            {
                lock (_gate)
                {
                    return _reserved;
                }
            }
        }

        /// <summary>Connections waiting for their reservation.</summary>
        public int Waiting
        {
            get
            {
                lock (_gate)
                {
                    return _waiters.Count;
                }
            }
        }

        /// <summary>What a frame of <paramref name="length"/> bytes reserves: all of it, or the whole budget if larger.</summary>
        public long ReservationFor(long length) => Math.Min(length, Capacity);

        /// <summary>Reserves at once when nobody is waiting and the budget allows; false otherwise.</summary>
        public bool TryReserve(long bytes)
        {
            lock (_gate)
            {
                if (_waiters.Count == 0 && _reserved + bytes <= Capacity)
                {
                    _reserved += bytes;
                    return true;
                }

                return false;
            }
        }

        /// <summary>Reserves <paramref name="bytes"/> (at most <see cref="Capacity"/>), waiting in line when the budget is spent.</summary>
        public ValueTask ReserveAsync(long bytes, CancellationToken token)
        {
            ArgumentOutOfRangeException.ThrowIfGreaterThan(bytes, Capacity);
            Waiter waiter;
            lock (_gate)
            {
                if (_waiters.Count == 0 && _reserved + bytes <= Capacity)
                {
                    _reserved += bytes;
                    return ValueTask.CompletedTask;
                }

                waiter = new Waiter(bytes);
                waiter.Node = _waiters.AddLast(waiter);
            }

            return new ValueTask(WaitAsync(waiter, token));
        }

        private async Task WaitAsync(Waiter waiter, CancellationToken token)
        {
            await using var registration = token.Register(() => Abandon(waiter)).ConfigureAwait(false);
            await waiter.Granted.Task.ConfigureAwait(false);
        }

        private void Abandon(Waiter waiter)
        {
            List<Waiter>? granted;
            lock (_gate)
            {
                if (waiter.Node?.List is null)
                {
                    // Granted meanwhile: the reservation is the caller's, who releases it when it sees the cancellation.
                    return;
                }

                _waiters.Remove(waiter.Node);

                // The one that left may have been first in line, holding back others that fit.
                granted = GrantWaiting();
            }

            waiter.Granted.TrySetCanceled();
            Complete(granted);
        }

        /// <summary>Gives back a reservation; waiting connections are granted in order while they fit.</summary>
        public void Release(long bytes)
        {
            List<Waiter>? granted;
            lock (_gate)
            {
                _reserved -= bytes;
                granted = GrantWaiting();
            }

            Complete(granted);
        }

        private static void Complete(List<Waiter>? granted)
        {
            foreach (var waiter in granted ?? [])
            {
                waiter.Granted.TrySetResult();
            }
        }

        private List<Waiter>? GrantWaiting()
        {
            List<Waiter>? granted = null;
            while (_waiters.First is { } first && _reserved + first.Value.Bytes <= Capacity)
            {
                _reserved += first.Value.Bytes;
                _waiters.RemoveFirst();
                (granted ??= []).Add(first.Value);
            }

            return granted;
        }

        private sealed class Waiter(long bytes)
        {
            public long Bytes { get; } = bytes;

            public LinkedListNode<Waiter>? Node { get; set; }

            public TaskCompletionSource Granted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        }
    }
}
