using System.Security.Cryptography;
using System.Text.RegularExpressions;
using VirtPool.Cli.Tests.Support;
using VirtPool.TestSupport;

namespace VirtPool.Cli.Tests;

/// <summary>
/// gluster pools (libgfapi) on a private glusterd + brick: the same virsh steps through libvirtd 9.0's
/// gluster driver and through embedded virtpool, each side on its own gluster volume (shown as @VOL@)
/// holding the same files, put there by a FUSE client: what libvirt supports (define, start, the
/// listing, vol-info, vol-dumpxml, refresh, vol-delete, the start errors) byte for byte.
/// <para>
/// pool-info and pool-dumpxml are compared with their sizes masked: they are the statvfs of the disk
/// under the bricks, which other work on this machine moves between the two sides' steps. Known
/// differences: vol-create (libvirt 9.0 has none for gluster; virtpool's is an addition), and vol-delete of
/// a folder, which libvirt 9.0 reports done while the folder stays (it passes the URI to glfs_rmdir).
/// </para>
/// </summary>
[Collection(LibvirtCollection.Name)]
public sealed partial class GlusterPoolDifferentialTests(LibvirtOracle oracle, GlusterServer gluster) : IClassFixture<GlusterServer>
{
    [Fact]
    public async Task Gluster_pool_from_define_to_undefine_matches_libvirt()
    {
        await using var s = await oracle.NewSandboxAsync();
        s.Alias("@VOL@", gluster.Volumes[0], gluster.Volumes[1]);
        var folder = "d" + Guid.NewGuid().ToString("N")[..8];
        s.Alias("@DIR@", folder, folder);
        var data = RandomNumberGenerator.GetBytes(1_000_000);
        foreach (var volume in gluster.Volumes)
        {
            await PopulateAsync(volume, folder, data);
        }

        (await s.StepAsync("pool-define-as", "glx", "gluster", "--source-host", "127.0.0.1", "--source-name", "@VOL@", "--source-path", "/" + folder)).ExpectOracle(0);
        await s.StepAsync("pool-dumpxml", "--inactive", "glx");
        (await s.StepAsync("pool-start", "glx")).ExpectOracle(0);
        await SameButSizesAsync(s, "pool-info", "glx");
        await SameButSizesAsync(s, "pool-dumpxml", "glx");
        await s.StepAsync("vol-list", "glx", "--details");
        await s.StepAsync("vol-list", "glx");
        foreach (var name in new[] { "data.raw", "sparse.img", "q.qcow2", "overlay.qcow2", "link", "sub", "empty", "dangling" })
        {
            await s.StepAsync("vol-info", "--pool", "glx", name);
            await s.StepAsync("vol-dumpxml", "--pool", "glx", name);
        }

        await s.StepAsync("vol-path", "--pool", "glx", "q.qcow2");
        await s.StepAsync("vol-key", "--pool", "glx", "q.qcow2");
        (await s.StepAsync("pool-refresh", "glx")).ExpectOracle(0);
        await s.StepAsync("vol-list", "glx", "--details");

        (await s.StepAsync("vol-delete", "--pool", "glx", "data.raw")).ExpectOracle(0);
        (await s.StepAsync("vol-delete", "--pool", "glx", "empty")).ExpectOracle(0);
        await s.StepAsync("vol-delete", "--pool", "glx", "--delete-snapshots", "sparse.img");
        await s.StepAsync("vol-list", "glx");
        (await s.StepAsync("pool-refresh", "glx")).ExpectOracle(0);
        (await s.StepAsync("vol-list", "glx")).ExpectDifference("libvirt 9.0's vol-delete of a netdir volume passes its URI to glfs_rmdir and leaves the folder");

        (await s.StepAsync("vol-create-as", "glx", "new.raw", "1M")).ExpectOracle(1).ExpectDifference("libvirt 9.0 has no vol-create for gluster pools; virtpool's is an addition");
        (await s.StepAsync("pool-destroy", "glx")).ExpectOracle(0);
        await s.StepAsync("vol-list", "glx");
        (await s.StepAsync("pool-undefine", "glx")).ExpectOracle(0);

        // Sources libvirt refuses at start, with its words.
        (await s.StepAsync("pool-create-as", "glnodir", "gluster", "--source-host", "127.0.0.1", "--source-name", "@VOL@", "--source-path", "/missing")).ExpectOracle(1);
        (await s.StepAsync("pool-create-as", "glnovol", "gluster", "--source-host", "127.0.0.1", "--source-name", "novol")).ExpectOracle(1);
        s.AssertNoDifferences();
    }

    /// <summary>The same files in a folder of the gluster volume, written through a FUSE mount of it.</summary>
    private async Task PopulateAsync(string volume, string folder, byte[] data)
    {
        using var fuse = gluster.Mount(volume);
        var dir = Path.Combine(fuse.Path, folder);
        Directory.CreateDirectory(Path.Combine(dir, "sub", "deeper"));
        Directory.CreateDirectory(Path.Combine(dir, "empty"));
        await File.WriteAllBytesAsync(Path.Combine(dir, "data.raw"), data);
        await File.WriteAllBytesAsync(Path.Combine(dir, "sub", "inner.raw"), new byte[4096]);
        using (var sparse = File.Create(Path.Combine(dir, "sparse.img")))
        {
            sparse.SetLength(10 << 20);
        }

        foreach (var argv in new[]
        {
            new[] { "qemu-img", "create", "-q", "-f", "qcow2", Path.Combine(dir, "q.qcow2"), "5M" },
            ["qemu-img", "create", "-q", "-f", "qcow2", "-b", "q.qcow2", "-F", "qcow2", Path.Combine(dir, "overlay.qcow2")],
        })
        {
            var run = await ChildProcess.RunAsync(argv[0], argv[1..]);
            Assert.True(run.ExitCode == 0, run.ToString());
        }

        File.CreateSymbolicLink(Path.Combine(dir, "link"), "data.raw");
        File.CreateSymbolicLink(Path.Combine(dir, "dangling"), "nothing");
    }

    /// <summary>
    /// A step whose figures follow the disk under the bricks: both sides run it (so the sandbox's step
    /// numbering is unaffected, it is not recorded) and must agree with those figures masked.
    /// </summary>
    private async Task SameButSizesAsync(DiffSandbox s, params string[] args)
    {
        var o = await oracle.VirshAsync(args);
        var v = await VirtPoolCli.RunAsync(s.StateDir, args);
        Assert.Equal((o.ExitCode, Mask(o.Stdout, gluster.Volumes[0]), o.Stderr), (v.ExitCode, Mask(v.Stdout, gluster.Volumes[1]), v.Stderr));
    }

    private static string Mask(string text, string volume)
    {
        text = UuidLine().Replace(text.Replace(volume, "@VOL@", StringComparison.Ordinal), "UUID");
        text = HumanSize().Replace(text, "$1N");
        return XmlSize().Replace(text, "$1N$2");
    }

    [GeneratedRegex(@"(?m)^((?:Capacity|Allocation|Available):\s+)[0-9.]+ \S+$")]
    private static partial Regex HumanSize();

    [GeneratedRegex(@"(<(?:capacity|allocation|available) unit='bytes'>)\d+(<)")]
    private static partial Regex XmlSize();

    [GeneratedRegex(@"(?m)^UUID:.*$|<uuid>[^<]*</uuid>")]
    private static partial Regex UuidLine();
}
