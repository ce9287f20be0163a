using System.Security.Cryptography;
using System.Text;
using VirtPool.Core.Backends;
using VirtPool.Core.Errors;
using VirtPool.Core.Manager;
using VirtPool.Core.Model;
using VirtPool.Core.Process;
using VirtPool.Core.State;
using VirtPool.TestSupport;

namespace VirtPool.Backends.Tests.IscsiDirect;

/// <summary>
/// iscsi-direct pools through the pool manager against a real tgtd (<see cref="IscsiTarget"/>): the
/// listing, sizes, CHAP through a secret, wipe, upload and download, compared with the LUNs' backing files.
/// </summary>
public sealed class IscsiDirectPoolTests(IscsiTarget target) : IClassFixture<IscsiTarget>, IDisposable
{
    private readonly string _state = Directory.CreateTempSubdirectory("vp-iscsid-state-").FullName;

    public void Dispose() => Directory.Delete(_state, recursive: true);

    internal static string PoolXml(string name, string iqn, string? auth = null) => $"""
        <pool type='iscsi-direct'>
          <name>{name}</name>
          <source>
            <host name='{IscsiTarget.Host}'/>
            <device path='{iqn}'/>
            <initiator><iqn name='{IscsiTarget.InitiatorIqn}'/></initiator>
            {auth}
          </source>
        </pool>
        """;

    internal static string ChapAuth(string usage) => $"<auth type='chap' username='{IscsiTarget.ChapUser}'><secret usage='{usage}'/></auth>";

    [Fact]
    public async Task Lists_the_luns_as_libvirt_names_them_with_their_real_sizes()
    {
        using var manager = NewManager();
        await manager.DefinePoolAsync(PoolXml("plain", IscsiTarget.PlainIqn));
        await manager.StartPoolAsync("plain", PoolBuildFlags.None, doBuild: false);

        var volumes = await manager.ListVolumesAsync("plain");
        Assert.Equal(["unit:0:0:0", "unit:0:0:1", "unit:0:0:2"], volumes.Select(v => v.Name));
        Assert.Equal($"ip-127.0.0.1:3260-iscsi-{IscsiTarget.PlainIqn}-lun-1", volumes[1].Key);

        Assert.Equal(new VolumeInfo(VolumeType.Network, 0, 0), await manager.GetVolumeInfoAsync(volumes[0]));
        Assert.Equal(new VolumeInfo(VolumeType.Network, (ulong)IscsiTarget.PlainLun1Bytes, (ulong)IscsiTarget.PlainLun1Bytes), await manager.GetVolumeInfoAsync(volumes[1]));
        Assert.Equal(new VolumeInfo(VolumeType.Network, (ulong)IscsiTarget.PlainLun2Bytes, (ulong)IscsiTarget.PlainLun2Bytes), await manager.GetVolumeInfoAsync(volumes[2]));

        const ulong Total = (ulong)(IscsiTarget.PlainLun1Bytes + IscsiTarget.PlainLun2Bytes);
        Assert.Equal(new PoolInfo(PoolState.Running, Total, Total, 0), await manager.GetPoolInfoAsync("plain"));
        Assert.Equal(
            $"""
            <volume type='network'>
              <name>unit:0:0:2</name>
              <key>ip-127.0.0.1:3260-iscsi-{IscsiTarget.PlainIqn}-lun-2</key>
              <capacity unit='bytes'>33554432</capacity>
              <allocation unit='bytes'>33554432</allocation>
              <target>
                <path>ip-127.0.0.1:3260-iscsi-{IscsiTarget.PlainIqn}-lun-2</path>
              </target>
            </volume>

            """,
            await manager.GetVolumeXmlAsync(volumes[2]));
        Assert.Equal(volumes[2], await manager.LookupVolumeByPathAsync($"ip-127.0.0.1:3260-iscsi-{IscsiTarget.PlainIqn}-lun-2"));

        await manager.DestroyPoolAsync("plain");
    }

