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
    Console.Error.WriteLine("usage: VirtPool.Bench create|baseline-create|refresh|headers|qcow2-create DIR [N] [REPEAT]");
    Console.Error.WriteLine("       VirtPool.Bench clone|cp-clone|wipe|upload|cp-upload|download|cp-download DIR MIB");
    return 2;
}

var mode = args[0];
if (mode == "rpc-calls")
{
    // rpc-calls SOCKET POOL SECONDS CONNECTIONS: lookup+info round trips against any libvirt-protocol server.
    var (calls, seconds) = await VirtPool.Bench.RpcLoad.LookupInfoAsync(args[1], args[2], TimeSpan.FromSeconds(double.Parse(args[3], CultureInfo.InvariantCulture)), int.Parse(args[4], CultureInfo.InvariantCulture));
    Report(mode, seconds, (int)calls);
    return 0;
}

if (mode == "plain-copy")
{
    // plain-copy SRC DST: SRC's bytes through a plain UNIX socket into DST (sendfile in, 1 MiB reads
    // out): the transport's own speed on this machine, the baseline for stream transfers.
    var seconds = await VirtPool.Bench.PlainCopy.RunAsync(args[1], args[2]);
    Report(mode, seconds, 1);
    return 0;
}

if (mode == "rpc-floor")
{
    // rpc-floor SECONDS: the bench client's no-op loop against a busy-polling stub server (this program, rpc-stub).
    var self = Environment.ProcessPath!;
    string[] prefix = Path.GetFileNameWithoutExtension(self) == "dotnet" ? [Path.Combine(AppContext.BaseDirectory, "VirtPool.Bench.dll")] : [];
    var (calls, seconds) = await VirtPool.Bench.RpcLoad.FloorAsync(TimeSpan.FromSeconds(double.Parse(args[1], CultureInfo.InvariantCulture)), self, prefix);
    Report(mode, seconds, (int)calls);
    return 0;
}

if (mode == "rpc-stub")
{
    // rpc-stub SOCKET: the stub server rpc-floor starts.
    VirtPool.Bench.RpcLoad.RunStub(args[1]);
    return 0;
}

if (mode == "manager-calls")
{
    // manager-calls DIR N: lookup+info through the library alone, to split RPC cost from manager cost.
    var m = NewManager(Path.Combine(args[1], "state"));
    await StartPoolAsync(m, "bench", Path.Combine(args[1], "pool"));
    var count = int.Parse(args[2], CultureInfo.InvariantCulture);
    var sw = Stopwatch.StartNew();
    for (var i = 0; i < count; i++)
    {
        var p = await m.LookupPoolByNameAsync("bench");
        _ = await m.GetPoolInfoAsync(p.Name);
    }

    Report(mode, sw.Elapsed.TotalSeconds, count * 2);
    return 0;
}

