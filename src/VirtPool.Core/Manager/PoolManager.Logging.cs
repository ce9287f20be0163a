using Microsoft.Extensions.Logging;
using VirtPool.Core.Backends;
using VirtPool.Core.Errors;
using VirtPool.Core.Model;

namespace VirtPool.Core.Manager;

/// <summary>How the manager hands its logger to backends and logs why storage failed (the messages: <see cref="PoolManagerLog"/>).</summary>
public sealed partial class PoolManager
{
    /// <summary>The pool as its backend sees it, with this manager's logger.</summary>
    private PoolContext ContextFor(PoolDefinition def, Func<EncryptionSecret, byte[]>? passphrases = null)
        => new(def) { Passphrases = passphrases, AuthSecret = Secrets.GetPoolAuthSecret, Log = _log };

    /// <summary>
    /// An exception filter that logs why storage failed, at a level fitting the failure, and never
    /// catches: an I/O or tool failure is a Warning, a cancellation Information, a request storage
    /// refused only Debug (the caller is told why), anything unexpected an Error.
    /// </summary>
    private bool LogFailure(Exception ex, string operation, string pool, string? volume = null)
    {
        var level = ex switch
        {
            OperationCanceledException => LogLevel.Information,
            VirtPoolException { Code: VirErrorCode.SystemError or VirErrorCode.InternalError or VirErrorCode.OperationFailed or VirErrorCode.NoMemory } => LogLevel.Warning,
            VirtPoolException => LogLevel.Debug,
            _ => LogLevel.Error,
        };
        if (volume is null)
        {
            _log.PoolOperationFailed(level, operation, pool, ex.Message);
        }
        else
        {
            _log.VolumeOperationFailed(level, operation, volume, pool, ex.Message);
        }

        return false;
    }
}
