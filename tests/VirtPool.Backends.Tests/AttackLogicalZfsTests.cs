using VirtPool.Backends.Logical;
using VirtPool.Backends.Zfs;
using VirtPool.Core.Backends;
using VirtPool.Core.Errors;
using VirtPool.Core.Model;
using VirtPool.Core.Process;
using VirtPool.Core.Xml;
using VirtPool.TestSupport;

namespace VirtPool.Backends.Tests;

/// <summary>
/// Defects found by the adversarial review of the logical and zfs pool backends (branch c11-attack3),
/// each on real loop devices and LVM where this machine has them (LVM under a private
/// <c>LVM_SYSTEM_DIR</c> whose filter shows only this test's devices, activation off), with the tools'
/// answers played back where it has not (LVM snapshots, which need device-mapper). Each test fails
/// until its defect is fixed.
/// </summary>
public sealed class AttackLogicalZfsTests : IDisposable
{
    private const long DeviceBytes = 64L << 20;
    private readonly LoopDevices _loops = new();
    private readonly string _group = "c11atk3" + Guid.NewGuid().ToString("N")[..8];
    private readonly List<string> _devices = [];
    private readonly string _lvmDir;

    public AttackLogicalZfsTests()
    {
        _lvmDir = Path.Combine(_loops.Folder, "lvm");
    }

    public void Dispose()
    {
        // Whatever a test left: its group and PV labels (through the private configuration, which sees
        // exactly this test's devices), LVM's copies of the group's metadata, then mounts and loops.
        try
        {
            if (_devices.Count > 0)
            {
                WriteLvmConf();
                var env = new EnvRunner(_lvmDir);
                _ = env.RunAsync(["/sbin/vgremove", "-f", "-q", _group]).GetAwaiter().GetResult();
                foreach (var device in _devices)
                {
                    _ = env.RunAsync(["/sbin/pvremove", "-ff", "-y", "-q", device]).GetAwaiter().GetResult();
                }
            }

            foreach (var copy in Directory.Exists("/etc/lvm/archive") ? Directory.GetFiles("/etc/lvm/archive", _group + "_*.vg") : [])
            {
                File.Delete(copy);
            }

            File.Delete("/etc/lvm/backup/" + _group);
        }
        finally
        {
            _loops.Dispose();
        }
    }

    /// <summary>
    /// A plain build of a pool with two devices, the second holding a filesystem: the first device is
    /// probed, found without a signature, zeroed and pvcreated before the second is probed; the second
    /// refuses ("forced overwrite is necessary"), the build fails, and the first device has lost its
    /// first and last MiB although the operator was told nothing could be built without --overwrite.
    /// libvirtd 9.0 probes and writes device by device too; probing every device before writing any is
    /// the same set of answers with no data lost.
    /// </summary>
    [Fact]
    public async Task Build_refused_for_one_device_writes_no_other()
    {
        var first = await NewDeviceAsync(fill: 0xA5);
        var second = await NewDeviceAsync();
        var mkfs = await ProcessRunner.Instance.RunAsync(["mkfs.ext4", "-q", second]);
        Assert.True(mkfs.Succeeded, mkfs.StandardError);
        var pool = Context(first, second);
        var backend = LogicalBackend.Type(new EnvRunner(PrivateLvmDir())).Load(pool);

        var refused = await Assert.ThrowsAsync<VirtPoolException>(() => ((IPoolBuilder)backend).BuildPoolAsync(pool, PoolBuildFlags.None, default));
        Assert.Equal($"Storage pool already built: Format of device '{second}' does not match the expected format 'LVM2_member', forced overwrite is necessary", refused.Message);

        var lost = ReadHead(first).Count(b => b != 0xA5);
        Assert.True(lost == 0, $"{lost} bytes of {first}'s first MiB were overwritten by a build that was refused");
    }

