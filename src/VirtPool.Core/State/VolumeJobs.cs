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
}

/// <summary>The jobs running on one volume right now.</summary>
public readonly record struct VolumeJobState(bool Building, int InUse);

/// <summary>
/// Long volume operations in flight, visible across processes: one file per job in
/// <c>STATUS/jobs</c>, flock'ed by its owner for as long as the job runs. A job whose owner died
/// has no lock holder, so it is seen as gone (and swept) without any pid bookkeeping. This is what
/// lets the manager drop the state lock during I/O and still refuse a delete of a volume being
/// cloned, as libvirt does with its in-memory counters.
/// </summary>
public sealed class VolumeJobs(string directory)
{
    public string Directory { get; } = directory;

    /// <summary>Registers a job; dispose the result when the job ends (also on failure).</summary>
    /// <remarks>Call with the state lock held, after checking <see cref="StateOf"/>, so check and register are one step.</remarks>
    public VolumeJob Begin(string pool, string volume, VolumeJobKind kind)
    {
        var path = Path.Combine(Directory, $"{NameDigest(pool)}.{NameDigest(pool + "\0" + volume)}.{(kind == VolumeJobKind.Building ? "b" : "u")}.{Guid.NewGuid():N}");
        const int flags = LibC.O_RDWR | LibC.O_CREAT | LibC.O_EXCL | LibC.O_CLOEXEC;
        var fd = LibC.Open(path, flags, 0x180);
        if (fd < 0 && LibC.Errno == Errno.ENOENT)
        {
            // The folder is made on first use (and again if something removed it).
            System.IO.Directory.CreateDirectory(Directory);
            fd = LibC.Open(path, flags, 0x180);
        }

        if (fd < 0)
        {
            throw VirtPoolException.System($"cannot create job file '{path}'", LibC.Errno);
        }

        if (LibC.Flock(fd, LibC.LOCK_EX | LibC.LOCK_NB) < 0)
        {
            var errno = LibC.Errno;
            LibC.Close(fd);
            LibC.Unlink(path);
            throw VirtPoolException.System($"cannot lock job file '{path}'", errno);
        }

        // The volume's name, for listings of what is being built (the file name only has hashes).
        var bytes = Encoding.UTF8.GetBytes(volume);
        unsafe
        {
            fixed (byte* p = bytes)
            {
                _ = LibC.Write(fd, p, bytes.Length);
            }
        }

        return new VolumeJob(path, fd);
    }

    /// <summary>The live jobs on one volume.</summary>
    public VolumeJobState StateOf(string pool, string volume)
    {
        var building = false;
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
            }
        }

        return new VolumeJobState(building, inUse);
    }

    /// <summary>libvirt's asyncjobs count for a pool.</summary>
    public int CountForPool(string pool) => Live($"{NameDigest(pool)}.", readNames: false).Count();

    /// <summary>Names of the volumes of a pool being built now (a refresh must not index them half-made).</summary>
    public IReadOnlySet<string> BuildingIn(string pool)
        => Live($"{NameDigest(pool)}.", readNames: true).Where(j => j.Kind == VolumeJobKind.Building).Select(j => j.Volume!).ToHashSet(StringComparer.Ordinal);

    private IEnumerable<(VolumeJobKind Kind, string? Volume)> Live(string prefix, bool readNames)
    {
        string[] files;
        try
        {
            files = System.IO.Directory.GetFiles(Directory, prefix + "*");
        }
        catch (DirectoryNotFoundException)
        {
            yield break;
        }

        foreach (var file in files)
        {
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
                var kind = name.Split('.')[2] == "b" ? VolumeJobKind.Building : VolumeJobKind.InUse;
                string? volume = null;
                if (readNames)
                {
                    var buffer = new byte[4096];
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
