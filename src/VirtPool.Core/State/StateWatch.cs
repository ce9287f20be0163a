using System.Buffers.Binary;
using System.Text;
using VirtPool.Core.Interop;

namespace VirtPool.Core.State;

/// <summary>
/// inotify on the state folder's directories, for long-lived processes (the daemon): while a file
/// did not change, its cached copy is still current without a stat. Each drain of events is a new
/// <see cref="Generation"/>; the watch remembers, per path (hashed into a fixed table, so bounded
/// whatever names come and go) and per directory, the last generation that changed it. A cache entry
/// checked at generation G is current while nothing touched its path after G: a write to one pool's
/// index no longer sends every other cached file back to stat. Collisions only cost a stat, never a
/// wrong answer. Events are queued inside the writer's syscall, so a change another process finished
/// before a read began is always seen by that read. If the watch breaks (a watched directory
/// removed) it reports so and callers fall back to stat for good.
/// </summary>
public sealed class StateWatch : IDisposable
{
    // IN_MODIFY | IN_ATTRIB | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR.
    // Not IN_CLOSE_WRITE: every change of a file's contents already raised IN_MODIFY (or a create or
    // move), and a close after one's own append would send the file back to stat for nothing.
    private const uint Mask = 0x2 | 0x4 | 0x40 | 0x80 | 0x100 | 0x200 | 0x400 | 0x800 | 0x01000000;
    private const uint InQueueOverflow = 0x4000;
    private const uint InIgnored = 0x8000;
    private const uint InDeleteSelf = 0x400;
    private const uint InMoveSelf = 0x800;

    /// <summary>Slots of the per-path table: a power of two, many more than the state files a host has.</summary>
    private const int PathSlots = 4096;

    private readonly Lock _sync = new();
    private readonly byte[] _buffer = new byte[16 * 1024];
    private readonly Dictionary<int, string> _directories;
    private readonly Dictionary<int, long> _directoryChanged = [];
    private readonly long[] _pathChanged = new long[PathSlots];
    private int _fd;
    private long _generation;

    /// <summary>The last generation whose events could not be tied to one path (an overflow, the directory itself).</summary>
    private long _everythingChanged;
    private volatile bool _broken;

    private StateWatch(int fd, Dictionary<int, string> directories)
    {
        _fd = fd;
        _directories = directories;
    }

    /// <summary>A watch on <paramref name="directories"/>, or null where inotify is unavailable (then stat decides).</summary>
    public static StateWatch? TryCreate(IEnumerable<string> directories)
    {
        var fd = LibC.InotifyInit1(LibC.IN_NONBLOCK | LibC.IN_CLOEXEC);
        if (fd < 0)
        {
            return null;
        }

        var watched = new Dictionary<int, string>();
        foreach (var dir in directories)
        {
            var wd = LibC.InotifyAddWatch(fd, dir, Mask);
            if (wd < 0)
            {
                LibC.Close(fd);
                return null;
            }

            watched[wd] = dir;
        }

        return new StateWatch(fd, watched);
    }

    /// <summary>
    /// The generation as of now (pending events drained first), or -1 once the watch can no longer
    /// be trusted: entries are then never taken as current without a stat.
    /// </summary>
    public long Generation
    {
        get
        {
            if (_broken)
            {
                return -1;
            }

            lock (_sync)
            {
                if (_fd < 0)
                {
                    return -1;
                }

                while (true)
                {
                    var n = LibC.Read(_fd, _buffer);
                    if (n <= 0)
                    {
                        if (n < 0 && -n != Errno.EAGAIN)
                        {
                            _broken = true;
                        }

                        break;
                    }

                    _generation++;
                    if (!Record(_buffer.AsSpan(0, n)))
                    {
                        _broken = true;
                    }
                }

                return _broken ? -1 : _generation;
            }
        }
    }

    /// <summary>
    /// Whether nothing changed <paramref name="path"/> (a file directly in a watched directory) after
    /// generation <paramref name="validated"/>. Call after reading <see cref="Generation"/>.
    /// </summary>
    public bool UnchangedSince(string path, long validated)
    {
        if (validated < 0 || _broken)
        {
            return false;
        }

        lock (_sync)
        {
            return _everythingChanged <= validated && _pathChanged[Slot(path)] <= validated;
        }
    }

    /// <summary>Whether nothing was added to, removed from or changed in <paramref name="directory"/> after <paramref name="validated"/>.</summary>
    public bool DirectoryUnchangedSince(string directory, long validated)
    {
        if (validated < 0 || _broken)
        {
            return false;
        }

        lock (_sync)
        {
            if (_everythingChanged > validated)
            {
                return false;
            }

            foreach (var (wd, dir) in _directories)
            {
                if (dir == directory)
                {
                    return !_directoryChanged.TryGetValue(wd, out var changed) || changed <= validated;
                }
            }

            return false;
        }
    }

    public void Dispose()
    {
        lock (_sync)
        {
            if (_fd >= 0)
            {
                LibC.Close(_fd);
                _fd = -1;
            }
        }
    }

    private static int Slot(string path) => path.GetHashCode(StringComparison.Ordinal) & (PathSlots - 1);

    /// <summary>Marks what each event touched with the current generation; false when the watch ended.</summary>
    private bool Record(ReadOnlySpan<byte> events)
    {
        // struct inotify_event { int wd; uint32_t mask, cookie, len; char name[len]; }
        while (events.Length >= 16)
        {
            var wd = BinaryPrimitives.ReadInt32LittleEndian(events);
            var mask = BinaryPrimitives.ReadUInt32LittleEndian(events[4..]);
            var length = (int)BinaryPrimitives.ReadUInt32LittleEndian(events[12..]);
            if ((mask & (InIgnored | InDeleteSelf | InMoveSelf)) != 0 || length < 0 || 16 + length > events.Length)
            {
                return false;
            }

            var name = events.Slice(16, length);
            var end = name.IndexOf((byte)0);
            if (end >= 0)
            {
                name = name[..end];
            }

            if ((mask & InQueueOverflow) != 0 || name.IsEmpty || !_directories.TryGetValue(wd, out var dir))
            {
                _everythingChanged = _generation;
            }
            else
            {
                _directoryChanged[wd] = _generation;
                _pathChanged[Slot(Path.Combine(dir, Encoding.UTF8.GetString(name)))] = _generation;
            }

            events = events[(16 + length)..];
        }

        return true;
    }
}
