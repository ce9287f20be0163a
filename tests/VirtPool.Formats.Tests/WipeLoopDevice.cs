using VirtPool.Core.Process;

namespace VirtPool.Formats.Tests;

/// <summary>A loop device over an image file (losetup -f --show), detached on dispose.</summary>
public sealed class LoopDevice : IAsyncDisposable
{
    private const string Losetup = "/usr/sbin/losetup";

    private LoopDevice(string path)
    {
        Path = path;
    }

    public string Path { get; }

    public static async Task<LoopDevice> AttachAsync(string image)
    {
        Assert.True(File.Exists(Losetup), "losetup (util-linux) is required for the loop device tests");
        var result = await ProcessRunner.Instance.RunAsync([Losetup, "-f", "--show", image]).ConfigureAwait(false);
        Assert.True(result.Succeeded, $"losetup -f --show {image}: {result.StandardError}");
        return new LoopDevice(result.StandardOutput.Trim());
    }

    public async ValueTask DisposeAsync()
    {
        var result = await ProcessRunner.Instance.RunAsync([Losetup, "-d", Path]).ConfigureAwait(false);
        Assert.True(result.Succeeded, $"losetup -d {Path}: {result.StandardError}");
    }
}
