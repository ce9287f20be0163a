using VirtPool.Cli.Tests.Support;

namespace VirtPool.Cli.Tests.Differential;

/// <summary>
/// Logical pools, the steps of libvirtd 9.0's recording (tests/testdata/libvirt-local/logical), through
/// libvirtd and through virtpool side by side: each side has its own two equal-sized loop PVs (@PVA@,
/// @PVB@) and its own volume group (@VG@), names of equal length so virsh's padding agrees. This kernel
/// has no device-mapper: start works while the group has no LV, lvcreate and a start with an LV fail,
/// and both sides must fail alike. find-storage-pool-sources lists every group on the machine (other
/// tests' too, which come and go between the two runs), so it is covered by the finder's tests instead.
/// </summary>
[Collection(LibvirtCollection.Name)]
public sealed class LogicalPoolDifferentialTests(LibvirtOracle oracle)
{
    private const long DeviceBytes = 64L << 20;

    private const string PoolXml = """
        <pool type='logical'>
          <name>lvpool</name>
          <source>
            <device path='/dev/@PVA@'/>
            <device path='/dev/@PVB@'/>
            <name>@VG@</name>
            <format type='lvm2'/>
          </source>
          <target>
            <path>/dev/@VG@</path>
          </target>
        </pool>
        """;

    private const string ByNameXml = """
        <pool type='logical'>
          <name>lvbyname</name>
          <source>
            <name>@VG@</name>
            <format type='lvm2'/>
          </source>
          <target>
            <path>/dev/@VG@</path>
          </target>
        </pool>
        """;

    [Fact]
    public async Task Logical_pool_is_libvirts()
    {
        await using var s = await oracle.NewSandboxAsync();
        await using var sides = await SideGroups.AttachAsync(s);

        (await s.StepAsync("pool-define-as", "lvas", "logical", "--source-dev", "/dev/@PVA@", "--source-name", "@VG@", "--target", "/dev/@VG@")).ExpectOracle(0);
        await s.StepAsync("pool-dumpxml", "--inactive", "lvas");
        await s.StepAsync("pool-undefine", "lvas");
        (await s.StepAsync("pool-define", s.WriteFile("lvpool.xml", PoolXml))).ExpectOracle(0);
        (await s.StepAsync("pool-define-as", "lvas", "logical", "--source-dev", "/dev/@PVA@", "--source-name", "@VG@", "--target", "/dev/@VG@")).ExpectOracle(1);
        (await s.StepAsync("pool-start", "lvpool")).ExpectOracle(1);
        (await s.StepAsync("pool-build", "lvpool")).ExpectOracle(0);
        (await s.StepAsync("pool-build", "lvpool")).ExpectOracle(1);
        (await s.StepAsync("pool-build", "lvpool", "--no-overwrite")).ExpectOracle(1);
        (await s.StepAsync("pool-build", "lvpool", "--overwrite", "--no-overwrite")).ExpectOracle(1);
        (await s.StepAsync("pool-start", "lvpool")).ExpectOracle(0);
        await s.StepAsync("pool-info", "lvpool");
        await s.StepAsync("pool-dumpxml", "lvpool");
        await s.StepAsync("vol-list", "lvpool", "--details");
        (await s.StepAsync("vol-create-as", "lvpool", "lv1", "10M")).ExpectOracle(1);
        (await s.StepAsync("vol-create-as", "lvpool", "lv2", "10M", "--allocation", "0")).ExpectOracle(1);
        await s.StepAsync("vol-list", "lvpool", "--details");
        (await s.StepAsync("pool-build", "lvpool", "--overwrite")).ExpectOracle(1);
        (await s.StepAsync("pool-delete", "lvpool")).ExpectOracle(1);

        await sides.AddMetadataOnlyLvAsync("meta", "8M");
        (await s.StepAsync("pool-refresh", "lvpool")).ExpectOracle(0);
        await s.StepAsync("vol-list", "lvpool", "--details");
        await s.StepAsync("pool-info", "lvpool");
        (await s.StepAsync("vol-info", "meta", "--pool", "lvpool")).ExpectOracle(1);
        (await s.StepAsync("pool-destroy", "lvpool")).ExpectOracle(0);
        (await s.StepAsync("pool-start", "lvpool")).ExpectOracle(1);
        await s.StepAsync("pool-info", "lvpool");
        (await s.StepAsync("vol-create-as", "lvpool", "lv1", "10M")).ExpectOracle(1);
        (await s.StepAsync("pool-delete", "lvpool")).ExpectOracle(0);
        (await s.StepAsync("pool-start", "lvpool")).ExpectOracle(1);
        (await s.StepAsync("pool-build", "lvpool", "--overwrite")).ExpectOracle(0);
        (await s.StepAsync("pool-delete", "lvpool")).ExpectOracle(0);

        // A pool that names only the group: built through the first pool, which then goes.
        (await s.StepAsync("pool-build", "lvpool")).ExpectOracle(0);
        await s.StepAsync("pool-undefine", "lvpool");
        (await s.StepAsync("pool-define", s.WriteFile("lvbyname.xml", ByNameXml))).ExpectOracle(0);
        (await s.StepAsync("pool-start", "lvbyname")).ExpectOracle(0);
        await s.StepAsync("pool-dumpxml", "lvbyname");
        (await s.StepAsync("pool-destroy", "lvbyname")).ExpectOracle(0);
        (await s.StepAsync("pool-delete", "lvbyname")).ExpectOracle(0);
        (await s.StepAsync("pool-start", "lvbyname")).ExpectOracle(1);
        await s.StepAsync("pool-undefine", "lvbyname");
        s.AssertNoDifferences();
    }

