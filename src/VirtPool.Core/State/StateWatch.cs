using System.Buffers.Binary;
using VirtPool.Core.Interop;

namespace VirtPool.Core.State;

/// <summary>
/// inotify on the state folder's directories, for long-lived processes (the daemon): while nothing
/// changed there, a cached file is still current without a stat. Any event in any watched directory
/// moves <see cref="Generation"/> on, and every cache entry validated at an older generation is
/// checked again the usual way (stat), so the watch only ever saves work, never decides an answer.
/// Events are queued inside the writer's syscall, so a change another process finished before a read
/// began is always seen by that read. If the watch breaks (a watched directory removed), it reports
/// so and callers fall back to stat for good.
/// </summary>
public sealed class StateWatch : IDisposable
{
    // IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR
    private const uint Mask = 0x2 | 0x4 | 0x8 | 0x40 | 0x80 | 0x100 | 0x200 | 0x400 | 0x800 | 0x01000000;
    private const uint InIgnored = 0x8000;
    private const uint InDeleteSelf = 0x400;
    private const uint InMoveSelf = 0x800;

    private readonly Lock _sync = new();
    private readonly byte[] _buffer = new byte[16 * 1024];
    private int _fd;
    private long _generation;
    private volatile bool _broken;

    private StateWatch(int fd) => _fd = fd;

    /// <summary>A watch on <paramref name="directories"/>, or null where inotify is unavailable (then stat decides).</summary>
    public static StateWatch? TryCreate(IEnumerable<string> directories)
    {
        var fd = LibC.InotifyInit1(LibC.IN_NONBLOCK | LibC.IN_CLOEXEC);
        if (fd < 0)
        {
            return null;
        }

        foreach (var dir in directories)
        {
            if (LibC.InotifyAddWatch(fd, dir, Mask) < 0)
            {
                LibC.Close(fd);
                return null;
            }
        }

        return new StateWatch(fd);
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
                    if (WatchEnded(_buffer.AsSpan(0, n)))
                    {
                        _broken = true;
                    }
                }

                return _broken ? -1 : _generation;
            }
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

    /// <summary>Whether an event says a watched directory went away (its watch is gone).</summary>
    private static bool WatchEnded(ReadOnlySpan<byte> events)
    {
        // struct inotify_event { int wd; uint32_t mask, cookie, len; char name[len]; }
        while (events.Length >= 16)
        {
            var mask = BinaryPrimitives.ReadUInt32LittleEndian(events[4..]);
            var length = (int)BinaryPrimitives.ReadUInt32LittleEndian(events[12..]);
            if ((mask & (InIgnored | InDeleteSelf | InMoveSelf)) != 0)
            {
                return true;
            }

            if (length < 0 || 16 + length > events.Length)
            {
                return true;
            }

            events = events[(16 + length)..];
        }

        return false;
    }
}
