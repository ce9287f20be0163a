using System.Security.Cryptography;
using Microsoft.Win32.SafeHandles;
using VirtPool.Core.Interop;
using VirtPool.Core.Process;
using VirtPool.Formats.Copy;

namespace VirtPool.Formats.Tests;

/// <summary>A piece of a test file: data (pseudo-random, never a zero block) or a hole.</summary>
public readonly record struct Piece(long Length, bool Hole, int Seed = 1);

/// <summary>Builds files with known layouts and inspects them with the real kernel and tools.</summary>
public static class CopyFiles
{
    public const int MiB = 1 << 20;

    /// <summary>Writes <paramref name="pieces"/> in order (holes by not writing, or by punching when <paramref name="punch"/>); returns the expected bytes.</summary>
    public static byte[] Create(string path, IEnumerable<Piece> pieces, bool punch = false)
    {
        var list = pieces.ToList();
        var total = list.Sum(p => p.Length);
        var expected = new byte[total];
        using var h = File.OpenHandle(path, FileMode.Create, FileAccess.ReadWrite, FileShare.ReadWrite);
        long pos = 0;
        foreach (var p in list)
        {
            if (!p.Hole || punch)
            {
                var chunk = expected.AsSpan((int)pos, (int)p.Length);
                if (!p.Hole)
                {
                    Fill(chunk, p.Seed, pos);
                    RandomAccess.Write(h, chunk, pos);
                }
                else
                {
                    // Write non-zero, then punch: exercises punched (not never-written) holes.
                    var junk = new byte[p.Length];
                    Array.Fill(junk, (byte)0x5A);
                    RandomAccess.Write(h, junk, pos);
                    Punch(h, pos, p.Length);
                }
            }

            pos += p.Length;
        }

        RandomAccess.SetLength(h, total);
        return expected;
    }

    /// <summary>Deterministic non-zero-ish bytes; every 512-byte sector starts non-zero so no zero block can appear.</summary>
    public static void Fill(Span<byte> span, int seed, long position)
    {
        new Random(seed ^ (int)(position >> 9)).NextBytes(span);
        for (var i = 0; i < span.Length; i += 512)
        {
            span[i] |= 1;
        }
    }

    public static void Punch(SafeFileHandle h, long offset, long length)
    {
        var rc = LibC.FAllocate((int)h.DangerousGetHandle(), 0x03, offset, length);
        Assert.True(rc == 0, $"punch failed: errno {LibC.Errno}");
    }

    public static FileStat Stat(string path)
    {
        Assert.True(FileStat.TryStat(path, out var st, out var errno), $"stat {path}: errno {errno}");
        return st;
    }

    public static async Task<string> Sha256SumAsync(string path)
    {
        var r = await ProcessRunner.Instance.RunAsync(["sha256sum", path]);
        Assert.True(r.Succeeded, r.StandardError);
        return r.StandardOutput.Split(' ')[0];
    }

    public static string Sha256Managed(byte[] data) => Convert.ToHexStringLower(SHA256.HashData(data));

    public static SafeFileHandle OpenRead(string path) => File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);

    public static SafeFileHandle OpenWrite(string path, FileMode mode = FileMode.CreateNew) => File.OpenHandle(path, mode, FileAccess.ReadWrite, FileShare.ReadWrite);

    /// <summary>Data/hole segments the kernel reports for the whole file (no zero scan).</summary>
    public static List<DataSegment> Extents(string path)
    {
        using var h = OpenRead(path);
        return [.. DataExtents.Enumerate(h, 0, new FileInfo(path).Length, ZeroScan.Never)];
    }

    /// <summary>Asserts [offset, offset+length) of <paramref name="path"/> lies inside a reported hole.</summary>
    public static void AssertHole(string path, long offset, long length)
    {
        var segs = Extents(path);
        Assert.Contains(segs, s => s.IsHole && s.Offset <= offset && s.End >= offset + length);
    }

    public static async Task<ProcessResult> RunAsync(params string[] argv)
    {
        var r = await ProcessRunner.Instance.RunAsync(argv);
        return r;
    }
}

/// <summary>A read/write stream that refuses Seek and Length, like stdin/stdout or a socket; reads come in small odd pieces.</summary>
public sealed class PipeLikeStream(Stream inner, int maxRead = 100_000) : Stream
{
    public override bool CanRead => inner.CanRead;

    public override bool CanSeek => false;

    public override bool CanWrite => inner.CanWrite;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override void Flush() => inner.Flush();

    public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, Math.Min(count, maxRead));

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        => inner.ReadAsync(buffer[..Math.Min(buffer.Length, maxRead)], cancellationToken);

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => inner.Write(buffer, offset, count);

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        => inner.WriteAsync(buffer, cancellationToken);
}

/// <summary>
/// A loop-mounted filesystem image (xfs with reflink=1 or btrfs) for reflink tests: truncate an image,
/// losetup, mkfs, mount on a temp dir. Everything set up so far is undone on failure and on Dispose.
/// </summary>
public sealed class LoopFs : IDisposable
{
    private readonly string _dir;
    private string? _device;
    private bool _mounted;

    public LoopFs(string fsType)
    {
        FsType = fsType;
        _dir = Directory.CreateTempSubdirectory($"virtpool-copy-{fsType}-").FullName;
        Mount = Path.Combine(_dir, "mnt");
        Directory.CreateDirectory(Mount);
        try
        {
            var image = Path.Combine(_dir, "fs.img");
            using (var f = File.Create(image))
            {
                f.SetLength(512L << 20);
            }

            _device = Run("losetup", "-f", "--show", image).Trim();
            if (fsType == "xfs")
            {
                Run("mkfs.xfs", "-q", "-f", "-m", "reflink=1", _device);
            }
            else
            {
                Run("mkfs.btrfs", "-q", "-f", _device);
            }

            Run("mount", "-t", fsType, _device, Mount);
            _mounted = true;
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public string FsType { get; }

    public string Mount { get; }

    public string NewPath(string name) => Path.Combine(Mount, $"{Guid.NewGuid():N}-{name}");

    public void Dispose()
    {
        if (_mounted)
        {
            TryRun("umount", Mount);
            _mounted = false;
        }

        if (_device is not null)
        {
            TryRun("losetup", "-d", _device);
            _device = null;
        }

        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private static string Run(params string[] argv)
    {
        var r = ProcessRunner.Instance.RunAsync(argv).GetAwaiter().GetResult();
        if (!r.Succeeded)
        {
            throw new InvalidOperationException($"{string.Join(' ', argv)}: {r.StandardError}");
        }

        return r.StandardOutput;
    }

    private static void TryRun(params string[] argv)
    {
        try
        {
            _ = ProcessRunner.Instance.RunAsync(argv).GetAwaiter().GetResult();
        }
        catch (InvalidOperationException)
        {
        }
    }
}

/// <summary>One xfs and one btrfs loop filesystem shared by a test class.</summary>
public sealed class ReflinkFsFixture : IDisposable
{
    public ReflinkFsFixture()
    {
        Xfs = new LoopFs("xfs");
        try
        {
            Btrfs = new LoopFs("btrfs");
        }
        catch
        {
            Xfs.Dispose();
            throw;
        }
    }

    public LoopFs Xfs { get; }

    public LoopFs Btrfs { get; }

    public LoopFs Get(string fs) => fs == "xfs" ? Xfs : Btrfs;

    public void Dispose()
    {
        Btrfs.Dispose();
        Xfs.Dispose();
    }
}
