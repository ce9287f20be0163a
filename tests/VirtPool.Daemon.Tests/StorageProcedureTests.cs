using VirtPool.Core.Errors;
using VirtPool.Core.Manager;
using VirtPool.Rpc;
using VirtPool.Rpc.Xdr;

namespace VirtPool.Daemon.Tests;

/// <summary>
/// Storage procedures end to end without the daemon host: CALL args encoded by hand, dispatched through
/// the procedure table onto a real pool manager, REPLY decoded and checked against spec 5.3 / 3.6.
/// </summary>
public sealed class StorageProcedureTests : IDisposable
{
    private readonly StorageHarness _h = new();

    public void Dispose() => _h.Dispose();

    [Fact]
    public void Every_storage_procedure_of_the_spec_table_is_registered_except_event_registration()
    {
        int[] expected =
        [
            71, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 83, 84, 85, 86, 87, 88, 89, 90, 91, 92, 93, 94, 95, 96, 97, 98, 99, 100,
            125, 154, 155, 165, 208, 209, 259, 260, 281, 282, 378, 391, 403,
        ];
        foreach (var proc in expected)
        {
            Assert.True(_h.Table.TryGet(proc, out _), $"procedure {proc} is not registered");
        }

        Assert.False(_h.Table.IsRegistered(RemoteProcedure.ConnectStoragePoolEventRegisterAny));
    }

