using System.Runtime.InteropServices;
using CsCheck;
using VirtPool.Core.Interop;
using VirtPool.Core.Model;
using VirtPool.Formats.Qcow2;

namespace VirtPool.Formats.Tests;

/// <summary>Compares the native qcow2 writer with qemu-img create run with libvirt's argv for the same request.</summary>
public partial class Qcow2WriterTests
{
    private const ulong KiB = 1024;
    private const ulong MiB = 1024 * KiB;
    private const ulong GiB = 1024 * MiB;
    private const ulong TiB = 1024 * GiB;

    private static QemuImgCreateRequest Qcow2(string dir, ulong capacity) =>
        new(Path.Combine(dir, "vol.qcow2"), StorageFileFormat.Qcow2, capacity, null, null, null, null, false, false, false, false);

    /// <summary>Named shapes; each gets a fresh directory with base.img (raw, 3 MiB + 1000 bytes) and base.qcow2 (5 GiB).</summary>
    private static readonly Dictionary<string, Func<QemuImgCreateRequest, QemuImgCreateRequest>> Shapes = new()
    {
        ["default-1G"] = r => r with { Capacity = GiB },
        ["compat11-1G"] = r => r with { Capacity = GiB, Compat = "1.1" },
        ["zero"] = r => r with { Capacity = 0 },
        ["zero-compat11"] = r => r with { Capacity = 0, Compat = "1.1" },
        ["one-byte"] = r => r with { Capacity = 1 },
        ["512"] = r => r with { Capacity = 512 },
        ["1K"] = r => r with { Capacity = KiB },
        ["1M+1K"] = r => r with { Capacity = MiB + KiB },
        ["1T"] = r => r with { Capacity = TiB },
        ["16T"] = r => r with { Capacity = 16 * TiB, Compat = "1.1" },
        ["256T"] = r => r with { Capacity = 256 * TiB },
        ["cluster-512-1M"] = r => r with { Capacity = MiB, ClusterSize = 512 },
        ["cluster-512-1G"] = r => r with { Capacity = GiB, ClusterSize = 512, Compat = "1.1" },
        ["cluster-512-4G"] = r => r with { Capacity = 4 * GiB, ClusterSize = 512 },
        ["cluster-4K-1G"] = r => r with { Capacity = GiB, ClusterSize = 4096, Compat = "1.1" },
        ["cluster-8K"] = r => r with { Capacity = GiB, ClusterSize = 8192, Compat = "1.1" },
        ["cluster-2M-1T"] = r => r with { Capacity = TiB, ClusterSize = 2 * MiB, Compat = "1.1" },
        ["cluster-2M-16T-v2"] = r => r with { Capacity = 16 * TiB, ClusterSize = 2 * MiB },
        ["lazy"] = r => r with { Capacity = GiB, LazyRefcounts = true },
        ["lazy-4K"] = r => r with { Capacity = GiB, LazyRefcounts = true, ClusterSize = 4096 },
        ["extended-l2"] = r => r with { Capacity = GiB, Compat = "1.1", ExtendedL2 = true },
        ["extended-l2-16K-1T"] = r => r with { Capacity = TiB, ExtendedL2 = true, ClusterSize = 16384 },
        ["backing-raw"] = r => r with { Capacity = 2 * GiB, BackingPath = "base.img", BackingFormat = StorageFileFormat.Raw },
        ["backing-no-format"] = r => r with { Capacity = 2 * GiB, BackingPath = "base.img" },
        ["backing-qcow2-v3"] = r => r with { Capacity = GiB, Compat = "1.1", BackingPath = "base.qcow2", BackingFormat = StorageFileFormat.Qcow2 },
        ["backing-qcow2-capacity-0"] = r => r with { Capacity = 0, BackingPath = "base.qcow2", BackingFormat = StorageFileFormat.Qcow2 },
        ["backing-raw-capacity-0-odd-size"] = r => r with { Capacity = 0, BackingPath = "base.img", Compat = "1.1", LazyRefcounts = true },
        ["backing-512-cluster-long-name"] = r => r with
        {
            Capacity = GiB,
            ClusterSize = 512,
            Compat = "1.1",
            BackingPath = string.Concat(Enumerable.Repeat("./", 150)) + "base.img",
            BackingFormat = StorageFileFormat.Raw,
        },
        ["prealloc-1M"] = r => r with { Capacity = MiB, PreallocMetadata = true, Allocation = 0 },
        ["prealloc-1M+1K"] = r => r with { Capacity = MiB + KiB, PreallocMetadata = true, Allocation = 0 },
        ["prealloc-1K"] = r => r with { Capacity = KiB, PreallocMetadata = true, Allocation = 0, Compat = "1.1" },
        ["prealloc-3G"] = r => r with { Capacity = 3 * GiB, PreallocMetadata = true, Allocation = 0 },
        ["prealloc-1T"] = r => r with { Capacity = TiB, PreallocMetadata = true, Allocation = 0, Compat = "1.1", LazyRefcounts = true },
        ["prealloc-512-cluster-2M"] = r => r with { Capacity = 2 * MiB, PreallocMetadata = true, Allocation = 0, ClusterSize = 512 },
        ["prealloc-4K-cluster-3G"] = r => r with { Capacity = 3 * GiB, PreallocMetadata = true, Allocation = 0, ClusterSize = 4096 },
        ["prealloc-2M-cluster-5T"] = r => r with { Capacity = 5 * TiB, PreallocMetadata = true, Allocation = 0, ClusterSize = 2 * MiB },
        ["prealloc-extended-l2-unaligned"] = r => r with { Capacity = (3 * MiB) + KiB, PreallocMetadata = true, Allocation = 0, ExtendedL2 = true, ClusterSize = 65536 },
        ["prealloc-extended-l2-16K-unaligned"] = r => r with { Capacity = 2337792, PreallocMetadata = true, Allocation = 0, ExtendedL2 = true, ClusterSize = 16384 },
        ["prealloc-extended-l2"] = r => r with { Capacity = 3 * GiB, PreallocMetadata = true, Allocation = 0, ExtendedL2 = true, ClusterSize = 32768 },
    };