    [Fact]
    public async Task Chap_reads_the_password_from_an_iscsi_secret_and_a_wrong_or_missing_one_is_refused()
    {
        using var manager = NewManager();
        var usage = "vp-chap-" + Guid.NewGuid().ToString("N")[..8];
        var secret = manager.Secrets.Define($"<secret ephemeral='no' private='yes'><usage type='iscsi'><target>{usage}</target></usage></secret>");

        // The secret has no value yet.
        await manager.DefinePoolAsync(PoolXml("chap", IscsiTarget.ChapIqn, ChapAuth(usage)));
        var noValue = await Assert.ThrowsAsync<VirtPoolException>(() => manager.StartPoolAsync("chap", PoolBuildFlags.None, doBuild: false));
        Assert.Equal(VirErrorCode.NoSecret, noValue.Code);
        Assert.Equal($"Secret not found: secret '{secret.Uuid}' does not have a value", noValue.Message);

        manager.Secrets.SetValue(secret.Uuid, Encoding.UTF8.GetBytes("wrong-password-1"));
        var refused = await Assert.ThrowsAsync<VirtPoolException>(() => manager.StartPoolAsync("chap", PoolBuildFlags.None, doBuild: false));
        Assert.Equal(VirErrorCode.InternalError, refused.Code);
        Assert.Equal("internal error: Failed to login: Failed to log in to target. Status: Authentication failure(513)", refused.Message);
        Assert.False((await manager.GetPoolSummaryAsync("chap")).Active);

        manager.Secrets.SetValue(secret.Uuid, Encoding.UTF8.GetBytes(target.ChapPassword));
        await manager.StartPoolAsync("chap", PoolBuildFlags.None, doBuild: false);
        var volumes = await manager.ListVolumesAsync("chap");
        Assert.Equal(["unit:0:0:0", "unit:0:0:1"], volumes.Select(v => v.Name));
        Assert.Equal((ulong)IscsiTarget.ChapLun1Bytes, (await manager.GetVolumeInfoAsync(volumes[1])).Capacity);
        await manager.DestroyPoolAsync("chap");

        // A pool naming a usage no secret has.
        await manager.DefinePoolAsync(PoolXml("chap-missing", IscsiTarget.ChapIqn, ChapAuth("vp-no-such-usage")));
        var missing = await Assert.ThrowsAsync<VirtPoolException>(() => manager.StartPoolAsync("chap-missing", PoolBuildFlags.None, doBuild: false));
        Assert.Equal(VirErrorCode.NoSecret, missing.Code);
        Assert.Equal("Secret not found: no secret with matching usage 'vp-no-such-usage'", missing.Message);
    }

    [Fact]
    public async Task Wipe_zeroes_the_lun_and_trim_unmaps_a_thin_lun_and_is_refused_on_a_thick_one()
    {
        using var manager = NewManager();
        await manager.DefinePoolAsync(PoolXml("wipe", IscsiTarget.PlainIqn));
        await manager.StartPoolAsync("wipe", PoolBuildFlags.None, doBuild: false);
        var lun1 = await manager.LookupVolumeByNameAsync("wipe", "unit:0:0:1");
        var lun2 = await manager.LookupVolumeByNameAsync("wipe", "unit:0:0:2");

        FillRandom(target.PlainLunFile(2), [0, 5L << 20, IscsiTarget.PlainLun2Bytes - 4096]);
        await manager.WipeVolumeAsync(lun2, VolumeWipeAlgorithm.Zero);
        Assert.True(AllZero(target.PlainLunFile(2)), "vol-wipe left non-zero bytes on LUN 2");

        var dod = await Assert.ThrowsAsync<VirtPoolException>(() => manager.WipeVolumeAsync(lun2, VolumeWipeAlgorithm.Dod));
        Assert.Equal("invalid argument: unsupported algorithm 2", dod.Message);
        var thick = await Assert.ThrowsAsync<VirtPoolException>(() => manager.WipeVolumeAsync(lun2, VolumeWipeAlgorithm.Trim));
        Assert.Equal(VirErrorCode.InvalidArg, thick.Code);
        Assert.StartsWith("invalid argument: unsupported algorithm 9: LUN 2 is not thin provisioned", thick.Message, StringComparison.Ordinal);

        FillRandom(target.PlainLunFile(1), [0, 40L << 20]);
        await manager.WipeVolumeAsync(lun1, VolumeWipeAlgorithm.Trim);
        Assert.True(AllZero(target.PlainLunFile(1)), "trim left non-zero bytes on LUN 1");
        Assert.Equal(0, AllocatedBytes(target.PlainLunFile(1)));
        await manager.DestroyPoolAsync("wipe");
    }