    [Fact]
    public async Task Pool_lifecycle_define_build_start_list_info_xml_destroy_undefine()
    {
        var pool = (await _h.CallAsync(RemoteProcedure.StoragePoolDefineXml, w =>
        {
            w.WriteString(_h.DirPoolXml("p1"));
            w.WriteUInt32(0);
        })).Ret(StorageHarness.ReadPool);
        Assert.Equal("p1", pool.Name);
        Assert.NotEqual(Guid.Empty, pool.Uuid);

        // Defined, not running: one inactive, zero active.
        Assert.Equal(0, (await _h.CallAsync(RemoteProcedure.ConnectNumOfStoragePools)).Ret(static (ref XdrReader r) => r.ReadInt32()));
        Assert.Equal(1, (await _h.CallAsync(RemoteProcedure.ConnectNumOfDefinedStoragePools)).Ret(static (ref XdrReader r) => r.ReadInt32()));
        var defined = (await _h.CallAsync(RemoteProcedure.ConnectListDefinedStoragePools, w => w.WriteInt32(10)))
            .Ret(static (ref XdrReader r) => r.ReadArray(16384, static (ref XdrReader e) => e.ReadString()));
        Assert.Equal(["p1"], defined);

        (await _h.CallAsync(RemoteProcedure.StoragePoolBuild, w =>
        {
            StorageHarness.Pool(w, pool);
            w.WriteUInt32(0);
        })).AssertVoid();
        Assert.True(Directory.Exists(Path.Combine(_h.Images, "p1")));
        (await _h.CallAsync(RemoteProcedure.StoragePoolCreate, w =>
        {
            StorageHarness.Pool(w, pool);
            w.WriteUInt32(0);
        })).AssertVoid();

        var (pools, count) = (await _h.CallAsync(RemoteProcedure.ConnectListAllStoragePools, w =>
        {
            w.WriteInt32(1);
            w.WriteUInt32(2); // ACTIVE
        })).Ret(static (ref XdrReader r) => (r.ReadArray(16384, StorageHarness.ReadPool, 20), r.ReadUInt32()));
        Assert.Equal([pool], pools);
        Assert.Equal(1u, count);

        // need_results 0: no handles, just the count.
        var countOnly = (await _h.CallAsync(RemoteProcedure.ConnectListAllStoragePools, w =>
        {
            w.WriteInt32(0);
            w.WriteUInt32(0);
        })).Ret(static (ref XdrReader r) => (r.ReadArrayCount(16384), r.ReadUInt32()));
        Assert.Equal((0, 1u), countOnly);

        var (state, capacity, allocation, available) = (await _h.CallAsync(RemoteProcedure.StoragePoolGetInfo, w => StorageHarness.Pool(w, pool)))
            .Ret(static (ref XdrReader r) => (r.ReadInt32(), r.ReadUInt64(), r.ReadUInt64(), r.ReadUInt64()));
        Assert.Equal((int)PoolState.Running, state);
        Assert.True(capacity > 0);
        Assert.True(allocation + available <= capacity);

        var xml = (await _h.CallAsync(RemoteProcedure.StoragePoolGetXmlDesc, w =>
        {
            StorageHarness.Pool(w, pool);
            w.WriteUInt32(0);
        })).Ret(static (ref XdrReader r) => r.ReadString());
        Assert.Contains("<name>p1</name>", xml, StringComparison.Ordinal);
        Assert.Contains($"<uuid>{pool.Uuid:D}</uuid>", xml, StringComparison.Ordinal);
        Assert.Contains($"<path>{Path.Combine(_h.Images, "p1")}</path>", xml, StringComparison.Ordinal);

        Assert.Equal(1, (await _h.CallAsync(RemoteProcedure.StoragePoolIsActive, w => StorageHarness.Pool(w, pool))).Ret(static (ref XdrReader r) => r.ReadInt32()));
        Assert.Equal(1, (await _h.CallAsync(RemoteProcedure.StoragePoolIsPersistent, w => StorageHarness.Pool(w, pool))).Ret(static (ref XdrReader r) => r.ReadInt32()));
        Assert.Equal(0, (await _h.CallAsync(RemoteProcedure.StoragePoolGetAutostart, w => StorageHarness.Pool(w, pool))).Ret(static (ref XdrReader r) => r.ReadInt32()));
        (await _h.CallAsync(RemoteProcedure.StoragePoolSetAutostart, w =>
        {
            StorageHarness.Pool(w, pool);
            w.WriteInt32(7); // any non-zero means on
        })).AssertVoid();
        Assert.Equal(1, (await _h.CallAsync(RemoteProcedure.StoragePoolGetAutostart, w => StorageHarness.Pool(w, pool))).Ret(static (ref XdrReader r) => r.ReadInt32()));

        (await _h.CallAsync(RemoteProcedure.StoragePoolRefresh, w =>
        {
            StorageHarness.Pool(w, pool);
            w.WriteUInt32(0);
        })).AssertVoid();

        (await _h.CallAsync(RemoteProcedure.StoragePoolDestroy, w => StorageHarness.Pool(w, pool))).AssertVoid();
        Assert.Equal(0, (await _h.CallAsync(RemoteProcedure.StoragePoolIsActive, w => StorageHarness.Pool(w, pool))).Ret(static (ref XdrReader r) => r.ReadInt32()));
        (await _h.CallAsync(RemoteProcedure.StoragePoolUndefine, w => StorageHarness.Pool(w, pool))).AssertVoid();

        (await _h.CallAsync(RemoteProcedure.StoragePoolLookupByName, w => w.WriteString("p1")))
            .AssertError(VirErrorCode.NoStoragePool, VirErrorDomain.Storage, "Storage pool not found: no storage pool with matching name 'p1'");

        Assert.Equal(
            [
                "pool p1 lifecycle 0 0", // DEFINED
                "pool p1 lifecycle 4 0", // CREATED (build)
                "pool p1 lifecycle 2 0", // STARTED
                "pool p1 refresh",
                "pool p1 lifecycle 3 0", // STOPPED
                "pool p1 lifecycle 1 0", // UNDEFINED
            ],
            _h.Events.Events);
    }

