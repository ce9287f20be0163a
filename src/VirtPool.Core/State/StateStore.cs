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
/// Every write is atomic; a process holds <see cref="Lock"/> around each read-modify-write.
/// </summary>
public sealed class StateStore
{
    public StateStore(string root)
    {
        Root = Path.GetFullPath(root);
        ConfigDir = Path.Combine(Root, "pools");
        AutostartDir = Path.Combine(Root, "autostart");
        StatusDir = Path.Combine(Root, "status");
    }

    public string Root { get; }

    public string ConfigDir { get; }

    public string AutostartDir { get; }

    public string StatusDir { get; }

    /// <summary>Creates the folders (0700: definitions may name secrets and hosts).</summary>
    public void EnsureCreated()
    {
        foreach (var dir in new[] { Root, ConfigDir, AutostartDir, StatusDir })
        {
            if (!Directory.Exists(dir))
            {
                Directory.CreateDirectory(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            }
        }
    }

    /// <summary>
    /// flock on <c>lock</c>: exclusive for writers, shared for readers, across processes. The lock
    /// dies with the process, so a killed CLI never leaves the folder locked.
    /// </summary>
    public StateLock Lock(bool exclusive)
    {
        EnsureCreated();
        var path = Path.Combine(Root, "lock");
        var fd = LibC.Check(LibC.Open(path, LibC.O_RDWR | LibC.O_CREAT | LibC.O_CLOEXEC, 0x180), $"cannot open lock file '{path}'");
        while (LibC.Flock(fd, exclusive ? LibC.LOCK_EX : LibC.LOCK_SH) < 0)
        {
            var errno = LibC.Errno;
            if (errno != Errno.EINTR)
            {
                LibC.Close(fd);
                throw VirtPoolException.System($"cannot lock '{path}'", errno);
            }
        }

        return new StateLock(fd);
    }

    public IEnumerable<string> ConfigNames() => Names(ConfigDir, ".xml");

    public IEnumerable<string> StatusNames() => Names(StatusDir, ".xml");

    public string ConfigPath(string name) => Path.Combine(ConfigDir, name + ".xml");

    public string StatusPath(string name) => Path.Combine(StatusDir, name + ".xml");

    public string VolumeIndexPath(string name) => Path.Combine(StatusDir, name + ".vols");

    public string AutostartPath(string name) => Path.Combine(AutostartDir, name);

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
    }

    public bool IsAutostart(string name) => File.Exists(AutostartPath(name));

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

    public VolumeIndex? ReadVolumeIndex(string name)
    {
        var text = ReadIfExists(VolumeIndexPath(name));
        return text is null ? null : VolumeIndex.Parse(text);
    }

    public VolumeIndexEntry? FindVolume(string pool, string volume)
    {
        var text = ReadIfExists(VolumeIndexPath(pool));
        return text is null ? null : VolumeIndex.FindIn(text, volume);
    }

    public PoolSizes ReadPoolSizes(string name)
    {
        var text = ReadIfExists(VolumeIndexPath(name));
        return text is null ? default : VolumeIndex.ParseSizes(text);
    }

    /// <summary>The index is a cache of what storage holds: atomic, not fsynced (a refresh rebuilds it).</summary>
    public void WriteVolumeIndex(string name, VolumeIndex index) => AtomicFile.WriteAllText(VolumeIndexPath(name), index.Serialize(), durable: false);

    /// <summary>Appends records made by <see cref="VolumeIndex.AddRecord"/>/<see cref="VolumeIndex.DeleteRecord"/> in one write.</summary>
    public void AppendVolumeIndex(string name, string records)
    {
        var path = VolumeIndexPath(name);
        var fd = LibC.Check(LibC.Open(path, LibC.O_WRONLY | LibC.O_APPEND | LibC.O_CREAT | LibC.O_CLOEXEC, 0x180), $"cannot open file '{path}'");
        try
        {
            AtomicFile.WriteFully(fd, Encoding.UTF8.GetBytes(records), path);
        }
        finally
        {
            LibC.Close(fd);
        }
    }

    /// <summary>
    /// Runtime state belongs to one boot, as /run does for libvirt: after a reboot the status files
    /// are stale. Returns true (and clears them) when this is the first use since boot.
    /// </summary>
    public bool BeginBootIfNew()
    {
        var current = ReadIfExists("/proc/sys/kernel/random/boot_id")?.Trim() ?? string.Empty;
        var path = Path.Combine(Root, "boot_id");
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

    private static List<string> Names(string dir, string suffix)
    {
        if (!Directory.Exists(dir))
        {
            return [];
        }

        var names = new List<string>();
        foreach (var file in Directory.EnumerateFiles(dir, "*" + suffix))
        {
            var name = Path.GetFileName(file);
            if (!name.StartsWith('.'))
            {
                names.Add(name[..^suffix.Length]);
            }
        }

        names.Sort(StringComparer.Ordinal);
        return names;
    }

    private static string? ReadIfExists(string path)
    {
        try
        {
            return File.ReadAllText(path, Encoding.UTF8);
        }
        catch (FileNotFoundException)
        {
            return null;
        }
        catch (DirectoryNotFoundException)
        {
            return null;
        }
    }
}

/// <summary>A held flock; disposing releases it.</summary>
public sealed class StateLock(int fd) : IDisposable
{
    private int _fd = fd;

    public void Dispose()
    {
        var fd = Interlocked.Exchange(ref _fd, -1);
        if (fd >= 0)
        {
            LibC.Close(fd);
        }
    }
}