    [Fact]
    public async Task Upload_and_download_move_the_backing_files_bytes_with_holes_kept()
    {
        using var manager = NewManager();
        await manager.DefinePoolAsync(PoolXml("data", IscsiTarget.PlainIqn));
        await manager.StartPoolAsync("data", PoolBuildFlags.None, doBuild: false);
        var lun1 = await manager.LookupVolumeByNameAsync("data", "unit:0:0:1");
        var lun2 = await manager.LookupVolumeByNameAsync("data", "unit:0:0:2");

        // A 32 MiB image: data at the start, in the middle (not block aligned) and at the end, holes between.
        var image = Path.Combine(_state, "image.raw");
        using (var file = File.Create(image))
        {
            file.SetLength(IscsiTarget.PlainLun2Bytes);
        }

        FillRandom(image, [0, (9L << 20) + 100, IscsiTarget.PlainLun2Bytes - 70000]);
        FillRandom(target.PlainLunFile(2), [3L << 20, 20L << 20]); // old data the holes must overwrite
        using (var source = File.OpenHandle(image))
        {
            Assert.Equal(IscsiTarget.PlainLun2Bytes, await manager.UploadVolumeAsync(lun2, new LocalFileEndpoint(source), 0, 0, sparse: true));
        }

        Assert.Equal(Sha256(image), Sha256(target.PlainLunFile(2)));
        Assert.Equal(Sha256(image), Convert.ToHexStringLower(await manager.ChecksumVolumeAsync(lun2)));

        var copy = Path.Combine(_state, "copy.raw");
        using (var output = File.OpenHandle(copy, FileMode.Create, FileAccess.Write))
        {
            Assert.Equal(IscsiTarget.PlainLun2Bytes, await manager.DownloadVolumeAsync(lun2, new LocalFileEndpoint(output), 0, 0, sparse: true));
        }

        Assert.Equal(Sha256(image), Sha256(copy));
        Assert.InRange(AllocatedBytes(copy), 1, 4L << 20);

        // A range that starts and ends inside blocks keeps the bytes around it; it lands on a thin LUN
        // whose holes a sparse upload unmaps.
        FillRandom(target.PlainLunFile(1), [0]);
        var before = File.ReadAllBytes(target.PlainLunFile(1));
        var piece = RandomNumberGenerator.GetBytes(5000);
        var pieceFile = Path.Combine(_state, "piece.raw");
        File.WriteAllBytes(pieceFile, piece);
        using (var source = File.OpenHandle(pieceFile))
        {
            Assert.Equal(5000, await manager.UploadVolumeAsync(lun1, new LocalFileEndpoint(source), 1000, 0, sparse: false));
        }

        piece.CopyTo(before, 1000);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(before)), Sha256(target.PlainLunFile(1)));

        using (var source = File.OpenHandle(image))
        {
            await manager.UploadVolumeAsync(lun1, new LocalFileEndpoint(source), 0, 0, sparse: true);
        }

        Assert.InRange(AllocatedBytes(target.PlainLunFile(1)), 1, 8L << 20);
        var expected = File.ReadAllBytes(image).Concat(new byte[IscsiTarget.PlainLun1Bytes - IscsiTarget.PlainLun2Bytes]).ToArray();
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(expected)), Sha256(target.PlainLunFile(1)));

        await manager.DestroyPoolAsync("data");
    }

    private PoolManager NewManager() => new(new StateStore(_state), BackendCatalog.Create(ProcessRunner.Instance));

    internal static void FillRandom(string path, long[] offsets)
    {
        using var file = File.OpenHandle(path, FileMode.Open, FileAccess.Write);
        foreach (var offset in offsets)
        {
            RandomAccess.Write(file, RandomNumberGenerator.GetBytes((int)Math.Min(1L << 20, new FileInfo(path).Length - offset)), offset);
        }
    }

    internal static bool AllZero(string path)
    {
        var buffer = new byte[1 << 20];
        using var file = File.OpenRead(path);
        int got;
        while ((got = file.Read(buffer)) > 0)
        {
            if (buffer.AsSpan(0, got).ContainsAnyExcept((byte)0))
            {
                return false;
            }
        }

        return true;
    }

    internal static string Sha256(string path)
    {
        using var file = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(file));
    }

    /// <summary>Bytes the file takes on disk (st_blocks × 512).</summary>
    internal static long AllocatedBytes(string path)
        => Core.Interop.FileStat.TryStat(path, out var st, out _) ? st.Blocks * 512 : throw new IOException($"cannot stat {path}");
}