    [Fact]
    public async Task Lookups_by_name_uuid_volume_and_target_path_return_the_handle()
    {
        var pool = await _h.StartedDirPoolAsync("look");
        var vol = await _h.CreateVolumeAsync(pool, "a.img", 1 << 20);

        Assert.Equal(pool, (await _h.CallAsync(RemoteProcedure.StoragePoolLookupByName, w => w.WriteString("look"))).Ret(StorageHarness.ReadPool));
        Assert.Equal(pool, (await _h.CallAsync(RemoteProcedure.StoragePoolLookupByUuid, w => w.WriteUuid(pool.Uuid))).Ret(StorageHarness.ReadPool));
        Assert.Equal(pool, (await _h.CallAsync(RemoteProcedure.StoragePoolLookupByVolume, w => StorageHarness.Vol(w, vol))).Ret(StorageHarness.ReadPool));
        var target = Path.Combine(_h.Images, "look");
        Assert.Equal(pool, (await _h.CallAsync(RemoteProcedure.StoragePoolLookupByTargetPath, w => w.WriteString(target + "//"))).Ret(StorageHarness.ReadPool));
        (await _h.CallAsync(RemoteProcedure.StoragePoolLookupByTargetPath, w => w.WriteString("/nowhere/")))
            .AssertError(VirErrorCode.NoStoragePool, VirErrorDomain.Storage, "Storage pool not found: no storage pool with matching target path '/nowhere/' (/nowhere)");

        var path = Path.Combine(target, "a.img");
        Assert.Equal(path, vol.Key);
        Assert.Equal(vol, (await _h.CallAsync(RemoteProcedure.StorageVolLookupByName, w =>
        {
            StorageHarness.Pool(w, pool);
            w.WriteString("a.img");
        })).Ret(StorageHarness.ReadVol));
        Assert.Equal(vol, (await _h.CallAsync(RemoteProcedure.StorageVolLookupByKey, w => w.WriteString(path))).Ret(StorageHarness.ReadVol));
        Assert.Equal(vol, (await _h.CallAsync(RemoteProcedure.StorageVolLookupByPath, w => w.WriteString(path))).Ret(StorageHarness.ReadVol));

        (await _h.CallAsync(RemoteProcedure.StorageVolLookupByKey, w => w.WriteString("/no/such")))
            .AssertError(VirErrorCode.NoStorageVol, VirErrorDomain.Storage, "Storage volume not found: no storage vol with matching key /no/such");
        (await _h.CallAsync(RemoteProcedure.StorageVolLookupByName, w =>
        {
            StorageHarness.Pool(w, pool);
            w.WriteString("zzz");
        })).AssertError(VirErrorCode.NoStorageVol, VirErrorDomain.Storage, "Storage volume not found: no storage vol with matching name 'zzz'");
    }

