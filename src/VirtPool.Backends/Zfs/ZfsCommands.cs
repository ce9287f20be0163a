using System.Globalization;
using VirtPool.Core.Errors;
using VirtPool.Core.Process;

namespace VirtPool.Backends.Zfs;

/// <summary>
/// The <c>zpool</c> and <c>zfs</c> command lines of libvirt 9.0's zfs backend (storage_backend_zfs.c),
/// plus the old-CLI forms VirtPool falls back to, and how their failures read.
/// </summary>
public static class ZfsCommands
{
    public const string Zpool = "zpool";
    public const string Zfs = "zfs";

    /// <summary>
    /// zpool and zfs answer in milliseconds; one whose daemon (zfs-fuse) or pool hangs must not hold
    /// the pool's lock forever. A destroy of a large zvol is the slowest thing they do.
    /// </summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromMinutes(5);

    /// <summary>The zpool a pool's source names: its name up to the first '/' (a source may name a dataset in it).</summary>
    public static string ZpoolOf(string source) => source.Split('/', 2)[0];

    /// <summary>Whether the source names a dataset inside a zpool ("tank/vms") rather than the zpool itself.</summary>
    public static bool IsDataset(string source) => source.Contains('/', StringComparison.Ordinal);

    /// <summary>libvirt's refresh: <c>zpool get -Hp health,size,free,allocated ZPOOL</c>.</summary>
    public static string[] ZpoolGet(string zpool) => [Zpool, "get", "-Hp", "health,size,free,allocated", zpool];

    /// <summary>The same question in the old CLI's words (zfs-fuse: <c>zpool get</c> takes no options, <c>zpool list</c> no <c>-p</c>).</summary>
    public static string[] ZpoolListOld(string zpool) => [Zpool, "list", "-H", "-o", "name,size,allocated,free,health", zpool];

    /// <summary>libvirt's volume listing: <c>zfs list -Hp -t volume -r -o name,volsize,refreservation SOURCE</c>.</summary>
    public static string[] VolumeList(string source) => [Zfs, "list", "-Hp", "-t", "volume", "-r", "-o", "name,volsize,refreservation", source];

    /// <summary>The volume listing for a CLI whose <c>zfs list</c> has no <c>-p</c>: exact numbers from <c>zfs get -Hp</c>.</summary>
    public static string[] VolumeListOld(string source) => [Zfs, "get", "-Hp", "-r", "-o", "name,property,value", "type,volsize,refreservation", source];

    /// <summary>
    /// The check of libvirt's later releases (9.0 looked for a /dev/zvol/SOURCE directory, which exists
    /// only once a zvol does): <c>zfs list -H -t filesystem -o name SOURCE</c>, exit 0 when it exists.
    /// </summary>
    public static string[] FilesystemExists(string source) => [Zfs, "list", "-H", "-t", "filesystem", "-o", "name", source];

    /// <summary>libvirt's volmode probe: <c>zfs get</c> alone prints its usage (exit 2), which names volmode where zvols have one (FreeBSD).</summary>
    public static string[] VolModeProbe() => [Zfs, "get"];

    /// <summary>
    /// libvirt's build: <c>zfs create -o mountpoint=none SOURCE</c> for a dataset, else
    /// <c>zpool create ZPOOL DEVICE…</c> (no -f: a device in use is refused by zpool, and that error is
    /// the answer).
    /// </summary>
    public static string[] Build(string source, IReadOnlyList<string> devices)
        => IsDataset(source) ? [Zfs, "create", "-o", "mountpoint=none", source] : [Zpool, "create", source, .. devices];

    /// <summary>libvirt's pool delete: <c>zfs destroy -r SOURCE</c> for a dataset, else <c>zpool destroy ZPOOL</c>.</summary>
    public static string[] DeletePool(string source)
        => IsDataset(source) ? [Zfs, "destroy", "-r", source] : [Zpool, "destroy", source];