    public static TheoryData<string> ShapeNames => [.. Shapes.Keys];

    [Theory]
    [MemberData(nameof(ShapeNames))]
    public async Task Native_image_is_identical_to_qemu_img(string shape)
    {
        using var tmp = new TempDir();
        await CreateBackingFilesAsync(tmp.Path);
        var request = Shapes[shape](Qcow2(tmp.Path, 0));
        var native = await AssertSameAsQemuImgAsync(tmp.Path, request);
        Assert.NotNull(native);

        // The native image is valid and reads back as what was asked for.
        var check = await QemuImg.RunAsync("check", "-f", "qcow2", request.Path + ".native");
        Assert.True(check.Succeeded, check.StandardOutput + check.StandardError);
        var info = ImageProbe.ProbeFile(request.Path + ".native");
        Assert.Equal(StorageFileFormat.Qcow2, info.Format);
        // libvirt (and so the probe) reports the file size for a zero header capacity.
        Assert.Equal(native.Capacity == 0 ? (ulong)new FileInfo(request.Path).Length : native.Capacity, info.Capacity);
        Assert.Equal(request.BackingPath, info.BackingStore);
        Assert.Equal(native.Compat, info.Compat ?? "0.10");
        Assert.Equal(native.LazyRefcounts, info.LazyRefcounts);
        Assert.Equal(native.ExtendedL2, info.ExtendedL2);
        Assert.Equal((ulong?)native.ClusterSize, info.ClusterSize);
    }

    public static TheoryData<string, ulong> Fallbacks => new()
    {
        // qemu-img's own errors must come from qemu-img.
        { "cluster size not a power of two", 3000 },
        { "cluster size too small", 256 },
        { "cluster size too large", 4 * MiB },
        // L1 larger than 32 MiB.
        { "too large", 0 },
        // Needs a bigger refcount table.
        { "refcount table growth", 1 },
        { "falloc", 2 },
        { "nocow", 3 },
        { "backing missing", 4 },
        { "extended_l2 with 4K clusters", 5 },
        { "backing format qemu-img cannot open natively", 6 },
        { "libvirt error", 7 },
        { "backing name too long for the header", 8 },
    };

    [Theory]
    [MemberData(nameof(Fallbacks))]
    public void Fallback_cases_return_null(string why, ulong clusterSizeOrCase)
    {
        var r = Qcow2("/nonexistent", GiB);
        var request = why switch
        {
            "too large" => r with { Capacity = 128 * GiB + KiB, ClusterSize = 512 },
            "refcount table growth" => r with { Capacity = 64 * GiB, ClusterSize = 512 },
            "falloc" => r with { PreallocMetadata = true },
            "nocow" => r with { NoCow = true },
            "backing missing" => r with { BackingPath = "/missing", BackingFormat = StorageFileFormat.Raw },
            "extended_l2 with 4K clusters" => r with { Compat = "1.1", ExtendedL2 = true, ClusterSize = 4096 },
            "backing format qemu-img cannot open natively" => r with { BackingPath = "/b", BackingFormat = StorageFileFormat.Vmdk },
            "libvirt error" => r with { Compat = "0.10", LazyRefcounts = true },
            "backing name too long for the header" => r with { ClusterSize = 512, BackingPath = "/" + new string('b', 450) },
            _ => r with { ClusterSize = clusterSizeOrCase },
        };
        Assert.Null(Qcow2CreateOptions.FromRequest(request, p => p == "/missing" ? null : GiB));
    }

