using VirtPool.Backends.Dir;
using VirtPool.Core.Backends;
using VirtPool.Core.Errors;
using VirtPool.Core.Manager;
using VirtPool.Core.Model;
using VirtPool.Core.Process;
using VirtPool.Core.State;

namespace VirtPool.Backends.Tests;

/// <summary>
/// The manager's side of the backend contract, on real dir pools: one backend per pool with a
/// lifecycle, flags checked by the backend before anything changes, the live source and the backend's
/// private volume note kept between calls.
/// </summary>
public sealed class BackendContractTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("vp-contract-").FullName;
    private readonly List<string> _events = [];

    private string State => Path.Combine(_root, "state");

    public void Dispose() => Directory.Delete(_root, recursive: true);

    /// <param name="poolType">The type the dir backend serves: fs, to see a device in the pool's XML.</param>
    private PoolManager NewManager(Func<PoolScan, PoolScan>? scanned = null, PoolType poolType = PoolType.Dir)
    {
        var dir = DirBackend.Type(ProcessRunner.Instance);
        var type = BackendType.Of(poolType, context =>
        {
            lock (_events)
            {
                _events.Add($"load {context.Name} {context.TargetPath}");
            }

            return new TrackingBackend(dir.Load(context), context.Name, _events, scanned ?? (s => s));
        });
        return new PoolManager(new StateStore(State), new BackendRegistry([type]));
    }

    private string PoolXml(string name, string folder)
        => $"<pool type='dir'><name>{name}</name><uuid>{Uuid(name)}</uuid><target><path>{Path.Combine(_root, folder)}</path></target></pool>";

    private static Guid Uuid(string name) => new(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(name)).AsSpan(0, 16));

    private string[] Events()
    {
        lock (_events)
        {
            var copy = _events.ToArray();
            _events.Clear();
            return copy;
        }
    }

    [Fact]
    public async Task Each_pool_has_one_backend_until_it_is_redefined_or_goes()
    {
        using var mgr = NewManager();
        await mgr.DefinePoolAsync(PoolXml("a", "a"));
        await mgr.DefinePoolAsync(PoolXml("b", "b"));
        foreach (var pool in new[] { "a", "b" })
        {
            await mgr.StartPoolAsync(pool, PoolBuildFlags.None, doBuild: true);
            var vol = await mgr.CreateVolumeAsync(pool, "<volume><name>v</name><capacity>4096</capacity></volume>");
            await mgr.GetVolumeAsync(vol);
            await mgr.RefreshPoolAsync(pool);
            await mgr.DestroyPoolAsync(pool);
        }

        // Build, start, create, describe, refresh and destroy of a pool: its backend loaded once.
        Assert.Equal([$"load a {_root}/a", $"load b {_root}/b"], Events());
        Assert.Equal(2, mgr.LoadedBackends);

        // A new definition of a stopped pool (another target) gets a new backend; the old one goes.
        await mgr.DefinePoolAsync(PoolXml("a", "a2"));
        await mgr.StartPoolAsync("a", PoolBuildFlags.None, doBuild: true);
        Assert.Equal([$"load a {_root}/a2", "dispose a"], Events());

        // Undefined: disposed. A transient pool's backend goes when it stops.
        await mgr.UndefinePoolAsync("b");
        await mgr.CreatePoolAsync(PoolXml("t", "t"), PoolBuildFlags.None, doBuild: true);
        await mgr.DestroyPoolAsync("t");
        Assert.Equal(["dispose b", $"load t {_root}/t", "dispose t"], Events());
        Assert.Equal(1, mgr.LoadedBackends);

        mgr.Dispose();
        Assert.Equal(["dispose a"], Events());
    }

    /// <summary>
    /// libvirt's buildVol: only the file types (dir, fs, netfs) build a volume from its definition, so only
    /// they make one of capacity 0 (an empty file); a disk partition needs a size, and the manager refuses
    /// it before the name is even looked at.
    /// </summary>
    [Fact]
    public async Task Only_types_that_build_volumes_make_one_of_capacity_zero()
    {
        var registry = BackendCatalog.Create(ProcessRunner.Instance);
        bool Builds(PoolType type) => registry.TryGet(type, out var backendType) && backendType.Capabilities.CanBuildVolume;
        Assert.Equal([true, true, true, false], new[] { PoolType.Dir, PoolType.Fs, PoolType.Netfs, PoolType.Disk }.Select(Builds));

        using var mgr = new PoolManager(new StateStore(State), registry);
        await mgr.DefinePoolAsync(PoolXml("z", "z"));
        await mgr.StartPoolAsync("z", PoolBuildFlags.None, doBuild: true);
        var empty = await mgr.CreateVolumeAsync("z", "<volume><name>empty</name><capacity>0</capacity></volume>");
        Assert.Equal(0L, new FileInfo(await mgr.GetVolumePathAsync(empty)).Length);
        await mgr.DestroyPoolAsync("z");
    }

    [Fact]
    public async Task Flags_a_backend_refuses_change_nothing_and_name_the_backends_function()
    {
        using var mgr = NewManager();
        await mgr.DefinePoolAsync(PoolXml("p", "p"));
        var build = await Assert.ThrowsAsync<VirtPoolException>(() => mgr.BuildPoolAsync("p", PoolBuildFlags.Repair));
        Assert.Equal("unsupported flags (0x1) in function virStorageBackendFileSystemBuild", build.Message);
        Assert.False(Directory.Exists(Path.Combine(_root, "p")));

        await mgr.StartPoolAsync("p", PoolBuildFlags.None, doBuild: true);
        var raw = await mgr.CreateVolumeAsync("p", "<volume><name>r</name><capacity>4096</capacity></volume>");
        var delete = await Assert.ThrowsAsync<VirtPoolException>(() => mgr.DeleteVolumeAsync(raw, VolumeDeleteFlags.ZeroedOut | VolumeDeleteFlags.WithSnapshots));
        Assert.Equal(VirErrorCode.InvalidArg, delete.Code);
        Assert.Equal("unsupported flags (0x3) in function virStorageBackendVolDeleteLocal", delete.Message);
        Assert.Equal(["r"], (await mgr.ListVolumesAsync("p")).Select(v => v.Name));
        Assert.True(File.Exists(Path.Combine(_root, "p", "r")));

        await mgr.DestroyPoolAsync("p");
        var deletePool = await Assert.ThrowsAsync<VirtPoolException>(() => mgr.DeletePoolAsync("p", PoolDeleteFlags.Zeroed));
        Assert.Equal("unsupported flags (0x1) in function virStorageBackendDeleteLocal", deletePool.Message);
        Assert.True(Directory.Exists(Path.Combine(_root, "p")));
    }

    [Fact]
    public async Task The_live_source_and_each_volumes_backend_note_are_kept_between_calls()
    {
        // A refresh that reports a device with free extents and notes each volume: as a disk pool's would.
        static PoolScan Scanned(PoolScan scan) => scan with
        {
            Source = new PoolSource { Devices = [new PoolSourceDevice("/dev/loop9") { FreeExtents = [new PoolFreeExtent(1048576, 2097152)] }] },
            Volumes = [.. scan.Volumes.Select(v => v with { BackendData = "note of " + v.Name })],
        };

        using var mgr = NewManager(Scanned, PoolType.Fs);
        await mgr.DefinePoolAsync($"<pool type='fs'><name>p</name><source><device path='/dev/loop9'/></source><target><path>{_root}/p</path></target></pool>");
        Directory.CreateDirectory(Path.Combine(_root, "p"));
        await File.WriteAllBytesAsync(Path.Combine(_root, "p", "found.img"), new byte[4096]);
        await mgr.StartPoolAsync("p", PoolBuildFlags.None, doBuild: false);

        var xml = await mgr.GetPoolXmlAsync("p", inactive: false);
        Assert.Contains("<device path='/dev/loop9'>\n      <freeExtent start='1048576' end='2097152'/>\n    </device>", xml, StringComparison.Ordinal);
        // Read back by another manager (another process): the status file carries it.
        using (var other = new PoolManager(new StateStore(State), BackendCatalog.Create(ProcessRunner.Instance)))
        {
            Assert.Equal(xml, await other.GetPoolXmlAsync("p", inactive: false));
        }

        Events();
        await mgr.GetVolumeAsync(await mgr.LookupVolumeByNameAsync("p", "found.img"));
        Assert.Equal(["refresh-volume found.img with note of found.img"], Events());
    }

    /// <summary>The real dir backend of one pool, recording what the manager asks of it.</summary>
    private sealed class TrackingBackend(IStorageBackend inner, string pool, List<string> events, Func<PoolScan, PoolScan> scanned)
        : IStorageBackend, IPoolBuilder, IPoolDeleter, IVolumeCreator, IVolumeDeleter, IDisposable
    {
        public Task<bool> CheckPoolAsync(PoolContext context, CancellationToken cancellationToken) => inner.CheckPoolAsync(context, cancellationToken);

        public Task StartPoolAsync(PoolContext context, PoolStartFlags flags, CancellationToken cancellationToken) => inner.StartPoolAsync(context, flags, cancellationToken);

        public Task StopPoolAsync(PoolContext context, CancellationToken cancellationToken) => inner.StopPoolAsync(context, cancellationToken);

        public async Task<PoolScan> RefreshPoolAsync(PoolContext context, CancellationToken cancellationToken)
            => scanned(await inner.RefreshPoolAsync(context, cancellationToken));

        public Task<VolumeDefinition> RefreshVolumeAsync(PoolContext context, VolumeDefinition volume, CancellationToken cancellationToken)
        {
            if (volume.BackendData is { } note)
            {
                Record($"refresh-volume {volume.Name} with {note}");
            }

            return inner.RefreshVolumeAsync(context, volume, cancellationToken);
        }

        public Task BuildPoolAsync(PoolContext context, PoolBuildFlags flags, CancellationToken cancellationToken) => ((IPoolBuilder)inner).BuildPoolAsync(context, flags, cancellationToken);

        public Task DeletePoolAsync(PoolContext context, PoolDeleteFlags flags, CancellationToken cancellationToken) => ((IPoolDeleter)inner).DeletePoolAsync(context, flags, cancellationToken);

        public VolumeDefinition PrepareVolume(PoolContext context, VolumeDefinition volume) => ((IVolumeCreator)inner).PrepareVolume(context, volume);

        public Task<VolumeDefinition> CreateVolumeAsync(PoolContext context, VolumeDefinition volume, VolumeCreateFlags flags, IProgress<long>? progress, CancellationToken cancellationToken)
            => ((IVolumeCreator)inner).CreateVolumeAsync(context, volume, flags, progress, cancellationToken);

        public void CheckDeleteFlags(VolumeDefinition volume, VolumeDeleteFlags flags) => ((IVolumeDeleter)inner).CheckDeleteFlags(volume, flags);

        public Task DeleteVolumeAsync(PoolContext context, VolumeDefinition volume, VolumeDeleteFlags flags, CancellationToken cancellationToken)
            => ((IVolumeDeleter)inner).DeleteVolumeAsync(context, volume, flags, cancellationToken);

        public void Dispose() => Record("dispose " + pool);

        private void Record(string what)
        {
            lock (events)
            {
                events.Add(what);
            }
        }
    }
}
