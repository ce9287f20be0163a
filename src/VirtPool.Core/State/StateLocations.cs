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
            return Path.TrimEndingDirectorySeparator(Path.GetFullPath(option));
        }

        var env = Environment.GetEnvironmentVariable("VIRTPOOL_STATE_DIR");
        return !string.IsNullOrEmpty(env) ? Path.TrimEndingDirectorySeparator(Path.GetFullPath(env)) : DefaultStateDir();
    }

    /// <summary>
    /// VIRTPOOL_RUNTIME_DIR, else, for the default state folder (however it was named: by default, by
    /// --state-dir or by VIRTPOOL_STATE_DIR), /run/virtpool as root (as libvirt keeps
    /// /run/libvirt/storage) or $XDG_RUNTIME_DIR/virtpool for a user; else null: the runtime state
    /// stays inside the chosen state folder. One state folder must always mean one runtime folder, or
    /// two commands would disagree on which pools are active.
    /// </summary>
    public static string? ResolveRuntimeDir(string? stateDirOption)
    {
        var env = Environment.GetEnvironmentVariable("VIRTPOOL_RUNTIME_DIR");
        if (!string.IsNullOrEmpty(env))
        {
            return Path.GetFullPath(env);
        }

        if (ResolveStateDir(stateDirOption) != DefaultStateDir())
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

    private static string DefaultStateDir()
    {
        if (LibC.GetEuid() == 0)
        {
            return "/var/lib/virtpool";
        }

        var xdg = Environment.GetEnvironmentVariable("XDG_DATA_HOME");
        if (string.IsNullOrEmpty(xdg))
        {
            xdg = Path.Combine(Environment.GetEnvironmentVariable("HOME") ?? "/tmp", ".local", "share");
        }

        return Path.TrimEndingDirectorySeparator(Path.GetFullPath(Path.Combine(xdg, "virtpool")));
    }
}
