using System.Globalization;
using VirtPool.Backends.Local;
using VirtPool.Core.Errors;
using VirtPool.Core.Interop;
using VirtPool.Core.Model;
using VirtPool.Core.Process;

namespace VirtPool.Backends.Iscsi;

/// <summary>
/// An iSCSI session's LUNs as the kernel shows them, read as libvirt 9.0 reads them
/// (virStorageBackendISCSIGetHostNumber, then storage_util.c's virStorageBackendSCSIFindLUs): the
/// session's SCSI host from sysfs, each of that host's devices of type disk (0) or CD-ROM (5) that has
/// a block device, named <c>unit:BUS:TARGET:LUN</c>, at the block device's stable link in the pool's
/// target folder (/dev/disk/by-path), keyed by its SCSI serial.
/// </summary>
public sealed class ScsiLogicalUnits(IProcessRunner runner, IscsiEnvironment environment)
{
    private const int TypeDisk = 0;
    private const int TypeRom = 5;

    private readonly IProcessRunner _runner = runner ?? throw new ArgumentNullException(nameof(runner));
    private readonly IscsiEnvironment _environment = environment ?? throw new ArgumentNullException(nameof(environment));

    /// <summary>
    /// The SCSI host number of iSCSI session <paramref name="session"/>: the "targetH:…" entry of
    /// /sys/class/iscsi_session/sessionN/device.
    /// </summary>
    public async Task<uint> HostNumberAsync(string session, CancellationToken cancellationToken)
    {
        var path = $"{_environment.SysRoot}/class/iscsi_session/session{session}/device";
        await WaitForDevicesAsync(cancellationToken).ConfigureAwait(false);
        foreach (var name in Entries(path))
        {
            if (!name.StartsWith("target", StringComparison.Ordinal))
            {
                continue;
            }

            var number = LeadingNumber(name.AsSpan("target".Length), out var rest);
            return number is { } host && rest.StartsWith(":", StringComparison.Ordinal)
                ? host
                : throw VirtPoolException.Internal($"Failed to parse target '{name}'");
        }

        throw VirtPoolException.Internal($"Failed to get host number for iSCSI session with path '{path}'");
    }

    /// <summary>
    /// The volumes of SCSI host <paramref name="host"/>, by address (libvirt takes sysfs' order, which
    /// varies; the volume list is the same set). A device
    /// of another type, without a block device, without a link in the target folder or that cannot be
    /// opened is left out, as by libvirt.
    /// </summary>
    public async Task<IReadOnlyList<VolumeDefinition>> FindAsync(uint host, string? targetPath, CancellationToken cancellationToken)
    {
        var devices = $"{_environment.SysRoot}/bus/scsi/devices";
        await WaitForDevicesAsync(cancellationToken).ConfigureAwait(false);
        var addresses = new SortedSet<(uint Bus, uint Target, uint Lun)>();
        foreach (var name in Entries(devices))
        {
            if (TryParseAddress(name, host, out var bus, out var target, out var lun))
            {
                addresses.Add((bus, target, lun));
            }
        }

        var volumes = new List<VolumeDefinition>();
        foreach (var (bus, target, lun) in addresses)
        {
            var volume = await DescribeAsync(host, bus, target, lun, targetPath, cancellationToken).ConfigureAwait(false);
            if (volume is not null)
            {
                volumes.Add(volume);
            }
        }

        return volumes;
    }

    /// <summary>
    /// libvirt's sscanf of "H:%u:%u:%u": the host's number and a colon, then three numbers; what
    /// follows them is not looked at.
    /// </summary>
    public static bool TryParseAddress(string name, uint host, out uint bus, out uint target, out uint lun)
    {
        bus = target = lun = 0;
        var prefix = host.ToString(CultureInfo.InvariantCulture) + ":";
        if (!name.StartsWith(prefix, StringComparison.Ordinal))
        {
            return false;
        }

        var rest = name.AsSpan(prefix.Length);
        if (LeadingNumber(rest, out rest) is not { } b || !rest.StartsWith(":", StringComparison.Ordinal)
            || LeadingNumber(rest[1..], out rest) is not { } t || !rest.StartsWith(":", StringComparison.Ordinal)
            || LeadingNumber(rest[1..], out _) is not { } l)
        {
            return false;
        }

        (bus, target, lun) = (b, t, l);
        return true;
    }

    private async Task<VolumeDefinition?> DescribeAsync(uint host, uint bus, uint target, uint lun, string? targetPath, CancellationToken cancellationToken)
    {
        var address = string.Create(CultureInfo.InvariantCulture, $"{host}:{bus}:{target}:{lun}");
        var lunPath = $"{_environment.SysRoot}/bus/scsi/devices/{address}";
        var type = DeviceType(lunPath + "/type")
            ?? throw VirtPoolException.Internal($"Failed to determine if {address} is a Direct-Access LUN");
        if (type is not (TypeDisk or TypeRom) || BlockDeviceName(lunPath) is not { } device)
        {
            return null;
        }

        var dev = _environment.DevRoot;
        var atDev = targetPath == dev || targetPath == dev + "/";
        if (!IsStable(targetPath) && !atDev)
        {
            throw VirtPoolException.InvalidArg($"unable to use target path '{targetPath ?? "(null)"}' for dev '{device}'");
        }

        var devicePath = $"{dev}/{device}";
        var path = await StablePathAsync(targetPath!, devicePath, cancellationToken).ConfigureAwait(false);
        if (path is null && !atDev)
        {
            return null;
        }

        path ??= devicePath;
        // libvirt's VIR_STORAGE_VOL_READ_NOERROR: a LUN that cannot be opened is skipped.
        if (!FileStat.TryStat(path, out var st, out _) || !st.IsBlockDevice)
        {
            return null;
        }

        var volume = LocalVolumeProbe.DescribeDevice(new VolumeDefinition
        {
            Name = string.Create(CultureInfo.InvariantCulture, $"unit:{bus}:{target}:{lun}"),
            Type = VolumeType.Block,
            Target = new VolumeTarget { Path = path },
        });
        volume.Key = await SerialAsync(path, cancellationToken).ConfigureAwait(false);
        return volume;
    }

