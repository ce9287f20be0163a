using System.Buffers;
using Microsoft.Win32.SafeHandles;
using VirtPool.Core.Errors;
using VirtPool.Core.Interop;
using VirtPool.Formats.Copy;

namespace VirtPool.Backends.Local;

/// <summary>
/// Copies a range of a file or device onto a block device: data written, every hole of the source made
/// zeroes on the device (<see cref="BlockDeviceZeroing"/>), never left holding the device's old data.
/// A file source's holes come from SEEK_HOLE, a device source's from reading its zero runs; the part of
/// the range past the source's end is a hole too.
/// </summary>
internal static class BlockDeviceCopy
{
    private const int BufferSize = 1 << 20;

    /// <param name="deallocateHoles">Holes may be given back to the device (a sparse upload); else they stay allocated zeroes (libvirt's written zeroes).</param>
    /// <param name="sync">fdatasync the device at the end (a clone, as libvirt's; an upload is left to writeback, as libvirt's).</param>
    /// <returns>The bytes of the range handled, holes included.</returns>
    public static Task<long> CopyAsync(SafeFileHandle source, long sourceOffset, SafeFileHandle device, string devicePath, long deviceOffset, long length, bool deallocateHoles, bool sync, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        // Blocking syscalls from start to end: a thread of its own keeps them off the pool.
        return Task.Factory.StartNew(
            () => Copy(source, sourceOffset, device, devicePath, deviceOffset, length, deallocateHoles, sync, progress, cancellationToken),
            cancellationToken,
            TaskCreationOptions.LongRunning,
            TaskScheduler.Default);
    }

    private static long Copy(SafeFileHandle source, long sourceOffset, SafeFileHandle device, string devicePath, long deviceOffset, long length, bool deallocateHoles, bool sync, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        var sourceRef = false;
        var deviceRef = false;
        source.DangerousAddRef(ref sourceRef);
        device.DangerousAddRef(ref deviceRef);
        var buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
        try
        {
            var srcFd = (int)source.DangerousGetHandle();
            var dstFd = (int)device.DangerousGetHandle();
            var zeroing = new BlockDeviceZeroing(dstFd, devicePath);
            var delta = deviceOffset - sourceOffset;

            // Auto: SEEK_DATA/SEEK_HOLE on a file, a zero scan on a device.
            using var reader = DataExtents.Open(source, sourceOffset, length, ZeroScan.Auto);
            while (reader.MoveNext())
            {
                cancellationToken.ThrowIfCancellationRequested();
                var seg = reader.Current;
                if (seg.IsHole)
                {
                    zeroing.Zero(seg.Offset + delta, seg.Length, deallocateHoles, cancellationToken);
                }
                else if (!reader.BufferedData.IsEmpty)
                {
                    // The zero scan already read it.
                    WriteFully(dstFd, reader.BufferedData.Span, seg.Offset + delta, devicePath);
                }
                else
                {
                    for (var pos = seg.Offset; pos < seg.End;)
                    {
                        cancellationToken.ThrowIfCancellationRequested();
                        var want = (int)Math.Min(seg.End - pos, BufferSize);
                        var got = LibC.PReadFully(srcFd, buffer.AsSpan(0, want), pos);
                        if (got < 0)
                        {
                            throw VirtPoolException.System($"failed reading from file '{SourceName(srcFd)}'", -got);
                        }

                        if (got == 0)
                        {
                            // The source ended early (it shrank): the rest of the range reads as zeroes.
                            zeroing.Zero(pos + delta, seg.End - pos, deallocateHoles, cancellationToken);
                            break;
                        }

                        WriteFully(dstFd, buffer.AsSpan(0, got), pos + delta, devicePath);
                        pos += got;
                    }
                }

                progress?.Report(seg.End - sourceOffset);
            }

            if (sync && LibC.FDataSync(dstFd) < 0)
            {
                throw VirtPoolException.System($"cannot sync data to file '{devicePath}'", LibC.Errno);
            }

            return length;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
            if (deviceRef)
            {
                device.DangerousRelease();
            }

            if (sourceRef)
            {
                source.DangerousRelease();
            }
        }
    }

    private static string SourceName(int fd)
    {
        try
        {
            return new FileInfo($"/proc/self/fd/{fd}").LinkTarget ?? $"fd {fd}";
        }
        catch (IOException)
        {
            return $"fd {fd}";
        }
    }

    /// <summary>pwrite until all is written (EINTR retried); libvirt's message when the device refuses.</summary>
    public static unsafe void WriteFully(int fd, ReadOnlySpan<byte> data, long offset, string path)
    {
        fixed (byte* p = data)
        {
            for (var done = 0; done < data.Length;)
            {
                var n = LibC.PWrite(fd, p + done, data.Length - done, offset + done);
                if (n < 0)
                {
                    var errno = LibC.Errno;
                    if (errno == Errno.EINTR)
                    {
                        continue;
                    }

                    throw VirtPoolException.System($"failed writing to file '{path}'", errno);
                }

                if (n == 0)
                {
                    // The device ended: nothing more fits.
                    throw VirtPoolException.System($"failed writing to file '{path}'", Errno.ENOSPC);
                }

                done += (int)n;
            }
        }
    }
}
