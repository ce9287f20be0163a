using VirtPool.Core.Errors;
using VirtPool.Rpc;
using VirtPool.Rpc.Xdr;
using VirtPool.TestSupport;

namespace VirtPool.Daemon.Tests;

/// <summary>
/// CONNECT_FIND_STORAGE_POOL_SOURCES (75) through the procedure table onto a real pool manager: the
/// read-only check comes first (libvirt's public API makes it before the driver), then the driver's
/// checks, then the logical finder on this machine's real LVM.
/// </summary>
public sealed class PoolSourceProcedureTests : IDisposable
{
    private readonly StorageHarness _h = new();

    public void Dispose() => _h.Dispose();

    private Task<StorageReply> FindAsync(string type, string? spec = null, uint flags = 0) =>
        _h.CallAsync(RemoteProcedure.ConnectFindStoragePoolSources, w =>
        {
            w.WriteString(type);
            w.WriteOptionalString(spec);
            w.WriteUInt32(flags);
        });

    [Fact]
    public async Task Read_only_connections_are_refused_before_anything_else()
    {
        _h.Connection.IsReadOnly = true;
        foreach (var type in new[] { "logical", "bogus", "dir" })
        {
            (await FindAsync(type)).AssertError(VirErrorCode.OperationDenied, VirErrorDomain.Storage,
                "operation forbidden: read only access prevents virConnectFindStoragePoolSources");
        }
    }

    [Fact]
    public async Task Driver_errors_in_libvirts_order()
    {
        (await FindAsync("bogus", "<bad")).AssertError(VirErrorCode.InternalError, VirErrorDomain.Storage, "internal error: unknown storage pool type bogus");
        (await FindAsync("vstorage")).AssertError(VirErrorCode.InternalError, VirErrorDomain.Storage, "internal error: missing backend for pool type 13 (vstorage)");
        (await FindAsync("fs", "<bad")).AssertError(VirErrorCode.NoSupport, VirErrorDomain.Storage,
            "this function is not supported by the connection driver: pool type 'fs' does not support source discovery");
        (await FindAsync("logical", null, 2)).AssertError(VirErrorCode.InvalidArg, VirErrorDomain.Storage,
            "unsupported flags (0x2) in function virStorageBackendLogicalFindPoolSources");
    }

    [Fact]
    public async Task Logical_sources_list_a_real_volume_group()
    {
        var work = Directory.CreateTempSubdirectory("vp-lvm-rpc-").FullName;
        try
        {
            await using var lvm = await LoopVolumeGroups.CreateAsync(work, [("rpc", 2)]);
            var (name, devices) = lvm.Groups[0];

            // srcSpec is no concern of the logical finder: a malformed one changes nothing.
            var xml = (await FindAsync("logical", "<source><bad")).Ret(static (ref XdrReader r) => r.ReadString());

            Assert.StartsWith("<sources>\n", xml, StringComparison.Ordinal);
            var found = Assert.Single(System.Xml.Linq.XDocument.Parse(xml).Root!.Elements("source"), s => (string?)s.Element("name") == name);
            Assert.Equal(devices.Order(StringComparer.Ordinal), found.Elements("device").Select(d => (string)d.Attribute("path")!).Order(StringComparer.Ordinal));
            Assert.Equal("lvm2", (string?)found.Element("format")?.Attribute("type"));
            Assert.EndsWith("</sources>\n", xml, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }
}
