using VirtPool.Core.Errors;
using VirtPool.Core.Process;

namespace VirtPool.Backends.Fs;

/// <summary>
/// libvirt's virStorageBackendDeviceIsEmpty for a build that writes a filesystem: is there already a
/// filesystem or a partition table on the device, and which? libvirt asks libblkid in-process; here
/// util-linux's <c>blkid -p</c> (the same library, run through the process runner) answers, so every
/// signature libblkid knows, and its ext2/ext3/ext4 distinction, is exactly libvirt's without a copy of
/// them here.
/// </summary>
public static class FilesystemProbe
{
    /// <summary>blkid reads a few superblocks; a device that does not answer fails the build after this long.</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    /// <summary>Low-level probing (superblocks and partition tables, no cache), one KEY=value a line.</summary>
    public static IReadOnlyList<string> Argv(string blkid, string device) => [blkid, "-p", "-o", "export", device];

    /// <summary>
    /// Succeeds when nothing is on <paramref name="device"/>; otherwise throws libvirt's error for a build
    /// with <c>--no-overwrite</c>: "already formatted using 'ext4'" when the filesystem is the one asked
    /// for, "does not match the expected format" for another filesystem or a partition table.
    /// </summary>
    public static async Task EnsureEmptyAsync(IProcessRunner runner, string blkid, string device, string format, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(runner);
        var argv = Argv(blkid, device);
        var result = await runner.RunAsync(new ProcessRequest(argv) { Timeout = Timeout }, cancellationToken).ConfigureAwait(false);
        switch (result.ExitCode)
        {
            case 0:
                var found = Parse(result.StandardOutput);
                var type = found.GetValueOrDefault("TYPE") ?? found.GetValueOrDefault("PTTYPE");
                if (type is null)
                {
                    return;
                }

                throw type == format
                    ? new VirtPoolException(VirErrorCode.StoragePoolBuilt, $"Device '{device}' already formatted using '{format}'")
                    : Different(device, format);

            // Nothing found; blkid also exits 2 when it cannot open the device, and then says so.
            case 2 when result.StandardError.Length == 0:
                return;
            case 2:
                throw new VirtPoolException(VirErrorCode.StorageProbeFailed, $"Failed to create filesystem probe for device {device}");

            // More than one signature (libblkid's "ambivalent result"): something is there, so no
            // mkfs without --overwrite.
            case 8:
                throw Different(device, format);
            default:
                throw ChildProcessErrors.UnexpectedExit(argv, result);
        }
    }

    /// <summary>blkid's export format: KEY=value lines.</summary>
    public static IReadOnlyDictionary<string, string> Parse(string output)
    {
        ArgumentNullException.ThrowIfNull(output);
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in output.Split('\n'))
        {
            var equals = line.IndexOf('=', StringComparison.Ordinal);
            if (equals > 0)
            {
                values[line[..equals]] = line[(equals + 1)..];
            }
        }

        return values;
    }

    private static VirtPoolException Different(string device, string format)
        => new(VirErrorCode.StoragePoolBuilt, $"Format of device '{device}' does not match the expected format '{format}', forced overwrite is necessary");
}