    [Fact]
    public async Task Volume_create_list_info_xml_path_resize_wipe_delete()
    {
        var pool = await _h.StartedDirPoolAsync("vols");
        var vol = await _h.CreateVolumeAsync(pool, "disk.raw", 4 << 20);
        Assert.Equal(new VolumeRef("vols", "disk.raw", Path.Combine(_h.Images, "vols", "disk.raw")), vol);

        Assert.Equal(1, (await _h.CallAsync(RemoteProcedure.StoragePoolNumOfVolumes, w => StorageHarness.Pool(w, pool))).Ret(static (ref XdrReader r) => r.ReadInt32()));
        var names = (await _h.CallAsync(RemoteProcedure.StoragePoolListVolumes, w =>
        {
            StorageHarness.Pool(w, pool);
            w.WriteInt32(5);
        })).Ret(static (ref XdrReader r) => r.ReadArray(16384, static (ref XdrReader e) => e.ReadString()));
        Assert.Equal(["disk.raw"], names);
        var (vols, count) = (await _h.CallAsync(RemoteProcedure.StoragePoolListAllVolumes, w =>
        {
            StorageHarness.Pool(w, pool);
            w.WriteInt32(1);
            w.WriteUInt32(0);
        })).Ret(static (ref XdrReader r) => (r.ReadArray(16384, StorageHarness.ReadVol, 12), r.ReadUInt32()));
        Assert.Equal([vol], vols);
        Assert.Equal(1u, count);

        var (type, capacity, allocation) = (await _h.CallAsync(RemoteProcedure.StorageVolGetInfo, w => StorageHarness.Vol(w, vol)))
            .Ret(static (ref XdrReader r) => (r.ReadInt32(), r.ReadUInt64(), r.ReadUInt64()));
        Assert.Equal(0, type); // file
        Assert.Equal(4UL << 20, capacity);
        Assert.True(allocation < capacity, "a sparse raw file");

        var physical = (await _h.CallAsync(RemoteProcedure.StorageVolGetInfoFlags, w =>
        {
            StorageHarness.Vol(w, vol);
            w.WriteUInt32(1); // GET_PHYSICAL
        })).Ret(static (ref XdrReader r) => (r.ReadInt32(), r.ReadUInt64(), r.ReadUInt64()));
        Assert.Equal(4UL << 20, physical.Item3);

        var xml = (await _h.CallAsync(RemoteProcedure.StorageVolGetXmlDesc, w =>
        {
            StorageHarness.Vol(w, vol);
            w.WriteUInt32(0);
        })).Ret(static (ref XdrReader r) => r.ReadString());
        Assert.StartsWith("<volume type='file'>", xml, StringComparison.Ordinal);
        Assert.Contains("<name>disk.raw</name>", xml, StringComparison.Ordinal);
        Assert.Contains("<capacity unit='bytes'>4194304</capacity>", xml, StringComparison.Ordinal);

        Assert.Equal(vol.Key, (await _h.CallAsync(RemoteProcedure.StorageVolGetPath, w => StorageHarness.Vol(w, vol))).Ret(static (ref XdrReader r) => r.ReadString()));

        (await _h.CallAsync(RemoteProcedure.StorageVolResize, w =>
        {
            StorageHarness.Vol(w, vol);
            w.WriteUInt64(1 << 20);
            w.WriteUInt32(2); // DELTA
        })).AssertVoid();
        Assert.Equal(5L << 20, new FileInfo(vol.Key).Length);
        (await _h.CallAsync(RemoteProcedure.StorageVolResize, w =>
        {
            StorageHarness.Vol(w, vol);
            w.WriteUInt64(1 << 20);
            w.WriteUInt32(0);
        })).AssertError(VirErrorCode.InvalidArg, VirErrorDomain.Storage, "invalid argument: Can't shrink capacity below current capacity unless shrink flag explicitly specified");

        (await _h.CallAsync(RemoteProcedure.StorageVolWipe, w =>
        {
            StorageHarness.Vol(w, vol);
            w.WriteUInt32(0);
        })).AssertVoid();
        (await _h.CallAsync(RemoteProcedure.StorageVolWipePattern, w =>
        {
            StorageHarness.Vol(w, vol);
            w.WriteUInt32(10);
            w.WriteUInt32(0);
        })).AssertError(VirErrorCode.InvalidArg, VirErrorDomain.Storage, "invalid argument: wiping algorithm 10 not supported");

        // Same name again: code 90.
        (await _h.CallAsync(RemoteProcedure.StorageVolCreateXml, w =>
        {
            StorageHarness.Pool(w, pool);
            w.WriteString("<volume><name>disk.raw</name><capacity>1024</capacity></volume>");
            w.WriteUInt32(0);
        })).AssertError(VirErrorCode.StorageVolExist, VirErrorDomain.Storage, "storage volume 'disk.raw' exists already");

        var clone = (await _h.CallAsync(RemoteProcedure.StorageVolCreateXmlFrom, w =>
        {
            StorageHarness.Pool(w, pool);
            w.WriteString("<volume><name>copy.raw</name><capacity>0</capacity></volume>");
            StorageHarness.Vol(w, vol);
            w.WriteUInt32(0);
        })).Ret(StorageHarness.ReadVol);
        Assert.Equal("copy.raw", clone.Name);
        Assert.Equal(5L << 20, new FileInfo(clone.Key).Length);

        (await _h.CallAsync(RemoteProcedure.StorageVolDelete, w =>
        {
            StorageHarness.Vol(w, vol);
            w.WriteUInt32(0);
        })).AssertVoid();
        Assert.False(File.Exists(vol.Key));
        (await _h.CallAsync(RemoteProcedure.StorageVolGetInfo, w => StorageHarness.Vol(w, vol)))
            .AssertError(VirErrorCode.NoStorageVol, VirErrorDomain.Storage, "Storage volume not found: no storage vol with matching name 'disk.raw'");
    }

    [Fact]
    public async Task Pool_handle_that_no_longer_exists_names_uuid_and_name()
    {
        var ghost = new PoolRef("ghost", Guid.Parse("51ba6aa6-162e-4404-a7f3-b932553be85e"));
        (await _h.CallAsync(RemoteProcedure.StoragePoolGetInfo, w => StorageHarness.Pool(w, ghost)))
            .AssertError(VirErrorCode.NoStoragePool, VirErrorDomain.Storage, "Storage pool not found: no storage pool with matching uuid '51ba6aa6-162e-4404-a7f3-b932553be85e' (ghost)");
        (await _h.CallAsync(RemoteProcedure.StoragePoolLookupByName, w => w.WriteString("nosuchpool")))
            .AssertError(VirErrorCode.NoStoragePool, VirErrorDomain.Storage, "Storage pool not found: no storage pool with matching name 'nosuchpool'");
    }

