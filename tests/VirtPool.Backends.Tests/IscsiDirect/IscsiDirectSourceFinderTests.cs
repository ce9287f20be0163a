using VirtPool.Core.Errors;
using VirtPool.Core.Manager;
using VirtPool.Core.Process;
using VirtPool.Core.State;
using VirtPool.TestSupport;

namespace VirtPool.Backends.Tests.IscsiDirect;

/// <summary>find-storage-pool-sources for iscsi-direct against a real tgtd: SendTargets on a discovery session.</summary>
public sealed class IscsiDirectSourceFinderTests(IscsiTarget target) : IClassFixture<IscsiTarget>, IDisposable
{
    private readonly string _state = Directory.CreateTempSubdirectory("vp-iscsid-find-").FullName;

    public void Dispose() => Directory.Delete(_state, recursive: true);

    [Fact]
    public async Task Lists_every_target_of_the_portal_in_libvirts_source_list_format()
    {
        Assert.NotEmpty(target.Folder);
        using var manager = new PoolManager(new StateStore(_state), BackendCatalog.Create(ProcessRunner.Instance));
        var spec = $"<source><host name='127.0.0.1' port='3260'/><initiator><iqn name='{IscsiTarget.InitiatorIqn}'/></initiator></source>";
        Assert.Equal(
            $"""
            <sources>
              <source>
                <host name='127.0.0.1' port='3260'/>
                <device path='{IscsiTarget.PlainIqn}'/>
                <initiator>
                  <iqn name='{IscsiTarget.InitiatorIqn}'/>
                </initiator>
              </source>
              <source>
                <host name='127.0.0.1' port='3260'/>
                <device path='{IscsiTarget.ChapIqn}'/>
                <initiator>
                  <iqn name='{IscsiTarget.InitiatorIqn}'/>
                </initiator>
              </source>
            </sources>

            """,
            await manager.FindPoolSourcesAsync("iscsi-direct", spec, 0));
    }

    [Fact]
    public async Task Refuses_what_libvirt_refuses()
    {
        using var manager = new PoolManager(new StateStore(_state), BackendCatalog.Create(ProcessRunner.Instance));
        async Task<string> Error(string? spec, uint flags = 0)
            => (await Assert.ThrowsAsync<VirtPoolException>(() => manager.FindPoolSourcesAsync("iscsi-direct", spec, flags))).Message;

        Assert.Equal("invalid argument: hostname must be specified for iscsi sources", await Error(null));
        Assert.Equal("unsupported configuration: missing initiator IQN", await Error("<source><host name='127.0.0.1'/></source>"));
        Assert.Equal(
            "unsupported configuration: Expected exactly 1 host for the storage pool",
            await Error($"<source><initiator><iqn name='{IscsiTarget.InitiatorIqn}'/></initiator></source>"));
        Assert.StartsWith("internal error: Failed to connect: ", await Error($"<source><host name='127.0.0.1' port='3261'/><initiator><iqn name='{IscsiTarget.InitiatorIqn}'/></initiator></source>"), StringComparison.Ordinal);
        Assert.Equal("unsupported flags (0x1) in function virStorageBackendISCSIDirectFindPoolSources", await Error("<source/>", 1));
    }
}
