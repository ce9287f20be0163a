using System.Security.Cryptography;
using System.Text;
using VirtPool.Backends.Iscsi;
using VirtPool.Backends.Tests.IscsiDirect;
using VirtPool.Core.Backends;
using VirtPool.Core.Errors;
using VirtPool.Core.Manager;
using VirtPool.Core.Model;
using VirtPool.Core.Process;
using VirtPool.Core.State;
using VirtPool.Core.Xml;
using VirtPool.TestSupport;

namespace VirtPool.Backends.Tests;

/// <summary>
/// Adversarial review of issue 12's iscsi-direct (libiscsi against a real tgtd, <see cref="IscsiTarget"/>)
/// and iscsi (iscsiadm, played back) backends: each test is a defect found, failing until it is fixed.
/// </summary>
public sealed class AttackIssue12IscsiTests(IscsiTarget target) : IClassFixture<IscsiTarget>, IDisposable
{
    private readonly string _state = Directory.CreateTempSubdirectory("vp-attack12-iscsi-").FullName;

    public void Dispose() => Directory.Delete(_state, recursive: true);

    private PoolManager NewManager() => new(new StateStore(_state), BackendCatalog.Create(ProcessRunner.Instance));

    private async Task<PoolManager> StartedAsync(string name)
    {
        var manager = NewManager();
        await manager.DefinePoolAsync(IscsiDirectPoolTests.PoolXml(name, IscsiTarget.PlainIqn));
        await manager.StartPoolAsync(name, PoolBuildFlags.None, doBuild: false);
        return manager;
    }

    private static void Tgtadm(params string[] args)
    {
        var result = ProcessRunner.Instance.RunAsync(["tgtadm", "--lld", "iscsi", .. args]).GetAwaiter().GetResult();
        if (result.ExitCode != 0)
        {
            throw new InvalidOperationException($"tgtadm {string.Join(' ', args)} failed ({result.ExitCode}): {result.StandardError}");
        }
    }

    /// <summary>
    /// DEFECT (IscsiDirectTransfer.cs:72-89, LunIo.cs:26): tgt's LUN 0 is a controller (block size 0,
    /// listed as volume unit:0:0:0 as libvirt lists it). vol-download of it divides by the block size
    /// (LunIo.AlignDown: 0/0) and the user gets .NET's "Attempted to divide by zero." instead of a
    /// libvirt-style error. Expected: a VirtPoolException (or an empty download), never a .NET exception.
    /// </summary>
    [Fact]
    public async Task Download_of_the_lun0_controller_is_a_libvirt_error_not_a_divide_by_zero()
    {
        using var manager = await StartedAsync("lun0dl");
        var lun0 = await manager.LookupVolumeByNameAsync("lun0dl", "unit:0:0:0");
        var copy = Path.Combine(target.Folder, "attack-lun0-copy.raw");
        try
        {
            using var output = File.OpenHandle(copy, FileMode.Create, FileAccess.Write);
            var error = await Record.ExceptionAsync(() => manager.DownloadVolumeAsync(lun0, new LocalFileEndpoint(output), 0, 0, sparse: false));
            Assert.True(error is null or VirtPoolException, $"vol-download of LUN 0 leaked {error?.GetType().Name}: {error?.Message}");
        }
        finally
        {
            await manager.DestroyPoolAsync("lun0dl");
        }
    }

    /// <summary>
    /// DEFECT (IscsiDirectTransfer.cs:94-115 and 122-126, ReadRangeAsync with LunIo.AlignDown): the checksum of
    /// the LUN 0 controller (size 0) divides by its block size 0: .NET's DivideByZeroException reaches
    /// the user. Expected: the SHA-256 of nothing (a 0-byte volume), as for an empty file.
    /// </summary>
    [Fact]
    public async Task Checksum_of_the_lun0_controller_is_the_hash_of_nothing_not_a_divide_by_zero()
    {
        using var manager = await StartedAsync("lun0sum");
        var lun0 = await manager.LookupVolumeByNameAsync("lun0sum", "unit:0:0:0");
        try
        {
            var error = await Record.ExceptionAsync(async () => Assert.Equal(SHA256.HashData([]), await manager.ChecksumVolumeAsync(lun0)));
            Assert.True(error is null, $"checksum of LUN 0 failed with {error?.GetType().Name}: {error?.Message}");
        }
        finally
        {
            await manager.DestroyPoolAsync("lun0sum");
        }
    }