    [Fact]
    public void Capacity_and_compat_follow_the_argv()
    {
        var r = Qcow2("/d", 1000);
        var options = Qcow2CreateOptions.FromRequest(r, _ => null);
        Assert.Equal(new Qcow2CreateOptions(1024), options);

        options = Qcow2CreateOptions.FromRequest(r with { LazyRefcounts = true, ClusterSize = 4096 }, _ => null);
        Assert.Equal(new Qcow2CreateOptions(1024, "1.1", 4096, LazyRefcounts: true), options);

        // Capacity 0 with a backing store: the backing file's size, in whole sectors.
        options = Qcow2CreateOptions.FromRequest(r with { Capacity = 0, BackingPath = "b" }, p => p == "b" ? 1000UL : null);
        Assert.Equal(new Qcow2CreateOptions(1024, BackingFile: "b", BackingFormat: "raw"), options);

        // A size given wins over the backing file's.
        options = Qcow2CreateOptions.FromRequest(r with { BackingPath = "b", BackingFormat = StorageFileFormat.Qcow2 }, _ => 5 * GiB);
        Assert.Equal(new Qcow2CreateOptions(1024, BackingFile: "b", BackingFormat: "qcow2"), options);
    }

    [Fact]
    public void Writer_refuses_a_non_empty_file_and_invalid_options()
    {
        using var tmp = new TempDir();
        var path = Path.Combine(tmp.Path, "x");
        File.WriteAllBytes(path, [1]);
        using (var handle = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite))
        {
            Assert.Throws<ArgumentException>(() => Qcow2Writer.Write(handle, new Qcow2CreateOptions(MiB)));
            Assert.Throws<ArgumentException>(() => Qcow2Writer.Write(handle, new Qcow2CreateOptions(MiB, ClusterSize: 1000)));
            Assert.Throws<ArgumentException>(() => Qcow2Writer.Write(handle, new Qcow2CreateOptions(MiB, LazyRefcounts: true)));
        }

