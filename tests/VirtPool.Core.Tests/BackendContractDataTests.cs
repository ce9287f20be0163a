using VirtPool.Core.Backends;
using VirtPool.Core.Errors;
using VirtPool.Core.Model;
using VirtPool.Core.State;
using VirtPool.Core.Xml;

namespace VirtPool.Core.Tests;

/// <summary>
/// The data the widened backend contract adds: a backend's private note per volume in the index, a
/// disk's free extents in the live source, capabilities derived from interfaces, flag checks.
/// </summary>
public sealed class BackendContractDataTests
{
    [Theory]
    [InlineData("lv:uuid=Xa1\textents=0-255", false)]
    [InlineData("part 3\\n", true)]
    [InlineData("", true)]
    public void Backend_data_survives_the_index_with_and_without_encryption(string data, bool encrypted)
    {
        var encryption = encrypted ? new EncryptionDefinition { Format = EncryptionFormat.Luks } : null;
        var index = new VolumeIndex { Sizes = new PoolSizes(1, 2, 3) };
        index.Add(new VolumeIndexEntry("lv1", "/dev/vg/lv1", "/dev/vg/lv1", VolumeType.Block, "raw") { Id = 7, BackendData = data, Encryption = encryption });
        index.Add(new VolumeIndexEntry("plain", "/p", "/p", VolumeType.File, "raw") { Id = 8, Encryption = encryption });

        foreach (var text in new[] { index.Serialize(), VolumeIndex.AddRecord(index.Find("lv1")!, 0) + VolumeIndex.AddRecord(index.Find("plain")!, 0) })
        {
            var back = VolumeIndex.Parse(text);
            Assert.Equal(data, back.Find("lv1")!.BackendData);
            Assert.Null(back.Find("plain")!.BackendData);
            Assert.Equal(encrypted, back.Find("lv1")!.Encryption is not null);
            Assert.Equal(encrypted, back.Find("plain")!.Encryption is not null);
            Assert.Equal(7UL, back.Find("lv1")!.Id);
        }
    }

    [Fact]
    public void Free_extents_are_formatted_as_libvirt_and_kept_only_by_the_status_parser()
    {
        var def = PoolXml.Parse("<pool type='disk'><name>d</name><uuid>4f2d8a0e-1b7c-4e55-9a31-2c6e0d9b8f21</uuid><source><device path='/dev/loop7'/><format type='gpt'/></source><target><path>/dev</path></target></pool>");
        var live = def with
        {
            Source = def.Source with
            {
                Devices = [new PoolSourceDevice("/dev/loop7") { FreeExtents = [new PoolFreeExtent(17408, 1048576), new PoolFreeExtent(11534336, 104840704)] }],
            },
        };

        var xml = PoolXml.Format(live);
        // virStoragePoolSourceFormat: a device with free extents is an element of its own, extents indented.
        Assert.Contains(
            "  <source>\n    <device path='/dev/loop7'>\n      <freeExtent start='17408' end='1048576'/>\n      <freeExtent start='11534336' end='104840704'/>\n    </device>\n    <format type='gpt'/>\n  </source>\n",
            xml,
            StringComparison.Ordinal);

        Assert.Equal(xml, PoolXml.Format(PoolXml.ParseStatus(xml)));
        // A definition never carries them: libvirt's parser ignores the element there.
        Assert.Empty(PoolXml.Parse(xml).Source.Devices[0].FreeExtents);
    }

    [Fact]
    public void Capabilities_come_from_the_interfaces_a_backend_class_implements()
    {
        var bare = BackendCapabilities.Of(typeof(BareBackend), findsSources: false);
        Assert.Equal(new BackendCapabilities(), bare);

        var full = BackendCapabilities.Of(typeof(BuildingDeletingBackend), findsSources: true);
        Assert.True(full.CanBuild);
        Assert.True(full.CanDeletePool);
        Assert.True(full.CanFindSources);
        Assert.False(full.CanCreateVolume);
        Assert.False(full.CanTransferVolume);
    }

