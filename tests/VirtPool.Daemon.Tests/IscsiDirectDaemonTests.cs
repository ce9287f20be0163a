using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using VirtPool.Daemon.Tests.Clients;
using VirtPool.TestSupport;

namespace VirtPool.Daemon.Tests;

/// <summary>
/// A private libvirtd (scripts/libvirtd-up.sh) and the virtpoold built beside these tests
/// (scripts/virtpoold-up.sh, its network time limit VIRTPOOL_NET_TIMEOUT=3 s), side by side.
/// </summary>
public sealed class IscsiDirectDaemonFixture : IAsyncLifetime
{
    /// <summary>virtpoold's limit on each iSCSI call (libiscsi's own PDU timeout is a second less).</summary>
    public const int NetTimeoutSeconds = 3;

    private readonly TempDir _dir = new();

    public string Work => _dir.Path;

    public string OracleUri { get; private set; } = string.Empty;

    public string DaemonUri { get; private set; } = string.Empty;

    private string LibvirtdDir => Path.Combine(_dir.Path, "libvirtd");

    private string DaemonDir => Path.Combine(_dir.Path, "virtpoold");

    public async Task InitializeAsync()
    {
        var up = await Tool.RunAsync("bash", [Script("libvirtd-up.sh"), LibvirtdDir], timeoutSeconds: 120);
        Assert.True(up.Exit == 0, "libvirtd-up.sh failed: " + up.Err);
        OracleUri = up.Out.Trim().Split('\n')[^1];

        var daemon = Path.Combine(AppContext.BaseDirectory, "virtpoold");
        Assert.True(File.Exists(daemon), $"{daemon} is missing: the test project must reference VirtPool.Daemon");
        var started = await Tool.RunAsync("/usr/bin/env", [$"VIRTPOOL_NET_TIMEOUT={NetTimeoutSeconds}", $"VIRTPOOLD={daemon}", "bash", Script("virtpoold-up.sh"), DaemonDir], timeoutSeconds: 120);
        Assert.True(started.Exit == 0, "virtpoold-up.sh failed: " + started.Err);
        DaemonUri = started.Out.Trim().Split('\n')[0];
    }

    public async Task DisposeAsync()
    {
        try
        {
            await Tool.RunAsync("bash", [Script("virtpoold-down.sh"), DaemonDir], timeoutSeconds: 60);
            await Tool.RunAsync("bash", [Script("libvirtd-down.sh"), LibvirtdDir], timeoutSeconds: 60);
        }
        finally
        {
            _dir.Dispose();
        }
    }

    private static string Script(string name) => Path.Combine(OracleAndDaemonFixture.RepoRoot, "scripts", name);
}

/// <summary>
/// iscsi-direct pools on a private tgtd (<see cref="IscsiTarget"/>) through real virsh: the same steps
/// against libvirtd 9.0's iscsi-direct driver and against virtpoold must print the same, but for the
/// one deliberate difference (the XML's byte figures are the LUN's real size, libvirt's are one block
/// short); data moves through virtpoold (upload, download, wipe) compared with the backing files; and a
/// fault drill: tgtd freezes under a running vol-download.
/// </summary>
public sealed class IscsiDirectDaemonTests(IscsiDirectDaemonFixture f, IscsiTarget target) : IClassFixture<IscsiDirectDaemonFixture>, IClassFixture<IscsiTarget>
{
    private const string SecretUuid = "3a9e7c5b-1f2d-4e6a-8b0c-9d8e7f6a5b4c";

    private static string PoolXml(string name, string iqn, string? auth = null) =>
        $"<pool type='iscsi-direct'><name>{name}</name><uuid>{new Guid(SHA256.HashData(Encoding.UTF8.GetBytes(name)).AsSpan(0, 16))}</uuid><source><host name='127.0.0.1'/><device path='{iqn}'/>"
        + $"<initiator><iqn name='{IscsiTarget.InitiatorIqn}'/></initiator>{auth}</source></pool>";

    /// <summary>libvirt 9.0's figure for each LUN (last LBA × 512) and the pools' sums, mapped to the real size.</summary>
    private static string RealSizes(string text)
    {
        foreach (var bytes in new[] { IscsiTarget.PlainLun1Bytes, IscsiTarget.PlainLun2Bytes, IscsiTarget.ChapLun1Bytes })
        {
            text = text.Replace($">{bytes - 512}<", $">{bytes}<", StringComparison.Ordinal);
        }

        var plain = IscsiTarget.PlainLun1Bytes + IscsiTarget.PlainLun2Bytes;
        return text.Replace($">{plain - 1024}<", $">{plain}<", StringComparison.Ordinal);
    }

