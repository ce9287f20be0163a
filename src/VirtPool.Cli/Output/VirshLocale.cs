namespace VirtPool.Cli.Output;

/// <summary>
/// Whether virsh would run in a UTF-8 character locale: setlocale(LC_ALL, "") takes LC_ALL, else LC_CTYPE,
/// else LANG; glibc only honours a locale that is installed, and falls back to "C" (ASCII) otherwise.
/// Only table cells depend on it (<see cref="CellText"/>).
/// </summary>
public static class VirshLocale
{
    private static readonly Lazy<bool> FromEnvironment = new(() => IsUtf8(
        Environment.GetEnvironmentVariable("LC_ALL"),
        Environment.GetEnvironmentVariable("LC_CTYPE"),
        Environment.GetEnvironmentVariable("LANG"),
        static name => Directory.Exists(Path.Combine("/usr/lib/locale", name)) || File.Exists("/usr/lib/locale/locale-archive")));

    /// <summary>The answer for this process's environment (computed once).</summary>
    public static bool IsUtf8FromEnvironment => FromEnvironment.Value;

    /// <summary>The decision for the given variables; <paramref name="isInstalled"/> says whether glibc has a locale.</summary>
    public static bool IsUtf8(string? lcAll, string? lcCtype, string? lang, Func<string, bool> isInstalled)
    {
        var name = !string.IsNullOrEmpty(lcAll) ? lcAll : !string.IsNullOrEmpty(lcCtype) ? lcCtype : lang;
        if (string.IsNullOrEmpty(name))
        {
            return false;
        }

        var dot = name.IndexOf('.', StringComparison.Ordinal);
        if (dot < 0)
        {
            return false;
        }

        var at = name.IndexOf('@', dot);
        var codeset = at < 0 ? name[(dot + 1)..] : name[(dot + 1)..at];
        var normalized = codeset.Replace("-", string.Empty, StringComparison.Ordinal).ToLowerInvariant();
        if (normalized != "utf8")
        {
            return false;
        }

        var language = name[..dot];
        if (language is "C" or "POSIX")
        {
            return true;
        }

        var installedName = language + ".utf8" + (at < 0 ? string.Empty : name[at..]);
        return isInstalled(installedName) || isInstalled(name);
    }
}
