using VirtPool.Core.Errors;
using VirtPool.Core.Model;
using VirtPool.Core.Process;
using VirtPool.TestSupport;

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

    private static QemuImgCreateRequest Luks(StorageFileFormat format, EncryptionFormat encryption = EncryptionFormat.Luks, int secrets = 1) =>
        Request(format) with
        {
            Encryption = new QemuImgEncryption(
                new EncryptionDefinition { Format = encryption, Secrets = [.. Enumerable.Range(0, secrets).Select(_ => new EncryptionSecret { Usage = "/p/v.img" })] },
                "v.img_encrypt0",
                "/run/s"),
        };

    // libvirt 9.0's encryption checks (virStorageBackendCreateQemuImgCmdFromVol and its helpers), in its order.
    public static TheoryData<QemuImgCreateRequest, VirErrorCode, string> EncryptionErrors => new()
    {
        { Luks(StorageFileFormat.Qcow2, EncryptionFormat.Qcow), VirErrorCode.ConfigUnsupported, "unsupported configuration: creation of qcow2 encrypted image is not supported" },
        { Luks(StorageFileFormat.Qcow, EncryptionFormat.Default), VirErrorCode.ConfigUnsupported, "unsupported configuration: creation of qcow2 encrypted image is not supported" },
        { Luks(StorageFileFormat.Raw, EncryptionFormat.Qcow), VirErrorCode.InternalError, "internal error: Only luks encryption is supported for raw files" },
        { Luks(StorageFileFormat.Raw, EncryptionFormat.Luks2), VirErrorCode.InternalError, "internal error: Only luks encryption is supported for raw files" },
        { Luks(StorageFileFormat.Vmdk) with { PreallocMetadata = true }, VirErrorCode.ConfigUnsupported, "unsupported configuration: metadata preallocation only available with qcow2" },
        { Luks(StorageFileFormat.Raw) with { BackingPath = "/b" }, VirErrorCode.ConfigUnsupported, "unsupported configuration: cannot set backing store for raw volume" },
        { Luks(StorageFileFormat.Vmdk), VirErrorCode.ConfigUnsupported, "unsupported configuration: volume encryption unsupported with format vmdk" },
        { Luks(StorageFileFormat.Qed), VirErrorCode.ConfigUnsupported, "unsupported configuration: volume encryption unsupported with format qed" },
        { Luks(StorageFileFormat.Qcow2, EncryptionFormat.Luks2), VirErrorCode.ConfigUnsupported, "unsupported configuration: unsupported volume encryption format 3" },
        { Luks(StorageFileFormat.Qcow2, secrets: 2), VirErrorCode.XmlError, "XML error: too many secrets for luks encryption" },
        { Luks(StorageFileFormat.Raw, secrets: 0), VirErrorCode.XmlError, "XML error: no secret provided for luks encryption" },
    };

    [Theory]
    [MemberData(nameof(EncryptionErrors))]
    public void Encryption_errors_are_libvirts(QemuImgCreateRequest request, VirErrorCode code, string message)
    {
        var ex = Assert.Throws<VirtPoolException>(() => QemuImgCreate.BuildArgv(request));
        Assert.Equal((code, message), (ex.Code, ex.Message));
    }

    [Theory]
    [InlineData("enc.qcow2", "enc.qcow2_encrypt0")]
    [InlineData("Disk-1_a.img", "Disk-1_a.img_encrypt0")]
    [InlineData("b,c.qcow2", "volume_encrypt0")]
    [InlineData("1disk", "volume_encrypt0")]
    [InlineData("my disk", "volume_encrypt0")]
    [InlineData("", "volume_encrypt0")]
    public void Secret_alias_is_libvirts_when_qemu_can_take_it(string volume, string alias)
    {
        Assert.Equal(alias, QemuImgCreate.SecretAliasFor(volume));
    }

    [Fact]
    public async Task An_encrypted_create_is_tried_again_while_only_qemus_pbkdf_calibration_failed()
    {
        var calls = 0;
        var runner = new RecordingProcessRunner(_ => ++calls < 4
            ? new ProcessResult(1, string.Empty, "qemu-img: /p/v.img: " + QemuImgCreate.PbkdfCalibrationFailure)
            : new ProcessResult(0, string.Empty, string.Empty));
        await QemuImgCreate.RunAsync(runner, Luks(StorageFileFormat.Raw), "qemu-img", CancellationToken.None);
        Assert.Equal(4, runner.Calls.Count);
        Assert.All(runner.Calls, c => Assert.Equal(runner.Calls[0], c));
    }

    [Fact]
    public async Task The_calibration_retry_gives_up_and_other_failures_are_not_retried()
    {
        var flaky = new RecordingProcessRunner(_ => new ProcessResult(1, string.Empty, "qemu-img: /p/v.img: " + QemuImgCreate.PbkdfCalibrationFailure));
        var ex = await Assert.ThrowsAsync<VirtPoolException>(() => QemuImgCreate.RunAsync(flaky, Luks(StorageFileFormat.Raw), "qemu-img", CancellationToken.None));
        Assert.Equal(QemuImgCreate.PbkdfCalibrationAttempts, flaky.Calls.Count);
        Assert.EndsWith("unexpected exit status 1: qemu-img: /p/v.img: Unable to get accurate CPU usage", ex.Message, StringComparison.Ordinal);

        var broken = new RecordingProcessRunner(_ => new ProcessResult(1, string.Empty, "qemu-img: /p/v.img: Invalid password"));
        await Assert.ThrowsAsync<VirtPoolException>(() => QemuImgCreate.RunAsync(broken, Luks(StorageFileFormat.Raw), "qemu-img", CancellationToken.None));
        Assert.Single(broken.Calls);

        // Without encryption there is no key derivation: the same text is not retried.
        var plain = new RecordingProcessRunner(_ => new ProcessResult(1, string.Empty, QemuImgCreate.PbkdfCalibrationFailure));
        await Assert.ThrowsAsync<VirtPoolException>(() => QemuImgCreate.RunAsync(plain, Request(), "qemu-img", CancellationToken.None));
        Assert.Single(plain.Calls);
    }

    [Fact]
    public async Task Real_qemu_img_makes_a_luks_volume_that_opens_with_its_passphrase_only()
    {
        using var dir = new TempDir();
        var path = Path.Combine(dir.Path, "enc.img");
        var secret = Path.Combine(dir.Path, "pass");
        await File.WriteAllTextAsync(secret, "pass,word");
        var request = Luks(StorageFileFormat.Raw) with { Path = path, Capacity = 4 * 1024 * 1024 };
        request = request with { Encryption = request.Encryption! with { SecretPath = secret } };
        await QemuImgCreate.RunAsync(ProcessRunner.Instance, request, CancellationToken.None);

        var info = ImageProbe.ProbeFile(path);
        Assert.Equal((StorageFileFormat.Raw, 4UL * 1024 * 1024, "luks"), (info.Format, info.Capacity, info.EncryptionFormat));
        Assert.Equal(0, (await Decrypt(path, secret, dir)).ExitCode);
        await File.WriteAllTextAsync(secret, "wrong");
        var refused = await Decrypt(path, secret, dir);
        Assert.Equal(1, refused.ExitCode);
        Assert.Contains("Invalid password, cannot unlock any keyslot", refused.StandardError, StringComparison.Ordinal);
    }

    /// <summary>qemu-img convert has to unlock the volume to read it (info would not).</summary>
    private static Task<ProcessResult> Decrypt(string path, string secret, TempDir dir) => ProcessRunner.Instance.RunAsync(
        ["qemu-img", "convert", "--object", $"secret,id=s0,file={secret}", "--image-opts", $"driver=luks,key-secret=s0,file.filename={path}", "-O", "raw", Path.Combine(dir.Path, Guid.NewGuid().ToString("N"))],
        CancellationToken.None);

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
            ChildProcessErrors.CommandText(["/usr/bin/qemu-img", "create", "-f", "qcow2", "/p/my vol", "it's", string.Empty, "a=b,c"]));
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
        Assert.Equal("/usr/bin/qemu-img", ExternalTools.Find("qemu-img"));
        Assert.Null(ExternalTools.Find("no-such-program-virtpool"));
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
