using System.Runtime.CompilerServices;
using VirtPool.Core.Errors;
using VirtPool.Core.Model;
using VirtPool.Core.Process;

namespace VirtPool.Formats.Tests;

/// <summary>
/// Golden argv files in Golden/convert/NAME.txt (one argv element per line), read from the source tree.
/// They were written from libvirt's storage_util.c (virStorageBackendCreateQemuImgCmdFromVol with an
/// input volume), not captured from a running libvirt.
/// </summary>
public class QemuImgConvertTests
{
    private const string Dir = "/var/lib/libvirt/images";
    private const ulong GiB = 1024 * 1024 * 1024;

    private static QemuImgCreateRequest Out(StorageFileFormat format, string name) =>
        new($"{Dir}/{name}", format, GiB, null, null, null, null, false, false, false, false);

    private static QemuImgConvertRequest Convert(StorageFileFormat from, string input, StorageFileFormat to, string output) =>
        new(Out(to, output), $"{Dir}/{input}", from);

    private static readonly Dictionary<string, QemuImgConvertRequest> Cases = new()
    {
        ["raw-to-qcow2"] = Convert(StorageFileFormat.Raw, "in.img", StorageFileFormat.Qcow2, "out.qcow2"),
        ["qcow2-to-raw"] = Convert(StorageFileFormat.Qcow2, "in.qcow2", StorageFileFormat.Raw, "out.img"),
        ["qcow2-to-qcow2-features"] = Convert(StorageFileFormat.Qcow2, "in.qcow2", StorageFileFormat.Qcow2, "out.qcow2") with
        {
            Output = Out(StorageFileFormat.Qcow2, "out.qcow2") with { ClusterSize = 128 * 1024, LazyRefcounts = true, ExtendedL2 = true },
        },
        // The new volume's backing store is checked, then neither -b nor backing_fmt is passed.
        ["qcow2-backing-dropped"] = Convert(StorageFileFormat.Qcow2, "in.qcow2", StorageFileFormat.Qcow2, "out.qcow2") with
        {
            Output = Out(StorageFileFormat.Qcow2, "out.qcow2") with { BackingPath = $"{Dir}/base.img", BackingFormat = StorageFileFormat.Raw },
            InputBackingPath = $"{Dir}/base.img",
        },
        ["prealloc-metadata"] = Convert(StorageFileFormat.Raw, "in.img", StorageFileFormat.Qcow2, "out.qcow2") with
        {
            Output = Out(StorageFileFormat.Qcow2, "out.qcow2") with { PreallocMetadata = true, Allocation = 0 },
        },
        ["prealloc-falloc"] = Convert(StorageFileFormat.Raw, "in.img", StorageFileFormat.Qcow2, "out.qcow2") with
        {
            Output = Out(StorageFileFormat.Qcow2, "out.qcow2") with { PreallocMetadata = true, NoCow = true, Compat = "1.1" },
        },
        ["iso-input"] = Convert(StorageFileFormat.Iso, "in.iso", StorageFileFormat.Vmdk, "out.vmdk"),
        ["block-input"] = Convert(StorageFileFormat.Qcow2, "in", StorageFileFormat.Qcow2, "out.qcow2") with { InputPath = "/dev/sdb", InputIsBlockDevice = true },
        ["block-output"] = Convert(StorageFileFormat.Qcow2, "in.qcow2", StorageFileFormat.Qcow2, "out") with
        {
            Output = Out(StorageFileFormat.Qcow2, "out") with { Path = "/dev/sdc" },
            OutputIsBlockDevice = true,
        },
        ["vdi-to-qcow"] = Convert(StorageFileFormat.Vdi, "in.vdi", StorageFileFormat.Qcow, "out.qcow"),
    };

    public static TheoryData<string> Names => [.. Cases.Keys];

    private static string GoldenDir([CallerFilePath] string thisFile = "") =>
        Path.Combine(Path.GetDirectoryName(thisFile)!, "Golden", "convert");

    [Theory]
    [MemberData(nameof(Names))]
    public void Argv_matches_golden_file(string name)
    {
        var expected = File.ReadAllLines(Path.Combine(GoldenDir(), name + ".txt"));
        Assert.Equal(expected, QemuImgConvert.BuildArgv(Cases[name]));
    }

    [Fact]
    public void Every_golden_file_has_a_case()
    {
        var files = Directory.GetFiles(GoldenDir(), "*.txt").Select(f => Path.GetFileNameWithoutExtension(f)).Order(StringComparer.Ordinal);
        Assert.Equal(files, Cases.Keys.Order(StringComparer.Ordinal));
    }