    /// <summary>
    /// The pool's source name goes unchecked into vgremove, vgchange, lvs and vgs as the group argument;
    /// LVM's getopt reads one starting with '-' as an option. A pool whose source name is
    /// <c>--select=vg_name=~PATTERN</c> (libvirtd 9.0 accepts the definition, and has the same argv) is
    /// deleted with <c>vgremove -f --select=...</c>: every volume group matching, with all its LVs, is
    /// removed, none of them the pool's. LVM never accepts such a group name (letters, digits, "+_.-",
    /// not starting with '-'), so refusing it costs nothing.
    /// </summary>
    [Fact]
    public async Task Delete_of_a_pool_whose_source_name_is_an_lvm_option_removes_no_other_group()
    {
        var device = await NewDeviceAsync();
        var env = new EnvRunner(PrivateLvmDir());
        Assert.True((await env.RunAsync(["/sbin/vgcreate", "-q", _group, device])).Succeeded);
        var pool = new PoolContext(new PoolDefinition
        {
            Type = PoolType.Logical,
            Name = "c11atk3-select",
            Source = new PoolSource { Name = $"--select=vg_name=~^{_group}$", Format = (int)PoolLogicalFormat.Lvm2 },
            Target = new PoolTarget { Path = $"/dev/--select=vg_name=~^{_group}$" },
        });
        var backend = LogicalBackend.Type(env).Load(pool);

        try
        {
            await ((IPoolDeleter)backend).DeletePoolAsync(pool, PoolDeleteFlags.None, default);
        }
        catch (VirtPoolException)
        {
            // Refusing the name is the fix.
        }

        var vgs = await env.RunAsync(["/sbin/vgs", "--noheadings", "-o", "vg_name", _group]);
        Assert.True(vgs.Succeeded, $"the group {_group} of no pool was removed by the pool's delete: {vgs.StandardError}");
    }

    /// <summary>
    /// vol-resize (an addition: libvirt 9.0 cannot resize logical volumes) of a sparse volume, which is
    /// an LVM snapshot over a hidden virtual origin (libvirt's allocation &lt; capacity create): lvresize
    /// -L changes the snapshot's COW size, never the virtual size the guest sees, so the "resized"
    /// volume keeps its capacity while the pool's free space shrinks, and the call reports success.
    /// Wipe already refuses sparse LVs; resize must too (or resize the virtual size).
    /// </summary>
    [Fact]
    public async Task Resize_of_a_sparse_lv_does_not_resize_its_snapshot_store()
    {
        var runner = new RecordingProcessRunner();
        var pool = Context();
        var backend = LogicalBackend.Type(runner).Load(pool);
        var volume = new VolumeDefinition
        {
            Name = "sparse",
            Type = VolumeType.Block,
            Capacity = 20L << 20,
            Allocation = 4L << 20,
            Target = new VolumeTarget { Path = $"/dev/{_group}/sparse" },
            BackendData = "c11atk3-uuid 4194304 1",
        };

        try
        {
            await ((IVolumeResizer)backend).ResizeVolumeAsync(pool, volume, 40L << 20, allocate: false, default);
        }
        catch (VirtPoolException)
        {
            // Refusing is a fix; what must not happen is the lvresize below.
        }

        Assert.DoesNotContain(runner.Calls, argv => argv[0].EndsWith("lvresize", StringComparison.Ordinal));
    }

    /// <summary>
    /// An encrypted LV is made 2 MiB larger than its capacity (lvcreate -L CAP+2MiB, for the LUKS
    /// header) and its capacity reads as the LUKS payload (LV size less the payload offset). A vol-resize
    /// that GROWS it (capacity 10 MiB, LV 12 MiB, new capacity 11 MiB) runs <c>lvresize -L 11264K</c>:
    /// the header is forgotten, so the request is smaller than the LV and LVM reduces it (in a VG with
    /// 1 MiB extents to 11 MiB), cutting the end of the encrypted data; only LVM's own "Do you really
    /// want to reduce" prompt on an active LV stands in the way, and an inactive LV is reduced without
    /// one. The resize must ask for the new capacity plus the header (or refuse encrypted volumes).
    /// </summary>
    [Fact]
    public async Task Growing_an_encrypted_lv_never_asks_lvm_for_less_than_it_has()
    {
        var runner = new RecordingProcessRunner();
        var pool = Context();
        var backend = LogicalBackend.Type(runner).Load(pool);
        const long lvBytes = 12L << 20;
        var volume = new VolumeDefinition
        {
            Name = "secret",
            Type = VolumeType.Block,
            Capacity = 10L << 20,
            Allocation = 10L << 20,
            Target = new VolumeTarget
            {
                Path = $"/dev/{_group}/secret",
                Encryption = new EncryptionDefinition { Format = EncryptionFormat.Luks },
            },
            BackendData = $"c11atk3-uuid {lvBytes} 0",
        };

        try
        {
            await ((IVolumeResizer)backend).ResizeVolumeAsync(pool, volume, 11L << 20, allocate: false, default);
        }
        catch (VirtPoolException)
        {
            // Refusing encrypted LVs is a fix too.
        }

        var resize = runner.Calls.Where(a => a[0].EndsWith("lvresize", StringComparison.Ordinal)).ToList();
        Assert.All(resize, argv =>
        {
            var size = argv[argv.ToList().IndexOf("-L") + 1];
            Assert.True(ulong.Parse(size.TrimEnd('K'), System.Globalization.CultureInfo.InvariantCulture) * 1024 >= lvBytes, $"'{string.Join(' ', argv)}' shrinks a {lvBytes}-byte LV on a grow request");
        });
    }

