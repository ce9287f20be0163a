using System.Diagnostics.CodeAnalysis;
using VirtPool.Core.Errors;
using VirtPool.Rpc.Xdr;

namespace VirtPool.Rpc;

/// <summary>
/// Handles one CALL: decodes <paramref name="args"/>, does the work, encodes the ret struct into
/// <see cref="RpcCallContext.Reply"/>. Failures are thrown as VirtPoolException (becomes the error reply) or
/// XdrFormatException (becomes "Unable to decode message payload"); a ret struct too large to send becomes
/// "Unable to encode message payload".
/// </summary>
public delegate ValueTask RpcProcedureHandler<in TContext>(TContext context, ReadOnlyMemory<byte> args)
    where TContext : RpcCallContext;

/// <summary>
/// Procedure number → handler, a flat array indexed by number (numbers are small and dense). Register everything
/// at start-up; lookups are then safe from any number of threads as long as nobody registers concurrently.
/// </summary>
public sealed class ProcedureTable<TContext>
    where TContext : RpcCallContext
{
    /// <summary>libvirt's numbers end near 450; a far larger one is a mistake that would waste the array.</summary>
    private const int MaxProcedureNumber = 4096;

    private RpcProcedureHandler<TContext>?[] _handlers = new RpcProcedureHandler<TContext>?[512];

    public int Count { get; private set; }

    public void Register(RemoteProcedure procedure, RpcProcedureHandler<TContext> handler)
    {
        ArgumentNullException.ThrowIfNull(handler);
        int number = (int)procedure;
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(number, nameof(procedure));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(number, MaxProcedureNumber, nameof(procedure));
        if (number >= _handlers.Length)
        {
            Array.Resize(ref _handlers, Math.Max(number + 1, _handlers.Length * 2));
        }

        if (_handlers[number] is not null)
        {
            throw new InvalidOperationException($"Procedure {procedure} ({number}) is already registered.");
        }

        _handlers[number] = handler;
        Count++;
    }

    /// <summary>
    /// The handler for a procedure number taken from the wire (any int). False means libvirt's
    /// "unknown procedure" reply: <see cref="RpcReplies.WriteUnknownProcedure"/>.
    /// </summary>
    public bool TryGet(int procedure, [MaybeNullWhen(false)] out RpcProcedureHandler<TContext> handler)
    {
        RpcProcedureHandler<TContext>?[] handlers = _handlers;
        handler = (uint)procedure < (uint)handlers.Length ? handlers[procedure] : null;
        return handler is not null;
    }

    public bool IsRegistered(RemoteProcedure procedure) => TryGet((int)procedure, out _);

    /// <summary>Registered procedures in number order.</summary>
    public IEnumerable<RemoteProcedure> Procedures
    {
        get
        {
            for (int i = 0; i < _handlers.Length; i++)
            {
                if (_handlers[i] is not null)
                {
                    yield return (RemoteProcedure)i;
                }
            }
        }
    }

    /// <summary>
    /// Runs the handler for <paramref name="context"/>'s CALL and appends the complete REPLY packet to
    /// <see cref="RpcCallContext.Reply"/>: OK with the ret struct, or ERROR with the remote_error for an unknown
    /// procedure, a <see cref="VirtPoolException"/>, an <see cref="XdrFormatException"/> or an <see cref="XdrEncodeException"/>. Any other exception
    /// propagates with the partial packet removed, for the daemon to log and answer.
    /// </summary>
    public async ValueTask DispatchAsync(TContext context, ReadOnlyMemory<byte> args)
    {
        ArgumentNullException.ThrowIfNull(context);
        PooledBufferWriter output = context.Reply;
        RpcHeader call = context.Call;
        if (!TryGet(call.Procedure, out var handler))
        {
            RpcReplies.WriteUnknownProcedure(output, call);
            return;
        }

        int packetStart = RpcFrame.BeginPacket(output, call.ToReply());
        RemoteError error;
        try
        {
            await handler(context, args).ConfigureAwait(false);
            RpcFrame.EndPacket(output, packetStart);
            return;
        }
        catch (VirtPoolException ex)
        {
            error = RemoteError.FromException(ex);
        }
        catch (XdrFormatException)
        {
            error = RemoteError.PayloadDecodeFailed();
        }
        catch (XdrEncodeException)
        {
            // Too large to send, whichever procedure (libvirtd answers any such reply alike).
            error = RemoteError.PayloadEncodeFailed();
        }
        catch
        {
            output.Truncate(packetStart);
            throw;
        }

        output.Truncate(packetStart);
        RpcReplies.WriteErrorReply(output, call, error);
    }
}
