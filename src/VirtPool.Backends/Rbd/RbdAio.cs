using System.Collections.Concurrent;

namespace VirtPool.Backends.Rbd;

/// <summary>One asynchronous librbd request of a batch; <see cref="Buffer"/> is pinned memory for reads and writes.</summary>
internal readonly record struct RbdRequest(RbdRequestKind Kind, ulong Offset, ulong Length, nint Buffer = 0);

internal enum RbdRequestKind
{
    Write,
    Read,
    Discard,
    WriteZeroes,
}

/// <summary>
/// Batches of librbd requests sent together (rbd_aio_*) and waited for together, so a transfer keeps
/// several objects in flight as <c>rbd import</c>/<c>export</c> do, on one worker call per batch.
/// </summary>
internal static unsafe class RbdAio
{
    /// <summary>One transfer piece: four 4 MiB objects of a default image.</summary>
    public const int Chunk = 4 << 20;

    /// <summary>Requests in flight at once (rbd import's default rbd_concurrent_management_ops is 10).</summary>
    public const int Depth = 8;

    /// <summary>The most one write-zeroes or discard request covers, so no single request runs long.</summary>
    public const ulong RangeStep = 256UL << 20;

    /// <summary>
    /// Sends every request, then waits for all of them; the first failure (in request order) is thrown
    /// once none is in flight any more, so no buffer is freed under librbd.
    /// </summary>
    public static void Run(RbdImage image, IReadOnlyList<RbdRequest> requests)
    {
        var completions = new nint[requests.Count];
        RbdException? failure = null;
        try
        {
            for (var i = 0; i < requests.Count && failure is null; i++)
            {
                var request = requests[i];
                var rc = RbdNative.AioCreateCompletion(0, 0, out completions[i]);
                if (rc < 0)
                {
                    completions[i] = 0;
                    failure = new RbdException("failed to create an RBD completion", rc);
                    break;
                }

                rc = Submit(image, request, completions[i]);
                if (rc < 0)
                {
                    RbdNative.AioRelease(completions[i]);
                    completions[i] = 0;
                    failure = Failure(image, request, rc);
                }
            }
        }
        finally
        {
            for (var i = 0; i < completions.Length; i++)
            {
                if (completions[i] == 0)
                {
                    continue;
                }

                RbdNative.AioWaitForComplete(completions[i]);
                var rc = (long)RbdNative.AioGetReturnValue(completions[i]);
                RbdNative.AioRelease(completions[i]);
                if (rc < 0)
                {
                    failure ??= Failure(image, requests[i], (int)rc);
                }
                else if (requests[i].Kind == RbdRequestKind.Read && (ulong)rc < requests[i].Length)
                {
                    // A read past the end (the image shrank meanwhile) returns less: the rest reads as zeros.
                    new Span<byte>((byte*)requests[i].Buffer + rc, (int)(requests[i].Length - (ulong)rc)).Clear();
                }
            }
        }

        if (failure is not null)
        {
            throw failure;
        }
    }

    /// <summary>Requests of <paramref name="kind"/> covering [offset, offset+length) in steps of <see cref="RangeStep"/>.</summary>
    public static IEnumerable<RbdRequest> Ranges(RbdRequestKind kind, ulong offset, ulong length)
    {
        var end = offset + length;
        for (var pos = offset; pos < end; pos += Math.Min(RangeStep, end - pos))
        {
            yield return new RbdRequest(kind, pos, Math.Min(RangeStep, end - pos));
        }
    }

    private static int Submit(RbdImage image, RbdRequest request, nint completion) => request.Kind switch
    {
        RbdRequestKind.Write => RbdNative.AioWrite(image.Handle, request.Offset, (nuint)request.Length, (byte*)request.Buffer, completion),
        RbdRequestKind.Read => RbdNative.AioRead(image.Handle, request.Offset, (nuint)request.Length, (byte*)request.Buffer, completion),
        RbdRequestKind.Discard => RbdNative.AioDiscard(image.Handle, request.Offset, request.Length, completion),
        _ => RbdNative.AioWriteZeroes(image.Handle, request.Offset, (nuint)request.Length, completion, 0, 0),
    };

    /// <summary>libvirt's words where it has them (its wipe), else the same form.</summary>
    private static RbdException Failure(RbdImage image, RbdRequest request, int rc) => request.Kind switch
    {
        RbdRequestKind.Read => new RbdException($"reading {request.Length} bytes failed on RBD image {image.Name} at offset {request.Offset}", rc),
        RbdRequestKind.Discard => new RbdException($"discarding {request.Length} bytes failed on RBD image {image.Name} at offset {request.Offset}", rc),
        _ => new RbdException($"writing {request.Length} bytes failed on RBD image {image.Name} at offset {request.Offset}", rc),
    };

    /// <summary>Whether every byte is zero (a plain stream's chunk that can stay a hole).</summary>
    public static bool IsZero(ReadOnlySpan<byte> data) => !data.ContainsAnyExcept((byte)0);
}

/// <summary>
/// The pinned buffer sets transfers use (<see cref="RbdAio.Depth"/> chunks each), kept for the next
/// transfer, a few at most: a daemon's transfers reuse the same memory instead of growing the
/// pinned heap with each one.
/// </summary>
internal static class RbdBuffers
{
    /// <summary>Two transfers' worth (each uses two sets).</summary>
    private const int Kept = 4;

    private static readonly ConcurrentBag<byte[][]> Free = [];

    public static byte[][] Rent()
    {
        if (Free.TryTake(out var set))
        {
            return set;
        }

        set = new byte[RbdAio.Depth][];
        for (var i = 0; i < set.Length; i++)
        {
            set[i] = GC.AllocateUninitializedArray<byte>(RbdAio.Chunk, pinned: true);
        }

        return set;
    }

    /// <summary>Only once no request uses them any more.</summary>
    public static void Return(byte[][][] sets)
    {
        foreach (var set in sets)
        {
            if (Free.Count < Kept)
            {
                Free.Add(set);
            }
        }
    }
}
