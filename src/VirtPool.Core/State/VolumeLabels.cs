using System.Text;
using static VirtPool.Core.State.FieldEscaping;

namespace VirtPool.Core.State;

/// <summary>
/// Operator labels on volumes (key=value), kept beside the pool definitions in
/// <c>ROOT/labels/POOL.labels</c>, never inside the image: they survive pool stop, reboot and
/// refresh, and vanish with the volume (vol-delete) or the pool (undefine).
/// One line per label: <c>volume TAB key TAB value</c>, with backslash escapes for TAB, LF and backslash.
/// </summary>
public static class VolumeLabels
{
    public const int MaxKeyLength = 63;
    public const int MaxValueLength = 1024;

    public static string PathFor(StateStore store, string pool) => Path.Combine(store.LabelsDir, pool + ".labels");

    /// <summary>All labels of a pool, by volume, keys sorted: a copy of the caller's own.</summary>
    public static Dictionary<string, SortedDictionary<string, string>> Read(StateStore store, string pool)
        => Cached(store, pool) is { } cached
            ? cached.ToDictionary(v => v.Key, v => new SortedDictionary<string, string>(v.Value, StringComparer.Ordinal), StringComparer.Ordinal)
            : new Dictionary<string, SortedDictionary<string, string>>(StringComparer.Ordinal);

    /// <summary>
    /// The store's parsed copy (shared: never changed in place), or null when the pool has no labels.
    /// Most pools have none, and every vol-delete asks: a long-lived process answers from memory.
    /// </summary>
    private static Dictionary<string, SortedDictionary<string, string>>? Cached(StateStore store, string pool)
        => store.ReadParsed(PathFor(store, pool), Parse);

    private static Dictionary<string, SortedDictionary<string, string>> Parse(string text)
    {
        var result = new Dictionary<string, SortedDictionary<string, string>>(StringComparer.Ordinal);

        foreach (var line in text.Split('\n'))
        {
            var fields = line.Split('\t');
            if (fields.Length != 3)
            {
                continue;
            }

            var volume = Unescape(fields[0]);
            if (!result.TryGetValue(volume, out var labels))
            {
                result[volume] = labels = new SortedDictionary<string, string>(StringComparer.Ordinal);
            }

            labels[Unescape(fields[1])] = Unescape(fields[2]);
        }

        return result;
    }

    public static IReadOnlyDictionary<string, string> ReadVolume(StateStore store, string pool, string volume)
        => Cached(store, pool)?.TryGetValue(volume, out var labels) == true ? new SortedDictionary<string, string>(labels, StringComparer.Ordinal) : new SortedDictionary<string, string>();

    /// <summary>Replaces one volume's labels (an empty set removes its lines); the caller holds the state lock.</summary>
    public static void WriteVolume(StateStore store, string pool, string volume, IReadOnlyDictionary<string, string> labels)
    {
        if (labels.Count == 0 && Cached(store, pool)?.ContainsKey(volume) != true)
        {
            // Nothing to remove (a vol-delete of a volume without labels).
            return;
        }

        var all = Read(store, pool);
        if (labels.Count == 0)
        {
            if (!all.Remove(volume))
            {
                return;
            }
        }
        else
        {
            all[volume] = new SortedDictionary<string, string>(labels.ToDictionary(), StringComparer.Ordinal);
        }

        Write(store, pool, all);
    }

    /// <summary>Drops every label of a pool (undefine).</summary>
    public static void DeletePool(StateStore store, string pool) => AtomicFile.Delete(PathFor(store, pool));

    /// <summary>Checks a key: letters, digits and <c>. _ - /</c>, starting with a letter or digit.</summary>
    public static bool IsValidKey(string key)
        => key.Length is > 0 and <= MaxKeyLength
           && char.IsAsciiLetterOrDigit(key[0])
           && key.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-' or '/');

    private static void Write(StateStore store, string pool, Dictionary<string, SortedDictionary<string, string>> all)
    {
        var path = PathFor(store, pool);
        if (all.Count == 0)
        {
            AtomicFile.Delete(path);
            return;
        }

        Directory.CreateDirectory(Path.GetDirectoryName(path)!, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var text = new StringBuilder();
        foreach (var (volume, labels) in all.OrderBy(v => v.Key, StringComparer.Ordinal))
        {
            foreach (var (key, value) in labels)
            {
                text.Append(Escape(volume)).Append('\t').Append(Escape(key)).Append('\t').Append(Escape(value)).Append('\n');
            }
        }

        AtomicFile.WriteAllText(path, text.ToString());
    }
}
