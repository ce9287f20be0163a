using System.Security.Cryptography;
using System.Text.RegularExpressions;
using VirtPool.Daemon.Tests.Clients;
using VirtPool.TestSupport;

namespace VirtPool.Daemon.Tests;

/// <summary>
/// gluster pools through real virsh against libvirtd 9.0's gluster driver and against virtpoold, each
/// side on its own gluster volume of one private glusterd (shown as @VOL@) holding the same files, put
/// there by a FUSE client: define, start, info, XML, listings, vol-info, vol-dumpxml, refresh,
/// vol-delete, destroy, undefine and the start errors, byte for byte (timestamps, UUIDs and the pool
/// sizes, which follow the disk under the bricks, masked). Then what only virtpoold does on gluster
/// (libvirt 9.0 refuses it): create, upload and download with holes, clone, resize, wipe.
/// </summary>
public sealed partial class GlusterPoolDaemonTests(OracleAndDaemonFixture f, GlusterServer gluster) : IClassFixture<OracleAndDaemonFixture>, IClassFixture<GlusterServer>
{
    [Fact]
    public async Task Gluster_pool_through_virsh_matches_libvirtd()
    {
        var folder = "d" + Guid.NewGuid().ToString("N")[..8];
        var data = RandomNumberGenerator.GetBytes(300_000);
        foreach (var volume in gluster.Volumes)
        {
            Populate(volume, folder, data);
        }

        string[][] steps =
        [
            ["pool-define-as", "gld", "gluster", "--source-host", "127.0.0.1", "--source-name", "@VOL@", "--source-path", "/" + folder],
            ["pool-dumpxml", "--inactive", "gld"],
            ["pool-start", "gld"],
            ["pool-info", "gld"],
            ["pool-dumpxml", "gld"],
            ["vol-list", "gld", "--details"],
            ["vol-info", "--pool", "gld", "data.raw"],
            ["vol-dumpxml", "--pool", "gld", "data.raw"],
            ["vol-dumpxml", "--pool", "gld", "q.qcow2"],
            ["vol-dumpxml", "--pool", "gld", "sub"],
            ["vol-info", "--pool", "gld", "sub"],
            ["pool-refresh", "gld"],
            ["vol-list", "gld"],
            ["vol-delete", "--pool", "gld", "data.raw"],
            ["vol-list", "gld", "--details"],
            ["pool-destroy", "gld"],
            ["pool-info", "gld"],
            ["pool-undefine", "gld"],
            ["pool-create-as", "glnodir", "gluster", "--source-host", "127.0.0.1", "--source-name", "@VOL@", "--source-path", "/missing"],
        ];
        int[] oracleExits = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        Assert.Equal(steps.Length, oracleExits.Length);
        var differences = new List<string>();
        try
        {
            for (var i = 0; i < steps.Length; i++)
            {
                var step = steps[i];
                var o = await Tool.RunAsync(Tool.Virsh, ["-c", f.OracleUri, .. Expand(step, gluster.Volumes[0])], timeoutSeconds: 120);
                Assert.True(o.Exit == oracleExits[i], $"libvirtd: {string.Join(' ', step)} exited {o.Exit}: {o.Err}");
                var v = await Tool.RunAsync(Tool.Virsh, ["-c", f.Daemon.Uri, .. Expand(step, gluster.Volumes[1])]);
                var expected = Normalise($"exit {o.Exit}\n{o.Out}--\n{o.Err}", gluster.Volumes[0]);
                var got = Normalise($"exit {v.Exit}\n{v.Out}--\n{v.Err}", gluster.Volumes[1]);
                if (got != expected)
                {
                    differences.Add($"{string.Join(' ', step)}\n--- virsh -> libvirtd\n{expected}\n+++ virsh -> virtpoold\n{got}");
                }
            }
        }
        finally
        {
            foreach (var uri in new[] { f.OracleUri, f.Daemon.Uri })
            {
                await Tool.RunAsync(Tool.Virsh, ["-c", uri, "pool-destroy", "gld"], timeoutSeconds: 120);
                await Tool.RunAsync(Tool.Virsh, ["-c", uri, "pool-undefine", "gld"]);
            }
        }

        Assert.True(differences.Count == 0, string.Join("\n\n", differences));
    }