    [Fact]
    public void A_type_loads_only_the_sealed_class_its_capabilities_describe()
    {
        var type = BackendType.Of<BareBackend>(PoolType.Fs, _ => new BareBackend());
        var context = new PoolContext(PoolXml.Parse("<pool type='fs'><name>f</name><source><device path='/dev/x'/></source><target><path>/mnt/f</path></target></pool>"));
        Assert.IsType<BareBackend>(type.Load(context));

        var registry = new BackendRegistry([type, BackendType.FinderOnly(PoolType.Logical, new NoSources())]);
        Assert.Equal([PoolType.Fs], registry.Types);
        Assert.False(registry.TryGet(PoolType.Logical, out _));
        Assert.NotNull(registry.SourceFinderFor(PoolType.Logical));
        Assert.Null(registry.SourceFinderFor(PoolType.Fs));
    }

    [Theory]
    [InlineData(PoolBuildFlags.Repair, "unsupported flags (0x1) in function f")]
    [InlineData(PoolBuildFlags.Resize | PoolBuildFlags.Repair, "unsupported flags (0x3) in function f")]
    [InlineData(PoolBuildFlags.Overwrite | PoolBuildFlags.NoOverwrite, "Flags 'VIR_STORAGE_POOL_BUILD_OVERWRITE' and 'VIR_STORAGE_POOL_BUILD_NO_OVERWRITE' are mutually exclusive")]
    [InlineData((PoolBuildFlags)16, "unsupported flags (0x10) in function f")]
    public void Build_flag_checks_refuse_as_libvirt_backends_do(PoolBuildFlags flags, string message)
    {
        var ex = Assert.Throws<VirtPoolException>(() => BackendFlags.CheckBuild(flags, PoolBuildFlags.Overwrite | PoolBuildFlags.NoOverwrite, "f"));
        Assert.Equal(VirErrorCode.InvalidArg, ex.Code);
        Assert.Equal(message, ex.Message);
        BackendFlags.CheckBuild(PoolBuildFlags.Overwrite, PoolBuildFlags.Overwrite | PoolBuildFlags.NoOverwrite, "f");
    }

    private sealed class BareBackend : IStorageBackend
    {
        public Task<bool> CheckPoolAsync(PoolContext pool, CancellationToken cancellationToken) => Task.FromResult(true);

        public Task StartPoolAsync(PoolContext pool, PoolStartFlags flags, CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopPoolAsync(PoolContext pool, CancellationToken cancellationToken) => Task.CompletedTask;

        public Task<PoolScan> RefreshPoolAsync(PoolContext pool, CancellationToken cancellationToken) => Task.FromResult(new PoolScan(default, []));

        public Task<VolumeDefinition> RefreshVolumeAsync(PoolContext pool, VolumeDefinition volume, CancellationToken cancellationToken) => Task.FromResult(volume);
    }

    private sealed class BuildingDeletingBackend : IStorageBackend, IPoolBuilder, IPoolDeleter
    {
        public Task<bool> CheckPoolAsync(PoolContext pool, CancellationToken cancellationToken) => Task.FromResult(true);

        public Task StartPoolAsync(PoolContext pool, PoolStartFlags flags, CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopPoolAsync(PoolContext pool, CancellationToken cancellationToken) => Task.CompletedTask;

        public Task<PoolScan> RefreshPoolAsync(PoolContext pool, CancellationToken cancellationToken) => Task.FromResult(new PoolScan(default, []));

        public Task<VolumeDefinition> RefreshVolumeAsync(PoolContext pool, VolumeDefinition volume, CancellationToken cancellationToken) => Task.FromResult(volume);

        public Task BuildPoolAsync(PoolContext pool, PoolBuildFlags flags, CancellationToken cancellationToken) => Task.CompletedTask;

        public Task DeletePoolAsync(PoolContext pool, PoolDeleteFlags flags, CancellationToken cancellationToken) => Task.CompletedTask;
    }

    private sealed class NoSources : IPoolSourceFinder
    {
        public Task<IReadOnlyList<PoolSource>> FindPoolSourcesAsync(PoolSource? hint, uint flags, CancellationToken cancellationToken)
            => Task.FromResult<IReadOnlyList<PoolSource>>([]);
    }
}
