using System.Diagnostics;
using System.Globalization;
using VirtPool.Backends;
using VirtPool.Core.Backends;
using VirtPool.Core.Interop;
using VirtPool.Core.Manager;
using VirtPool.Core.Process;
using VirtPool.Core.State;
using VirtPool.Formats;

// Side-by-side workloads for bench/run.sh. Each mode prints one line: "<mode> <seconds> <count>".
// The same work is done by bench/libvirt_side.py through libvirtd, and by plain loops as baselines.
if (args.Length < 2)
{
    Console.Error.WriteLine("usage: VirtPool.Bench create|baseline-create|refresh|headers DIR [N] [REPEAT]");
    return 2;
}

var mode = args[0];
var dir = Path.GetFullPath(args[1]);
var n = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 1000;
var repeat = args.Length > 3 ? int.Parse(args[3], CultureInfo.InvariantCulture) : 5;

switch (mode)
{
    case "create":
        {
            // As installed: definitions in a state folder on the pool's filesystem, runtime state in
            // /run (BENCH_RUNTIME_DIR), as libvirt keeps /etc/libvirt/storage and /run/libvirt/storage.
            var manager = NewManager(Path.Combine(dir, "state"), Environment.GetEnvironmentVariable("BENCH_RUNTIME_DIR"));
            var target = Path.Combine(dir, "pool");

            // Warm-up in a pool of its own, so tiered JIT reaches steady code before timing.
            await manager.DefinePoolAsync($"<pool type='dir'><name>warm</name><target><path>{dir}/warm</path></target></pool>");
            await manager.StartPoolAsync("warm", PoolBuildFlags.None, true);
            for (var i = 0; i < 300; i++)
            {
                await manager.CreateVolumeAsync("warm", $"<volume><name>w{i}</name><capacity>1048576</capacity><allocation>0</allocation></volume>");
            }

            await Task.Delay(500);
            await manager.DefinePoolAsync($"<pool type='dir'><name>bench</name><target><path>{target}</path></target></pool>");
            await manager.BuildPoolAsync("bench", PoolBuildFlags.None);
            await manager.StartPoolAsync("bench", PoolBuildFlags.None, false);
            var sw = Stopwatch.StartNew();
            for (var i = 0; i < n; i++)
            {
                await manager.CreateVolumeAsync("bench", $"<volume><name>v{i}.img</name><capacity>1048576</capacity><allocation>0</allocation></volume>");
            }

            Report(mode, sw.Elapsed.TotalSeconds, n);
            break;
        }

    case "baseline-create":
        {
            Directory.CreateDirectory(dir);
            var sw = Stopwatch.StartNew();
            for (var i = 0; i < n; i++)
            {
                var fd = LibC.Open(Path.Combine(dir, $"v{i}.img"), LibC.O_WRONLY | LibC.O_CREAT | LibC.O_EXCL | LibC.O_CLOEXEC, 0x180);
                LibC.Check(fd, "open");
                LibC.Check(LibC.FTruncate(fd, 1048576), "ftruncate");
                LibC.Check(LibC.FSync(fd), "fsync");
                LibC.Close(fd);
            }

            Report(mode, sw.Elapsed.TotalSeconds, n);
            break;
        }

    case "refresh":
        {
            // The pool's files exist already (made by run.sh); warm: one refresh before timing.
            var manager = NewManager(Path.Combine(Path.GetDirectoryName(dir)!, "refresh-state"));
            await manager.DefinePoolAsync($"<pool type='dir'><name>refresh</name><target><path>{dir}</path></target></pool>");
            await manager.StartPoolAsync("refresh", PoolBuildFlags.None, false);
            var sw = Stopwatch.StartNew();
            for (var r = 0; r < repeat; r++)
            {
                await manager.RefreshPoolAsync("refresh");
            }

            Report(mode, sw.Elapsed.TotalSeconds / repeat, (await manager.ListVolumesAsync("refresh")).Count);
            break;
        }

    case "headers":
        {
            var files = Directory.GetFiles(dir);
            var buffer = new byte[ImageProbe.HeaderBytes];
            ReadHeaders(files, buffer);
            var sw = Stopwatch.StartNew();
            for (var r = 0; r < repeat; r++)
            {
                ReadHeaders(Directory.GetFiles(dir), buffer);
            }

            Report(mode, sw.Elapsed.TotalSeconds / repeat, files.Length);
            break;
        }

    default:
        Console.Error.WriteLine($"unknown mode {mode}");
        return 2;
}

return 0;

static PoolManager NewManager(string state, string? runtime = null)
{
    var store = new StateStore(state, runtime);
    store.EnsureCreated();
    return new PoolManager(store, BackendCatalog.Create(ProcessRunner.Instance));
}

static void Report(string mode, double seconds, int count)
    => Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{mode} {seconds:F6} {count}"));

// The baseline a refresh is held to: open, read the header, close, for every file.
static unsafe void ReadHeaders(string[] files, byte[] buffer)
{
    fixed (byte* p = buffer)
    {
        foreach (var file in files)
        {
            var fd = LibC.Open(file, LibC.O_RDONLY | LibC.O_CLOEXEC, 0);
            if (fd < 0)
            {
                continue;
            }

            LibC.PRead(fd, p, buffer.Length, 0);
            LibC.Close(fd);
        }
    }
}