    [Fact]
    public async Task No_such_pool_error_mirrors_libvirtd_remote_error_fields()
    {
        var error = (await _h.CallAsync(RemoteProcedure.StoragePoolLookupByName, w => w.WriteString("nosuchpool"))).Error;
        Assert.Equal(VirErrorCode.NoStoragePool, error.Code);
        Assert.Equal(VirErrorDomain.Storage, error.Domain);
        Assert.Equal("Storage pool not found: %s", error.Str1);
        Assert.Equal("no storage pool with matching name 'nosuchpool'", error.Str2);
        Assert.Equal(-1, error.Int1);
    }

    [Fact]
    public async Task Inactive_pool_refuses_volume_listing_with_code_55()
    {
        var pool = (await _h.CallAsync(RemoteProcedure.StoragePoolDefineXml, w =>
        {
            w.WriteString(_h.DirPoolXml("idle"));
            w.WriteUInt32(0);
        })).Ret(StorageHarness.ReadPool);
        (await _h.CallAsync(RemoteProcedure.StoragePoolListAllVolumes, w =>
        {
            StorageHarness.Pool(w, pool);
            w.WriteInt32(1);
            w.WriteUInt32(0);
        })).AssertError(VirErrorCode.OperationInvalid, VirErrorDomain.Storage, "Requested operation is not valid: storage pool 'idle' is not active");
        (await _h.CallAsync(RemoteProcedure.StoragePoolDestroy, w => StorageHarness.Pool(w, pool)))
            .AssertError(VirErrorCode.OperationInvalid, VirErrorDomain.Storage, "Requested operation is not valid: storage pool 'idle' is not active");
    }

    [Fact]
    public async Task Read_only_connection_refuses_mutating_calls_but_answers_queries()
    {
        var pool = await _h.StartedDirPoolAsync("ro");
        _h.Connection.IsReadOnly = true;
        _h.Events.Events.Clear();

        (await _h.CallAsync(RemoteProcedure.StoragePoolRefresh, w =>
        {
            StorageHarness.Pool(w, pool);
            w.WriteUInt32(0);
        })).AssertError(VirErrorCode.OperationDenied, VirErrorDomain.Storage, "operation forbidden: read only access prevents virStoragePoolRefresh");
        (await _h.CallAsync(RemoteProcedure.StoragePoolDestroy, w => StorageHarness.Pool(w, pool)))
            .AssertError(VirErrorCode.OperationDenied, VirErrorDomain.Storage, "operation forbidden: read only access prevents virStoragePoolDestroy");
        (await _h.CallAsync(RemoteProcedure.StoragePoolDefineXml, w =>
        {
            w.WriteString(_h.DirPoolXml("other"));
            w.WriteUInt32(0);
        })).AssertError(VirErrorCode.OperationDenied, VirErrorDomain.Storage, "operation forbidden: read only access prevents virStoragePoolDefineXML");
        (await _h.CallAsync(RemoteProcedure.StorageVolCreateXml, w =>
        {
            StorageHarness.Pool(w, pool);
            w.WriteString("<volume><name>x</name><capacity>1</capacity></volume>");
            w.WriteUInt32(0);
        })).AssertError(VirErrorCode.OperationDenied, VirErrorDomain.Storage, "operation forbidden: read only access prevents virStorageVolCreateXML");

        Assert.Equal(1, (await _h.CallAsync(RemoteProcedure.StoragePoolIsActive, w => StorageHarness.Pool(w, pool))).Ret(static (ref XdrReader r) => r.ReadInt32()));
        Assert.Empty(_h.Events.Events);
        Assert.True((await _h.Manager.GetPoolSummaryAsync("ro")).Active);
    }

    [Fact]
    public async Task Unknown_flag_bits_are_refused_verbatim_like_virCheckFlags()
    {
        var pool = await _h.StartedDirPoolAsync("flags");
        var reply = await _h.CallAsync(RemoteProcedure.StoragePoolRefresh, w =>
        {
            StorageHarness.Pool(w, pool);
            w.WriteUInt32(0x10);
        });
        reply.AssertError(VirErrorCode.InvalidArg, VirErrorDomain.Storage, "unsupported flags (0x10) in function storagePoolRefresh");
        (await _h.CallAsync(RemoteProcedure.ConnectListAllStoragePools, w =>
        {
            w.WriteInt32(1);
            w.WriteUInt32(0x100000);
        })).AssertError(VirErrorCode.InvalidArg, VirErrorDomain.Storage, "unsupported flags (0x100000) in function storageConnectListAllStoragePools");
        (await _h.CallAsync(RemoteProcedure.ConnectGetStoragePoolCapabilities, w => w.WriteUInt32(1)))
            .AssertError(VirErrorCode.InvalidArg, VirErrorDomain.Storage, "unsupported flags (0x1) in function storageConnectGetStoragePoolCapabilities");
    }

