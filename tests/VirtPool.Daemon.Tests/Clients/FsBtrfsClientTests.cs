namespace VirtPool.Daemon.Tests.Clients;

/// <summary>
/// A btrfs fs pool, VirtPool's addition, through real virsh against virtpoold: the definition crosses
/// the RPC protocol as XML and comes back with its format; build, start, a <c>--reflink</c> clone
/// whose extents are the original's, destroy and delete. libvirtd 9.0 refuses the same definition.
/// </summary>
public sealed class FsBtrfsClientTests(OracleAndDaemonFixture f) : IClassFixture<OracleAndDaemonFixture>
{
    [Fact]
    public async Task Virsh_runs_a_btrfs_pool_on_virtpoold_which_libvirtd_refuses()
    {
        string? device = null;
        var target = Path.Combine(f.DaemonRoot, "fs", "btrfs-c11");
        try
        {
            var image = Path.Combine(f.DaemonRoot, "..", "v-btrfs-c11.img");
            await using (var file = new FileStream(image, FileMode.Create, FileAccess.Write))
            {
                file.SetLength(512L << 20);
            }

            var attach = await Tool.RunAsync("losetup", ["-f", "--show", image]);
            Assert.True(attach.Exit == 0, attach.Err);
            device = attach.Out.Trim();
            string[] define = ["pool-define-as", "fsbtrfs", "fs", "--source-dev", device, "--source-format", "btrfs", "--target", target];

            var refused = await Tool.RunAsync(Tool.Virsh, ["-c", f.OracleUri, .. define]);
            Assert.Equal((1, "error: Failed to define pool fsbtrfs\nerror: unsupported configuration: unknown pool format type btrfs\n"), (refused.Exit, refused.Err));

            async Task<string> VirshAsync(params string[] args)
            {
                var run = await Tool.RunAsync(Tool.Virsh, ["-c", f.Daemon.Uri, .. args]);
                Assert.True(run.Exit == 0, $"virsh {string.Join(' ', args)}: {run.Err}");
                return run.Out;
            }

            Assert.Equal("Pool fsbtrfs defined\n\n", await VirshAsync(define));
            Assert.Contains("<format type='btrfs'/>", await VirshAsync("pool-dumpxml", "--inactive", "fsbtrfs"), StringComparison.Ordinal);
            Assert.Equal("Pool fsbtrfs built\n\n", await VirshAsync("pool-build", "fsbtrfs", "--no-overwrite"));
            var again = await Tool.RunAsync(Tool.Virsh, ["-c", f.Daemon.Uri, "pool-build", "fsbtrfs", "--no-overwrite"]);
            Assert.Equal((1, $"error: Failed to build pool fsbtrfs\nerror: Storage pool already built: Device '{device}' already formatted using 'btrfs'\n"), (again.Exit, again.Err));
            Assert.Equal("Pool fsbtrfs started\n\n", await VirshAsync("pool-start", "fsbtrfs"));
            Assert.Equal("Vol base created\n\n", await VirshAsync("vol-create-as", "fsbtrfs", "base", "8M"));
            Assert.Equal("Vol clone cloned from base\n\n", await VirshAsync("vol-clone", "base", "clone", "--pool", "fsbtrfs", "--reflink"));

            // virtpoold mounts in this namespace: the clone's extents are the original's.
            var original = await Tool.RunAsync("filefrag", ["-v", Path.Combine(target, "base")]);
            var clone = await Tool.RunAsync("filefrag", ["-v", Path.Combine(target, "clone")]);
            Assert.Contains("shared", clone.Out, StringComparison.Ordinal);
            Assert.Equal(PhysicalColumn(original.Out), PhysicalColumn(clone.Out));

            Assert.Equal("Pool fsbtrfs destroyed\n\n", await VirshAsync("pool-destroy", "fsbtrfs"));
            Assert.Equal("Pool fsbtrfs deleted\n\n", await VirshAsync("pool-delete", "fsbtrfs"));
            Assert.False(Directory.Exists(target));
            Assert.Equal("Pool fsbtrfs has been undefined\n\n", await VirshAsync("pool-undefine", "fsbtrfs"));
        }
        finally
        {
            await Tool.RunAsync(Tool.Virsh, ["-c", f.Daemon.Uri, "pool-destroy", "fsbtrfs"]);
            await Tool.RunAsync(Tool.Virsh, ["-c", f.Daemon.Uri, "pool-undefine", "fsbtrfs"]);
            if (device is not null)
            {
                foreach (var line in await File.ReadAllLinesAsync("/proc/self/mounts"))
                {
                    var fields = line.Split(' ');
                    if (fields.Length > 1 && fields[0] == device)
                    {
                        await Tool.RunAsync("umount", ["-l", fields[1]]);
                    }
                }

                await Tool.RunAsync("losetup", ["-d", device]);
            }
        }
    }

    /// <summary>The physical ranges of filefrag -v's extent rows ("0: 0.. 2047: 3328.. 5375: 2048: last,shared,eof").</summary>
    private static List<string> PhysicalColumn(string filefrag)
    {
        var ranges = filefrag.Split('\n')
            .Select(l => l.Split(':', StringSplitOptions.TrimEntries))
            .Where(c => c.Length >= 4 && int.TryParse(c[0], out _))
            .Select(c => c[2])
            .ToList();
        Assert.NotEmpty(ranges);
        return ranges;
    }
}
