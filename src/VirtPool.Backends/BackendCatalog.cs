using VirtPool.Backends.Dir;
using VirtPool.Core.Backends;
using VirtPool.Core.Process;

namespace VirtPool.Backends;

/// <summary>The backends this build ships; each later pool type adds one line here.</summary>
public static class BackendCatalog
{
    public static BackendRegistry Create(IProcessRunner runner) => new([DirBackend.Type(runner)]);
}
