using System.Text;
using VirtPool.Core.Errors;
using VirtPool.Core.Interop;
using VirtPool.Core.Model;

namespace VirtPool.Core.State;

/// <summary>
/// The state folder, laid out as libvirt lays out /etc/libvirt/storage and /run/libvirt/storage:
/// <c>pools/NAME.xml</c> persistent definitions, <c>autostart/NAME</c> markers,
/// <c>status/NAME.xml</c> the live definition of an active pool, <c>status/NAME.vols</c> its volume
/// index and sizes, <c>boot_id</c> the boot the runtime state belongs to, and <c>lock</c>.
/// Every write is atomic; writers hold a <see cref="StateLocks"/> lock around each read-modify-write.
/// </summary>
public sealed class StateStore
{
    /// <param name="root">The state folder: definitions and autostart markers.</param>
    /// <param name="runtimeDir">
    /// Where runtime state (status and volume indexes) lives; by default <c>ROOT/status</c>. An
    /// installed VirtPool puts it on tmpfs (/run/virtpool), as libvirt uses /run/libvirt/storage:
    /// it is per boot anyway, and its frequent writes then cost no journal commits.
    /// </param>
    public StateStore(string root, string? runtimeDir = null)
    {
        Root = Path.GetFullPath(root);
        ConfigDir = Path.Combine(Root, "pools");
        AutostartDir = Path.Combine(Root, "autostart");
        StatusDir = runtimeDir is null ? Path.Combine(Root, "status") : Path.GetFullPath(runtimeDir);
    }

    public string Root { get; }

    public string ConfigDir { get; }

    public string AutostartDir { get; }

    public string StatusDir { get; }

    private volatile bool _created;