    /// <summary>
    /// vol-resize to a capacity within 1023 bytes of 2^64 (virsh vol-resize V 18446744073709551615B):
    /// LvmCommands.Kib adds 1023 before dividing and wraps, so the argv asks for <c>-L 0K</c> and the
    /// user reads LVM's "--size may not be zero" for a request that was too large. A size libvirt
    /// could not express in KiB gets a clear error before any command runs.
    /// </summary>
    [Fact]
    public async Task Resize_to_a_capacity_near_2_pow_64_is_refused_before_lvresize_runs()
    {
        var runner = new RecordingProcessRunner();
        var pool = Context();
        var backend = LogicalBackend.Type(runner).Load(pool);
        var volume = new VolumeDefinition
        {
            Name = "lv",
            Type = VolumeType.Block,
            Capacity = 8L << 20,
            Allocation = 8L << 20,
            Target = new VolumeTarget { Path = $"/dev/{_group}/lv" },
            BackendData = "c11atk3-uuid 8388608 0",
        };

        try
        {
            await ((IVolumeResizer)backend).ResizeVolumeAsync(pool, volume, ulong.MaxValue, allocate: false, default);
        }
        catch (VirtPoolException)
        {
            // A clear error is the fix.
        }

        Assert.DoesNotContain(runner.Calls, argv => argv.Contains("0K"));
    }

    /// <summary>
    /// The zfs twin of the LVM option injection: pool-build runs <c>zpool create SOURCE DEVICE…</c>, and
    /// zpool's getopt permutes, so a device path that reads as an option (a pool XML with
    /// <c>&lt;device path='-f'/&gt;</c>) turns the create into <c>zpool create -f</c>, which takes devices
    /// holding another zpool or a filesystem. No block device is named "-f"; such a path must be refused
    /// before zpool runs.
    /// </summary>
    [Fact]
    public async Task Zfs_build_never_passes_a_device_that_reads_as_an_option()
    {
        var runner = new RecordingProcessRunner();
        var pool = new PoolContext(PoolXml.Parse("<pool type='zfs'><name>vpatk3p</name><source><name>vpatk3p</name><device path='-f'/><device path='/dev/c11atk3-disk'/></source></pool>"));
        var backend = ZfsBackend.Type(runner).Load(pool);

        try
        {
            await ((IPoolBuilder)backend).BuildPoolAsync(pool, PoolBuildFlags.None, default);
        }
        catch (VirtPoolException)
        {
            // Refusing is the fix.
        }

        Assert.DoesNotContain(runner.Calls, argv => argv.Skip(1).Any(a => a.StartsWith('-')) && argv[0] == "zpool" && argv[1] == "create");
    }

