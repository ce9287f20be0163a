using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.RegularExpressions;
using VirtPool.TestSupport;

namespace VirtPool.Daemon.Tests.Clients;

/// <summary>
/// rbd pools on the test Ceph (<see cref="CephCluster.Shared"/>) driven by clients nobody here wrote —
/// real virsh, python3-libvirt and go-libvirt — against libvirtd 9.0 and against virtpoold, each server
/// on a RADOS pool of its own (names of one length, shown as @CEPHPOOL@) with client.libvirt's key in a
/// ceph secret of its own. Outputs must match byte for byte where libvirt supports the step; VirtPool's
/// additions (upload and download, holes kept) are checked against the cluster itself (rbd export, rbd diff).
/// </summary>
public sealed partial class RbdPoolDaemonDifferentialTests(OracleAndDaemonFixture f) : IClassFixture<OracleAndDaemonFixture>
{
    private const string SecretUuid = "6a2c4e8f-1b3d-4f5a-9c7e-0d2f4a6c8e01";
    private const string Usage = "vp rbd daemon diff";

    private static readonly CephCluster Ceph = CephCluster.Shared;

    private static string Clients => Path.Combine(OracleAndDaemonFixture.RepoRoot, "tests", "clients");

    [Fact]
    public async Task Virsh_drives_an_rbd_pool_on_virtpoold_as_on_libvirtd()
    {
        await using var sides = await ServerSides.CreateAsync(f, withSecret: true);
        var port = Ceph.MonPort.ToString(CultureInfo.InvariantCulture);
        foreach (var (root, _, cephPool) in sides.Both)
        {
            Directory.CreateDirectory(Path.Combine(root, "rbd"));
            await File.WriteAllTextAsync(Path.Combine(root, "rbd", "pool.xml"),
                $"<pool type='rbd'><name>drbd</name><source><host name='127.0.0.1' port='{port}'/><name>{cephPool}</name>" +
                $"<auth type='ceph' username='libvirt'><secret usage='{Usage}'/></auth></source></pool>");
            await File.WriteAllTextAsync(Path.Combine(root, "rbd", "nosecret.xml"),
                $"<pool type='rbd'><name>drbdbad</name><source><host name='127.0.0.1' port='{port}'/><name>{cephPool}</name>" +
                "<auth type='ceph' username='libvirt'><secret usage='vp no such secret'/></auth></source></pool>");
        }

        (string[] Step, int OracleExit)[] steps =
        [
            (["pool-define", "@ROOT@/rbd/pool.xml"], 0),
            (["pool-dumpxml", "--inactive", "drbd"], 0),
            (["pool-start", "drbd"], 0),
            (["pool-info", "drbd"], 0),
            (["pool-dumpxml", "drbd"], 0),
            (["pool-list", "--all", "--details"], 0),
            (["vol-create-as", "drbd", "vol1", "64M"], 0),
            (["vol-create-as", "drbd", "vol2", "10M", "--allocation", "0"], 0),
            (["vol-create-as", "drbd", "vol3", "1537K"], 0),
            (["vol-create-as", "drbd", "volq", "10M", "--format", "qcow2"], 1),
            (["vol-create-as", "drbd", "vol1", "10M"], 1),
            (["vol-create-as", "drbd", "vol0", "0"], 1),
            (["vol-list", "drbd", "--details"], 0),
            (["vol-info", "vol3", "--pool", "drbd", "--bytes"], 0),
            (["vol-dumpxml", "vol1", "--pool", "drbd"], 0),
            (["vol-key", "vol1", "--pool", "drbd"], 0),
            (["vol-path", "vol1", "--pool", "drbd"], 0),
            (["vol-name", "@CEPHPOOL@/vol1"], 0),
            (["vol-info", "nosuch", "--pool", "drbd"], 1),
            (["vol-resize", "vol1", "128M", "--pool", "drbd"], 0),
            (["vol-resize", "vol1", "--delta", "16M", "--pool", "drbd"], 0),
            (["vol-resize", "vol1", "32M", "--pool", "drbd"], 1),
            (["vol-info", "vol1", "--pool", "drbd"], 0),
            (["vol-clone", "vol1", "vol1clone", "--pool", "drbd"], 0),
            (["vol-clone", "vol1", "vol1clone", "--pool", "drbd"], 1),
            (["vol-dumpxml", "vol1clone", "--pool", "drbd"], 0),
            (["vol-wipe", "vol2", "--pool", "drbd"], 0),
            (["vol-wipe", "vol2", "--pool", "drbd", "--algorithm", "trim"], 0),
            (["vol-wipe", "vol2", "--pool", "drbd", "--algorithm", "nnsa"], 1),
            (["vol-delete", "vol1clone", "--pool", "drbd"], 0),
            (["vol-delete", "vol3", "--pool", "drbd"], 0),
            (["vol-delete", "nosuch", "--pool", "drbd"], 1),
            (["pool-refresh", "drbd"], 0),
            (["vol-list", "drbd", "--details"], 0),
            (["vol-delete", "vol1", "--pool", "drbd", "--delete-snapshots"], 0),
            (["vol-list", "drbd"], 0),
            (["pool-destroy", "drbd"], 0),
            (["pool-info", "drbd"], 0),
            (["vol-list", "drbd"], 1),
            (["pool-delete", "drbd"], 1),
            (["pool-undefine", "drbd"], 0),
            (["pool-define", "@ROOT@/rbd/nosecret.xml"], 0),
            (["pool-start", "drbdbad"], 1),
            (["pool-undefine", "drbdbad"], 0),
        ];

        var differences = new List<string>();
        try
        {
            foreach (var (step, oracleExit) in steps)
            {
                var o = await Tool.RunAsync(Tool.Virsh, ["-c", f.OracleUri, .. sides.Expand(step, oracle: true)]);
                Assert.True(o.Exit == oracleExit, $"libvirtd: {string.Join(' ', step)} exited {o.Exit}: {o.Err}");
                var v = await Tool.RunAsync(Tool.Virsh, ["-c", f.Daemon.Uri, .. sides.Expand(step, oracle: false)]);
                var expected = sides.Normalise($"exit {o.Exit}\n{o.Out}--\n{o.Err}", oracle: true);
                var got = sides.Normalise($"exit {v.Exit}\n{v.Out}--\n{v.Err}", oracle: false);
                if (got != expected)
                {
                    differences.Add($"{string.Join(' ', step)}\n--- virsh -> libvirtd\n{expected}\n+++ virsh -> virtpoold\n{got}");
                }
            }

            Assert.Equal(["vol2"], Ceph.Images(sides.OraclePool));
            Assert.Equal(["vol2"], Ceph.Images(sides.DaemonPool));
            Assert.True(differences.Count == 0, string.Join("\n\n", differences));
        }
        finally
        {
            foreach (var uri in new[] { f.OracleUri, f.Daemon.Uri })
            {
                foreach (var pool in new[] { "drbd", "drbdbad" })
                {
                    await Tool.RunAsync(Tool.Virsh, ["-c", uri, "pool-destroy", pool]);
                    await Tool.RunAsync(Tool.Virsh, ["-c", uri, "pool-undefine", pool]);
                }
            }
        }
    }

