using VirtPool.Core.Errors;
using VirtPool.Core.Model;
using VirtPool.Core.Process;

namespace VirtPool.Formats.Tests;

public class QemuImgCreateTests
{
    private static QemuImgCreateRequest Request(StorageFileFormat format = StorageFileFormat.Qcow2, string path = "/p/v.img") =>
        new(path, format, 1024 * 1024, null, null, null, null, false, false, false, false);

    // The messages are libvirt 9.0's (storage_util.c), the ones observed through virsh.
    public static TheoryData<QemuImgCreateRequest, string> ConfigErrors => new()
    {
        { Request(StorageFileFormat.Vmdk) with { PreallocMetadata = true }, "unsupported configuration: metadata preallocation only available with qcow2" },
        { Request(StorageFileFormat.Vmdk) with { Compat = "1.1" }, "unsupported configuration: compatibility option only available with qcow2" },
        { Request(StorageFileFormat.Qed) with { LazyRefcounts = true }, "unsupported configuration: compatibility option only available with qcow2" },
        { Request(StorageFileFormat.Qed) with { Compat = "1.1", ExtendedL2 = true }, "unsupported configuration: compatibility option only available with qcow2" },
        { Request(StorageFileFormat.Raw) with { BackingPath = "/b" }, "unsupported configuration: cannot set backing store for raw volume" },
        { Request(StorageFileFormat.Iso) with { BackingPath = "/b" }, "unsupported configuration: cannot set backing store for raw volume" },
        { Request() with { BackingPath = "/b", PreallocMetadata = true }, "unsupported configuration: metadata preallocation conflicts with backing store" },
        { Request() with { Compat = "0.10", LazyRefcounts = true }, "unsupported configuration: lazy_refcounts not supported with compat level 0.10" },
        { Request() with { Compat = "0.10", ExtendedL2 = true }, "unsupported configuration: 'extended_l2' not supported with compat level 0.10" },
    };

    [Theory]
    [MemberData(nameof(ConfigErrors))]
    public void Configuration_errors_are_libvirts(QemuImgCreateRequest request, string message)
    {
        var ex = Assert.Throws<VirtPoolException>(() => QemuImgCreate.BuildArgv(request));
        Assert.Equal(VirErrorCode.ConfigUnsupported, ex.Code);
        Assert.Equal(message, ex.Message);
    }

    [Fact]
    public void Prealloc_uses_kib_rounded_comparison()
    {
        // 1 MiB + 1 byte is 1025 KiB; an allocation of 1 MiB + 100 bytes also rounds up to 1025 KiB: falloc.
        var req = Request() with { Capacity = (1024 * 1024) + 1, Allocation = (1024 * 1024) + 100, PreallocMetadata = true };
        Assert.Contains("preallocation=falloc,compat=0.10", QemuImgCreate.BuildArgv(req));
        req = req with { Allocation = 1024 * 1024 };
        Assert.Contains("preallocation=metadata,compat=0.10", QemuImgCreate.BuildArgv(req));
        Assert.Equal("1025K", QemuImgCreate.BuildArgv(req)[^1]);
    }

    [Fact]
    public void Zero_cluster_size_is_omitted()
    {
        Assert.DoesNotContain(QemuImgCreate.BuildArgv(Request() with { ClusterSize = 0 }), a => a.Contains("cluster_size", StringComparison.Ordinal));
    }

    [Fact]
    public void Shell_string_quotes_like_virBufferEscapeShell()
    {
        Assert.Equal(
            "/usr/bin/qemu-img create -f qcow2 '/p/my vol' 'it'\\''s' '' a=b,c",
            QemuImgCreate.ToShellString(["/usr/bin/qemu-img", "create", "-f", "qcow2", "/p/my vol", "it's", string.Empty, "a=b,c"]));
    }

    [Fact]
    public async Task RunAsync_runs_the_argv()
    {
        var runner = new RecordingProcessRunner();
        await QemuImgCreate.RunAsync(runner, Request(), "/usr/bin/qemu-img", CancellationToken.None);
        var call = Assert.Single(runner.Calls);
        Assert.Equal(["/usr/bin/qemu-img", "create", "-f", "qcow2", "-o", "compat=0.10", "/p/v.img", "1024K"], call);
    }