        Assert.False(Qcow2Writer.CanWrite(new Qcow2CreateOptions(1000)));
        Assert.True(Qcow2Writer.CanWrite(new Qcow2CreateOptions(TiB)));
    }

    /// <summary>Random valid requests, each compared with qemu-img.</summary>
    [Fact]
    public async Task Random_requests_match_qemu_img()
    {
        var clusterSizes = new ulong?[] { null, 512, 1024, 4096, 8192, 16384, 65536, 131072, 2 * MiB };
        var gen =
            from capacityKiB in Gen.OneOf(Gen.ULong[0, 4096], Gen.ULong[0, 64 * 1024 * 1024], Gen.Const(1024UL * 1024 * 1024))
            from extraBytes in Gen.ULong[0, 1023]
            from cluster in Gen.Int[0, clusterSizes.Length - 1].Select(i => clusterSizes[i])
            from compat in Gen.Int[0, 2].Select(i => i switch { 0 => null, 1 => "0.10", _ => (string?)"1.1" })
            from lazy in Gen.Bool
            from extL2 in Gen.Bool
            from backing in Gen.Int[0, 3]
            from prealloc in Gen.Bool
            select (capacityKiB, extraBytes, cluster, compat, lazy, extL2, backing, prealloc);

        using var tmp = new TempDir();
        await CreateBackingFilesAsync(tmp.Path);
        var n = 0;
        var compared = 0;
        await gen.SampleAsync(
            async s =>
            {
                var (capacityKiB, extraBytes, cluster, compat, lazy, extL2, backing, prealloc) = s;
                if (compat == "0.10")
                {
                    lazy = extL2 = false;
                }

                if (extL2 && cluster is < 16384)
                {
                    cluster = 16384;
                }

                var capacity = (capacityKiB * KiB) - (capacityKiB > 0 ? extraBytes : 0);
                var dir = Path.Combine(tmp.Path, (n++).ToString(System.Globalization.CultureInfo.InvariantCulture));
                Directory.CreateDirectory(dir);
                var request = Qcow2(dir, capacity) with
                {
                    Compat = compat,
                    ClusterSize = cluster,
                    LazyRefcounts = lazy,
                    ExtendedL2 = extL2,
                    // Metadata preallocation of big images is slow in qemu-img; keep it to small ones.
                    PreallocMetadata = prealloc && backing == 0 && capacity <= 4 * GiB,
                    Allocation = 0,
                    BackingPath = backing switch { 1 => Path.Combine(tmp.Path, "base.img"), 2 => "../base.qcow2", _ => null },
                    BackingFormat = backing == 2 ? StorageFileFormat.Qcow2 : null,
                };
                var native = await AssertSameAsQemuImgAsync(tmp.Path, request);
                compared += native is null ? 0 : 1;
            },
            iter: 30,
            threads: 1);

        // Fallbacks (huge images with small clusters) are fine, but most samples must be compared.
        Assert.True(compared >= 20, $"only {compared} of 30 samples were written natively");
    }

    /// <summary>
    /// Runs qemu-img with BuildArgv's argv (to vol.qcow2) and the native writer (to vol.qcow2.native) and asserts
    /// the same length, data extents, bytes and st_blocks. Returns the native options (null: fallback, nothing compared).
    /// </summary>
    private static async Task<Qcow2CreateOptions?> AssertSameAsQemuImgAsync(string baseDir, QemuImgCreateRequest request)
    {
        var dir = Path.GetDirectoryName(request.Path)!;
        var options = Qcow2CreateOptions.FromRequest(request, p => BackingCapacity(dir, p));
        if (options is null)
        {
            return null;
        }

        var argv = QemuImgCreate.BuildArgv(request, QemuImg.Program);
        var result = await QemuImg.RunAsync([.. argv.Skip(1)]);
        Assert.True(result.Succeeded, $"{VirtPool.Core.Process.ChildProcessErrors.CommandText(argv)} (in {baseDir}): {result.StandardError}");

        var nativePath = request.Path + ".native";
        using (var handle = File.OpenHandle(nativePath, FileMode.CreateNew, FileAccess.ReadWrite))
        {
            Qcow2Writer.Write(handle, options);
        }

        AssertSameFiles(request.Path, nativePath, options);
        return options;
    }

    /// <summary>What the caller would pass: ImageProbe's capacity, the path resolved against the image's directory.</summary>
    private static ulong? BackingCapacity(string dir, string path)
    {
        var full = Path.Combine(dir, path);
        return File.Exists(full) ? ImageProbe.ProbeFile(full).Capacity : null;
    }

    private static async Task CreateBackingFilesAsync(string dir)
    {
        await File.WriteAllBytesAsync(Path.Combine(dir, "base.img"), new byte[(3 * MiB) + 1000]);
        await QemuImg.CreateAsync(dir, "-f", "qcow2", Path.Combine(dir, "base.qcow2"), "5G");
    }

    private static void AssertSameFiles(string expectedPath, string actualPath, Qcow2CreateOptions options)
    {
        var what = $"{options} ({expectedPath})";
        using var expected = File.OpenHandle(expectedPath);
        using var actual = File.OpenHandle(actualPath);
        var length = RandomAccess.GetLength(expected);
        Assert.True(length == RandomAccess.GetLength(actual), $"length {length} vs {RandomAccess.GetLength(actual)}: {what}");

        var extents = DataExtents(expected, length);
        Assert.True(extents.SequenceEqual(DataExtents(actual, length)), $"data extents differ: {what}");

        var a = new byte[1024 * 1024];
        var b = new byte[a.Length];
        foreach (var (start, end) in extents)
        {
            for (var at = start; at < end; at += a.Length)
            {
                var n = (int)Math.Min(a.Length, end - at);
                Assert.Equal(n, RandomAccess.Read(expected, a.AsSpan(0, n), at));
                Assert.Equal(n, RandomAccess.Read(actual, b.AsSpan(0, n), at));
                if (!a.AsSpan(0, n).SequenceEqual(b.AsSpan(0, n)))
                {
                    var i = a.AsSpan(0, n).CommonPrefixLength(b.AsSpan(0, n));
                    Assert.Fail($"bytes differ at {at + i:x}: {what}");
                }
            }
        }

        Assert.True(FileStat.TryStat(expectedPath, out var e, out _));
        Assert.True(FileStat.TryStat(actualPath, out var f, out _));
        Assert.True(e.Blocks == f.Blocks, $"st_blocks {e.Blocks} vs {f.Blocks}: {what}");
    }

    /// <summary>SEEK_DATA/SEEK_HOLE runs: the regions the file system has allocated.</summary>
    private static List<(long Start, long End)> DataExtents(Microsoft.Win32.SafeHandles.SafeFileHandle handle, long length)
    {
        var fd = (int)handle.DangerousGetHandle();
        var extents = new List<(long, long)>();
        var at = 0L;
        while (at < length)
        {
            var data = LSeek(fd, at, SeekData);
            if (data < 0)
            {
                break; // ENXIO: only a hole remains
            }

            var hole = LSeek(fd, data, SeekHole);
            extents.Add((data, hole));
            at = hole;
        }

        return extents;
    }

    private const int SeekData = 3;
    private const int SeekHole = 4;

    [LibraryImport("libc", EntryPoint = "lseek", SetLastError = true)]
    private static partial long LSeek(int fd, long offset, int whence);
}
