using System.Diagnostics;
using System.Security.Cryptography;
using VirtPool.Cli.Tests.Support;
using VirtPool.TestSupport;

namespace VirtPool.Cli.Tests.VolumeData;

/// <summary>
/// What VirtPool does beyond libvirt, through the CLI as users run it: every wipe algorithm without
/// scrub, vol-checksum, labels in vol-info/vol-list --details, uploads from a pipe, refusing uploads
/// past the capacity, and Ctrl-C stopping a long operation cleanly.
/// </summary>
public sealed class VolumeDataCliTests : IDisposable
{
    private readonly TempDir _tmp = new("vpdata");

    private string State => _tmp.Sub("state");

    private string PoolDir => _tmp.Sub("pool");

    public void Dispose() => _tmp.Dispose();

    private async Task<RunResult> RunAsync(params string[] args) => await VirtPoolCli.RunAsync(State, args);

    private async Task<RunResult> OkAsync(params string[] args)
    {
        var result = await RunAsync(args);
        Assert.True(result.ExitCode == 0, $"virtpool {string.Join(' ', args)} failed: {result.Stderr}");
        return result;
    }

    private async Task StartPoolAsync()
    {
        await OkAsync("pool-define-as", "p", "dir", "--target", PoolDir);
        await OkAsync("pool-build", "p");
        await OkAsync("pool-start", "p");
    }

    private string LocalFile(string name, byte[] data)
    {
        var path = _tmp.Sub(name);
        File.WriteAllBytes(path, data);
        return path;
    }

    private static byte[] RandomBytes(int length, int seed)
    {
        var data = new byte[length];
        new Random(seed).NextBytes(data);
        return data;
    }

    [Theory]
    [InlineData("nnsa")]
    [InlineData("dod")]
    [InlineData("bsi")]
    [InlineData("gutmann")]
    [InlineData("schneier")]
    [InlineData("pfitzner7")]
    [InlineData("pfitzner33")]
    [InlineData("random")]
    [InlineData("trim")]
    public async Task Every_algorithm_wipes_without_scrub(string algorithm)
    {
        await StartPoolAsync();
        await OkAsync("vol-create-as", "p", "w.raw", "1M", "--allocation", "0");
        var secret = RandomBytes(512 << 10, 1);
        await OkAsync("vol-upload", "w.raw", LocalFile("secret.bin", secret), "--pool", "p");

        var wipe = await OkAsync("vol-wipe", "w.raw", "--pool", "p", "--algorithm", algorithm);

        Assert.Equal("Vol w.raw wiped\n\n", wipe.Stdout);
        var after = await File.ReadAllBytesAsync(Path.Combine(PoolDir, "w.raw"));
        Assert.Equal(-1, after.AsSpan().IndexOf(secret.AsSpan(4096, 64)));
    }

