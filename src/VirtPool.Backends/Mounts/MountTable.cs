using System.Runtime.InteropServices;
using System.Text;
using VirtPool.Core.Errors;

namespace VirtPool.Backends.Mounts;

/// <summary>One line of the mount table: what is mounted where (escapes decoded).</summary>
public readonly record struct MountEntry(string Source, string Target, string FsType);

/// <summary>
/// The mount table of this process's mount namespace, read as libvirt's
/// virStorageBackendFileSystemIsMounted reads it (getmntent over /etc/mtab, which is /proc/self/mounts
/// on every current distribution): shared by the fs and netfs backends.
/// </summary>
public static partial class MountTable
{
    /// <summary>The kernel's table for the calling process's mount namespace.</summary>
    public const string ProcPath = "/proc/self/mounts";

    /// <summary>The entries of <see cref="ProcPath"/>.</summary>
    public static IReadOnlyList<MountEntry> Read()
    {
        string text;
        try
        {
            text = File.ReadAllText(ProcPath);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw VirtPoolException.System($"cannot read mount list '{ProcPath}'", ex);
        }

        return Parse(text);
    }

    /// <summary>
    /// Parses fstab-format lines (source, target, type, options, dump, pass): fields are separated by
    /// blanks, and a blank, tab, newline or backslash inside a field is written as \ooo, as getmntent decodes it.
    /// </summary>
    public static IReadOnlyList<MountEntry> Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var entries = new List<MountEntry>();
        foreach (var line in text.Split('\n'))
        {
            var fields = line.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length < 3 || fields[0].StartsWith('#'))
            {
                continue;
            }

            entries.Add(new MountEntry(Unescape(fields[0]), Unescape(fields[1]), Unescape(fields[2])));
        }

        return entries;
    }

    /// <summary>
    /// Whether <paramref name="source"/> is mounted on <paramref name="target"/>: both compared as
    /// libvirt's virFileComparePaths compares them (each canonicalized when it can be, else taken as
    /// written), so a symlinked target or a /dev/disk/by-* source still matches.
    /// </summary>
    public static bool IsMounted(IReadOnlyList<MountEntry> table, string source, string target)
    {
        ArgumentNullException.ThrowIfNull(table);
        var canonicalTarget = Canonical(target);
        string? canonicalSource = null;
        foreach (var entry in table)
        {
            if (Canonical(entry.Target) != canonicalTarget)
            {
                continue;
            }

            canonicalSource ??= Canonical(source);
            if (Canonical(entry.Source) == canonicalSource)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>realpath(3) of <paramref name="path"/>, or the path as written when it cannot be resolved ("proc", a missing file).</summary>
    public static string Canonical(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var resolved = RealPath(path, 0);
        if (resolved == 0)
        {
            return path;
        }

        try
        {
            return Marshal.PtrToStringUTF8(resolved) ?? path;
        }
        finally
        {
            Free(resolved);
        }
    }

    private static string Unescape(string field)
    {
        if (!field.Contains('\\', StringComparison.Ordinal))
        {
            return field;
        }

        var text = new StringBuilder(field.Length);
        for (var i = 0; i < field.Length; i++)
        {
            if (field[i] == '\\' && i + 3 < field.Length && IsOctal(field[i + 1]) && IsOctal(field[i + 2]) && IsOctal(field[i + 3]))
            {
                text.Append((char)(((field[i + 1] - '0') << 6) | ((field[i + 2] - '0') << 3) | (field[i + 3] - '0')));
                i += 3;
            }
            else
            {
                text.Append(field[i]);
            }
        }

        return text.ToString();
    }

    private static bool IsOctal(char c) => c is >= '0' and <= '7';

    [LibraryImport("libc", EntryPoint = "realpath", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial nint RealPath(string path, nint resolved);

    [LibraryImport("libc", EntryPoint = "free")]
    private static partial void Free(nint pointer);
}
