using System.Globalization;
using System.Text;
using VirtPool.Core.Process;

namespace VirtPool.TestSupport;

/// <summary>
/// Real LVM volume groups on loop devices over sparse files, for tests of logical-pool code. Each
/// group gets a name no one else on the machine uses (other tests and other loop devices come and
/// go on this host); physical volumes in no group can be made too. Everything made is torn down on
/// dispose — vgremove, pvremove, losetup -d, the files — each step tried even when an earlier one
/// failed, and also when creation failed half-way.
/// </summary>
/// <remarks>
/// The kernel here has no device-mapper: only metadata works, so every lvm command of the fixture
/// runs with activation off (and without the devices file, which would hide new loop devices).
/// Listing (vgscan, pvs) needs none of this. Metadata backups stay on: vgcreate writes
/// /etc/lvm/backup/NAME and vgremove removes it, whereas a VG without a current backup gets one, and
/// an archive copy, from the next vgscan on the machine. Archive copies of the fixture's groups
/// (any process's vgscan may make one) are removed with them.
/// <see cref="WriteLvmSystemDir"/> writes an lvm.conf whose filter shows LVM only these devices: a
/// process started with <c>LVM_SYSTEM_DIR</c> set to that folder sees exactly this fixture's PVs,
/// whatever else the machine holds.
/// </remarks>
public sealed class LoopVolumeGroups : IAsyncDisposable
{
    /// <summary>The settings every lvm command of the fixture runs with.</summary>
    public const string LvmConfig = "--config=devices{use_devicesfile=0} global{activation=0}";

    private const string Losetup = "/usr/sbin/losetup";
    private const string Lvm = "/sbin/lvm";
    private const long ImageBytes = 16L * 1024 * 1024;

    /// <summary>Where LVM keeps archived metadata (lvm.conf's backup/archive_dir default).</summary>
    private const string ArchiveDir = "/etc/lvm/archive";

    private readonly string _dir;
    private readonly List<string> _loops = [];
    private readonly List<string> _pvs = [];
    private readonly List<(string Name, IReadOnlyList<string> Devices)> _groups = [];
    private readonly List<string> _unused = [];

    private LoopVolumeGroups(string dir)
    {
        _dir = dir;
    }

    /// <summary>Each group's unique name (with the label asked for in it) and its PVs in the order given to vgcreate.</summary>
    public IReadOnlyList<(string Name, IReadOnlyList<string> Devices)> Groups => _groups;

    /// <summary>Physical volumes in no volume group.</summary>
    public IReadOnlyList<string> UnusedPhysicalVolumes => _unused;

    /// <summary>Every loop device of the fixture, in the order they were attached.</summary>
    public IReadOnlyList<string> Devices => _loops;

    /// <summary>
    /// Makes one volume group per entry of <paramref name="groups"/> (label, number of PVs) and
    /// <paramref name="unusedPvs"/> PVs in no group, under <paramref name="workDir"/>.
    /// </summary>
    public static async Task<LoopVolumeGroups> CreateAsync(string workDir, IReadOnlyList<(string Label, int PhysicalVolumes)> groups, int unusedPvs = 0)
    {
        ArgumentNullException.ThrowIfNull(groups);
        Directory.CreateDirectory(workDir);
        var fixture = new LoopVolumeGroups(workDir);
        try
        {
            var unique = Guid.NewGuid().ToString("N")[..8];
            foreach (var (label, count) in groups)
            {
                var devices = new List<string>();
                for (var i = 0; i < count; i++)
                {
                    devices.Add(await fixture.NewPhysicalVolumeAsync().ConfigureAwait(false));
                }

                var name = $"vpt{unique}_{label}";
                await MustAsync([Lvm, "vgcreate", LvmConfig, "-q", name, .. devices]).ConfigureAwait(false);
                fixture._groups.Add((name, devices));
            }

            for (var i = 0; i < unusedPvs; i++)
            {
                fixture._unused.Add(await fixture.NewPhysicalVolumeAsync().ConfigureAwait(false));
            }

            return fixture;
        }
        catch
        {
            await fixture.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Writes <c>FOLDER/lvm.conf</c> accepting only this fixture's devices (hints off, so the shared
    /// hints file is neither read nor rewritten) and returns the folder, the value for <c>LVM_SYSTEM_DIR</c>.
    /// </summary>
    public string WriteLvmSystemDir(string folder)
    {
        Directory.CreateDirectory(folder);
        var accept = string.Concat(_loops.Select(d => $"\"a|^{d}$|\", "));
        var conf = new StringBuilder()
            .Append("devices {\n")
            .Append(CultureInfo.InvariantCulture, $"  filter = [ {accept}\"r|.*|\" ]\n")
            .Append("  use_devicesfile = 0\n")
            .Append("  hints = \"none\"\n")
            .Append("}\n");
        File.WriteAllText(Path.Combine(folder, "lvm.conf"), conf.ToString());
        return folder;
    }

    public async ValueTask DisposeAsync()
    {
        var failures = new List<string>();
        async Task TryAsync(IReadOnlyList<string> argv)
        {
            var result = await ProcessRunner.Instance.RunAsync(argv).ConfigureAwait(false);
            if (!result.Succeeded)
            {
                failures.Add($"{string.Join(' ', argv)}: exit {result.ExitCode}: {result.StandardError.Trim()}");
            }
        }

        foreach (var (name, _) in _groups)
        {
            await TryAsync([Lvm, "vgremove", LvmConfig, "-f", "-q", name]).ConfigureAwait(false);
        }

        foreach (var pv in _pvs)
        {
            await TryAsync([Lvm, "pvremove", LvmConfig, "-ff", "-y", "-q", pv]).ConfigureAwait(false);
        }

        foreach (var loop in _loops)
        {
            await TryAsync([Losetup, "-d", loop]).ConfigureAwait(false);
        }

        foreach (var (name, _) in _groups)
        {
            foreach (var copy in Directory.Exists(ArchiveDir) ? Directory.GetFiles(ArchiveDir, name + "_*.vg") : [])
            {
                File.Delete(copy);
            }
        }

        for (var i = 0; i < _loops.Count + 1; i++)
        {
            File.Delete(ImagePath(i));
        }

        if (failures.Count > 0)
        {
            throw new InvalidOperationException("tearing down the test volume groups failed:\n" + string.Join('\n', failures));
        }
    }

    private string ImagePath(int index) => Path.Combine(_dir, $"pv{index}.img");

    private async Task<string> NewPhysicalVolumeAsync()
    {
        var image = ImagePath(_loops.Count);
        using (var file = new FileStream(image, FileMode.CreateNew, FileAccess.Write))
        {
            file.SetLength(ImageBytes);
        }

        var loop = (await MustAsync([Losetup, "-f", "--show", image]).ConfigureAwait(false)).Trim();
        _loops.Add(loop);
        await MustAsync([Lvm, "pvcreate", LvmConfig, "-q", loop]).ConfigureAwait(false);
        _pvs.Add(loop);
        return loop;
    }

    private static async Task<string> MustAsync(IReadOnlyList<string> argv)
    {
        var result = await ProcessRunner.Instance.RunAsync(argv).ConfigureAwait(false);
        return result.Succeeded
            ? result.StandardOutput
            : throw new InvalidOperationException($"{string.Join(' ', argv)}: exit {result.ExitCode}: {result.StandardError.Trim()}");
    }
}
