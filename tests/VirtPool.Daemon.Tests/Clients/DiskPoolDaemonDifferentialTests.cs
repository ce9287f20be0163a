using System.Text.RegularExpressions;

namespace VirtPool.Daemon.Tests.Clients;

/// <summary>
/// A dos disk pool through real virsh against libvirtd 9.0 and against virtpoold, each on its own
/// 256 MiB loop device (losetup -P; names of the same length, printed as @DISK@): build, start,
/// primary/extended/logical partitions and their errors, listings, info, XML with free extents,
/// refresh, destroy, pool-delete. Byte for byte but for the steps listed in
/// tests/VirtPool.Cli.Tests/Data/known-differences/README.md, which this scenario leaves out.
/// </summary>
public sealed partial class DiskPoolDaemonDifferentialTests(OracleAndDaemonFixture f) : IClassFixture<OracleAndDaemonFixture>
{
    [Fact]
    public async Task Dos_disk_pool_through_virsh_matches_libvirtd()
    {
        using var files = new TempDir();
        var attached = new List<string>();
        try
        {
            async Task<string> Attach()
            {
                var image = Path.Combine(files.Path, $"{attached.Count}.img");
                await using (var stream = new FileStream(image, FileMode.CreateNew))
                {
                    stream.SetLength(256L << 20);
                }

                var result = await Tool.RunAsync("losetup", ["-P", "-f", "--show", image]);
                Assert.True(result.Exit == 0, "losetup: " + result.Err);
                attached.Add(result.Out.Trim());
                return attached[^1];
            }

            var oracleDevice = await Attach();
            var daemonDevice = await Attach();
            while (daemonDevice.Length != oracleDevice.Length)
            {
                daemonDevice = await Attach();
            }

            string[][] steps =
            [
                ["pool-define-as", "ddisk", "disk", "--source-dev", "/dev/@DEV@", "--source-format", "dos", "--target", "/dev"],
                ["pool-start", "ddisk"],
                ["pool-build", "ddisk", "--no-overwrite"],
                ["pool-build", "ddisk"],
                ["pool-start", "ddisk"],
                ["pool-dumpxml", "ddisk"],
                ["vol-create-as", "ddisk", "@DEV@p1", "10M"],
                ["vol-create-as", "ddisk", "@DEV@p2", "20M"],
                ["vol-create-as", "ddisk", "@DEV@p3", "1G"],
                ["vol-create-as", "ddisk", "@DEV@p3", "30M"],
                ["vol-create-as", "ddisk", "@DEV@p4", "100M", "--format", "extended"],
                ["vol-create-as", "ddisk", "@DEV@p5", "10M", "--format", "extended"],
                ["vol-create-as", "ddisk", "@DEV@p5", "10M"],
                ["vol-create-as", "ddisk", "@DEV@p6", "20M", "--format", "linux-swap"],
                ["vol-list", "ddisk", "--details"],
                ["vol-info", "@DEV@p5", "--pool", "ddisk"],
                ["vol-dumpxml", "@DEV@p6", "--pool", "ddisk"],
                ["pool-info", "ddisk"],
                ["pool-dumpxml", "ddisk"],
                ["pool-refresh", "ddisk"],
                ["vol-list", "ddisk", "--details"],
                ["pool-dumpxml", "ddisk"],
                ["pool-destroy", "ddisk"],
                ["pool-delete", "ddisk"],
                ["pool-start", "ddisk"],
                ["pool-undefine", "ddisk"],
            ];
            // libvirtd's exit status per step: both sides failing alike must not pass as agreement.
            int[] oracleExits = [0, 1, 0, 1, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0];
            Assert.Equal(steps.Length, oracleExits.Length);
            var differences = new List<string>();
            for (var i = 0; i < steps.Length; i++)
            {
                var step = steps[i];
                var o = await Tool.RunAsync(Tool.Virsh, ["-c", f.OracleUri, .. Expand(step, oracleDevice)]);
                Assert.True(o.Exit == oracleExits[i], $"libvirtd: {string.Join(' ', step)} exited {o.Exit}: {o.Err}");
                var v = await Tool.RunAsync(Tool.Virsh, ["-c", f.Daemon.Uri, .. Expand(step, daemonDevice)]);
                var expected = Normalise($"exit {o.Exit}\n{o.Out}--\n{o.Err}", oracleDevice);
                var got = Normalise($"exit {v.Exit}\n{v.Out}--\n{v.Err}", daemonDevice);
                if (got != expected)
                {
                    differences.Add($"{string.Join(' ', step)}\n--- virsh -> libvirtd\n{expected}\n+++ virsh -> virtpoold\n{got}");
                }
            }

            Assert.True(differences.Count == 0, string.Join("\n\n", differences));
        }
        finally
        {
            await Tool.RunAsync(Tool.Virsh, ["-c", f.OracleUri, "pool-destroy", "ddisk"]);
            await Tool.RunAsync(Tool.Virsh, ["-c", f.OracleUri, "pool-undefine", "ddisk"]);
            await Tool.RunAsync(Tool.Virsh, ["-c", f.Daemon.Uri, "pool-destroy", "ddisk"]);
            await Tool.RunAsync(Tool.Virsh, ["-c", f.Daemon.Uri, "pool-undefine", "ddisk"]);
            foreach (var device in attached)
            {
                await Tool.RunAsync("losetup", ["-d", device]);
            }
        }
    }

    private static string[] Expand(string[] step, string device)
        => [.. step.Select(a => a.Replace("@DEV@", Path.GetFileName(device), StringComparison.Ordinal))];

    private static string Normalise(string text, string device)
    {
        text = text.Replace(Path.GetFileName(device), "@DISK@", StringComparison.Ordinal);
        text = Timestamps().Replace(text, "<$1>@TIME@</$1>");
        return Uuids().Replace(text, "@UUID@");
    }

    [GeneratedRegex("<(atime|mtime|ctime|btime)>[^<]*</(?:atime|mtime|ctime|btime)>")]
    private static partial Regex Timestamps();

    [GeneratedRegex("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")]
    private static partial Regex Uuids();
}