    [Fact]
    public async Task Python3_libvirt_drives_an_rbd_pool_on_virtpoold_as_on_libvirtd()
    {
        await using var sides = await ServerSides.CreateAsync(f, withSecret: false);
        var script = Path.Combine(Clients, "python", "rbd_steps.py");
        var port = Ceph.MonPort.ToString(CultureInfo.InvariantCulture);
        var o = await Tool.RunAsync(Tool.Python, [script, f.OracleUri, sides.OraclePool, port, Ceph.LibvirtKey, "common"], timeoutSeconds: 180);
        var v = await Tool.RunAsync(Tool.Python, [script, f.Daemon.TcpUri, sides.DaemonPool, port, Ceph.LibvirtKey, "common"], timeoutSeconds: 180);
        Assert.True(o.Exit == 0, $"rbd_steps.py against libvirtd: {o.Err}\n{o.Out}");
        Assert.Equal(sides.Normalise(o.Out, oracle: true), sides.Normalise(v.Out, oracle: false));
        Assert.Equal((0, ""), (v.Exit, v.Err));
        Assert.Contains("list at end []", v.Out, StringComparison.Ordinal);
        Assert.Empty(Ceph.Images(sides.DaemonPool));
    }

    /// <summary>VirtPool's addition through python3-libvirt streams: what goes up comes down, plain and sparse; libvirtd refuses both.</summary>
    [Fact]
    public async Task Python3_libvirt_uploads_and_downloads_rbd_volumes_with_holes_on_virtpoold()
    {
        await using var sides = await ServerSides.CreateAsync(f, withSecret: false);
        var script = Path.Combine(Clients, "python", "rbd_steps.py");
        var port = Ceph.MonPort.ToString(CultureInfo.InvariantCulture);
        var work = Path.Combine(f.DaemonRoot, "pyrbd-" + Guid.NewGuid().ToString("N")[..6]);
        Directory.CreateDirectory(work);
        try
        {
            var v = await Tool.RunAsync(Tool.Python, [script, f.Daemon.TcpUri, sides.DaemonPool, port, Ceph.LibvirtKey, "transfer", work], timeoutSeconds: 300);
            Assert.True(v.Exit == 0, $"rbd_steps.py transfer against virtpoold: {v.Err}\n{v.Out}");
            var lines = v.Out.Split('\n');
            foreach (var upload in new[] { "plain", "sparse" })
            {
                Assert.Contains($"{upload} upload [3, 25165824, ", v.Out, StringComparison.Ordinal);
                Assert.Contains($"{upload} upload, plain download 25165824 True holes 0", lines);
                Assert.Single(lines, l => l.StartsWith($"{upload} upload, sparse download 25165824 True holes ", StringComparison.Ordinal));
            }

            // After a sparse upload of 24 MiB with 3 MiB of data, a sparse download sends the rest as holes:
            // at most 21 MiB (every byte that is no data), at least 16 MiB (the 4 MiB objects without data).
            // (A plain upload writes what the stream carries, zeros included, as libvirt's other pool types do.)
            var sparse = Assert.Single(lines, l => l.StartsWith("sparse upload, sparse download ", StringComparison.Ordinal));
            Assert.InRange(long.Parse(sparse.Split(' ')[^1], CultureInfo.InvariantCulture), 16L << 20, 21L << 20);

            var o = await Tool.RunAsync(Tool.Python, [script, f.OracleUri, sides.OraclePool, port, Ceph.LibvirtKey, "transfer", work], timeoutSeconds: 180);
            Assert.Contains("plain upload error code=3 domain=18 this function is not supported by the connection driver: storage pool doesn't support volume upload", o.Out, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    [Fact]
    public async Task Go_libvirt_drives_an_rbd_pool_on_virtpoold_as_on_libvirtd()
    {
        await using var sides = await ServerSides.CreateAsync(f, withSecret: false);
        using var build = new TempDir();
        var binary = Path.Combine(build.Path, "gorbd");
        // GOPATH mode (Debian's go-libvirt lives in /usr/share/gocode): build from the package's folder.
        var go = await Tool.RunAsync("/bin/sh",
            ["-c", $"cd '{Path.Combine(Clients, "go", "gorbd")}' && GOPATH=/usr/share/gocode GO111MODULE=off GOCACHE='{build.Path}/cache' HOME='{build.Path}' /usr/bin/go build -o '{binary}' ."],
            timeoutSeconds: 300);
        Assert.True(go.Exit == 0, "go build: " + go.Err);
        var port = Ceph.MonPort.ToString(CultureInfo.InvariantCulture);
        var o = await Tool.RunAsync(binary, ["unix", f.OracleSocket, sides.OraclePool, port, Ceph.LibvirtKey], timeoutSeconds: 180);
        var v = await Tool.RunAsync(binary, ["tcp", $"127.0.0.1:{f.Daemon.Daemon.TcpEndPoint!.Port}", sides.DaemonPool, port, Ceph.LibvirtKey], timeoutSeconds: 180);
        Assert.True(o.Exit == 0, $"gorbd against libvirtd: {o.Out}{o.Err}");
        Assert.Equal(o.Out, v.Out);
        Assert.Equal(0, v.Exit);
        Assert.Contains("vol list at end 0\n", v.Out, StringComparison.Ordinal);
    }

    /// <summary>
    /// VirtPool's addition through real virsh: a file with holes uploaded sparsely stays sparse on the
    /// cluster (rbd diff lists only the data), comes back with the same sha256 (as rbd export sees it too),
    /// and a sparse download makes a file with holes; an upload at an offset and a download of a range.
    /// </summary>
    [Fact]
    public async Task Virsh_uploads_and_downloads_with_holes_on_virtpoold()
    {
        await using var sides = await ServerSides.CreateAsync(f, withSecret: true);
        var root = f.DaemonRoot;
        var work = Path.Combine(root, "rbdx-" + Guid.NewGuid().ToString("N")[..6]);
        Directory.CreateDirectory(work);
        var uri = f.Daemon.Uri;
        async Task Virsh(params string[] args)
        {
            var r = await Tool.RunAsync(Tool.Virsh, ["-c", uri, .. args], timeoutSeconds: 300);
            Assert.True(r.Exit == 0, $"virsh {string.Join(' ', args)}: {r.Err}");
        }

        try
        {
            var xml = Path.Combine(work, "pool.xml");
            await File.WriteAllTextAsync(xml, $"<pool type='rbd'><name>xrbd</name><source><host name='127.0.0.1' port='{Ceph.MonPort}'/>" +
                $"<name>{sides.DaemonPool}</name><auth type='ceph' username='libvirt'><secret usage='{Usage}'/></auth></source></pool>");
            await Virsh("pool-create", xml);
            await Virsh("vol-create-as", "xrbd", "holey", "40M");

            // 40 MiB: 1 MiB of data at 8 MiB and 512 KiB at 30 MiB + 100 KiB (not object-aligned); holes elsewhere.
            var data = new byte[(1 << 20) + (512 << 10)];
            new Random(7).NextBytes(data);
            var source = Path.Combine(work, "source.img");
            await using (var file = new FileStream(source, FileMode.CreateNew))
            {
                file.SetLength(40L << 20);
                file.Position = 8L << 20;
                await file.WriteAsync(data.AsMemory(0, 1 << 20));
                file.Position = (30L << 20) + (100 << 10);
                await file.WriteAsync(data.AsMemory(1 << 20));
            }

            await Virsh("vol-upload", "holey", source, "--pool", "xrbd", "--sparse");
            // The same file through rbd import (which skips runs of zeros): the objects both leave out,
            // and their data extents as rbd diff reports them (from an object's start to its last byte).
            Ceph.Rbd("import", "--no-progress", source, $"{sides.DaemonPool}/reference");
            var reference = Extents(sides.DaemonPool, "reference");
            Assert.Equal(2, reference.Count);
            Assert.Equal(reference, Extents(sides.DaemonPool, "holey"));
            Ceph.Rbd("rm", "--no-progress", $"{sides.DaemonPool}/reference");

            var plain = Path.Combine(work, "plain.img");
            var sparse = Path.Combine(work, "sparse.img");
            await Virsh("vol-download", "holey", plain, "--pool", "xrbd");
            await Virsh("vol-download", "holey", sparse, "--pool", "xrbd", "--sparse");
            var expected = Sha256(source);
            Assert.Equal(expected, Sha256(plain));
            Assert.Equal(expected, Sha256(sparse));
            // Holes of whole objects stay holes (the two 4 MiB objects holding data may come down whole).
            Assert.True(AllocatedBytes(sparse) <= 8L << 20, $"the sparse download allocates {AllocatedBytes(sparse)} bytes of 40 MiB");
            var exported = Path.Combine(work, "exported.img");
            Ceph.Rbd("export", "--no-progress", $"{sides.DaemonPool}/holey", exported);
            Assert.Equal(expected, Sha256(exported));

            // A non-sparse upload of the same file over a fresh image: the same bytes.
            await Virsh("vol-create-as", "xrbd", "plainup", "40M");
            await Virsh("vol-upload", "plainup", source, "--pool", "xrbd");
            var plainExport = Path.Combine(work, "plainup.img");
            Ceph.Rbd("export", "--no-progress", $"{sides.DaemonPool}/plainup", plainExport);
            Assert.Equal(expected, Sha256(plainExport));

            // An upload at an offset and a download of a range.
            var patch = Path.Combine(work, "patch.bin");
            await File.WriteAllBytesAsync(patch, data.AsMemory(0, 4096).ToArray());
            await Virsh("vol-upload", "holey", patch, "--pool", "xrbd", "--offset", "1048576");
            var range = Path.Combine(work, "range.bin");
            await Virsh("vol-download", "holey", range, "--pool", "xrbd", "--offset", "1048576", "--length", "4096");
            Assert.Equal(data.AsSpan(0, 4096).ToArray(), await File.ReadAllBytesAsync(range));

            await Virsh("vol-delete", "holey", "--pool", "xrbd");
            await Virsh("vol-delete", "plainup", "--pool", "xrbd");
            await Virsh("pool-destroy", "xrbd");
        }
        finally
        {
            await Tool.RunAsync(Tool.Virsh, ["-c", uri, "pool-destroy", "xrbd"]);
            Directory.Delete(work, recursive: true);
        }
    }

    /// <summary>The image's data extents as <c>rbd diff</c> lists them (offset, length).</summary>
    private static List<(long Offset, long Length)> Extents(string pool, string image)
    {
        using var json = JsonDocument.Parse(Ceph.Rbd("diff", "--format", "json", $"{pool}/{image}"));
        return [.. json.RootElement.EnumerateArray()
            .Where(e => e.GetProperty("exists").GetString() == "true")
            .Select(e => (e.GetProperty("offset").GetInt64(), e.GetProperty("length").GetInt64()))
            .OrderBy(e => e.Item1)];
    }

    private static string Sha256(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }

    private static long AllocatedBytes(string path)
    {
        var stat = Tool.RunAsync("stat", ["-c", "%b %B", path]).GetAwaiter().GetResult();
        var parts = stat.Out.Trim().Split(' ');
        return long.Parse(parts[0], CultureInfo.InvariantCulture) * long.Parse(parts[1], CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// A RADOS pool per server (libvirtd's and virtpoold's, names of one length) and, when asked, the
    /// ceph secret with client.libvirt's key on each server; all removed on dispose.
    /// </summary>
    private sealed partial class ServerSides : IAsyncDisposable
    {
        private readonly OracleAndDaemonFixture _f;
        private readonly bool _withSecret;
        private readonly Dictionary<string, string> _oracleIds = new(StringComparer.Ordinal);
        private readonly Dictionary<string, string> _daemonIds = new(StringComparer.Ordinal);

        private ServerSides(OracleAndDaemonFixture f, bool withSecret, string tag)
        {
            _f = f;
            _withSecret = withSecret;
            OraclePool = "vdo" + tag;
            DaemonPool = "vdv" + tag;
        }

        public string OraclePool { get; }

        public string DaemonPool { get; }

        public (string Root, string Uri, string CephPool)[] Both => [(_f.OracleRoot, _f.OracleUri, OraclePool), (_f.DaemonRoot, _f.Daemon.Uri, DaemonPool)];

        public static async Task<ServerSides> CreateAsync(OracleAndDaemonFixture f, bool withSecret)
        {
            var sides = new ServerSides(f, withSecret, Guid.NewGuid().ToString("N")[..6]);
            try
            {
                Ceph.CreatePool(sides.OraclePool);
                Ceph.CreatePool(sides.DaemonPool);
                if (withSecret)
                {
                    foreach (var (root, uri, _) in sides.Both)
                    {
                        var dir = Path.Combine(root, "rbdsecret");
                        Directory.CreateDirectory(dir);
                        var xml = Path.Combine(dir, "secret.xml");
                        await File.WriteAllTextAsync(xml, $"<secret ephemeral='no' private='yes'><uuid>{SecretUuid}</uuid><usage type='ceph'><name>{Usage}</name></usage></secret>");
                        await File.WriteAllTextAsync(Path.Combine(dir, "key"), Ceph.LibvirtKey);
                        foreach (var args in new[] { new[] { "secret-define", xml }, ["secret-set-value", SecretUuid, "--file", Path.Combine(dir, "key")] })
                        {
                            var r = await Tool.RunAsync(Tool.Virsh, ["-c", uri, .. args]);
                            Assert.True(r.Exit == 0, $"virsh {string.Join(' ', args)} on {uri}: {r.Err}");
                        }
                    }
                }

                return sides;
            }
            catch
            {
                await sides.DisposeAsync();
                throw;
            }
        }

        /// <summary>A step's arguments for one side: its folder and its RADOS pool.</summary>
        public string[] Expand(string[] step, bool oracle) =>
            [.. step.Select(a => a.Replace("@ROOT@", oracle ? _f.OracleRoot : _f.DaemonRoot, StringComparison.Ordinal)
                .Replace("@CEPHPOOL@", oracle ? OraclePool : DaemonPool, StringComparison.Ordinal))];

        /// <summary>One side's output with its folder, its RADOS pool and its generated UUIDs (numbered in order) replaced.</summary>
        public string Normalise(string text, bool oracle)
        {
            text = text.Replace(oracle ? _f.OracleRoot : _f.DaemonRoot, "@ROOT@", StringComparison.Ordinal)
                .Replace(oracle ? OraclePool : DaemonPool, "@CEPHPOOL@", StringComparison.Ordinal);
            var ids = oracle ? _oracleIds : _daemonIds;
            return Uuids().Replace(text, m =>
            {
                if (!ids.TryGetValue(m.Value, out var token))
                {
                    token = $"@UUID{ids.Count + 1}@";
                    ids[m.Value] = token;
                }

                return token;
            });
        }

        public async ValueTask DisposeAsync()
        {
            if (_withSecret)
            {
                foreach (var (_, uri, _) in Both)
                {
                    await Tool.RunAsync(Tool.Virsh, ["-c", uri, "secret-undefine", SecretUuid]);
                }
            }

            foreach (var pool in new[] { OraclePool, DaemonPool })
            {
                try
                {
                    Ceph.DeletePool(pool);
                }
                catch (InvalidOperationException)
                {
                    // never made (a failed create): nothing to delete
                }
            }
        }

        [GeneratedRegex("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")]
        private static partial Regex Uuids();
    }
}
