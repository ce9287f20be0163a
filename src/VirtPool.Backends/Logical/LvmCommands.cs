using System.Globalization;

namespace VirtPool.Backends.Logical;

/// <summary>
/// libvirt 9.0's lvm2 argv for logical pools, tool paths as its (Debian) build has them. Pure: the
/// backend resolves the program (<c>ExternalTools.Locate</c>) and runs them.
/// </summary>
public static class LvmCommands
{
    public const string PvCreate = "/sbin/pvcreate";
    public const string PvRemove = "/sbin/pvremove";
    public const string VgCreate = "/sbin/vgcreate";
    public const string VgRemove = "/sbin/vgremove";
    public const string VgChange = "/sbin/vgchange";
    public const string LvCreate = "/sbin/lvcreate";
    public const string LvRemove = "/sbin/lvremove";
    public const string LvChange = "/sbin/lvchange";
    public const string LvResize = "/sbin/lvresize";
    public const string Lvs = "/sbin/lvs";
    public const string Vgs = "/sbin/vgs";

    public static IReadOnlyList<string> PvCreateArgv(string device) => [PvCreate, device];

    public static IReadOnlyList<string> PvRemoveArgv(string device) => [PvRemove, device];

    public static IReadOnlyList<string> VgCreateArgv(string group, IEnumerable<string> devices) => [VgCreate, group, .. devices];

    public static IReadOnlyList<string> VgRemoveArgv(string group) => [VgRemove, "-f", group];

    /// <summary>virStorageBackendLogicalSetActive: <c>-aly</c> (start) or <c>-aln</c> (stop), local activation.</summary>
    public static IReadOnlyList<string> VgChangeArgv(string group, bool activate) => [VgChange, activate ? "-aly" : "-aln", group];

    public static IReadOnlyList<string> LvsArgv(string group) =>
    [
        Lvs, "--separator", "#", "--noheadings", "--units", "b", "--unbuffered", "--nosuffix", "--options",
        "lv_name,origin,uuid,devices,segtype,stripes,seg_size,vg_extent_size,size,lv_attr", group,
    ];

    /// <summary>
    /// A refresh's one LVM scan: libvirt's lvs columns with the group's size and free space after them
    /// (libvirt runs lvs, then vgs: two scans of every device). An empty group prints no row, so its
    /// sizes come from <see cref="VgsArgv"/> then.
    /// </summary>
    public static IReadOnlyList<string> LvsWithGroupSizesArgv(string group) =>
    [
        Lvs, "--separator", "#", "--noheadings", "--units", "b", "--unbuffered", "--nosuffix", "--options",
        "lv_name,origin,uuid,devices,segtype,stripes,seg_size,vg_extent_size,size,lv_attr,vg_size,vg_free", group,
    ];

    public static IReadOnlyList<string> VgsArgv(string group) =>
        [Vgs, "--separator", ":", "--noheadings", "--units", "b", "--unbuffered", "--nosuffix", "--options", "vg_size,vg_free", group];

    /// <summary>
    /// virStorageBackendLogicalLVCreate: <c>lvcreate --name N -L CAPK GROUP --yes</c>; when the allocation
    /// differs from the capacity a sparse LV, <c>-L ALLOCK --type snapshot --virtualsize CAPK</c> (allocation 0
    /// counts as 1 byte); a backing LV as <c>-s PATH</c> in place of the group. Sizes in KiB, rounded up;
    /// an encrypted volume gets 2 MiB more for its LUKS header.
    /// </summary>
    public static IReadOnlyList<string> LvCreateArgv(string name, string group, ulong capacity, ulong allocation, string? backingPath, bool encrypted)
    {
        var argv = new List<string> { LvCreate, "--name", name, "-L" };
        if (capacity != allocation)
        {
            argv.Add(Kib(allocation == 0 ? 1 : allocation));
            argv.AddRange(["--type", "snapshot", "--virtualsize"]);
        }

        argv.Add(Kib(encrypted ? Local.BlockVolumes.WithLuksHeaderRoom(capacity) : capacity));
        if (backingPath is not null)
        {
            argv.AddRange(["-s", backingPath]);
        }
        else
        {
            argv.Add(group);
        }

        argv.Add("--yes");
        return argv;
    }

    /// <summary>virStorageBackendLogicalDeleteVol's commands: lvremove, and lvchange -aln before a retry.</summary>
    public static IReadOnlyList<string> LvRemoveArgv(string path) => [LvRemove, "-f", path];

    public static IReadOnlyList<string> LvChangeDeactivateArgv(string path) => [LvChange, "-aln", path];

    /// <summary>
    /// Not in libvirt 9.0 (its logical pools cannot resize): <c>lvresize -L SIZEK PATH</c>, with <c>-f</c>
    /// when shrinking (lvresize would ask otherwise, and stdin is closed).
    /// </summary>
    public static IReadOnlyList<string> LvResizeArgv(string path, ulong capacity, bool shrink)
        => shrink ? [LvResize, "-f", "-L", Kib(capacity), path] : [LvResize, "-L", Kib(capacity), path];

    // Rounded up without overflow (bytes + 1023 would wrap near 2^64 and ask for 0K).
    private static string Kib(ulong bytes) => ((bytes / 1024) + (bytes % 1024 == 0 ? 0UL : 1UL)).ToString(CultureInfo.InvariantCulture) + "K";
}
