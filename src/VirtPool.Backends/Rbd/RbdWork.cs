using VirtPool.Backends.Network;
using VirtPool.Core.Errors;

namespace VirtPool.Backends.Rbd;

/// <summary>
/// What a transfer hands to native calls that may outlive it: the image it opens and the pinned
/// buffers librbd reads into or writes from. A connection call ends for its caller when the caller
/// gives up (cancel, time limit) while the library still runs it on its worker; so the image is closed
/// and the buffers go back to <see cref="RbdBuffers"/> only once the transfer is done AND no native
/// call of it runs any more — by the transfer itself when nothing runs, else by the last late call
/// as it returns. A call that had not started by then never starts.
/// </summary>
internal sealed class RbdWork
{
    private readonly Lock _gate = new();
    private readonly List<byte[][]> _buffers = [];
    private int _running;
    private bool _ownerDone;
    private bool _released;

    /// <summary>The image opened for this transfer (set by the open call, even when its caller gave up meanwhile).</summary>
    public RbdImage? Image { get; private set; }

    /// <summary>A buffer set owned by this transfer until <see cref="EndAsync"/> and every call using it has ended.</summary>
    public byte[][] RentBuffers()
    {
        var set = RbdBuffers.Rent();
        lock (_gate)
        {
            _buffers.Add(set);
        }

        return set;
    }

    /// <summary>Opens the image on the worker; an image opened after its caller left is closed by <see cref="Run{T}"/>'s end.</summary>
    public RbdImage Open(Func<RbdImage> open) => Run(() => Image = open());

    /// <summary>Runs native work on the worker thread; refuses to start once the transfer has released its image and buffers.</summary>
    public T Run<T>(Func<T> body)
    {
        lock (_gate)
        {
            if (_released)
            {
                throw new OperationCanceledException("the transfer has ended");
            }

            _running++;
        }

        try
        {
            return body();
        }
        finally
        {
            bool release;
            lock (_gate)
            {
                _running--;
                release = _ownerDone && _running == 0 && !_released;
                _released |= release;
            }

            if (release)
            {
                // The transfer left while this call ran: it was the last user, so it frees what it used (on its worker, within the call).
                Image?.Dispose();
                RbdBuffers.Return([.. _buffers]);
            }
        }
    }

    /// <summary>The transfer is done: closes the image and returns the buffers now if no call runs, else leaves that to the last call.</summary>
    public async Task EndAsync(NetworkLease<RbdCluster> lease)
    {
        bool release;
        lock (_gate)
        {
            _ownerDone = true;
            release = _running == 0 && !_released;
            _released |= release;
        }

        if (!release)
        {
            return;
        }

        RbdBuffers.Return([.. _buffers]);
        if (Image is { } image)
        {
            try
            {
                await lease.CallAsync(_ => { image.Dispose(); return 0; }, "close", CancellationToken.None).ConfigureAwait(false);
            }
            catch (VirtPoolException)
            {
                // A close that times out leaves the image to the connection, which is marked broken and freed later.
            }
        }
    }
}