    /// <summary>
    /// libvirt's createVol: <c>zfs create [-o volmode=dev] [-s [-o refreservation=AK]] -V CK DATASET</c>,
    /// sizes in KiB rounded up; sparse (-s) when the allocation is not the capacity, with a
    /// refreservation when it is not 0 either.
    /// </summary>
    public static string[] CreateVolume(string dataset, ulong capacity, ulong allocation, bool volmode)
    {
        var argv = new List<string> { Zfs, "create" };
        if (volmode)
        {
            argv.AddRange(["-o", "volmode=dev"]);
        }

        if (capacity != allocation)
        {
            argv.Add("-s");
            if (allocation > 0)
            {
                argv.AddRange(["-o", $"refreservation={KiB(allocation)}K"]);
            }
        }

        argv.AddRange(["-V", $"{KiB(capacity)}K", dataset]);
        return [.. argv];
    }

    /// <summary>libvirt's deleteVol: <c>zfs destroy DATASET</c>.</summary>
    public static string[] DeleteVolume(string dataset) => [Zfs, "destroy", dataset];

    /// <summary>
    /// An addition for vol-resize (libvirt 9.0 has no resizeVol for zfs): the zvol's size, block size
    /// and reservation as exact numbers, <c>zfs get -Hp -o property,value volsize,volblocksize,refreservation DATASET</c>
    /// (a form zfs-fuse's zfs answers too).
    /// </summary>
    public static string[] VolumeSizes(string dataset) => [Zfs, "get", "-Hp", "-o", "property,value", "volsize,volblocksize,refreservation", dataset];

    /// <summary>
    /// vol-resize: <c>zfs set volsize=BYTES DATASET</c>, the size as a plain byte count (zfs reads a
    /// number without a suffix as bytes, so nothing is rounded on the way). libzfs moves a thick zvol's
    /// refreservation with its volsize by itself; <paramref name="reserve"/> (vol-resize --allocate of a
    /// sparse zvol) adds <c>refreservation=auto</c> to the same set, which makes it thick at the new size.
    /// </summary>
    public static string[] SetVolumeSize(string dataset, ulong volsize, bool reserve)
        => reserve
            ? [Zfs, "set", string.Create(CultureInfo.InvariantCulture, $"volsize={volsize}"), "refreservation=auto", dataset]
            : [Zfs, "set", string.Create(CultureInfo.InvariantCulture, $"volsize={volsize}"), dataset];

    /// <summary>
    /// Whether a failed command was refused as a usage error by an older CLI (exit 2 and its usage text),
    /// as zfs-fuse refuses <c>zpool get -Hp</c> and <c>zfs list -p</c>; then the old form is asked.
    /// </summary>
    public static bool IsUsageRefusal(ProcessResult result)
        => result is { ExitCode: 2 } && result.StandardError.Contains("usage:", StringComparison.Ordinal);

    /// <summary>
    /// libvirt's error for a failed command. zpool and zfs only ever exit 0, 1 or 2 themselves, so a
    /// status above 128 is the runner's report of a signal (zfs-fuse's zfs aborts on a zvol create):
    /// "unexpected fatal signal N", as virCommandWait words a child killed by a signal.
    /// </summary>
    public static VirtPoolException Failure(IReadOnlyList<string> argv, ProcessResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        if (result.ExitCode is > 128 and < 128 + 65)
        {
            var detail = $"Child process ({ChildProcessErrors.CommandText(argv)}) unexpected fatal signal {result.ExitCode - 128}";
            if (result.StandardError.Length > 0)
            {
                detail += ": " + result.StandardError;
            }

            return new VirtPoolException(VirErrorCode.InternalError, detail, VirErrorDomain.None);
        }

        return ChildProcessErrors.UnexpectedExit(argv, result);
    }

    private static string KiB(ulong bytes) => ((bytes / 1024) + (bytes % 1024 == 0 ? 0UL : 1UL)).ToString(CultureInfo.InvariantCulture);
}
