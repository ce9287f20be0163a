using System.Text.RegularExpressions;

namespace VirtPool.Daemon.Tests.Clients;

/// <summary>
/// An fs pool through real virsh against virtpoold, step for step as against libvirtd 9.0, each daemon
/// on its own loop device of the same size (shown as @DEV@): mkfs, the --no-overwrite probe, mount,
/// the mounted filesystem's figures and volumes, umount and rmdir over the RPC protocol.
/// </summary>
public sealed partial class FsPoolClientDifferentialTests(OracleAndDaemonFixture f) : IClassFixture<OracleAndDaemonFixture>
{
    [Fact]
    public async Task Virsh_runs_an_ext4_pool_on_virtpoold_as_on_libvirtd()
    {
        string[][] steps =
        [
            ["pool-define-as", "fsv", "fs", "--source-dev", "@DEV@", "--source-format", "ext4", "--target", "@ROOT@/fs/ext4"],
            ["pool-build", "fsv", "--no-overwrite"],
            ["pool-build", "fsv", "--no-overwrite"],
            ["pool-build", "fsv", "--overwrite", "--no-overwrite"],
            ["pool-start", "fsv"],
            ["pool-info", "fsv"],
            ["pool-dumpxml", "fsv"],
            ["vol-create-as", "fsv", "raw1", "10M"],
            ["vol-create-as", "fsv", "qcow1", "20M", "--format", "qcow2"],
            ["vol-list", "fsv", "--details"],
            ["vol-info", "raw1", "--pool", "fsv"],
            ["pool-refresh", "fsv"],
            ["pool-info", "--bytes", "fsv"],
            ["vol-delete", "raw1", "--pool", "fsv"],
            ["pool-delete", "fsv"],
            ["pool-destroy", "fsv"],
            ["pool-info", "fsv"],
            ["pool-delete", "fsv"],
            ["pool-undefine", "fsv"],
        ];

        var devices = new List<string>();
        try
        {
            var oracleDevice = await AttachAsync(Path.Combine(f.OracleRoot, "..", "o-fs.img"), devices);
            var daemonDevice = await AttachAsync(Path.Combine(f.DaemonRoot, "..", "v-fs.img"), devices);
            var differences = new List<string>();
            var oracleIds = new Dictionary<string, string>(StringComparer.Ordinal);
            var daemonIds = new Dictionary<string, string>(StringComparer.Ordinal);
            var oracleExits = new List<int>();
            foreach (var step in steps)
            {
                var o = await Tool.RunAsync(Tool.Virsh, ["-c", f.OracleUri, .. step.Select(a => Expand(a, f.OracleRoot, oracleDevice))]);
                var v = await Tool.RunAsync(Tool.Virsh, ["-c", f.Daemon.Uri, .. step.Select(a => Expand(a, f.DaemonRoot, daemonDevice))]);
                oracleExits.Add(o.Exit);
                var oText = $"exit {o.Exit}\n{Normalise(o.Out, f.OracleRoot, oracleDevice, oracleIds)}\n--\n{Normalise(o.Err, f.OracleRoot, oracleDevice, oracleIds)}";
                var vText = $"exit {v.Exit}\n{Normalise(v.Out, f.DaemonRoot, daemonDevice, daemonIds)}\n--\n{Normalise(v.Err, f.DaemonRoot, daemonDevice, daemonIds)}";
                if (oText != vText)
                {
                    differences.Add($"virsh {string.Join(' ', step)}\n--- libvirtd\n{oText}\n+++ virtpoold\n{vText}");
                }
            }

            // Guards the scenario itself: libvirtd did what each step is there for.
            Assert.Equal([0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0], oracleExits);
            Assert.True(differences.Count == 0, string.Join("\n\n", differences));
        }
        finally
        {
            // Whatever a failed step left: both pools gone (libvirtd unmounts in its own namespace),
            // anything still mounted here from the devices unmounted, the devices detached.
            foreach (var uri in new[] { f.OracleUri, f.Daemon.Uri })
            {
                await Tool.RunAsync(Tool.Virsh, ["-c", uri, "pool-destroy", "fsv"]);
                await Tool.RunAsync(Tool.Virsh, ["-c", uri, "pool-undefine", "fsv"]);
            }

            foreach (var line in await File.ReadAllLinesAsync("/proc/self/mounts"))
            {
                var fields = line.Split(' ');
                if (fields.Length > 1 && devices.Contains(fields[0]))
                {
                    await Tool.RunAsync("umount", ["-l", fields[1]]);
                }
            }

            foreach (var device in devices)
            {
                await Tool.RunAsync("losetup", ["-d", device]);
            }
        }
    }

    private static async Task<string> AttachAsync(string image, List<string> attached)
    {
        await using (var file = new FileStream(image, FileMode.Create, FileAccess.Write))
        {
            file.SetLength(512L << 20);
        }

        var result = await Tool.RunAsync("losetup", ["-f", "--show", image]);
        Assert.True(result.Exit == 0, $"losetup -f --show {image}: {result.Err}");
        var device = result.Out.Trim();
        attached.Add(device);
        return device;
    }

    private static string Expand(string arg, string root, string device)
        => arg.Replace("@ROOT@", root, StringComparison.Ordinal).Replace("@DEV@", device, StringComparison.Ordinal);

    private static string Normalise(string text, string root, string device, Dictionary<string, string> ids)
    {
        text = text.Replace(device, "@DEV@", StringComparison.Ordinal).Replace(root, "@ROOT@", StringComparison.Ordinal);
        text = TimestampRegex().Replace(text, m => $"<{m.Groups[1].Value}>@TIME@</{m.Groups[1].Value}>");
        return UuidRegex().Replace(text, m =>
        {
            if (!ids.TryGetValue(m.Value, out var token))
            {
                ids[m.Value] = token = $"@UUID{ids.Count + 1}@";
            }

            return token;
        });
    }

    [GeneratedRegex("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")]
    private static partial Regex UuidRegex();

    [GeneratedRegex("<(atime|mtime|ctime|btime)>[^<]*</(?:atime|mtime|ctime|btime)>")]
    private static partial Regex TimestampRegex();
}