if (mode == "startup")
{
    // startup SOCKET CMD [ARGS...]: time from spawning CMD until SOCKET answers AUTH_LIST.
    var sw = Stopwatch.StartNew();
    var psi = new System.Diagnostics.ProcessStartInfo(args[2]) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
    foreach (var a in args.Skip(3))
    {
        psi.ArgumentList.Add(a);
    }

    using var child = System.Diagnostics.Process.Start(psi)!;
    while (!VirtPool.Bench.RpcLoad.Answers(args[1]))
    {
        if (sw.Elapsed > TimeSpan.FromSeconds(30))
        {
            Console.Error.WriteLine("no answer within 30 s");
            return 1;
        }

        Thread.Sleep(1);
    }

    Report(mode, sw.Elapsed.TotalSeconds, child.Id);
    return 0;
}

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

    case "delete":
        {
            // delete DIR N: N raw volumes made (untimed), then deleted one by one through the manager,
            // with the state folder watched as the daemon watches it (warmed up first: JIT).
            var store = new StateStore(Path.Combine(dir, "state"), Environment.GetEnvironmentVariable("BENCH_RUNTIME_DIR"));
            store.EnsureCreated();
            store.WatchForChanges();
            var manager = new PoolManager(store, BackendCatalog.Create(ProcessRunner.Instance));
            foreach (var (pool, count, timed) in new[] { ("warm", 500, false), ("bench", n, true) })
            {
                await manager.DefinePoolAsync($"<pool type='dir'><name>{pool}</name><target><path>{dir}/{pool}</path></target></pool>");
                await manager.StartPoolAsync(pool, PoolBuildFlags.None, true);
                var vols = new List<VolumeRef>(count);
                for (var i = 0; i < count; i++)
                {
                    vols.Add(await manager.CreateVolumeAsync(pool, $"<volume><name>d{i}.img</name><capacity>1048576</capacity><allocation>0</allocation></volume>"));
                }

                var sw = Stopwatch.StartNew();
                foreach (var v in vols)
                {
                    await manager.DeleteVolumeAsync(v);
                }

                if (timed)
                {
                    Report(mode, sw.Elapsed.TotalSeconds, n);
                }
            }

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

    case "qcow2-create":
        {
            var manager = NewManager(Path.Combine(dir, "state"), Environment.GetEnvironmentVariable("BENCH_RUNTIME_DIR"));
            await StartPoolAsync(manager, "warm", Path.Combine(dir, "warm"));
            for (var i = 0; i < 200; i++)
            {
                await manager.CreateVolumeAsync("warm", Qcow2Xml($"w{i}"));
            }

            await StartPoolAsync(manager, "bench", Path.Combine(dir, "pool"));
            var sw = Stopwatch.StartNew();
            for (var i = 0; i < n; i++)
            {
                await manager.CreateVolumeAsync("bench", Qcow2Xml($"v{i}.qcow2"));
            }

            Report(mode, sw.Elapsed.TotalSeconds, n);
            break;
        }

    case "qcow2-floor":
        {
            // The floor of a durable qcow2 create on this filesystem: the very bytes VirtPool writes for
            // one image (copied from a model it made, zero-filled clusters included, as qemu-img writes
            // them), in one write to a new file, fsynced, with nothing else: no XML, locks, index or probe.
            var manager = NewManager(Path.Combine(dir, "state"), Environment.GetEnvironmentVariable("BENCH_RUNTIME_DIR"));
            await StartPoolAsync(manager, "model", Path.Combine(dir, "model"));
            await manager.CreateVolumeAsync("model", Qcow2Xml("model.qcow2"));
            var image = await File.ReadAllBytesAsync(Path.Combine(dir, "model", "model.qcow2"));
            var target = Path.Combine(dir, "floor");
            Directory.CreateDirectory(target);
            var sw = Stopwatch.StartNew();
            for (var i = 0; i < n; i++)
            {
                using var handle = File.OpenHandle(Path.Combine(target, $"v{i}.qcow2"), FileMode.CreateNew, FileAccess.Write);
                RandomAccess.Write(handle, image, 0);
                LibC.Check(LibC.FSync((int)handle.DangerousGetHandle()), "fsync");
            }

            Report(mode, sw.Elapsed.TotalSeconds, n);
            break;
        }

    case "clone" or "cp-clone" or "wipe" or "upload" or "cp-upload" or "download" or "cp-download":
        {
            // n is the size in MiB. Every mode starts from the same state: a pool with one volume (or a
            // local file) of n MiB of random data, written and synced before the clock starts.
            var bytes = (long)n << 20;
            var manager = NewManager(Path.Combine(dir, "state"));
            var pool = Path.Combine(dir, "pool");
            await StartPoolAsync(manager, "data", pool);
            var local = Path.Combine(dir, "local.bin");
            var source = await manager.CreateVolumeAsync("data", $"<volume><name>src.raw</name><capacity>{bytes}</capacity></volume>");
            WriteRandom(mode is "upload" or "cp-upload" ? local : Path.Combine(pool, "src.raw"), bytes);

            await manager.RefreshPoolAsync("data");
            Sync();
            var sw = Stopwatch.StartNew();
            switch (mode)
            {
                case "clone":
                    await manager.CreateVolumeFromAsync("data", "<volume><name>copy.raw</name><capacity>0</capacity></volume>", source);
                    break;
                case "cp-clone":
                    await Run("cp", Path.Combine(pool, "src.raw"), Path.Combine(pool, "copy.raw"));
                    await Run("sync", Path.Combine(pool, "copy.raw"));
                    break;
                case "wipe":
                    await manager.WipeVolumeAsync(source, VolumeWipeAlgorithm.Zero);
                    break;
                case "upload":
                    using (var handle = File.OpenHandle(local))
                    {
                        await manager.UploadVolumeAsync(source, new LocalFileEndpoint(handle), 0, (ulong)bytes, sparse: false);
                    }

                    break;
                case "cp-upload":
                    await Run("cp", local, Path.Combine(pool, "src.raw"));
                    break;
                case "download":
                    // A new file, as cp makes: truncating an existing one would trigger ext4's
                    // auto_da_alloc flush on close, a cost neither side should pay.
                    using (var handle = File.OpenHandle(local, FileMode.CreateNew, FileAccess.Write))
                    {
                        await manager.DownloadVolumeAsync(source, new LocalFileEndpoint(handle), 0, 0, sparse: false);
                    }

                    break;
                case "cp-download":
                    await Run("cp", Path.Combine(pool, "src.raw"), local);
                    break;
            }

            Report(mode, sw.Elapsed.TotalSeconds, n);
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

static async Task StartPoolAsync(PoolManager manager, string name, string target)
{
    await manager.DefinePoolAsync($"<pool type='dir'><name>{name}</name><target><path>{target}</path></target></pool>");
    await manager.BuildPoolAsync(name, PoolBuildFlags.None);
    await manager.StartPoolAsync(name, PoolBuildFlags.None, false);
}

// libvirt's default for vol-create-as --format qcow2: 1 GiB virtual, compat 0.10 (written natively here).
static string Qcow2Xml(string name)
    => $"<volume><name>{name}</name><capacity>1073741824</capacity><target><format type='qcow2'/></target></volume>";

static void WriteRandom(string path, long bytes)
{
    var chunk = new byte[8 << 20];
    new Random(1).NextBytes(chunk);
    using var file = new FileStream(path, FileMode.OpenOrCreate, FileAccess.Write);
    for (long done = 0; done < bytes; done += chunk.Length)
    {
        file.Write(chunk, 0, (int)Math.Min(chunk.Length, bytes - done));
    }

    file.Flush(flushToDisk: true);
}

static void Sync() => Run("sync").GetAwaiter().GetResult();

static async Task Run(params string[] argv)
{
    var result = await ProcessRunner.Instance.RunAsync(argv);
    if (!result.Succeeded)
    {
        throw new InvalidOperationException($"{string.Join(' ', argv)}: {result.StandardError}");
    }
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
