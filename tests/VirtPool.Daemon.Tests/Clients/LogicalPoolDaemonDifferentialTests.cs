using System.Text.RegularExpressions;

namespace VirtPool.Daemon.Tests.Clients;

/// <summary>
/// A logical pool through real virsh against libvirtd 9.0 and against virtpoold, each side on its own
/// loop-device PV and volume group (names of the same length, printed as @DEV@ and @VG@): start before
/// build, build, build again, start of the empty group, info, XML, listings, the LV create this
/// kernel's missing device-mapper fails in lvcreate (its error passed through), refresh, destroy,
/// pool-delete (vgremove, pvremove), start after delete. Byte for byte.
/// </summary>
public sealed partial class LogicalPoolDaemonDifferentialTests(OracleAndDaemonFixture f) : IClassFixture<OracleAndDaemonFixture>
{
    [Fact]
    public async Task Logical_pool_through_virsh_matches_libvirtd()
    {
        using var files = new TempDir();
        var attached = new List<string>();
        var tag = Guid.NewGuid().ToString("N")[..6];
        var groups = (Oracle: $"vpdlo{tag}", Daemon: $"vpdlv{tag}");
        try
        {
            async Task<string> Attach()
            {
                var image = Path.Combine(files.Path, $"{attached.Count}.img");
                await using (var stream = new FileStream(image, FileMode.CreateNew))
                {
                    stream.SetLength(128L << 20);
                }

                var result = await Tool.RunAsync("losetup", ["-f", "--show", image]);
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
                ["pool-define-as", "dlv", "logical", "--source-dev", "/dev/@DEV@", "--source-name", "@VG@", "--target", "/dev/@VG@"],
                ["pool-start", "dlv"],
                ["pool-build", "dlv"],
                ["pool-build", "dlv", "--no-overwrite"],
                ["pool-start", "dlv"],
                ["pool-info", "dlv"],
                ["pool-dumpxml", "dlv"],
                ["vol-list", "dlv", "--details"],
                ["vol-create-as", "dlv", "lv1", "10M"],
                ["vol-list", "dlv"],
                ["pool-refresh", "dlv"],
                ["pool-info", "dlv"],
                ["pool-build", "dlv"],
                ["pool-delete", "dlv"],
                ["pool-destroy", "dlv"],
                ["pool-delete", "dlv"],
                ["pool-start", "dlv"],
                ["pool-undefine", "dlv"],
            ];

            // libvirtd's exit status per step: both sides failing alike must not pass as agreement.
            int[] oracleExits = [0, 1, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 1, 1, 0, 0, 1, 0];
            Assert.Equal(steps.Length, oracleExits.Length);
            var differences = new List<string>();
            for (var i = 0; i < steps.Length; i++)
            {
                var step = steps[i];
                var o = await Tool.RunAsync(Tool.Virsh, ["-c", f.OracleUri, .. Expand(step, oracleDevice, groups.Oracle)]);
                Assert.True(o.Exit == oracleExits[i], $"libvirtd: {string.Join(' ', step)} exited {o.Exit}: {o.Err}");
                var v = await Tool.RunAsync(Tool.Virsh, ["-c", f.Daemon.Uri, .. Expand(step, daemonDevice, groups.Daemon)]);
                var expected = Normalise($"exit {o.Exit}\n{o.Out}--\n{o.Err}", oracleDevice, groups.Oracle);
                var got = Normalise($"exit {v.Exit}\n{v.Out}--\n{v.Err}", daemonDevice, groups.Daemon);
                if (got != expected)
                {
                    differences.Add($"{string.Join(' ', step)}\n--- virsh -> libvirtd\n{expected}\n+++ virsh -> virtpoold\n{got}");
                }
            }

            Assert.True(differences.Count == 0, string.Join("\n\n", differences));
        }
        finally
        {
            foreach (var uri in new[] { f.OracleUri, f.Daemon.Uri })
            {
                await Tool.RunAsync(Tool.Virsh, ["-c", uri, "pool-destroy", "dlv"]);
                await Tool.RunAsync(Tool.Virsh, ["-c", uri, "pool-undefine", "dlv"]);
            }

            foreach (var group in new[] { groups.Oracle, groups.Daemon })
            {
                await Tool.RunAsync("vgremove", ["-f", group]);
            }

            foreach (var device in attached)
            {
                await Tool.RunAsync("pvremove", ["-ff", "-y", device]);
                await Tool.RunAsync("losetup", ["-d", device]);
            }
        }
    }

    private static string[] Expand(string[] step, string device, string group)
        => [.. step.Select(a => a.Replace("@DEV@", Path.GetFileName(device), StringComparison.Ordinal).Replace("@VG@", group, StringComparison.Ordinal))];

    private static string Normalise(string text, string device, string group)
    {
        text = text.Replace(group, "@VG@", StringComparison.Ordinal).Replace(Path.GetFileName(device), "@DEV@", StringComparison.Ordinal);
        return Uuids().Replace(text, "@UUID@");
    }

    [GeneratedRegex("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")]
    private static partial Regex Uuids();
}