    /// <summary>
    /// A zfs pool on "test" holding its own zvol test/v, and a zvol test/a/v in a child dataset (another
    /// pool's, or the operator's). zfs list -r prints depth first, so test/a/v comes before test/v;
    /// RefreshPoolAsync keeps the first of each name, so the pool's volume "v" is test/a/v: vol-delete
    /// v destroys test/a/v and leaves the pool's own test/v, and vol-upload/vol-wipe of v write into
    /// /dev/zvol/test/a/v. libvirtd 9.0 merges the two lines into one volume "v" whose path is
    /// /dev/zvol/test/v and deletes with <c>zfs destroy test/v</c> (SOURCE/NAME): the pool's own zvol.
    /// The declared difference ("zvols in a child filesystem") covers a nested zvol alone, not one that
    /// shadows the pool's own. (Played back: zfs-fuse makes no zvols.)
    /// </summary>
    [Fact]
    public async Task Zfs_volume_named_like_a_nested_zvol_is_the_pools_own_zvol()
    {
        var runner = new RecordingProcessRunner(argv => string.Join(' ', argv) switch
        {
            var a when a.StartsWith("zpool get -Hp", StringComparison.Ordinal) => new(0, ZfsOutputTests.Golden("openzfs/zpool-get.out"), string.Empty),
            var a when a.StartsWith("zfs list -Hp -t volume", StringComparison.Ordinal) => new(0, "test/a/v\t1048576\t0\ntest/v\t5368709120\t5502926848\n", string.Empty),
            _ => new(0, string.Empty, string.Empty),
        });
        var pool = new PoolContext(PoolXml.Parse("<pool type='zfs'><name>p</name><source><name>test</name></source></pool>"));
        var backend = ZfsBackend.Type(runner).Load(pool);

        var scan = await backend.RefreshPoolAsync(pool, default);
        var volume = Assert.Single(scan.Volumes, v => v.Name == "v");
        await ((IVolumeDeleter)backend).DeleteVolumeAsync(pool, volume, VolumeDeleteFlags.None, default);

        var destroys = runner.Calls.Where(a => a.Count > 1 && a[0] == "zfs" && a[1] == "destroy").Select(a => string.Join(' ', a)).ToList();
        Assert.Equal(["zfs destroy test/v"], destroys);
        Assert.Equal("/dev/zvol/test/v", volume.Target.Path);
    }

    private async Task<string> NewDeviceAsync(byte fill = 0)
    {
        var device = await _loops.AttachAsync(DeviceBytes, fill);
        _devices.Add(device);
        return device;
    }

    private static byte[] ReadHead(string device)
    {
        using var stream = new FileStream(device, FileMode.Open, FileAccess.Read);
        var buffer = new byte[1 << 20];
        stream.ReadExactly(buffer);
        return buffer;
    }

    private string PrivateLvmDir()
    {
        WriteLvmConf();
        return _lvmDir;
    }

    private void WriteLvmConf()
    {
        Directory.CreateDirectory(_lvmDir);
        var accept = string.Concat(_devices.Select(d => $"\"a|^{d}$|\", "));
        File.WriteAllText(
            Path.Combine(_lvmDir, "lvm.conf"),
            $"global {{ activation = 0 }}\ndevices {{ use_devicesfile = 0 hints = \"none\" filter = [ {accept}\"r|.*|\" ] }}\n");
    }

    private PoolContext Context(params string[] devices) => new(new PoolDefinition
    {
        Type = PoolType.Logical,
        Name = "c11atk3pool",
        Source = new PoolSource { Name = _group, Devices = [.. devices.Select(d => new PoolSourceDevice(d))], Format = (int)PoolLogicalFormat.Lvm2 },
        Target = new PoolTarget { Path = "/dev/" + _group },
    });

    /// <summary>Every command under <c>env LVM_SYSTEM_DIR=DIR</c>: LVM sees this test's devices only (this process's environment is shared).</summary>
    private sealed class EnvRunner(string lvmDir) : IProcessRunner
    {
        public Task<ProcessResult> RunAsync(IReadOnlyList<string> argv, CancellationToken cancellationToken = default)
            => RunAsync(new ProcessRequest(argv), cancellationToken);

        public Task<ProcessResult> RunAsync(ProcessRequest request, CancellationToken cancellationToken = default)
            => ProcessRunner.Instance.RunAsync(request with { Argv = ["/usr/bin/env", "LVM_SYSTEM_DIR=" + lvmDir, "LVM_SUPPRESS_FD_WARNINGS=1", .. request.Argv] }, cancellationToken);
    }
}
