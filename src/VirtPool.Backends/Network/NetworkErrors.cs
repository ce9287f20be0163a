using VirtPool.Core.Errors;

namespace VirtPool.Backends.Network;

/// <summary>
/// Whether a failed connect means the server did not answer (the pool is then reported inaccessible
/// and a failed refresh keeps it active until the server returns) or that it answered and said no, or
/// was never asked (a missing secret, a refused key, a pool that does not exist: libvirt's treatment,
/// a refresh that fails so stops the pool).
/// </summary>
public static class NetworkErrors
{
    private const string AnsweredKey = "VirtPool.ServerAnswered";

    /// <summary>
    /// Marks an error as not a server outage: the server's own answer (a refused key, a missing pool), or
    /// a failure on this host (a client library that is not installed).
    /// </summary>
    public static TException ServerAnswered<TException>(TException error)
        where TException : Exception
    {
        ArgumentNullException.ThrowIfNull(error);
        error.Data[AnsweredKey] = true;
        return error;
    }

    /// <summary>
    /// A failed connect leaves the pool inaccessible unless the server answered (<see cref="ServerAnswered"/>)
    /// or the error is about the request itself: its secret, its definition, what this build supports.
    /// </summary>
    public static bool MeansUnreachable(Exception error)
    {
        ArgumentNullException.ThrowIfNull(error);
        if (error.Data.Contains(AnsweredKey))
        {
            return false;
        }

        return error is not VirtPoolException
        {
            Domain: VirErrorDomain.Secret,
        }
        and not VirtPoolException
        {
            Code: VirErrorCode.NoSecret or VirErrorCode.InvalidSecret or VirErrorCode.InvalidArg or VirErrorCode.AuthFailed
                or VirErrorCode.AuthUnavailable or VirErrorCode.XmlError or VirErrorCode.ConfigUnsupported or VirErrorCode.NoSupport,
        };
    }
}
