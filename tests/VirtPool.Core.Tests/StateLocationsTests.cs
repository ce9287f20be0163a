using VirtPool.Core.State;

namespace VirtPool.Core.Tests;

/// <summary>
/// One state folder, one runtime folder, however the folder was named: as root `virtpool pool-list`
/// and `virtpool --state-dir /var/lib/virtpool pool-list` (or the README's `virtpoold --state-dir
/// /var/lib/virtpool`) must agree on which pools are active (found by an adversarial run: the named
/// default kept its runtime state in /var/lib/virtpool/status, the default in /run/virtpool).
/// </summary>
public sealed class StateLocationsTests
{
    [Fact]
    public void Naming_the_default_state_folder_keeps_the_default_runtime_folder()
    {
        var defaultState = StateLocations.ResolveStateDir(null);
        var defaultRuntime = StateLocations.ResolveRuntimeDir(null);

        Assert.Equal(defaultRuntime, StateLocations.ResolveRuntimeDir(defaultState));
        Assert.Equal(defaultRuntime, StateLocations.ResolveRuntimeDir(defaultState + "/"));
    }
}