    /// <summary>Creates the folders (0700: definitions may name secrets and hosts), once per instance.</summary>
    public void EnsureCreated()
    {
        if (_created)
        {
            return;
        }

        foreach (var dir in new[] { Root, ConfigDir, AutostartDir, StatusDir })
        {
            if (!Directory.Exists(dir))
            {
                Directory.CreateDirectory(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            }
        }

        _created = true;
    }

    public IEnumerable<string> ConfigNames() => CachedNames(ConfigDir, ".xml");

    public IEnumerable<string> StatusNames() => CachedNames(StatusDir, ".xml");

    public string ConfigPath(string name) => Path.Combine(ConfigDir, name + ".xml");

    public string StatusPath(string name) => Path.Combine(StatusDir, name + ".xml");

    public string VolumeIndexPath(string name) => Path.Combine(StatusDir, name + ".vols");

    /// <summary>Marks that a new definition was saved while the pool ran (libvirt's newDef).</summary>
    public string NewDefinitionMarkerPath(string name) => Path.Combine(StatusDir, name + ".newdef");

    /// <summary>
    /// The live XML (with sizes) a stopped pool last had: libvirt keeps an inactive pool's last
    /// definition and sizes in memory and prints them until the pool is redefined or started.
    /// </summary>
    public string LastLivePath(string name) => Path.Combine(StatusDir, name + ".last");

    public bool HasNewDefinition(string name) => File.Exists(NewDefinitionMarkerPath(name));

    public void MarkNewDefinition(string name) => AtomicFile.WriteAllText(NewDefinitionMarkerPath(name), string.Empty, durable: false);

    public string? ReadLastLive(string name) => ReadIfExists(LastLivePath(name));

    public void WriteLastLive(string name, string? xml)
    {
        if (xml is null)
        {
            AtomicFile.Delete(LastLivePath(name));
        }
        else
        {
            AtomicFile.WriteAllText(LastLivePath(name), xml, durable: false);
        }
    }

    /// <summary>Like libvirt's autostart/NAME.xml link; the suffix also keeps "." and ".." names safe.</summary>
    public string AutostartPath(string name) => Path.Combine(AutostartDir, name + ".xml");

    public string? ReadConfig(string name) => ReadIfExists(ConfigPath(name));

    public void WriteConfig(string name, string xml) => AtomicFile.WriteAllText(ConfigPath(name), xml);

    public void DeleteConfig(string name) => AtomicFile.Delete(ConfigPath(name));

    public string? ReadStatus(string name) => ReadIfExists(StatusPath(name));

    public void WriteStatus(string name, string xml) => AtomicFile.WriteAllText(StatusPath(name), xml);

    public void DeleteStatus(string name)
    {
        // Status first: once it is gone the pool is inactive, and a leftover index is ignored.
        AtomicFile.Delete(StatusPath(name));
        AtomicFile.Delete(VolumeIndexPath(name));
        AtomicFile.Delete(NewDefinitionMarkerPath(name));
    }

    public bool IsAutostart(string name) => MarkerExists(AutostartPath(name));

    public void SetAutostart(string name, bool on)
    {
        if (on)
        {
            AtomicFile.WriteAllText(AutostartPath(name), string.Empty);
        }
        else
        {
            AtomicFile.Delete(AutostartPath(name));
        }
    }

    /// <summary>A copy of the pool's volume entries as of now (null when the pool has no index).</summary>
    public VolumeIndexEntry[]? ListVolumes(string name) => ReadIndex(name, 0, static (index, _) => index is null ? null : index.Volumes.ToArray());

    /// <summary>How many live and dead records the pool's index holds (to decide when to compact it).</summary>
    public (int Count, int DeadRecords) IndexStats(string name)
        => ReadIndex(name, 0, static (index, _) => index is null ? (0, 0) : (index.Count, index.DeadRecords));

    /// <summary>A private copy of the index, to change and write back.</summary>
    public VolumeIndex? ReadVolumeIndexForUpdate(string name)
    {
        var text = ReadIfExists(VolumeIndexPath(name));
        return text is null ? null : VolumeIndex.Parse(text);
    }

    public VolumeIndexEntry? FindVolume(string pool, string volume) => ReadIndex(pool, volume, static (index, name) => index?.Find(name));

    public PoolSizes ReadPoolSizes(string name) => ReadIndex(name, 0, static (index, _) => index?.Sizes ?? default);

    /// <summary>
    /// Runs <paramref name="read"/> on the index as of now, under the lock of this process's cached
    /// copy: readers need no state lock (every index version is complete on disk), but the cached
    /// copy is caught up in place, so two threads must not read it while one applies new records.
    /// </summary>
    private TResult ReadIndex<TState, TResult>(string name, TState state, Func<VolumeIndex?, TState, TResult> read)
    {
        var path = VolumeIndexPath(name);
        var generation = Generation;
        var cached = _indexes.GetOrAdd(path, static _ => new CachedIndex());
        lock (cached)
        {
            if (IsCurrent(path, cached.WatchGeneration, generation))
            {
                return read(cached.Index, state);
            }

            var index = CatchUp(path, cached);
            cached.WatchGeneration = generation;
            return read(index, state);
        }
    }

    /// <summary>
    /// Brings <paramref name="cached"/> up to the file, parsing only what was appended since this
    /// process last read it: the file is replaced (a new inode) when rewritten and only grows in
    /// between, so a volume command costs O(new records), not O(volumes in the pool).
    /// </summary>
    private static VolumeIndex? CatchUp(string path, CachedIndex cached)
    {
        // Unchanged since this process last parsed it (same inode, size and mtime): one stat, no read.
        if (cached.Index is not null && FileStat.TryStat(path, out var now, out _)
            && now.Inode == cached.Inode && now.Size == cached.Parsed && (now.MTimeSec, now.MTimeNsec) == cached.MTime)
        {
            return cached.Index;
        }

        var fd = LibC.Open(path, LibC.O_RDONLY | LibC.O_CLOEXEC, 0);
        if (fd < 0)
        {
            var errno = LibC.Errno;
            cached.Reset(0, [], null);
            return errno is Errno.ENOENT or Errno.ENOTDIR or Errno.ENAMETOOLONG ? null : throw VirtPoolException.System($"cannot read file '{path}'", errno);
        }

        try
        {
            if (!FileStat.TryFStat(fd, out var st, out var errno))
            {
                throw VirtPoolException.System($"cannot stat file '{path}'", errno);
            }

            var generation = ReadGeneration(fd);
            if (cached.Index is null || cached.Inode != st.Inode || cached.Parsed > st.Size
                || !cached.Generation.AsSpan().SequenceEqual(generation))
            {
                cached.Reset(st.Inode, generation, new VolumeIndex());
            }

            var index = cached.Index!;
            var length = checked((int)(st.Size - cached.Parsed));
            if (length > 0)
            {
                var buffer = new byte[length];
                var total = LibC.PReadFully(fd, buffer, cached.Parsed);
                if (total < 0)
                {
                    throw VirtPoolException.System($"cannot read file '{path}'", -total);
                }

                cached.Parsed += index.ApplyLines(buffer.AsSpan(0, total));
            }

            cached.MTime = (st.MTimeSec, st.MTimeNsec);
            return index;
        }
        catch
        {
            cached.Reset(0, [], null);
            throw;
        }
        finally
        {
            LibC.Close(fd);
        }
    }

    private static byte[] ReadGeneration(int fd)
    {
        var header = new byte[VolumeIndex.GenerationBytes];
        var n = LibC.PReadFully(fd, header, 0);
        return n > 0 ? header[..n] : [];
    }

    /// <summary>This process's parsed copy of one index file; guarded by locking the instance.</summary>
    private sealed class CachedIndex
    {
        public ulong Inode { get; private set; }

        public byte[] Generation { get; private set; } = [];

        public VolumeIndex? Index { get; private set; }

        public long Parsed { get; set; }

        /// <summary>The file's mtime when <see cref="Parsed"/> last caught up with its size.</summary>
        public (long Sec, long Nsec) MTime { get; set; } = (-1, -1);

        /// <summary>The watch generation at which <see cref="Index"/> (or its absence) was last known current; -1 never.</summary>
        public long WatchGeneration { get; set; } = -1;

        public void Reset(ulong inode, byte[] generation, VolumeIndex? index)
        {
            WatchGeneration = -1;
            Inode = inode;
            Generation = generation;
            Index = index;
            Parsed = 0;
            MTime = (-1, -1);
        }
    }

    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, CachedIndex> _indexes = new(StringComparer.Ordinal);

    /// <summary>The index is a cache of what storage holds: atomic, not fsynced (a refresh rebuilds it).</summary>
    public void WriteVolumeIndex(string name, VolumeIndex index)
    {
        _indexes.TryRemove(VolumeIndexPath(name), out _);
        AtomicFile.WriteAllText(VolumeIndexPath(name), index.Serialize(), durable: false);
    }

    /// <summary>Appends records made by <see cref="VolumeIndex.AddRecord"/>/<see cref="VolumeIndex.DeleteRecord"/> in one write.</summary>
    public void AppendVolumeIndex(string name, string records)
    {
        var path = VolumeIndexPath(name);
        var bytes = Encoding.UTF8.GetBytes(records);
        var fd = LibC.Check(LibC.Open(path, LibC.O_WRONLY | LibC.O_APPEND | LibC.O_CREAT | LibC.O_CLOEXEC, 0x180), $"cannot open file '{path}'");
        try
        {
            var known = FileStat.TryFStat(fd, out var before, out _);
            AtomicFile.WriteFully(fd, bytes, path);
            if (known)
            {
                TakeOwnAppend(path, fd, before, bytes);
            }
        }
        finally
        {
            LibC.Close(fd);
        }
    }

    /// <summary>
    /// This process's cached copy takes the records it just appended as they were written, instead of
    /// reading them back on the next read: when the copy was current right before the write (same
    /// inode, size and mtime), the file now is that copy plus these bytes. The caller holds the pool's
    /// lock, so nobody else wrote in between.
    /// </summary>
    private void TakeOwnAppend(string path, int fd, FileStat before, byte[] bytes)
    {
        if (!_indexes.TryGetValue(path, out var cached) || !FileStat.TryFStat(fd, out var after, out _))
        {
            return;
        }

        // Drained after the write, so the write's own event is in the past of this generation.
        var generation = _watch?.Generation ?? -1;
        lock (cached)
        {
            if (cached.Index is null || cached.Inode != before.Inode || cached.Parsed != before.Size
                || cached.MTime != (before.MTimeSec, before.MTimeNsec) || after.Size != before.Size + bytes.Length)
            {
                return;
            }

            cached.Parsed += cached.Index.ApplyLines(bytes);
            cached.MTime = (after.MTimeSec, after.MTimeNsec);
            cached.WatchGeneration = generation;
        }
    }

    /// <summary>
    /// Whether the runtime state needs reconciling: it belongs to an earlier boot, or this folder was
    /// never reconciled (no boot id recorded). Two small reads, no lock: the answer only changes under
    /// the global lock, where <see cref="BeginBootIfNew"/> decides again.
    /// </summary>
    public bool IsNewBoot() => ReadIfExists(BootIdPath)?.Trim() != CurrentBootId();

    /// <summary>
    /// Runtime state belongs to one boot, as /run does for libvirt: after a reboot the status files
    /// are stale. Returns true (and clears them) when this is the first use since boot.
    /// </summary>
    public bool BeginBootIfNew()
    {
        var current = CurrentBootId();
        var path = BootIdPath;
        var recorded = ReadIfExists(path)?.Trim();
        if (recorded == current)
        {
            return false;
        }

        foreach (var file in Directory.EnumerateFiles(StatusDir))
        {
            AtomicFile.Delete(file);
        }

        AtomicFile.WriteAllText(path, current + "\n");
        return true;
    }

    private string BootIdPath => Path.Combine(Root, "boot_id");

    /// <summary>
    /// This boot's id. Read to the end rather than to the size fstat gives: /proc reports files of
    /// size 0. The same for the whole life of the process, so read once.
    /// </summary>
    private static string CurrentBootId() => BootId.Value;

    private static readonly Lazy<string> BootId = new(static () =>
    {
        try
        {
            return File.ReadAllText("/proc/sys/kernel/random/boot_id").Trim();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return string.Empty;
        }
    });

    private static List<string> Names(string dir, string suffix)
    {
        if (!Directory.Exists(dir))
        {
            return [];
        }

        var names = new List<string>();
        foreach (var file in Directory.EnumerateFiles(dir, "*" + suffix))
        {
            // Pool names may start with a dot (libvirt allows ".hidden" and even ".."); temporary
            // files end in ".new" and never match.
            names.Add(Path.GetFileName(file)[..^suffix.Length]);
        }

        names.Sort(StringComparer.Ordinal);
        return names;
    }

    /// <summary>A small state file's text, or null when it (or its folder) does not exist; no exception on the way.</summary>
    internal static string? ReadIfExists(string path)
    {
        var bytes = ReadBytesIfExists(path, out _);
        return bytes is null ? null : Encoding.UTF8.GetString(bytes);
    }

    /// <summary>
    /// A small state file in one open/fstat/pread/close (FileStream's set-up costs more than the read
    /// for files of a few hundred bytes, and every command reads several). Null when missing.
    /// </summary>
    private static byte[]? ReadBytesIfExists(string path, out FileStat stat)
    {
        stat = default;
        var fd = LibC.Open(path, LibC.O_RDONLY | LibC.O_CLOEXEC, 0);
        if (fd < 0)
        {
            var errno = LibC.Errno;
            // A name too long for the filesystem cannot have been stored either.
            return errno is Errno.ENOENT or Errno.ENOTDIR or Errno.ENAMETOOLONG ? null : throw VirtPoolException.System($"cannot read file '{path}'", errno);
        }

        try
        {
            if (!FileStat.TryFStat(fd, out stat, out var errno))
            {
                throw VirtPoolException.System($"cannot stat file '{path}'", errno);
            }

            var buffer = new byte[stat.Size];
            var total = LibC.PReadFully(fd, buffer, 0);
            if (total < 0)
            {
                throw VirtPoolException.System($"cannot read file '{path}'", -total);
            }

            return total == buffer.Length ? buffer : buffer[..total];
        }
        finally
        {
            LibC.Close(fd);
        }
    }

    /// <summary>
    /// A state file parsed once per version of the file: every write replaces the file (a new inode),
    /// so (inode, mtime, size) identifies a version. Saves re-parsing pool XML on every call in a
    /// long-lived process (the daemon, the library); the CLI reads each file once anyway.
    /// A filesystem may give a freed inode number to the next file, and file times advance only once
    /// per kernel tick, so two writes of the same size within one tick can leave the same identity.
    /// As git does with "racily clean" index entries, a version read while its mtime was that recent
    /// is not trusted by identity: it is read again until its mtime is safely in the past.
    /// </summary>
    public T? ReadParsed<T>(string path, Func<string, T> parse)
        where T : class
    {
        // Read first: an event after this point moves the generation on and the entry is checked again.
        var generation = Generation;
        if (_missing.TryGetValue(path, out var missingSince) && IsCurrent(path, missingSince, generation))
        {
            // Known missing and nothing changed in the folder since: no syscall at all.
            return null;
        }

        if (_parsed.TryGetValue(path, out var known) && known.Value is T)
        {
            // Nothing changed in the folder since the entry was last checked: no syscall at all.
            if (IsCurrent(path, known.Generation, generation))
            {
                return (T?)known.Value;
            }

            // The common case otherwise: the file did not change; one stat answers it.
            if (known.Value is T unchanged && !known.Racy && FileStat.TryStat(path, out var now, out _)
                && known.Version == (now.Inode, now.MTimeSec, now.MTimeNsec, now.Size))
            {
                _parsed[path] = known with { Generation = generation };
                return unchanged;
            }
        }

        var bytes = ReadBytesIfExists(path, out var st);
        if (bytes is null)
        {
            _parsed.TryRemove(path, out _);
            RememberMissing(path, generation);
            return null;
        }

        _missing.TryRemove(path, out _);

        var version = (st.Inode, st.MTimeSec, st.MTimeNsec, st.Size);
        var racy = IsRacy(st);
        if (_parsed.TryGetValue(path, out var cached) && !cached.Racy && !racy && cached.Version == version && cached.Value is T hit)
        {
            _parsed[path] = cached with { Generation = generation };
            return hit;
        }

        var value = parse(Encoding.UTF8.GetString(bytes));
        _parsed[path] = new ParsedEntry(version, value, generation, racy);
        return value;
    }

    /// <summary>
    /// How recent an mtime must be for its version to be re-read rather than trusted: several kernel
    /// ticks (4 ms at HZ=250, 10 ms at HZ=100) and then some, as the file clock is the coarse one.
    /// </summary>
    private static readonly TimeSpan RacyWindow = TimeSpan.FromMilliseconds(100);

    /// <summary>Whether a file's mtime is too recent (or in the future) to tell its versions apart by identity.</summary>
    private static bool IsRacy(FileStat st)
    {
        var now = DateTime.UtcNow.Ticks - DateTime.UnixEpoch.Ticks;
        var nowSeconds = now / TimeSpan.TicksPerSecond;
        if (st.MTimeSec < nowSeconds - 1)
        {
            return false;
        }

        // Any time a second or more ahead is in the future; only near times are multiplied out.
        return st.MTimeSec > nowSeconds + 1
            || now - ((st.MTimeSec * TimeSpan.TicksPerSecond) + (st.MTimeNsec / 100)) < RacyWindow.Ticks;
    }

    /// <summary>A parsed file, when it was last known current, and whether its identity can be trusted (see <see cref="IsRacy"/>).</summary>
    private sealed record ParsedEntry((ulong, long, long, long) Version, object? Value, long Generation, bool Racy);

    /// <summary>Parsed files that exist (or existed): as many as the folder has held, so bounded by what was stored.</summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, ParsedEntry> _parsed = new(StringComparer.Ordinal);

    /// <summary>
    /// How many known-missing paths are remembered. Misses are keyed by whatever name a client asked
    /// for, so without a bound every lookup of a new random name would stay in memory for good.
    /// Enough for the stopped pools' status files and the names scripts probe; beyond it the set is
    /// dropped and rebuilt, which costs a stat per miss, never a wrong answer.
    /// </summary>
    internal const int MissingCacheCapacity = 1024;

    /// <summary>Paths known missing (with a watch) and the watch generation that vouches for it.</summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, long> _missing = new(StringComparer.Ordinal);

    /// <summary>Entries in the caches keyed by client-supplied names (tests: they stay bounded).</summary>
    internal int CachedPathCount => _parsed.Count + _missing.Count + _indexes.Count + _markers.Count;

    private void RememberMissing(string path, long generation)
    {
        // Only a watch can vouch that a missing file is still missing; a name longer than a file
        // name can be (NAME_MAX) can never exist, so is not worth remembering.
        if (generation < 0 || Path.GetFileName(path.AsSpan()).Length > 255)
        {
            _missing.TryRemove(path, out _);
            return;
        }

        if (_missing.Count >= MissingCacheCapacity && !_missing.ContainsKey(path))
        {
            _missing.Clear();
        }

        _missing[path] = generation;
    }

    // ----- change watch ----------------------------------------------------------------------------

    private StateWatch? _watch;

    /// <summary>
    /// For long-lived processes: watch the folder (inotify), so reads of unchanged state cost no
    /// syscalls beyond one read of the watch. Without it every cached read is checked with a stat.
    /// </summary>
    public void WatchForChanges()
    {
        EnsureCreated();
        if (_watch is not null)
        {
            return;
        }

        // Job files and labels are read on every volume change: watched too, so that while none
        // exist, asking costs no syscall.
        foreach (var dir in new[] { JobsDir, LabelsDir })
        {
            Directory.CreateDirectory(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        _watch = StateWatch.TryCreate([ConfigDir, AutostartDir, StatusDir, JobsDir, LabelsDir]);
    }

    /// <summary>Where running volume jobs keep their files (<see cref="VolumeJobs"/>).</summary>
    public string JobsDir => Path.Combine(StatusDir, "jobs");

    /// <summary>Where volume labels are kept (<see cref="VolumeLabels"/>).</summary>
    public string LabelsDir => Path.Combine(Root, "labels");

    /// <summary>The watch's generation as of now (pending events drained), or -1 without a trustworthy watch.</summary>
    public long WatchGeneration => _watch?.Generation ?? -1;

    /// <summary>Whether nothing changed in a watched folder since <paramref name="generation"/> (false without a watch).</summary>
    public bool DirectoryUnchangedSince(string directory, long generation) => _watch?.DirectoryUnchangedSince(directory, generation) == true;

    /// <summary>
    /// Whether a cache entry for <paramref name="path"/> checked at generation <paramref name="validated"/>
    /// is still current for a read at <paramref name="now"/> (the watch drained): nothing changed the
    /// path since. Without a trustworthy watch, never: the caller checks with a stat.
    /// </summary>
    private bool IsCurrent(string path, long validated, long now)
        => now >= 0 && validated >= 0 && (validated == now || _watch?.UnchangedSince(path, validated) == true);

    /// <summary>The watch's generation, or -1 when there is no (trustworthy) watch.</summary>
    private long Generation => t_scopeStore == this ? t_scopeGeneration : _watch?.Generation ?? -1;

    [ThreadStatic]
    private static StateStore? t_scopeStore;

    [ThreadStatic]
    private static long t_scopeGeneration;

    /// <summary>
    /// One synchronous read of several files (a manager call): the watch is drained once at the
    /// start instead of once per file, as if the whole read happened at that instant.
    /// </summary>
    public ReadScope BeginRead()
    {
        if (_watch is null || t_scopeStore is not null)
        {
            return default;
        }

        t_scopeGeneration = _watch.Generation;
        t_scopeStore = this;
        return new ReadScope(true);
    }

    /// <summary>Ends a <see cref="BeginRead"/> scope on the thread that began it.</summary>
    public readonly struct ReadScope(bool active) : IDisposable
    {
        public void Dispose()
        {
            if (active)
            {
                t_scopeStore = null;
            }
        }
    }

    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, (bool Exists, long Generation)> _markers = new(StringComparer.Ordinal);

    /// <summary>Whether a marker file exists; with a watch, answered from memory while nothing changed.</summary>
    private bool MarkerExists(string path)
    {
        var generation = Generation;
        if (_markers.TryGetValue(path, out var known) && IsCurrent(path, known.Generation, generation))
        {
            return known.Exists;
        }

        var exists = File.Exists(path);
        if (generation >= 0)
        {
            _markers[path] = (exists, generation);
        }

        return exists;
    }

    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, (List<string> Names, long Generation)> _listings = new(StringComparer.Ordinal);

    private List<string> CachedNames(string dir, string suffix)
    {
        var generation = Generation;
        if (generation >= 0 && _listings.TryGetValue(dir, out var known)
            && (known.Generation == generation || _watch?.DirectoryUnchangedSince(dir, known.Generation) == true))
        {
            return known.Names;
        }

        var names = Names(dir, suffix);
        if (generation >= 0)
        {
            _listings[dir] = (names, generation);
        }

        return names;
    }

}
