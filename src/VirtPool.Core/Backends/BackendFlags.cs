using VirtPool.Core.Errors;

namespace VirtPool.Core.Backends;

/// <summary>
/// libvirt's flag checks as its backend callbacks make them, so each backend refuses what it does not
/// take in its own words (its own function name) and generic code never names one backend.
/// </summary>
public static class BackendFlags
{
    /// <summary>virCheckFlags in a backend callback.</summary>
    public static void Check(uint flags, uint supported, string function)
    {
        var unsupported = flags & ~supported;
        if (unsupported != 0)
        {
            throw VirtPoolException.UnsupportedFlags(unsupported, function);
        }
    }

    /// <summary>
    /// The check every libvirt buildPool that formats storage starts with: only
    /// <paramref name="supported"/>, and never both overwrite flags (VIR_EXCLUSIVE_FLAGS_RET).
    /// </summary>
    public static void CheckBuild(PoolBuildFlags flags, PoolBuildFlags supported, string function)
    {
        Check((uint)flags, (uint)supported, function);
        if ((flags & (PoolBuildFlags.Overwrite | PoolBuildFlags.NoOverwrite)) == (PoolBuildFlags.Overwrite | PoolBuildFlags.NoOverwrite))
        {
            throw VirtPoolException.Verbatim(VirErrorCode.InvalidArg, "Flags 'VIR_STORAGE_POOL_BUILD_OVERWRITE' and 'VIR_STORAGE_POOL_BUILD_NO_OVERWRITE' are mutually exclusive");
        }
    }
}