    /// <summary>virStorageBackendPoolPathIsStable: a folder under /dev other than /dev itself.</summary>
    private bool IsStable(string? targetPath)
        => targetPath is not null && targetPath != _environment.DevRoot && targetPath != _environment.DevRoot + "/"
           && targetPath.StartsWith(_environment.DevRoot + "/", StringComparison.Ordinal);

    /// <summary>
    /// virStorageBackendStablePath: the entry of the target folder that is the same file as the device
    /// node (by device and inode); null when none appears within the wait. For a target of /dev itself,
    /// the node's own path.
    /// </summary>
    private async Task<string?> StablePathAsync(string targetPath, string devicePath, CancellationToken cancellationToken)
    {
        if (!IsStable(targetPath))
        {
            return devicePath;
        }

        var deadline = DateTime.UtcNow + _environment.StablePathWait;
        while (true)
        {
            if (FileStat.TryStat(devicePath, out var node, out _) && Directory.Exists(targetPath))
            {
                foreach (var name in Directory.EnumerateFileSystemEntries(targetPath).Select(Path.GetFileName))
                {
                    var candidate = $"{targetPath}/{name}";
                    if (FileStat.TryStat(candidate, out var st, out _) && st.Device == node.Device && st.Inode == node.Inode)
                    {
                        return candidate;
                    }
                }
            }

            if (DateTime.UtcNow >= deadline)
            {
                return null;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(100), cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>virStorageBackendSCSISerial: scsi_id's first line when it exits 0 with one, else the path.</summary>
    private async Task<string> SerialAsync(string path, CancellationToken cancellationToken)
    {
        if (_environment.ScsiId is not { } scsiId)
        {
            return path;
        }

        var result = await _runner.RunAsync([scsiId, "--replace-whitespace", "--whitelisted", "--device", path], cancellationToken).ConfigureAwait(false);
        var serial = result.Succeeded ? result.StandardOutput.Split('\n')[0] : string.Empty;
        return serial.Length > 0 ? serial : path;
    }

    /// <summary>virWaitForDevices: "udevadm settle", its failure ignored, so links of new LUNs exist before the walk.</summary>
    private async Task WaitForDevicesAsync(CancellationToken cancellationToken)
    {
        if (_environment.Udevadm is { } udevadm)
        {
            await _runner.RunAsync([udevadm, "settle"], cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>getDeviceType: the number at the start of the first two characters of sysfs' "type"; null when unreadable.</summary>
    private static int? DeviceType(string path)
    {
        string text;
        try
        {
            using var reader = new StreamReader(path);
            var buffer = new char[2];
            text = new string(buffer, 0, reader.ReadBlock(buffer, 0, 2));
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }

        var span = text.AsSpan().TrimStart();
        var sign = span.StartsWith("-", StringComparison.Ordinal) ? -1 : 1;
        if (span.StartsWith("-", StringComparison.Ordinal) || span.StartsWith("+", StringComparison.Ordinal))
        {
            span = span[1..];
        }

        return LeadingNumber(span, out _) is { } n ? sign * (int)n : null;
    }

    /// <summary>
    /// getBlockDevice: the LUN folder's "block" entry; new style a folder holding the device's name,
    /// old style "block:sdX". Null when the LUN has no block device.
    /// </summary>
    private static string? BlockDeviceName(string lunPath)
    {
        foreach (var name in Entries(lunPath))
        {
            if (!name.StartsWith("block", StringComparison.Ordinal))
            {
                continue;
            }

            if (name.Length == "block".Length)
            {
                return Entries($"{lunPath}/block").FirstOrDefault();
            }

            var colon = name.LastIndexOf(':');
            return colon >= 0 ? name[(colon + 1)..] : throw VirtPoolException.Internal($"Failed to parse block name {name}");
        }

        return null;
    }

    /// <summary>A folder's entry names in the order the kernel lists them, or libvirt's virDirOpen error.</summary>
    private static string[] Entries(string path)
    {
        try
        {
            return [.. Directory.EnumerateFileSystemEntries(path).Select(p => Path.GetFileName(p))];
        }
        catch (DirectoryNotFoundException)
        {
            throw VirtPoolException.System($"cannot open directory '{path}'", File.Exists(path) ? 20 /* ENOTDIR */ : 2 /* ENOENT */);
        }
        catch (UnauthorizedAccessException)
        {
            throw VirtPoolException.System($"cannot open directory '{path}'", 13 /* EACCES */);
        }
        catch (IOException ex)
        {
            throw VirtPoolException.System($"cannot open directory '{path}'", ex);
        }
    }

    /// <summary>Decimal digits at the start of <paramref name="text"/> as an unsigned number (null: none, or too large).</summary>
    private static uint? LeadingNumber(ReadOnlySpan<char> text, out ReadOnlySpan<char> rest)
    {
        var digits = 0;
        while (digits < text.Length && char.IsAsciiDigit(text[digits]))
        {
            digits++;
        }

        rest = text[digits..];
        return digits > 0 && uint.TryParse(text[..digits], NumberStyles.None, CultureInfo.InvariantCulture, out var value) ? value : null;
    }
}