    /// <summary>
    /// DEFECT (IscsiDirectTransfer.cs:49-58 with PoolManager.VolumeData.cs:146): a pipe (vol-upload
    /// --file /dev/stdin, a StreamEndpoint) that brings more than the LUN holds is cut at the LUN's end
    /// and reported a success: the manager always passes a non-zero length (capacity - offset), so the
    /// backend's "length == 0 and more data follows → ENOSPC" check never runs and the rest of the
    /// source is silently dropped. libvirt's stream fails with "cannot write to stream: No space left on
    /// device" when the client sends past the volume's end. Expected: a VirtPoolException (ENOSPC).
    /// </summary>
    [Fact]
    public async Task A_piped_upload_larger_than_the_lun_fails_instead_of_being_truncated_silently()
    {
        using var manager = await StartedAsync("overrun");
        var lun2 = await manager.LookupVolumeByNameAsync("overrun", "unit:0:0:2");
        try
        {
            using var source = new MemoryStream(RandomNumberGenerator.GetBytes((int)IscsiTarget.PlainLun2Bytes + (1 << 20)));
            var error = await Record.ExceptionAsync(() => manager.UploadVolumeAsync(lun2, new StreamEndpoint(source), 0, 0, sparse: false));
            var failed = Assert.IsType<VirtPoolException>(error);
            Assert.Contains("cannot write to stream", failed.Message, StringComparison.Ordinal);
        }
        finally
        {
            await manager.DestroyPoolAsync("overrun");
        }
    }

    /// <summary>
    /// DEFECT (Iscsi/IscsiInitiator.cs:100-101 with IscsiBackend.cs:67-83): "did the node record exist
    /// before this start" is read as "did `iscsiadm --mode node` exit 0", so any failure of that show
    /// (iscsiadm could not lock or read its node DB, exit 18 or similar) counts as "no record", and when the
    /// login then fails the start deletes the node record — one it did not make (the user's, with its
    /// settings and CHAP). Only iscsiadm's "No records found" (exit 21, ISCSI_ERR_NO_OBJS_FOUND) proves
    /// the record is new. Expected: no `--op delete` of the node when the show failed otherwise.
    /// </summary>
    [Fact]
    public async Task A_failed_start_does_not_delete_a_node_record_whose_existence_it_could_not_read()
    {
        var replay = new Iscsi.IscsiReplay();
        replay.Answers[$"--mode node --portal 127.0.0.1:3260,1 --targetname {Iscsi.IscsiReplay.Target}"] =
            new ProcessResult(18, string.Empty, "iscsiadm: Could not lock discovery DB: /run/lock/iscsi/lock.write: Resource temporarily unavailable\n");
        var runner = new RecordingProcessRunner(replay.Respond);
        var environment = new IscsiEnvironment { Iscsiadm = Iscsi.IscsiReplay.Program, IfaceNames = () => Iscsi.IscsiReplay.Iface };
        var pool = new PoolContext(PoolXml.Parse(Iscsi.IscsiCommandTests.PoolXmlOf("iscsiplain"))) { AuthSecret = _ => Encoding.UTF8.GetBytes("libvirtsecret1") };
        var backend = IscsiBackend.Type(runner, environment).Load(pool);

        await Assert.ThrowsAsync<VirtPoolException>(() => backend.StartPoolAsync(pool, PoolStartFlags.None, default));
        var deletes = runner.Calls.Where(argv => argv.Contains("--op") && argv[^1] == "delete" && argv.Contains("node")).ToList();
        Assert.True(deletes.Count == 0, "the failed start deleted a node record it did not know it made: " + string.Join(" | ", deletes.Select(ChildProcessErrors.CommandText)));
    }
}
