using System.Collections.Concurrent;
using System.Text.RegularExpressions;
using VirtPool.Core.Backends;
using VirtPool.Core.Errors;
using VirtPool.Core.Manager;
using VirtPool.Core.Model;
using VirtPool.Core.Process;
using VirtPool.Core.State;

namespace VirtPool.Backends.Tests;

/// <summary>
/// A clone of a volume being resized, and a resize of a volume being cloned: libvirt resizes with the
/// pool locked, so the two never run on one image together, and only libvirt's refusals may come
/// back, never qemu-img's image-lock failure ("Failed to get "write" lock"), which an adversarial run
/// of python3-libvirt clients found through virtpoold when a clone ran beside `qemu-img resize`.
/// </summary>
public sealed partial class CloneResizeRaceTests : IDisposable
{
    private const ulong MiB = 1 << 20;

    private readonly string _root = Directory.CreateTempSubdirectory("vp-clone-resize-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [GeneratedRegex(@"^Requested operation is not valid: volume '.*' is still (in use|being allocated)\.$")]
    private static partial Regex LibvirtsRefusal();

    [Fact]
    public async Task Cloning_a_volume_while_it_is_resized_gives_only_libvirts_errors()
    {
        const int Rounds = 150;
        using var manager = new PoolManager(new StateStore(Path.Combine(_root, "state")), BackendCatalog.Create(ProcessRunner.Instance));
        await manager.CreatePoolAsync(
            $"<pool type='dir'><name>p</name><target><path>{Path.Combine(_root, "p")}</path></target></pool>", PoolBuildFlags.None, doBuild: true);
        var source = await manager.CreateVolumeAsync("p", "<volume><name>x.qcow2</name><capacity unit='M'>64</capacity><target><format type='qcow2'/></target></volume>");
        var unexpected = new ConcurrentQueue<string>();
        int resized = 0, cloned = 0;

        async Task Call(string what, Func<Task> call, Action done)
        {
            try
            {
                await call();
                done();
            }
            catch (VirtPoolException ex) when (ex.Code == VirErrorCode.OperationInvalid && LibvirtsRefusal().IsMatch(ex.Message))
            {
            }
            catch (Exception ex)
            {
                unexpected.Enqueue($"{what}: {ex.GetType().Name}: {ex.Message}");
            }
        }

        // Each round starts both calls together, so either may find the volume idle first; which one
        // wins is up to the scheduler (under load one side can win every time). Every third round the
        // clone goes first and the resize waits for it, every third the other way round, so both
        // operations surely run, also one right after the other.
        using var start = new Barrier(2);
        using var cloneDone = new SemaphoreSlim(0);
        using var resizeDone = new SemaphoreSlim(0);
        var resizer = Task.Run(async () =>
        {
            for (var i = 1; i <= Rounds; i++)
            {
                start.SignalAndWait();
                if (i % 3 == 1)
                {
                    await cloneDone.WaitAsync();
                }

                await Call("resize", () => manager.ResizeVolumeAsync(source, (64 + (ulong)i) * MiB, VolumeResizeFlags.None), () => resized++);
                if (i % 3 == 2)
                {
                    resizeDone.Release();
                }
            }
        });
        var cloner = Task.Run(async () =>
        {
            for (var i = 1; i <= Rounds; i++)
            {
                start.SignalAndWait();
                if (i % 3 == 2)
                {
                    await resizeDone.WaitAsync();
                }

                await Call("clone", async () =>
                {
                    var copy = await manager.CreateVolumeFromAsync("p", "<volume><name>c.qcow2</name><capacity>0</capacity><target><format type='qcow2'/></target></volume>", source);
                    await manager.DeleteVolumeAsync(copy);
                }, () => cloned++);
                if (i % 3 == 1)
                {
                    cloneDone.Release();
                }
            }
        });
        await Task.WhenAll(resizer, cloner);

        Assert.True(unexpected.IsEmpty, $"{unexpected.Count} unexpected errors ({resized} resizes and {cloned} clones done), first: {unexpected.FirstOrDefault()}");
        Assert.True(resized > 0 && cloned > 0, $"the race did not run: {resized} resizes, {cloned} clones");
    }
}