    [Fact]
    public async Task Checksum_prints_what_sha256sum_prints()
    {
        await StartPoolAsync();
        await OkAsync("vol-create-as", "p", "c.raw", "8M", "--allocation", "0");
        await OkAsync("vol-upload", "c.raw", LocalFile("d.bin", RandomBytes(3 << 20, 2)), "--pool", "p", "--offset", "1048576");

        var sum = await OkAsync("vol-checksum", "c.raw", "--pool", "p");

        var path = Path.Combine(PoolDir, "c.raw");
        var expected = Convert.ToHexStringLower(SHA256.HashData(await File.ReadAllBytesAsync(path)));
        Assert.Equal($"{expected}  {path}\n\n", sum.Stdout);
        var missing = await RunAsync("vol-checksum", "nosuch", "--pool", "p");
        Assert.Equal(1, missing.ExitCode);
        Assert.StartsWith("error: failed to get vol 'nosuch'", missing.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Labels_show_in_vol_info_details_and_never_in_vol_list()
    {
        await StartPoolAsync();
        await OkAsync("vol-create-as", "p", "a.raw", "1M", "--allocation", "0");
        await OkAsync("vol-create-as", "p", "b.raw", "1M", "--allocation", "0");
        var plainList = (await OkAsync("vol-list", "p", "--details")).Stdout;
        Assert.DoesNotContain("Labels", plainList, StringComparison.Ordinal);

        var set = await OkAsync("vol-label", "a.raw", "--pool", "p", "env=prod", "tier=gold");
        Assert.Equal("env=prod\ntier=gold\n\n", set.Stdout);
        var removed = await OkAsync("vol-label", "a.raw", "--pool", "p", "tier-");
        Assert.Equal("env=prod\n\n", removed.Stdout);

        var info = await OkAsync("vol-info", "a.raw", "--pool", "p", "--details");
        Assert.EndsWith("Labels:         env=prod\n\n", info.Stdout, StringComparison.Ordinal);
        var infoB = await OkAsync("vol-info", "b.raw", "--pool", "p", "--details");
        Assert.EndsWith("Labels:         \n\n", infoB.Stdout, StringComparison.Ordinal);

        // virsh's table, byte for byte, whatever the labels: scripts parse it.
        Assert.Equal(plainList, (await OkAsync("vol-list", "p", "--details")).Stdout);

        var bad = await RunAsync("vol-label", "a.raw", "--pool", "p", "=x");
        Assert.Equal(1, bad.ExitCode);
        Assert.Contains("neither KEY=VALUE nor KEY-", bad.Stderr, StringComparison.Ordinal);

        // Labels go with the volume.
        await OkAsync("vol-delete", "a.raw", "--pool", "p");
        await OkAsync("vol-create-as", "p", "a.raw", "1M", "--allocation", "0");
        Assert.Equal("\n", (await OkAsync("vol-label", "a.raw", "--pool", "p")).Stdout);
    }

    [Fact]
    public async Task Upload_from_a_pipe_and_past_the_capacity()
    {
        await StartPoolAsync();
        await OkAsync("vol-create-as", "p", "u.raw", "1M", "--allocation", "0");
        var data = RandomBytes(300000, 3);

        // /dev/stdin of the child is a pipe: read until it ends.
        var psi = VirtPoolCli.CreateStartInfo(State, "vol-upload", "u.raw", "/dev/stdin", "--pool", "p");
        using (var child = Process.Start(psi)!)
        {
            await child.StandardInput.BaseStream.WriteAsync(data);
            child.StandardInput.Close();
            var stderr = await child.StandardError.ReadToEndAsync();
            await child.WaitForExitAsync();
            Assert.True(child.ExitCode == 0, stderr);
        }

        var written = await File.ReadAllBytesAsync(Path.Combine(PoolDir, "u.raw"));
        Assert.Equal(1 << 20, written.Length);
        Assert.True(written.AsSpan(0, data.Length).SequenceEqual(data));

        var tooBig = await RunAsync("vol-upload", "u.raw", LocalFile("big.bin", RandomBytes(2 << 20, 4)), "--pool", "p");
        Assert.Equal(1, tooBig.ExitCode);
        Assert.StartsWith("error: cannot upload to volume u.raw\nerror: invalid argument: cannot upload", tooBig.Stderr, StringComparison.Ordinal);
        Assert.Equal(1 << 20, new FileInfo(Path.Combine(PoolDir, "u.raw")).Length);
    }

    [Fact]
    public async Task A_backing_chain_that_loops_is_refused_cleanly()
    {
        await StartPoolAsync();
        await OkAsync("vol-create-as", "p", "a.qcow2", "16M", "--format", "qcow2");
        await OkAsync("vol-create-as", "p", "b.qcow2", "16M", "--format", "qcow2", "--backing-vol", "a.qcow2", "--backing-vol-format", "qcow2");

        // Point a at b behind VirtPool's back: a -> b -> a.
        var rebase = await ChildProcess.RunAsync("qemu-img", ["rebase", "-u", "-F", "qcow2", "-b", Path.Combine(PoolDir, "b.qcow2"), Path.Combine(PoolDir, "a.qcow2")]);
        Assert.True(rebase.ExitCode == 0, rebase.Stderr);
        await OkAsync("pool-refresh", "p");
        Assert.Contains("b.qcow2", (await OkAsync("vol-dumpxml", "a.qcow2", "--pool", "p")).Stdout, StringComparison.Ordinal);

        var top = await RunAsync("vol-create-as", "p", "top.qcow2", "16M", "--format", "qcow2", "--backing-vol", "b.qcow2", "--backing-vol-format", "qcow2");
        Assert.Equal(1, top.ExitCode);
        Assert.StartsWith("error: Failed to create vol top.qcow2\nerror: ", top.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("Unhandled", top.Stderr, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(PoolDir, "top.qcow2")));
    }

    [Fact]
    public async Task Interrupt_stops_a_long_wipe_with_an_abort_error()
    {
        await StartPoolAsync();
        await OkAsync("vol-create-as", "p", "long.raw", "256M");
        var volume = Path.Combine(PoolDir, "long.raw");
        Assert.True(IsZeroAtStart(volume));
        using var running = VirtPoolCli.StartInForeground(State, "vol-wipe", "long.raw", "--pool", "p", "--algorithm", "pfitzner33");

        // Interrupted once it is wiping (its first pass writes random bytes from the start of the
        // volume): by then it has set up its Ctrl-C handling, and 33 passes over 256 MiB are far
        // from done.
        await Eventually.UntilAsync(() => running.HasExited || !IsZeroAtStart(volume), "the wipe to write its first bytes");
        Assert.False(running.HasExited, "the wipe ended before it was interrupted");
        using (var kill = Process.Start("kill", ["-INT", running.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
        {
            await kill.WaitForExitAsync();
            Assert.Equal(0, kill.ExitCode);
        }

        var result = await running.WaitAsync(ChildProcess.DefaultTimeout);
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("error: operation aborted: cancelled by the user", result.Stderr, StringComparison.Ordinal);

        // Nothing stays locked: the volume can be deleted right away.
        await OkAsync("vol-delete", "long.raw", "--pool", "p");
    }

    private static bool IsZeroAtStart(string path)
    {
        Span<byte> head = stackalloc byte[4096];
        using var file = File.OpenHandle(path);
        var read = RandomAccess.Read(file, head, 0);
        return head[..read].IndexOfAnyExcept((byte)0) < 0;
    }
}