    [Fact]
    public async Task Virsh_on_virtpoold_prints_what_it_prints_on_libvirtd()
    {
        var xmlFile = Path.Combine(f.Work, "pools.xml");
        await File.WriteAllTextAsync(xmlFile, PoolXml("idd", IscsiTarget.PlainIqn));
        var chapFile = Path.Combine(f.Work, "chap.xml");
        await File.WriteAllTextAsync(chapFile, PoolXml("iddchap", IscsiTarget.ChapIqn, $"<auth type='chap' username='{IscsiTarget.ChapUser}'><secret uuid='{SecretUuid}'/></auth>"));
        var secretFile = Path.Combine(f.Work, "secret.xml");
        await File.WriteAllTextAsync(secretFile, $"<secret ephemeral='no' private='yes'><uuid>{SecretUuid}</uuid><usage type='iscsi'><target>vp-daemon-chap</target></usage></secret>");
        var password = Convert.ToBase64String(Encoding.UTF8.GetBytes(target.ChapPassword));
        string[][] steps =
        [
            ["pool-define", xmlFile],
            ["pool-start", "idd"],
            ["pool-info", "idd"],
            ["pool-dumpxml", "idd"],
            ["vol-list", "idd", "--details"],
            ["vol-info", "unit:0:0:1", "--pool", "idd"],
            ["vol-info", "--bytes", "unit:0:0:0", "--pool", "idd"],
            ["vol-dumpxml", "unit:0:0:2", "--pool", "idd"],
            ["vol-path", "unit:0:0:2", "--pool", "idd"],
            ["pool-refresh", "idd"],
            ["vol-wipe", "unit:0:0:2", "--pool", "idd"],
            ["vol-wipe", "unit:0:0:2", "--pool", "idd", "--algorithm", "zero"],
            ["vol-wipe", "unit:0:0:2", "--pool", "idd", "--algorithm", "nnsa"],
            ["vol-create-as", "idd", "x", "1M"],
            ["pool-destroy", "idd"],
            ["pool-info", "idd"],
            ["pool-undefine", "idd"],
            ["secret-define", secretFile],
            ["pool-define", chapFile],
            ["pool-start", "iddchap"],
            ["secret-set-value", SecretUuid, "--base64", Convert.ToBase64String(Encoding.UTF8.GetBytes("not-the-password"))],
            ["pool-start", "iddchap"],
            ["secret-set-value", SecretUuid, "--base64", password],
            ["pool-start", "iddchap"],
            ["vol-list", "iddchap", "--details"],
            ["pool-dumpxml", "iddchap"],
            ["pool-destroy", "iddchap"],
            ["pool-undefine", "iddchap"],
            ["secret-undefine", SecretUuid],
        ];

        var differences = new List<string>();
        foreach (var step in steps)
        {
            var o = await Tool.RunAsync(Tool.Virsh, ["-c", f.OracleUri, .. step]);
            var v = await Tool.RunAsync(Tool.Virsh, ["-c", f.DaemonUri, .. step]);
            var oText = $"exit {o.Exit}\n{RealSizes(o.Out)}\n--\n{o.Err}";
            var vText = $"exit {v.Exit}\n{v.Out}\n--\n{v.Err}";
            if (oText != vText)
            {
                differences.Add($"virsh {string.Join(' ', step)}\n--- libvirtd\n{oText}\n+++ virtpoold\n{vText}");
            }
        }

        Assert.True(differences.Count == 0, string.Join("\n\n", differences));
        Assert.True(AllZero(target.PlainLunFile(2)), "LUN 2 is not all zeroes after the wipes");
    }

    [Fact]
    public async Task Python3_libvirt_drives_an_iscsi_direct_pool_on_virtpoold_as_on_libvirtd()
    {
        var script = Path.Combine(OracleAndDaemonFixture.RepoRoot, "tests", "clients", "python", "iscsi_direct_steps.py");
        string[] args = [script, "@URI@", IscsiTarget.PlainIqn, IscsiTarget.InitiatorIqn, "9d3c5e7a-2b4f-4a6c-8e1d-0f9a8b7c6d5e"];
        var o = await Tool.RunAsync(Tool.Python, args.Select(a => a.Replace("@URI@", f.OracleUri, StringComparison.Ordinal)));
        var v = await Tool.RunAsync(Tool.Python, args.Select(a => a.Replace("@URI@", f.DaemonUri, StringComparison.Ordinal)));
        Assert.True(o.Exit == 0, o.Err);
        Assert.Contains("unit:0:0:1 key ip-127.0.0.1:3260-iscsi-", o.Out, StringComparison.Ordinal);
        Assert.Equal((o.Exit, o.Out, o.Err), (v.Exit, v.Out, v.Err));
    }