    [Fact]
    public async Task Virtpoold_creates_transfers_with_holes_clones_resizes_and_wipes_gluster_volumes()
    {
        var folder = "a" + Guid.NewGuid().ToString("N")[..8];
        using (var fuse = gluster.Mount(gluster.Volumes[1]))
        {
            Directory.CreateDirectory(Path.Combine(fuse.Path, folder));
        }

        var brick = Path.Combine(gluster.BrickOf(gluster.Volumes[1]), folder);
        using var files = new TempDir();
        async Task<string> Virsh(params string[] args)
        {
            var r = await Tool.RunAsync(Tool.Virsh, ["-c", f.Daemon.Uri, .. args]);
            Assert.True(r.Exit == 0, $"virsh {string.Join(' ', args)}: {r.Err}");
            return r.Out;
        }

        try
        {
            await Virsh("pool-create-as", "gla", "gluster", "--source-host", "127.0.0.1", "--source-name", gluster.Volumes[1], "--source-path", "/" + folder);
            await Virsh("vol-create-as", "gla", "disk.raw", "64M", "--allocation", "0");
            await Virsh("vol-create-as", "gla", "disk.qcow2", "1G", "--format", "qcow2");
            Assert.Contains("gluster://127.0.0.1/" + gluster.Volumes[1] + "/" + folder + "/disk.qcow2", await Virsh("vol-path", "--pool", "gla", "disk.qcow2"), StringComparison.Ordinal);
            Assert.Contains("qcow2", await Virsh("vol-dumpxml", "--pool", "gla", "disk.qcow2"), StringComparison.Ordinal);

            // A file with a 30 MiB hole: uploaded and downloaded sparse, the hole stays one on both ends.
            var source = Path.Combine(files.Path, "in.img");
            var head = RandomNumberGenerator.GetBytes(1 << 20);
            using (var stream = File.Create(source))
            {
                stream.Write(head);
                stream.Seek(31 << 20, SeekOrigin.Begin);
                stream.Write(head);
            }

            await Virsh("vol-upload", "--pool", "gla", "disk.raw", source, "--sparse");
            var onBrick = Path.Combine(brick, "disk.raw");
            Assert.Equal(Sha256(source), Sha256Prefix(onBrick, new FileInfo(source).Length));
            Assert.True(Allocated(onBrick) < 8L << 20, $"the hole stays a hole on the server: {Allocated(onBrick)} bytes allocated");
            var output = Path.Combine(files.Path, "out.img");
            await Virsh("vol-download", "--pool", "gla", "disk.raw", output, "--sparse");
            Assert.Equal(Sha256(onBrick), Sha256(output));
            Assert.True(Allocated(output) < 8L << 20, $"the download keeps the hole: {Allocated(output)} bytes allocated");

            await Virsh("vol-clone", "--pool", "gla", "disk.raw", "copy.raw");
            Assert.Equal(Sha256(onBrick), Sha256(Path.Combine(brick, "copy.raw")));
            await Virsh("vol-resize", "--pool", "gla", "copy.raw", "96M");
            Assert.Equal(96L << 20, new FileInfo(Path.Combine(brick, "copy.raw")).Length);
            await Virsh("vol-wipe", "--pool", "gla", "copy.raw");
            Assert.Equal(Convert.ToHexString(SHA256.HashData(new byte[96 << 20])), Sha256(Path.Combine(brick, "copy.raw")));
            foreach (var name in new[] { "disk.raw", "disk.qcow2", "copy.raw" })
            {
                await Virsh("vol-delete", "--pool", "gla", name);
            }

            Assert.Empty(Directory.EnumerateFileSystemEntries(brick));
            Assert.Equal(string.Empty, (await Virsh("-q", "vol-list", "gla")).Trim());
        }
        finally
        {
            await Tool.RunAsync(Tool.Virsh, ["-c", f.Daemon.Uri, "pool-destroy", "gla"]);
        }
    }

    private void Populate(string volume, string folder, byte[] data)
    {
        using var fuse = gluster.Mount(volume);
        var dir = Path.Combine(fuse.Path, folder);
        Directory.CreateDirectory(Path.Combine(dir, "sub"));
        File.WriteAllBytes(Path.Combine(dir, "data.raw"), data);
        using (var sparse = File.Create(Path.Combine(dir, "sparse.img")))
        {
            sparse.SetLength(8 << 20);
        }

        var made = Tool.RunAsync("qemu-img", ["create", "-q", "-f", "qcow2", Path.Combine(dir, "q.qcow2"), "5M"]).GetAwaiter().GetResult();
        Assert.True(made.Exit == 0, made.Err);
        File.CreateSymbolicLink(Path.Combine(dir, "dangling"), "nothing");
    }

    private static string[] Expand(string[] step, string volume) => [.. step.Select(a => a.Replace("@VOL@", volume, StringComparison.Ordinal))];

    private static string Normalise(string text, string volume)
    {
        text = text.Replace(volume, "@VOL@", StringComparison.Ordinal);
        text = Uuids().Replace(text, "@UUID@");
        text = Times().Replace(text, "<$1>T</$1>");

        // Only a pool's figures (its output has an available size) follow the disk under the bricks.
        if (!text.Contains("Available:", StringComparison.Ordinal) && !text.Contains("<available", StringComparison.Ordinal))
        {
            return text;
        }

        text = HumanSize().Replace(text, "$1N");
        return XmlSize().Replace(text, "$1N$2");
    }

    private static string Sha256(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexString(SHA256.HashData(stream));
    }

    private static string Sha256Prefix(string path, long length)
    {
        using var stream = File.OpenRead(path);
        var buffer = new byte[length];
        stream.ReadExactly(buffer);
        return Convert.ToHexString(SHA256.HashData(buffer));
    }

    private static long Allocated(string path)
        => Core.Interop.FileStat.TryStat(path, out var st, out _) ? st.AllocatedBytes : throw new IOException("stat " + path);

    [GeneratedRegex("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")]
    private static partial Regex Uuids();

    [GeneratedRegex(@"<(atime|mtime|ctime|btime)>[^<]*</(?:atime|mtime|ctime|btime)>")]
    private static partial Regex Times();

    [GeneratedRegex(@"(?m)^((?:Allocation|Available):\s+)[0-9.]+ \S+$")]
    private static partial Regex HumanSize();

    [GeneratedRegex(@"(<(?:allocation|available) unit='bytes'>)\d+(</(?:allocation|available)>)")]
    private static partial Regex XmlSize();
}
