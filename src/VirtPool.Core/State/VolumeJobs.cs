using System.Text;
using VirtPool.Core.Errors;
using VirtPool.Core.Interop;

namespace VirtPool.Core.State;

/// <summary>What a long volume operation does to its volume (libvirt's voldef->building and in_use).</summary>
public enum VolumeJobKind
{
    /// <summary>The volume is being made (create, clone): it is not in the index yet.</summary>
    Building,

    /// <summary>The volume is read or written by a running operation (clone source, upload, wipe, download).</summary>
    InUse,

    /// <summary>
    /// The volume's capacity is being changed (resize). In use, and more: libvirt resizes with the
    /// pool locked, so nothing else reads the volume meanwhile either (no clone or download beside a
    /// <c>qemu-img resize</c>, whose image lock would make one of them fail).
    /// </summary>
    Resizing,
}

/// <summary>The jobs running on one volume right now (<paramref name="InUse"/> counts resizes too).</summary>
public readonly record struct VolumeJobState(bool Building, int InUse, bool Resizing = false);

/// <summary>
/// A volume being made, as its building job records it: libvirt lists such a volume, finds it by name,
/// key and path, and describes it while it is allocated (its other operations are refused).
/// </summary>
public sealed record BuildingVolume(string Pool, string Name, string Key, string Path, Model.VolumeType Type, string? Format, ulong Capacity);

/// <summary>
/// Long volume operations in flight, visible across processes: one file per job in
/// <c>STATUS/jobs</c>, flock'ed by its owner for as long as the job runs. A job whose owner died
/// has no lock holder, so it is seen as gone (and swept) without any pid bookkeeping. This is what
/// lets the manager drop the state lock during I/O and still refuse a delete of a volume being
/// cloned, as libvirt does with its in-memory counters.
/// </summary>
public sealed class VolumeJobs(string directory, StateStore? watched = null)
{
    public string Directory { get; } = directory;

    /// <summary>The folder's file names as last listed, and the watch generation that vouches for them.</summary>
    private volatile Listing? _listing;

    private sealed record Listing(string[] Files, long Generation);

    /// <summary>Registers a job; dispose the result when the job ends (also on failure).</summary>
    /// <param name="building">For a <see cref="VolumeJobKind.Building"/> job, the volume being made (found by lookups meanwhile).</param>
    /// <remarks>Call with the state lock held, after checking <see cref="StateOf"/>, so check and register are one step.</remarks>
    public VolumeJob Begin(string pool, string volume, VolumeJobKind kind, BuildingVolume? building = null)
    {
        var id = Guid.NewGuid().ToString("N");
        var path = Path.Combine(Directory, $"{NameDigest(pool)}.{NameDigest(pool + "\0" + volume)}.{KindTag(kind)}.{id}");

        // Made locked and complete under a name no reader looks at, then renamed into place: a reader
        // that found the job's file unlocked would take its owner for dead and sweep it.
        var temporary = Path.Combine(Directory, TemporaryPrefix + id);
        const int flags = LibC.O_RDWR | LibC.O_CREAT | LibC.O_EXCL | LibC.O_CLOEXEC;
        var fd = LibC.Open(temporary, flags, 0x180);
        if (fd < 0 && LibC.Errno == Errno.ENOENT)
        {
            // The folder is made on first use (and again if something removed it).
            System.IO.Directory.CreateDirectory(Directory);
            fd = LibC.Open(temporary, flags, 0x180);
        }

        if (fd < 0)
        {
            throw VirtPoolException.System($"cannot create job file '{temporary}'", LibC.Errno);
        }

        if (LibC.Flock(fd, LibC.LOCK_EX | LibC.LOCK_NB) < 0)
        {
            var errno = LibC.Errno;
            LibC.Close(fd);
            LibC.Unlink(temporary);
            throw VirtPoolException.System($"cannot lock job file '{temporary}'", errno);
        }

        // The volume's name, for listings of what is being built (the file name only has hashes), and
        // for a volume being made what lookups report of it; NUL separates (no name or path holds one).
        var text = building is null
            ? volume
            : string.Join('\0', volume, pool, building.Key, building.Path, ((int)building.Type).ToString(System.Globalization.CultureInfo.InvariantCulture),
                building.Format ?? string.Empty, building.Capacity.ToString(System.Globalization.CultureInfo.InvariantCulture));
        var bytes = Encoding.UTF8.GetBytes(text);
        unsafe
        {
            fixed (byte* p = bytes)
            {
                _ = LibC.Write(fd, p, bytes.Length);
            }
        }

        if (LibC.Rename(temporary, path) < 0)
        {
            var errno = LibC.Errno;
            LibC.Close(fd);
            LibC.Unlink(temporary);
            throw VirtPoolException.System($"cannot create job file '{path}'", errno);
        }

        return new VolumeJob(path, fd);
    }