    [Fact]
    public async Task Virsh_uploads_and_downloads_a_lun_through_virtpoold_with_holes_kept()
    {
        var image = Path.Combine(f.Work, "image.raw");
        var data = new byte[IscsiTarget.PlainLun2Bytes];
        RandomNumberGenerator.Fill(data.AsSpan(0, 1 << 20));
        RandomNumberGenerator.Fill(data.AsSpan((int)(IscsiTarget.PlainLun2Bytes / 2) + 1000, 300_000));
        await File.WriteAllBytesAsync(image, data);
        Assert.Equal(0, (await Virsh("pool-create", await WriteAsync("up.xml", PoolXml("iddup", IscsiTarget.PlainIqn)))).Exit);
        try
        {
            var up = await Virsh("vol-upload", "unit:0:0:2", image, "--pool", "iddup", "--sparse");
            Assert.Equal((0, string.Empty), (up.Exit, up.Err));
            Assert.Equal(Sha256(image), Sha256(target.PlainLunFile(2)));

            var back = Path.Combine(f.Work, "back.raw");
            var down = await Virsh("vol-download", "unit:0:0:2", back, "--pool", "iddup", "--sparse");
            Assert.Equal((0, string.Empty), (down.Exit, down.Err));
            Assert.Equal(Sha256(image), Sha256(back));
            Assert.InRange(new FileInfo(back).Length, IscsiTarget.PlainLun2Bytes, IscsiTarget.PlainLun2Bytes);
            Assert.True(AllocatedBytes(back) < 4L << 20, $"the sparse download allocated {AllocatedBytes(back)} bytes");
        }
        finally
        {
            await Virsh("pool-destroy", "iddup");
        }
    }

    [Fact]
    public async Task A_target_that_freezes_under_a_download_fails_it_in_seconds_and_virtpoold_keeps_answering()
    {
        var other = Directory.CreateDirectory(Path.Combine(f.Work, "other")).FullName;
        Assert.Equal(0, (await Virsh("pool-create-as", "iddother", "dir", "--target", other)).Exit);
        Assert.Equal(0, (await Virsh("pool-create", await WriteAsync("drill.xml", PoolXml("idddrill", IscsiTarget.PlainIqn)))).Exit);
        var fifo = Path.Combine(f.Work, "drill.fifo");
        Assert.Equal(0, (await Tool.RunAsync("mkfifo", [fifo])).Exit);
        var download = Process.Start(new ProcessStartInfo(Tool.Virsh, ["-c", f.DaemonUri, "vol-download", "unit:0:0:1", fifo, "--pool", "idddrill"]) { RedirectStandardError = true, RedirectStandardOutput = true })!;
        var frozen = false;
        try
        {
            var error = download.StandardError.ReadToEndAsync();
            await using (var reader = new FileStream(fifo, FileMode.Open, FileAccess.Read))
            {
                // A transfer under way: its first MiBs arrived, most of the 64 MiB LUN is still to come.
                var buffer = new byte[1 << 20];
                await reader.ReadExactlyAsync(buffer);
                target.Freeze();
                frozen = true;
                while (await reader.ReadAsync(buffer) > 0)
                {
                }
            }

            await download.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(2));
            Assert.Equal(1, download.ExitCode);
            Assert.Matches(
                "^error: cannot receive data from volume unit:0:0:1\nerror: (internal error: failed to read from LUN 1: the target did not answer within 2 s|Timed out during operation: the iSCSI target .* did not answer READ\\(16\\) of LUN 1 within 3 s)\n",
                await error);

            // virtpoold answers for another pool and reports this one inaccessible.
            Assert.Contains("State:          running\n", (await Virsh("pool-info", "iddother")).Out, StringComparison.Ordinal);
            Assert.Contains("State:          inaccessible\n", (await Virsh("pool-info", "idddrill")).Out, StringComparison.Ordinal);
            var refresh = await Virsh("pool-refresh", "idddrill");
            Assert.Equal((1, "error: Failed to refresh pool idddrill\nerror: internal error: Failed to login: command timed out\n"), (refresh.Exit, refresh.Err));
        }
        finally
        {
            if (frozen)
            {
                target.Thaw();
            }

            if (!download.HasExited)
            {
                download.Kill(entireProcessTree: true);
            }

            download.Dispose();
        }

        try
        {
            Assert.Equal((0, "Pool idddrill refreshed\n\n"), Pick(await Virsh("pool-refresh", "idddrill")));
            Assert.Contains("State:          running\n", (await Virsh("pool-info", "idddrill")).Out, StringComparison.Ordinal);
            var copy = Path.Combine(f.Work, "after.raw");
            Assert.Equal(0, (await Virsh("vol-download", "unit:0:0:1", copy, "--pool", "idddrill")).Exit);
            Assert.Equal(Sha256(target.PlainLunFile(1)), Sha256(copy));
        }
        finally
        {
            await Virsh("pool-destroy", "idddrill");
            await Virsh("pool-destroy", "iddother");
        }
    }

    private static (int, string) Pick((int Exit, string Out, string Err) r) => (r.Exit, r.Out);

    private Task<(int Exit, string Out, string Err)> Virsh(params string[] args) => Tool.RunAsync(Tool.Virsh, ["-c", f.DaemonUri, .. args], timeoutSeconds: 120);

    private async Task<string> WriteAsync(string name, string text)
    {
        var path = Path.Combine(f.Work, name);
        await File.WriteAllTextAsync(path, text);
        return path;
    }

    private static string Sha256(string path)
    {
        using var file = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(file));
    }

    private static long AllocatedBytes(string path)
        => VirtPool.Core.Interop.FileStat.TryStat(path, out var st, out _) ? st.Blocks * 512 : throw new IOException($"cannot stat {path}");

    private static bool AllZero(string path)
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
}