    [Fact]
    public async Task RunAsync_failure_has_virCommandRun_shape()
    {
        var runner = new RecordingProcessRunner(_ => new ProcessResult(1, string.Empty, "qemu-img: /p/my v.img: Cluster size must be a power of two between 512 and 2048k\n"));
        var req = Request(path: "/p/my v.img") with { ClusterSize = 1000 };
        var ex = await Assert.ThrowsAsync<VirtPoolException>(() => QemuImgCreate.RunAsync(runner, req, "/usr/bin/qemu-img", CancellationToken.None));
        Assert.Equal(VirErrorCode.InternalError, ex.Code);

        // The text libvirt 9.0 gave for the same failure, stderr (with its newline) included verbatim.
        Assert.Equal(
            "internal error: Child process (/usr/bin/qemu-img create -f qcow2 -o compat=0.10,cluster_size=1000 '/p/my v.img' 1024K) unexpected exit status 1: qemu-img: /p/my v.img: Cluster size must be a power of two between 512 and 2048k\n",
            ex.Message);
    }

    [Fact]
    public async Task RunAsync_failure_without_stderr_has_no_colon()
    {
        var runner = new RecordingProcessRunner(_ => new ProcessResult(3, "out", string.Empty));
        var ex = await Assert.ThrowsAsync<VirtPoolException>(() => QemuImgCreate.RunAsync(runner, Request(), "qemu-img", CancellationToken.None));
        Assert.Equal("internal error: Child process (qemu-img create -f qcow2 -o compat=0.10 /p/v.img 1024K) unexpected exit status 3", ex.Message);
    }

    [Fact]
    public void FindInPath_resolves_qemu_img()
    {
        Assert.Equal("/usr/bin/qemu-img", QemuImgCreate.FindInPath("qemu-img"));
        Assert.Null(QemuImgCreate.FindInPath("no-such-program-virtpool"));
    }

    [Fact]
    public async Task Real_qemu_img_creates_what_the_probe_reads_back()
    {
        using var dir = new TempDir();
        var basePath = Path.Combine(dir.Path, "base.qcow2");
        var overlay = Path.Combine(dir.Path, "overlay.qcow2");
        await QemuImgCreate.RunAsync(ProcessRunner.Instance, Request(path: basePath) with { Capacity = 64 * 1024 * 1024, Compat = "1.1", LazyRefcounts = true, ClusterSize = 128 * 1024 }, CancellationToken.None);
        await QemuImgCreate.RunAsync(ProcessRunner.Instance, Request(path: overlay) with { Capacity = 0, BackingPath = basePath, BackingFormat = StorageFileFormat.Qcow2 }, CancellationToken.None);

        var b = ImageProbe.ProbeFile(basePath);
        Assert.Equal((StorageFileFormat.Qcow2, 64UL * 1024 * 1024, "1.1", true, (ulong?)(128 * 1024)), (b.Format, b.Capacity, b.Compat, b.LazyRefcounts, b.ClusterSize));
        var o = ImageProbe.ProbeFile(overlay);
        Assert.Equal((StorageFileFormat.Qcow2, 64UL * 1024 * 1024, basePath, (StorageFileFormat?)StorageFileFormat.Qcow2, (string?)null, 2U), (o.Format, o.Capacity, o.BackingStore, o.BackingFormat, o.Compat, o.HeaderVersion));
    }

    [Fact]
    public async Task Real_qemu_img_failure_is_reported()
    {
        using var dir = new TempDir();
        var path = Path.Combine(dir.Path, "bad.qcow2");
        var ex = await Assert.ThrowsAsync<VirtPoolException>(() => QemuImgCreate.RunAsync(ProcessRunner.Instance, Request(path: path) with { ClusterSize = 1000 }, CancellationToken.None));
        Assert.StartsWith($"internal error: Child process (/usr/bin/qemu-img create -f qcow2 -o compat=0.10,cluster_size=1000 {path} 1024K) unexpected exit status 1: qemu-img: ", ex.Message, StringComparison.Ordinal);
        Assert.EndsWith("Cluster size must be a power of two between 512 and 2048k\n", ex.Message, StringComparison.Ordinal);
    }
}