    [Fact]
    public async Task Truncated_args_give_the_decode_error()
    {
        // A string claiming 100 bytes with none following.
        var reply = await _h.CallRawAsync(RemoteProcedure.StoragePoolLookupByName, [0, 0, 0, 100]);
        reply.AssertError(VirErrorCode.Rpc, VirErrorDomain.Rpc, "Unable to decode message payload");
        var empty = await _h.CallRawAsync(RemoteProcedure.StoragePoolGetInfo, []);
        empty.AssertError(VirErrorCode.Rpc, VirErrorDomain.Rpc, "Unable to decode message payload");
    }

    [Fact]
    public async Task List_with_negative_maxnames_is_an_rpc_error_and_maxnames_caps_the_reply()
    {
        await _h.StartedDirPoolAsync("a");
        await _h.StartedDirPoolAsync("b");
        (await _h.CallAsync(RemoteProcedure.ConnectListStoragePools, w => w.WriteInt32(-1)))
            .AssertError(VirErrorCode.Rpc, VirErrorDomain.Rpc, "maxnames must be non-negative");
        var names = (await _h.CallAsync(RemoteProcedure.ConnectListStoragePools, w => w.WriteInt32(1)))
            .Ret(static (ref XdrReader r) => r.ReadArray(16384, static (ref XdrReader e) => e.ReadString()));
        Assert.Single(names);
    }

    [Fact]
    public async Task Create_xml_makes_a_transient_running_pool_that_destroy_removes()
    {
        var pool = (await _h.CallAsync(RemoteProcedure.StoragePoolCreateXml, w =>
        {
            w.WriteString(_h.DirPoolXml("temp"));
            w.WriteUInt32(1); // WITH_BUILD
        })).Ret(StorageHarness.ReadPool);
        Assert.Equal(0, (await _h.CallAsync(RemoteProcedure.StoragePoolIsPersistent, w => StorageHarness.Pool(w, pool))).Ret(static (ref XdrReader r) => r.ReadInt32()));
        (await _h.CallAsync(RemoteProcedure.StoragePoolSetAutostart, w =>
        {
            StorageHarness.Pool(w, pool);
            w.WriteInt32(1);
        })).AssertError(VirErrorCode.InternalError, VirErrorDomain.Storage, "internal error: pool has no config file");
        (await _h.CallAsync(RemoteProcedure.StoragePoolDestroy, w => StorageHarness.Pool(w, pool))).AssertVoid();
        (await _h.CallAsync(RemoteProcedure.StoragePoolLookupByUuid, w => w.WriteUuid(pool.Uuid)))
            .AssertError(VirErrorCode.NoStoragePool, VirErrorDomain.Storage, $"Storage pool not found: no storage pool with matching uuid '{pool.Uuid:D}'");
        Assert.Equal(["pool temp lifecycle 2 0", "pool temp lifecycle 3 0"], _h.Events.Events);
    }

    [Fact]
    public async Task Capabilities_and_source_discovery()
    {
        var caps = (await _h.CallAsync(RemoteProcedure.ConnectGetStoragePoolCapabilities, w => w.WriteUInt32(0))).Ret(static (ref XdrReader r) => r.ReadString());
        Assert.StartsWith("<storagepoolCapabilities>", caps, StringComparison.Ordinal);
        Assert.Contains("<pool type='dir' supported='yes'>", caps, StringComparison.Ordinal);

        (await _h.CallAsync(RemoteProcedure.ConnectFindStoragePoolSources, w =>
        {
            w.WriteString("bogus");
            w.WriteOptionalString(null);
            w.WriteUInt32(0);
        })).AssertError(VirErrorCode.InternalError, VirErrorDomain.Storage, "internal error: unknown storage pool type bogus");
        (await _h.CallAsync(RemoteProcedure.ConnectFindStoragePoolSources, w =>
        {
            w.WriteString("dir");
            w.WriteOptionalString(null);
            w.WriteUInt32(0);
        })).AssertError(VirErrorCode.NoSupport, VirErrorDomain.Storage, "this function is not supported by the connection driver: pool type 'dir' does not support source discovery");
    }
}