    /// <summary>
    /// Two loop devices and a group name per side, all device names of one length; on dispose each
    /// side's group and PV labels go (LVM told to see only these devices), then the devices and LVM's
    /// metadata copies of the groups.
    /// </summary>
    private sealed class SideGroups : IAsyncDisposable
    {
        private readonly TempDir _files = new("vpc11lv");
        private readonly List<string> _attached = [];
        private readonly string _suffix = Guid.NewGuid().ToString("N")[..6];

        private string[] _oracle = [];
        private string[] _cli = [];

        private string OracleGroup => "c11lvo" + _suffix;

        private string CliGroup => "c11lvv" + _suffix;

        public static async Task<SideGroups> AttachAsync(DiffSandbox sandbox)
        {
            var sides = new SideGroups();
            try
            {
                var devices = new List<string>();
                while (devices.Count < 4)
                {
                    var device = await sides.AttachOneAsync();
                    if (devices.Count == 0 || devices[0].Length == device.Length)
                    {
                        // loop9 and loop10: only names of one length (the others stay attached until dispose).
                        devices.Add(device);
                    }
                }

                sides._oracle = [devices[0], devices[1]];
                sides._cli = [devices[2], devices[3]];
                sandbox.NormaliseDevice(Path.GetFileName(devices[0]), Path.GetFileName(devices[2]), "@PVA@");
                sandbox.NormaliseDevice(Path.GetFileName(devices[1]), Path.GetFileName(devices[3]), "@PVB@");
                sandbox.Alias("@VG@", sides.OracleGroup, sides.CliGroup);
                return sides;
            }
            catch
            {
                await sides.DisposeAsync();
                throw;
            }
        }

        /// <summary>An LV with metadata only (what LVM can make without device-mapper) in each side's group.</summary>
        public async Task AddMetadataOnlyLvAsync(string name, string size)
        {
            foreach (var (group, devices) in new[] { (OracleGroup, _oracle), (CliGroup, _cli) })
            {
                var result = await ChildProcess.RunAsync("/sbin/lvcreate", [Config(devices), "-an", "-Zn", "-q", "-L", size, "-n", name, group], timeout: TimeSpan.FromSeconds(120));
                Assert.True(result.ExitCode == 0, $"lvcreate {group}/{name}: {result.Stderr}");
            }
        }

        public async ValueTask DisposeAsync()
        {
            foreach (var (group, devices) in new[] { (OracleGroup, _oracle), (CliGroup, _cli) })
            {
                if (devices.Length == 0)
                {
                    continue;
                }

                await ChildProcess.RunAsync("/sbin/vgremove", [Config(devices), "-f", "-q", group], timeout: TimeSpan.FromSeconds(120));
                foreach (var device in devices)
                {
                    await ChildProcess.RunAsync("/sbin/pvremove", [Config(devices), "-ff", "-y", "-q", device], timeout: TimeSpan.FromSeconds(120));
                }

                foreach (var copy in Directory.Exists("/etc/lvm/archive") ? Directory.GetFiles("/etc/lvm/archive", group + "_*.vg") : [])
                {
                    File.Delete(copy);
                }

                File.Delete("/etc/lvm/backup/" + group);
            }

            foreach (var device in _attached)
            {
                await ChildProcess.RunAsync("losetup", ["-d", device], timeout: TimeSpan.FromSeconds(60));
            }

            _files.Dispose();
        }

        private static string Config(string[] devices)
            => "--config=global{activation=0} devices{use_devicesfile=0 filter=[" + string.Concat(devices.Select(d => $"\"a|^{d}$|\",")) + "\"r|.*|\"]}";

        private async Task<string> AttachOneAsync()
        {
            var image = _files.Sub($"{_attached.Count}.img");
            await using (var file = new FileStream(image, FileMode.CreateNew))
            {
                file.SetLength(DeviceBytes);
            }

            var result = await ChildProcess.RunAsync("losetup", ["-f", "--show", image], timeout: TimeSpan.FromSeconds(60));
            Assert.True(result.ExitCode == 0, $"losetup -f --show {image}: {result.Stderr}");
            var device = result.Stdout.Trim();
            _attached.Add(device);
            return device;
        }
    }
}