    /// <summary>Job files being made; never read as jobs (a hidden name matches no job prefix).</summary>
    private const string TemporaryPrefix = ".new.";

    /// <summary>The live jobs on one volume.</summary>
    public VolumeJobState StateOf(string pool, string volume)
    {
        var building = false;
        var resizing = false;
        var inUse = 0;
        foreach (var (kind, _) in Live($"{NameDigest(pool)}.{NameDigest(pool + "\0" + volume)}.", readNames: false))
        {
            if (kind == VolumeJobKind.Building)
            {
                building = true;
            }
            else
            {
                inUse++;
                resizing |= kind == VolumeJobKind.Resizing;
            }
        }

        return new VolumeJobState(building, inUse, resizing);
    }

    private static string KindTag(VolumeJobKind kind) => kind switch
    {
        VolumeJobKind.Building => "b",
        VolumeJobKind.Resizing => "r",
        _ => "u",
    };

    /// <summary>libvirt's asyncjobs count for a pool.</summary>
    public int CountForPool(string pool) => Live($"{NameDigest(pool)}.", readNames: false).Count();

    /// <summary>Names of the volumes of a pool being built now (a refresh must not index them half-made).</summary>
    public IReadOnlySet<string> BuildingIn(string pool)
        => Live($"{NameDigest(pool)}.", readNames: true).Where(j => j.Kind == VolumeJobKind.Building).Select(j => NameOf(j.Payload!)).ToHashSet(StringComparer.Ordinal);

    /// <summary>The volume of that name being made in the pool now, or null.</summary>
    public BuildingVolume? FindBuilding(string pool, string volume)
        => Live($"{NameDigest(pool)}.{NameDigest(pool + "\0" + volume)}.b.", readNames: true).Select(j => Describe(pool, j.Payload!)).FirstOrDefault();

    /// <summary>The volumes of a pool being made now, in name order.</summary>
    public IReadOnlyList<BuildingVolume> BuildingVolumesIn(string pool)
        => [.. Live($"{NameDigest(pool)}.", readNames: true).Where(j => j.Kind == VolumeJobKind.Building).Select(j => Describe(pool, j.Payload!))
                .OrderBy(v => v.Name, StringComparer.Ordinal)];

    /// <summary>Every volume being made, in every pool (lookups by key or path).</summary>
    public IReadOnlyList<BuildingVolume> AllBuilding()
        => [.. Live(string.Empty, readNames: true).Where(j => j.Kind == VolumeJobKind.Building).Select(j => Describe(null, j.Payload!)).Where(v => v.Pool.Length > 0)];

    private static string NameOf(string payload)
    {
        var end = payload.IndexOf('\0', StringComparison.Ordinal);
        return end < 0 ? payload : payload[..end];
    }

    private static BuildingVolume Describe(string? pool, string payload)
    {
        var f = payload.Split('\0');
        if (f.Length < 7)
        {
            // A job of an older version: only the name is known.
            return new BuildingVolume(pool ?? string.Empty, f[0], string.Empty, string.Empty, Model.VolumeType.File, null, 0);
        }

        var type = int.TryParse(f[4], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var t) ? (Model.VolumeType)t : Model.VolumeType.File;
        var capacity = ulong.TryParse(f[6], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var c) ? c : 0;
        return new BuildingVolume(f[1], f[0], f[2], f[3], type, f[5].Length == 0 ? null : f[5], capacity);
    }

