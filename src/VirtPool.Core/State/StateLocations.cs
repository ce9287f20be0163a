using VirtPool.Core.Interop;

namespace VirtPool.Core.State;

/// <summary>
/// Where the state folder and the runtime folder are, for the CLI and the daemon alike: both must land
/// on the same folders so they can be used side by side.
/// </summary>
public static class StateLocations
{
    /// <summary>--state-dir, else VIRTPOOL_STATE_DIR, else /var/lib/virtpool for root, else $XDG_DATA_HOME/virtpool.</summary>
    public static string ResolveStateDir(string? option)
    {
        if (!string.IsNullOrEmpty(option))
        {
            return Path.GetFullPath(option);
        }

        var env = Environment.GetEnvironmentVariable("VIRTPOOL_STATE_DIR");
        if (!string.IsNullOrEmpty(env))
        {
            return Path.GetFullPath(env);
        }

        if (LibC.GetEuid() == 0)
        {
            return "/var/lib/virtpool";
        }

        var xdg = Environment.GetEnvironmentVariable("XDG_DATA_HOME");
        if (string.IsNullOrEmpty(xdg))
        {
            xdg = Path.Combine(Environment.GetEnvironmentVariable("HOME") ?? "/tmp", ".local", "share");
        }

        return Path.Combine(xdg, "virtpool");
    }

    /// <summary>
    /// VIRTPOOL_RUNTIME_DIR, else /run/virtpool for the default root state folder (as libvirt keeps
    /// /run/libvirt/storage), else $XDG_RUNTIME_DIR/virtpool for the default user folder, else
    /// null: the runtime state stays inside an explicitly chosen state folder.
    /// </summary>
    public static string? ResolveRuntimeDir(string? stateDirOption)
    {
        var env = Environment.GetEnvironmentVariable("VIRTPOOL_RUNTIME_DIR");
        if (!string.IsNullOrEmpty(env))
        {
            return Path.GetFullPath(env);
        }

        if (!string.IsNullOrEmpty(stateDirOption) || !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("VIRTPOOL_STATE_DIR")))
        {
            return null;
        }

        if (LibC.GetEuid() == 0)
        {
            return "/run/virtpool";
        }

        var xdg = Environment.GetEnvironmentVariable("XDG_RUNTIME_DIR");
        return string.IsNullOrEmpty(xdg) ? null : Path.Combine(xdg, "virtpool");
    }
}