    public static TheoryData<QemuImgConvertRequest, VirErrorCode, string> Errors => new()
    {
        {
            Convert(StorageFileFormat.Qcow2, "a", StorageFileFormat.Raw, "b") with { Output = Out(StorageFileFormat.Raw, "b") with { PreallocMetadata = true } },
            VirErrorCode.ConfigUnsupported, "unsupported configuration: metadata preallocation only available with qcow2"
        },
        {
            // A block device target is raw whatever the XML says.
            Convert(StorageFileFormat.Qcow2, "a", StorageFileFormat.Qcow2, "b") with { Output = Out(StorageFileFormat.Qcow2, "b") with { Compat = "1.1" }, OutputIsBlockDevice = true },
            VirErrorCode.ConfigUnsupported, "unsupported configuration: compatibility option only available with qcow2"
        },
        {
            Convert(StorageFileFormat.Qcow2, "a", StorageFileFormat.Vmdk, "b") with { Output = Out(StorageFileFormat.Vmdk, "b") with { LazyRefcounts = true } },
            VirErrorCode.ConfigUnsupported, "unsupported configuration: compatibility option only available with qcow2"
        },
        {
            Convert(StorageFileFormat.Qcow2, "a", StorageFileFormat.Raw, "b") with { Output = Out(StorageFileFormat.Raw, "b") with { BackingPath = "/x" } },
            VirErrorCode.ConfigUnsupported, "unsupported configuration: cannot set backing store for raw volume"
        },
        {
            Convert(StorageFileFormat.Qcow2, "a", StorageFileFormat.Qcow2, "b") with { Output = Out(StorageFileFormat.Qcow2, "b") with { BackingPath = "/x", PreallocMetadata = true } },
            VirErrorCode.ConfigUnsupported, "unsupported configuration: metadata preallocation conflicts with backing store"
        },
        {
            Convert(StorageFileFormat.Qcow2, "a", StorageFileFormat.Qcow2, "b") with { Output = Out(StorageFileFormat.Qcow2, "b") with { BackingPath = "/x" }, InputBackingPath = "/y" },
            VirErrorCode.InternalError, "internal error: a different backing store cannot be specified."
        },
        {
            Convert(StorageFileFormat.Raw, "a", StorageFileFormat.Qcow2, "b") with { Output = Out(StorageFileFormat.Qcow2, "b") with { Compat = "0.10", LazyRefcounts = true } },
            VirErrorCode.ConfigUnsupported, "unsupported configuration: lazy_refcounts not supported with compat level 0.10"
        },
    };

    [Theory]
    [MemberData(nameof(Errors))]
    public void Configuration_errors_are_libvirts(QemuImgConvertRequest request, VirErrorCode code, string message)
    {
        var ex = Assert.Throws<VirtPoolException>(() => QemuImgConvert.BuildArgv(request));
        Assert.Equal(code, ex.Code);
        Assert.Equal(message, ex.Message);
    }

    [Fact]
    public void Same_backing_store_as_the_input_is_accepted()
    {
        var request = Cases["qcow2-backing-dropped"];
        Assert.DoesNotContain("-b", QemuImgConvert.BuildArgv(request));
        Assert.Equal(QemuImgConvert.BuildArgv(request), QemuImgConvert.BuildArgv(request with { InputBackingPath = null }));
    }

    [Fact]
    public async Task Raw_to_qcow2_and_back_keeps_the_data()
    {
        using var tmp = new TempDir();
        var raw = Path.Combine(tmp.Path, "in.img");
        var data = new byte[3 * 1024 * 1024];
        new Random(42).NextBytes(data.AsSpan(1024 * 1024, 4096));
        data.AsSpan(0, 512).Fill(0x5A);
        await File.WriteAllBytesAsync(raw, data);

        var qcow2 = Path.Combine(tmp.Path, "out.qcow2");
        var toQcow2 = new QemuImgConvertRequest(
            new QemuImgCreateRequest(qcow2, StorageFileFormat.Qcow2, (ulong)data.Length, null, null, "1.1", 4096, true, false, false, false),
            raw,
            StorageFileFormat.Raw);
        await QemuImgConvert.RunAsync(ProcessRunner.Instance, toQcow2, QemuImg.Program, CancellationToken.None);

        var info = await QemuImg.InfoAsync(qcow2);
        Assert.Equal("qcow2", info.Format);
        Assert.Equal((ulong)data.Length, info.VirtualSize);
        Assert.Equal("1.1", info.Compat);
        Assert.True(info.LazyRefcounts);
        Assert.Equal(4096UL, info.ClusterSize);

        var back = Path.Combine(tmp.Path, "back.img");
        var toRaw = new QemuImgConvertRequest(
            new QemuImgCreateRequest(back, StorageFileFormat.Raw, (ulong)data.Length, null, null, null, null, false, false, false, false),
            qcow2,
            StorageFileFormat.Qcow2);
        await QemuImgConvert.RunAsync(ProcessRunner.Instance, toRaw, QemuImg.Program, CancellationToken.None);

        var compare = await QemuImg.RunAsync("compare", "-f", "raw", "-F", "qcow2", raw, qcow2);
        Assert.True(compare.Succeeded, compare.StandardOutput + compare.StandardError);
        Assert.Equal(data, await File.ReadAllBytesAsync(back));
    }

    [Fact]
    public async Task Failure_is_reported_as_libvirt_does()
    {
        using var tmp = new TempDir();
        var request = Convert(StorageFileFormat.Qcow2, "missing.qcow2", StorageFileFormat.Raw, "out.img") with
        {
            InputPath = Path.Combine(tmp.Path, "missing.qcow2"),
            Output = Out(StorageFileFormat.Raw, "out.img") with { Path = Path.Combine(tmp.Path, "out.img") },
        };
        var ex = await Assert.ThrowsAsync<VirtPoolException>(() => QemuImgConvert.RunAsync(ProcessRunner.Instance, request, QemuImg.Program, CancellationToken.None));
        Assert.Equal(VirErrorCode.InternalError, ex.Code);
        Assert.StartsWith($"internal error: Child process ({QemuImg.Program} convert -f qcow2 -O raw {request.InputPath} {request.Output.Path}) unexpected exit status 1: ", ex.Message, StringComparison.Ordinal);
    }
}