    /// <summary>
    /// The job files there are now. Every volume change asks (is one running on this volume?), and
    /// nearly always none is: in a process that watches the state folder, an unchanged folder is
    /// answered from the last listing. A job whose owner died leaves its file, which is listed and
    /// then found unlocked below, so the listing only ever needs to be current, not to judge liveness.
    /// </summary>
    private string[] ListFiles()
    {
        var generation = watched?.WatchGeneration ?? -1;
        if (generation >= 0 && _listing is { } known
            && (known.Generation == generation || watched!.DirectoryUnchangedSince(Directory, known.Generation)))
        {
            return known.Files;
        }

        string[] files;
        try
        {
            files = System.IO.Directory.GetFiles(Directory);
        }
        catch (DirectoryNotFoundException)
        {
            files = [];
        }

        _listing = generation >= 0 ? new Listing(files, generation) : null;
        return files;
    }

    private IEnumerable<(VolumeJobKind Kind, string? Payload)> Live(string prefix, bool readNames)
    {
        foreach (var file in ListFiles())
        {
            var fileName = Path.GetFileName(file.AsSpan());
            if (fileName.StartsWith(TemporaryPrefix, StringComparison.Ordinal))
            {
                SweepIfAbandoned(file);
                continue;
            }

            if (!fileName.StartsWith(prefix, StringComparison.Ordinal))
            {
                continue;
            }

            var fd = LibC.Open(file, LibC.O_RDONLY | LibC.O_CLOEXEC, 0);
            if (fd < 0)
            {
                continue; // ended meanwhile
            }

            try
            {
                if (LibC.Flock(fd, LibC.LOCK_SH | LibC.LOCK_NB) == 0)
                {
                    // Nobody holds it: the owner died (or is just finishing); sweep it.
                    LibC.Unlink(file);
                    continue;
                }

                var name = Path.GetFileName(file);
                var kind = name.Split('.')[2] switch { "b" => VolumeJobKind.Building, "r" => VolumeJobKind.Resizing, _ => VolumeJobKind.InUse };
                string? volume = null;
                if (readNames)
                {
                    // Name, pool, key and path: each at most PATH_MAX.
                    var buffer = new byte[20 * 1024];
                    var n = LibC.PReadFully(fd, buffer, 0);
                    volume = n > 0 ? Encoding.UTF8.GetString(buffer, 0, n) : string.Empty;
                }

                yield return (kind, volume);
            }
            finally
            {
                LibC.Close(fd);
            }
        }
    }

    /// <summary>
    /// A job file left half-made by a process killed before its rename: older than any Begin takes,
    /// and unlocked. The age is asked first: a young file belongs to a Begin between its create and its
    /// exclusive flock, and even a shared lock taken here at that moment would make that flock fail.
    /// </summary>
    private static void SweepIfAbandoned(string file)
    {
        var fd = LibC.Open(file, LibC.O_RDONLY | LibC.O_CLOEXEC, 0);
        if (fd < 0)
        {
            return;
        }

        try
        {
            if (FileStat.TryFStat(fd, out var st, out _) && DateTimeOffset.UtcNow.ToUnixTimeSeconds() - st.MTimeSec > 60
                && LibC.Flock(fd, LibC.LOCK_SH | LibC.LOCK_NB) == 0)
            {
                LibC.Unlink(file);
            }
        }
        finally
        {
            LibC.Close(fd);
        }
    }

    /// <summary>
    /// A file-name-safe digest of a pool or volume name (job files, lock files of odd names). Not a
    /// secret, so no crypto: SHA-256 here loaded OpenSSL into every process (2.6 MiB of a daemon's RSS).
    /// </summary>
    internal static string NameDigest(string text) => Convert.ToHexStringLower(System.IO.Hashing.XxHash128.Hash(Encoding.UTF8.GetBytes(text)).AsSpan(0, 12));
}

/// <summary>A registered job; disposing ends it.</summary>
public sealed class VolumeJob(string path, int fd) : IDisposable
{
    private int _fd = fd;

    public void Dispose()
    {
        var fd = Interlocked.Exchange(ref _fd, -1);
        if (fd >= 0)
        {
            // Unlink before the lock drops, so nobody sees a stale file of a finished job.
            LibC.Unlink(path);
            LibC.Close(fd);
        }
    }
}
