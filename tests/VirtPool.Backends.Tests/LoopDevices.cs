using VirtPool.Core.Process;

namespace VirtPool.Backends.Tests;

/// <summary>
/// Loop devices over files of a temp folder, for block-volume and fs-pool tests: each has its own backing
/// file, and on Dispose (also after a failure) whatever is mounted from one of them or under the folder is
/// unmounted, every one attached is detached (losetup -d) and the folder removed.
/// </summary>
public sealed class LoopDevices : IDisposable
{
    private readonly List<string> _attached = [];

    public string Folder { get; } = Directory.CreateTempSubdirectory("vp-loop-").FullName;

    /// <summary>
    /// A new loop device of <paramref name="bytes"/>, every byte <paramref name="fill"/>; returns /dev/loopN.
    /// <paramref name="partitions"/> attaches it with partition scanning (losetup -P), as disk pools need.
    /// </summary>
    public async Task<string> AttachAsync(long bytes, byte fill = 0, bool partitions = false)
    {
        var backing = Path.Combine(Folder, $"{Guid.NewGuid():N}.img");
        await using (var file = new FileStream(backing, FileMode.CreateNew))
        {
            if (fill == 0)
            {
                file.SetLength(bytes);
            }
            else
            {
                var chunk = new byte[1 << 20];
                Array.Fill(chunk, fill);
                for (var done = 0L; done < bytes; done += chunk.Length)
                {
                    await file.WriteAsync(chunk.AsMemory(0, (int)Math.Min(chunk.Length, bytes - done)));
                }
            }
        }

        var result = await ProcessRunner.Instance.RunAsync(partitions ? ["losetup", "-P", "-f", "--show", backing] : ["losetup", "-f", "--show", backing]);
        Assert.True(result.Succeeded, $"losetup -f --show {backing}: {result.StandardError}");
        var device = result.StandardOutput.Trim();
        lock (_attached)
        {
            _attached.Add(device);
        }

        return device;
    }

    /// <summary>The backing file of a device this made (to see what reached it: holes, blocks).</summary>
    public static string BackingFileOf(string device)
        => File.ReadAllText($"/sys/block/{Path.GetFileName(device)}/loop/backing_file").Trim();

    public void Dispose()
    {
        // A pool a failed test left started holds its device: unmount first (deepest first), lazily
        // when a plain umount is refused, so the detach below really frees the device.
        var mounted = Backends.Mounts.MountTable.Read()
            .Where(m => _attached.Contains(m.Source) || m.Target.StartsWith(Folder + "/", StringComparison.Ordinal))
            .Select(m => m.Target)
            .Distinct()
            .OrderByDescending(t => t.Length);
        foreach (var target in mounted)
        {
            if (!ProcessRunner.Instance.RunAsync(["umount", target]).GetAwaiter().GetResult().Succeeded)
            {
                _ = ProcessRunner.Instance.RunAsync(["umount", "-l", target]).GetAwaiter().GetResult();
            }
        }

        foreach (var device in _attached)
        {
            _ = ProcessRunner.Instance.RunAsync(["losetup", "-d", device]).GetAwaiter().GetResult();
        }

        Directory.Delete(Folder, recursive: true);
    }
}
