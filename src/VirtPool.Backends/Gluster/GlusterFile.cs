using VirtPool.Core.Errors;
using VirtPool.Core.Interop;

namespace VirtPool.Backends.Gluster;

/// <summary>
/// One open <c>glfs_fd_t</c>, closed by <see cref="Dispose"/>. Used inside one connection call or lease
/// only: it must never outlive the <see cref="GlusterMount"/> it came from. Offsets are bytes; every
/// failure is a VirtPoolException naming the volume.
/// </summary>
public sealed unsafe class GlusterFile : IDisposable
{
    private nint _fd;

    internal GlusterFile(nint fd, string name)
    {
        _fd = fd;
        Name = name;
    }

    /// <summary>What errors call the file: its gluster:// path.</summary>
    public string Name { get; }

    private nint Fd => _fd != 0 ? _fd : throw new ObjectDisposedException(nameof(GlusterFile));

    public void Dispose()
    {
        var fd = Interlocked.Exchange(ref _fd, 0);
        if (fd != 0)
        {
            _ = GfapiNative.Close(fd);
        }
    }

    public FileStat Stat()
    {
        FileStat.RawStat raw;
        if (GfapiNative.FStat(Fd, &raw) < 0)
        {
            throw VirtPoolException.System($"cannot stat file '{Name}'", GlusterMount.Errno(GfapiNative.LastErrno));
        }

        return raw.ToStat();
    }

    /// <summary>Reads until <paramref name="buffer"/> is full or the end of the file: the bytes read.</summary>
    public int ReadFully(Span<byte> buffer, long offset)
    {
        var done = 0;
        while (done < buffer.Length)
        {
            nint got;
            fixed (byte* p = buffer[done..])
            {
                got = GfapiNative.PRead(Fd, p, (nuint)(buffer.Length - done), offset + done, 0, 0);
            }

            if (got < 0)
            {
                var errno = GfapiNative.LastErrno;
                if (errno == Errno.EINTR)
                {
                    continue;
                }

                throw VirtPoolException.System($"unable to read '{Name}'", GlusterMount.Errno(errno));
            }

            if (got == 0)
            {
                break;
            }

            done += (int)got;
        }

        return done;
    }

    public void WriteFully(ReadOnlySpan<byte> data, long offset)
    {
        var done = 0;
        while (done < data.Length)
        {
            nint put;
            fixed (byte* p = data[done..])
            {
                put = GfapiNative.PWrite(Fd, p, (nuint)(data.Length - done), offset + done, 0, 0, 0);
            }

            if (put < 0)
            {
                var errno = GfapiNative.LastErrno;
                if (errno == Errno.EINTR)
                {
                    continue;
                }

                throw VirtPoolException.System($"failed writing to file '{Name}'", GlusterMount.Errno(errno));
            }

            done += (int)put;
        }
    }

    /// <summary>ftruncate; <paramref name="what"/> is libvirt's wording for the step ("cannot extend file").</summary>
    public void Truncate(long length, string what = "cannot extend file")
    {
        if (GfapiNative.FTruncate(Fd, length, 0, 0) < 0)
        {
            throw VirtPoolException.System($"{what} '{Name}'", GlusterMount.Errno(GfapiNative.LastErrno));
        }
    }

    /// <summary>fallocate(mode 0) of [offset, offset+length): the space is reserved, the size grows to cover it.</summary>
    public void Allocate(long offset, long length)
    {
        if (length > 0 && GfapiNative.FAllocate(Fd, 0, offset, (nuint)length) < 0)
        {
            throw VirtPoolException.System($"cannot allocate {length} bytes in file '{Name}'", GlusterMount.Errno(GfapiNative.LastErrno));
        }
    }

    /// <summary>Punches [offset, offset+length) out (it reads as zeros, takes no space); the errno, 0 on success.</summary>
    public int TryDiscard(long offset, long length)
        => length <= 0 || GfapiNative.Discard(Fd, offset, (nuint)length) == 0 ? 0 : GlusterMount.Errno(GfapiNative.LastErrno);

    /// <summary>Writes zeros over [offset, offset+length) on the server (no data crosses the wire); the errno, 0 on success.</summary>
    public int TryZeroFill(long offset, long length)
        => length <= 0 || GfapiNative.ZeroFill(Fd, offset, length) == 0 ? 0 : GlusterMount.Errno(GfapiNative.LastErrno);

    public void Sync()
    {
        if (GfapiNative.FSync(Fd, 0, 0) < 0)
        {
            throw VirtPoolException.System($"cannot sync file '{Name}'", GlusterMount.Errno(GfapiNative.LastErrno));
        }
    }

    /// <summary>
    /// The next data at or after <paramref name="offset"/> (SEEK_DATA) and where it ends (SEEK_HOLE), or
    /// null when only a hole follows. A server without SEEK_DATA reports everything as data.
    /// </summary>
    public (long Start, long End)? NextData(long offset, long end)
    {
        if (offset >= end)
        {
            return null;
        }

        var start = GfapiNative.LSeek(Fd, offset, GfapiNative.SeekData);
        if (start < 0)
        {
            var errno = GfapiNative.LastErrno;
            if (errno == Errno.ENXIO)
            {
                return null;
            }

            // EINVAL/EOPNOTSUPP: no seek fop on this server, so no holes are known.
            return errno is Errno.EINVAL or Errno.EOPNOTSUPP or Errno.ENOSYS
                ? (offset, end)
                : throw VirtPoolException.System($"unable to read '{Name}'", GlusterMount.Errno(errno));
        }

        if (start >= end)
        {
            return null;
        }

        var hole = GfapiNative.LSeek(Fd, start, GfapiNative.SeekHole);
        return (start, hole < 0 ? end : Math.Min(hole, end));
    }
}
