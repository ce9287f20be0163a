namespace VirtPool.Cli.Tests.Support;

/// <summary>
/// A fresh filesystem in an image file, attached to a loop device and mounted at a folder; unmounted,
/// detached and removed on dispose (also when the test failed halfway through setting it up).
/// </summary>
public sealed class LoopFileSystem : IAsyncDisposable
{
    private readonly string _image;
    private string? _device;
    private bool _mounted;

    private LoopFileSystem(string image, string mountPoint)
    {
        _image = image;
        MountPoint = mountPoint;
    }

    public string MountPoint { get; }

    /// <summary>
    /// mkfs (with <paramref name="mkfsArgs"/>) on a sparse image of <paramref name="sizeBytes"/>, then
    /// mounts it at <paramref name="mountPoint"/> (created). Same arguments give the same figures.
    /// </summary>
    public static async Task<LoopFileSystem> CreateAsync(string image, string mountPoint, long sizeBytes, string mkfs, params string[] mkfsArgs)
    {
        var fs = new LoopFileSystem(image, mountPoint);
        try
        {
            await using (var file = new FileStream(image, FileMode.CreateNew, FileAccess.Write))
            {
                file.SetLength(sizeBytes);
            }

            await Mounts.RunOrThrowAsync(mkfs, [.. mkfsArgs, image]).ConfigureAwait(false);
            var attach = await ChildProcess.RunAsync("losetup", ["-f", "--show", image], timeout: TimeSpan.FromSeconds(60)).ConfigureAwait(false);
            if (attach.ExitCode != 0)
            {
                throw new InvalidOperationException($"losetup -f --show {image} failed: {attach.Stderr.Trim()}");
            }

            fs._device = attach.Stdout.Trim();
            Directory.CreateDirectory(mountPoint);
            await Mounts.RunOrThrowAsync("mount", fs._device, mountPoint).ConfigureAwait(false);
            fs._mounted = true;
            return fs;
        }
        catch
        {
            await fs.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_mounted)
        {
            await Mounts.UnmountAllUnderAsync(MountPoint).ConfigureAwait(false);
            _mounted = false;
        }

        if (_device is not null)
        {
            await ChildProcess.RunAsync("losetup", ["-d", _device], timeout: TimeSpan.FromSeconds(60)).ConfigureAwait(false);
            _device = null;
        }

        File.Delete(_image);
    }
}
