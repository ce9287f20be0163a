using VirtPool.Core.Errors;
using VirtPool.Core.Model;
using VirtPool.Core.Xml;

namespace VirtPool.Core.Tests;

/// <summary>Source/name/uuid clash checks (virStoragePoolObjSourceFindDuplicate + virStoragePoolObjIsDuplicate).</summary>
public class PoolXmlDuplicatesTests
{
    private static int _next;

    private static PoolDefinition Pool(string type, string name, string body)
    {
        var uuid = $"7e3b1a90-4c2d-4f6e-8a1b-{Interlocked.Increment(ref _next):x12}";
        return PoolXml.Parse($"<pool type='{type}'><name>{name}</name><uuid>{uuid}</uuid>{body}</pool>");
    }

    private static void AssertConflict(PoolDefinition def, PoolDefinition existing)
    {
        var ex = Assert.Throws<VirtPoolException>(() => PoolSourceDuplicates.Check(def, [existing]));
        Assert.Equal(VirErrorCode.OperationFailed, ex.Code);
        Assert.Equal($"operation failed: Storage source conflict with pool: '{existing.Name}'", ex.Message);
    }

    private static void AssertNoConflict(PoolDefinition def, params PoolDefinition[] existing)
        => PoolSourceDuplicates.Check(def, existing);

    [Fact]
    public void Dir_pools_clash_on_the_target_path()
    {
        var a = Pool("dir", "px-a", "<target><path>/srv/px/shared/</path></target>");
        AssertConflict(Pool("dir", "px-b", "<target><path>///srv//px/shared</path></target>"), a);

        // A leading "//" is kept by virFileSanitizePath, so it names another path.
        AssertNoConflict(Pool("dir", "px-b2", "<target><path>//srv/px/shared</path></target>"), a);
        AssertNoConflict(Pool("dir", "px-c", "<target><path>/srv/px/other</path></target>"), a);

        // Another type with the same target is not compared.
        AssertNoConflict(Pool("fs", "px-d", "<source><device path='/dev/px-d'/></source><target><path>/srv/px/shared</path></target>"), a);
    }

    [Fact]
    public void Netfs_pools_clash_on_host_and_dir()
    {
        var a = Pool("netfs", "px-a", "<source><host name='nfs.px.example' port='2049'/><dir path='/exports/px'/></source><target><path>/mnt/a</path></target>");
        AssertConflict(Pool("netfs", "px-b", "<source><host name='nfs.px.example'/><dir path='/exports/px/'/></source><target><path>/mnt/b</path></target>"), a);
        AssertConflict(Pool("netfs", "px-c", "<source><host name='nfs.px.example' port='2049'/><dir path='/exports/px'/></source><target><path>/mnt/c</path></target>"), a);
        AssertNoConflict(Pool("netfs", "px-d", "<source><host name='nfs.px.example' port='2050'/><dir path='/exports/px'/></source><target><path>/mnt/d</path></target>"), a);
        AssertNoConflict(Pool("netfs", "px-e", "<source><host name='nfs2.px.example'/><dir path='/exports/px'/></source><target><path>/mnt/e</path></target>"), a);
        AssertNoConflict(Pool("netfs", "px-f", "<source><host name='nfs.px.example'/><dir path='/exports/other'/></source><target><path>/mnt/f</path></target>"), a);

        // With several hosts on both sides libvirt does not compare at all.
        var multi = Pool("netfs", "px-g", "<source><host name='nfs.px.example'/><host name='x'/><dir path='/exports/px'/></source><target><path>/mnt/g</path></target>");
        AssertNoConflict(Pool("netfs", "px-h", "<source><host name='nfs.px.example'/><host name='y'/><dir path='/exports/px'/></source><target><path>/mnt/h</path></target>"), multi);
    }

    [Fact]
    public void Gluster_pools_clash_on_volume_dir_and_host()
    {
        var a = Pool("gluster", "px-a", "<source><name>gv0</name><host name='g.px.example'/></source>");
        AssertConflict(Pool("gluster", "px-b", "<source><name>gv0</name><dir path='/'/><host name='g.px.example'/></source>"), a);
        AssertNoConflict(Pool("gluster", "px-c", "<source><name>gv0</name><dir path='/sub'/><host name='g.px.example'/></source>"), a);
        AssertNoConflict(Pool("gluster", "px-d", "<source><name>gv1</name><host name='g.px.example'/></source>"), a);
    }

    [Fact]
    public void Block_pools_clash_on_a_shared_device_across_types()
    {
        var fs = Pool("fs", "px-fs", "<source><device path='/dev/px-shared'/></source><target><path>/mnt/fs</path></target>");
        AssertConflict(Pool("disk", "px-disk", "<source><device path='/dev/px-shared'/></source><target><path>/dev</path></target>"), fs);
        AssertConflict(Pool("logical", "px-vg", "<source><device path='/dev/px-other'/><device path='/dev/px-shared'/></source>"), fs);
        AssertConflict(Pool("zfs", "px-zfs", "<source><device path='/dev/px-shared'/></source>"), fs);
        AssertNoConflict(Pool("disk", "px-disk2", "<source><device path='/dev/px-other'/></source><target><path>/dev</path></target>"), fs);

        // iSCSI devices are target IQNs: never compared with block devices.
        AssertNoConflict(Pool("iscsi", "px-iscsi", "<source><host name='h'/><device path='/dev/px-shared'/></source><target><path>/dev/disk/by-path</path></target>"), fs);
    }

    [Fact]
    public void Iscsi_pools_clash_on_target_and_initiator()
    {
        var a = Pool("iscsi", "px-a", "<source><host name='san1.px.example'/><device path='iqn.2024-03.example.px:lun'/></source><target><path>/dev/disk/by-path</path></target>");
        AssertConflict(Pool("iscsi", "px-b", "<source><host name='san2.px.example'/><device path='iqn.2024-03.example.px:lun'/></source><target><path>/dev/disk/by-path</path></target>"), a);
        AssertNoConflict(
            Pool("iscsi", "px-c", "<source><host name='san1.px.example'/><device path='iqn.2024-03.example.px:lun'/><initiator><iqn name='iqn.2024-03.example.px:init'/></initiator></source><target><path>/dev/disk/by-path</path></target>"),
            a);

        // iscsi-direct and rbd pools never clash.
        var direct = Pool("iscsi-direct", "px-d", "<source><host name='san1.px.example'/><device path='iqn.2024-03.example.px:lun'/><initiator><iqn name='iqn.i'/></initiator></source>");
        AssertNoConflict(Pool("iscsi-direct", "px-e", "<source><host name='san1.px.example'/><device path='iqn.2024-03.example.px:lun'/><initiator><iqn name='iqn.i'/></initiator></source>"), direct);
        var rbd = Pool("rbd", "px-f", "<source><name>p</name><host name='mon'/></source>");
        AssertNoConflict(Pool("rbd", "px-g", "<source><name>p</name><host name='mon'/></source>"), rbd);
    }

    [Fact]
    public void Scsi_pools_clash_on_the_same_adapter()
    {
        var fc = Pool("scsi", "px-fc", "<source><adapter type='fc_host' parent='scsi_host4' wwnn='20000024ff3a8c11' wwpn='21000024ff3a8c11'/></source><target><path>/dev/disk/by-path</path></target>");
        AssertConflict(Pool("scsi", "px-fc2", "<source><adapter type='fc_host' wwnn='20000024ff3a8c11' wwpn='21000024ff3a8c11'/></source><target><path>/dev/disk/by-path</path></target>"), fc);
        AssertNoConflict(Pool("scsi", "px-fc3", "<source><adapter type='fc_host' wwnn='20000024ff3a8c11' wwpn='21000024ff3a8c12'/></source><target><path>/dev/disk/by-path</path></target>"), fc);

        // An fc_host whose parent is the scsi_host, in either order.
        AssertConflict(Pool("scsi", "px-h4", "<source><adapter name='host4'/></source><target><path>/dev/disk/by-path</path></target>"), fc);

        var scsi = Pool("scsi", "px-s5", "<source><adapter type='scsi_host' name='scsi_host5'/></source><target><path>/dev/disk/by-path</path></target>");
        AssertConflict(Pool("scsi", "px-h5", "<source><adapter name='host5'/></source><target><path>/dev/disk/by-path</path></target>"), scsi);
        AssertNoConflict(Pool("scsi", "px-h6", "<source><adapter name='host6'/></source><target><path>/dev/disk/by-path</path></target>"), scsi);
        AssertConflict(Pool("scsi", "px-fc5", "<source><adapter type='fc_host' parent='fc_host5' wwnn='20000024ff3a8c21' wwpn='21000024ff3a8c21'/></source><target><path>/dev/disk/by-path</path></target>"), scsi);

        var parent = Pool("scsi", "px-p", "<source><adapter type='scsi_host'><parentaddr unique_id='2'><address domain='0' bus='0x3a' slot='1' function='0'/></parentaddr></adapter></source><target><path>/dev/disk/by-path</path></target>");
        AssertConflict(Pool("scsi", "px-p2", "<source><adapter type='scsi_host'><parentaddr unique_id='2'><address domain='0' bus='0x3a' slot='1' function='0'/></parentaddr></adapter></source><target><path>/dev/disk/by-path</path></target>"), parent);
        AssertNoConflict(Pool("scsi", "px-p3", "<source><adapter type='scsi_host'><parentaddr unique_id='3'><address domain='0' bus='0x3a' slot='1' function='0'/></parentaddr></adapter></source><target><path>/dev/disk/by-path</path></target>"), parent);
    }

    [Fact]
    public void Only_one_mpath_pool_and_one_vstorage_or_sheepdog_per_source()
    {
        var mpath = Pool("mpath", "px-m", "<target><path>/dev/mapper</path></target>");
        AssertConflict(Pool("mpath", "px-m2", "<target><path>/dev/mapper2</path></target>"), mpath);

        var vstorage = Pool("vstorage", "px-v", "<source><name>cluster1</name></source><target><path>/mnt/v</path></target>");
        AssertConflict(Pool("vstorage", "px-v2", "<source><name>cluster1</name></source><target><path>/mnt/v2</path></target>"), vstorage);
        AssertNoConflict(Pool("vstorage", "px-v3", "<source><name>cluster2</name></source><target><path>/mnt/v3</path></target>"), vstorage);

        var sheep = Pool("sheepdog", "px-s", "<source><host name='sheep' port='7000'/></source>");
        AssertConflict(Pool("sheepdog", "px-s2", "<source><host name='sheep'/></source>"), sheep);
    }

    [Fact]
    public void A_pool_with_the_same_name_is_not_a_source_conflict()
    {
        var a = Pool("dir", "px-same", "<target><path>/srv/px/same</path></target>");
        var redefined = a with { Target = a.Target with { Path = "/srv/px/same" } };
        PoolSourceDuplicates.Check(redefined, [a]);
    }

    [Fact]
    public void Uuid_and_name_clashes_use_libvirts_messages()
    {
        var a = Pool("dir", "px-a", "<target><path>/srv/px/a</path></target>");

        var sameUuid = Pool("dir", "px-b", "<target><path>/srv/px/b</path></target>") with { Uuid = a.Uuid };
        var ex = Assert.Throws<VirtPoolException>(() => PoolSourceDuplicates.Check(sameUuid, [a]));
        Assert.Equal($"operation failed: pool 'px-a' is already defined with uuid {a.Uuid:D}", ex.Message);

        var sameName = Pool("dir", "px-a", "<target><path>/srv/px/a2</path></target>");
        ex = Assert.Throws<VirtPoolException>(() => PoolSourceDuplicates.Check(sameName, [a]));
        Assert.Equal($"operation failed: pool 'px-a' already exists with uuid {a.Uuid:D}", ex.Message);
    }

    [Fact]
    public void The_source_check_runs_before_the_name_check()
    {
        var a = Pool("dir", "px-a", "<target><path>/srv/px/a</path></target>");
        var b = Pool("dir", "px-b", "<target><path>/srv/px/b</path></target>");
        var clash = Pool("dir", "px-a", "<target><path>/srv/px/b</path></target>");
        var ex = Assert.Throws<VirtPoolException>(() => PoolSourceDuplicates.Check(clash, [a, b]));
        Assert.Equal("operation failed: Storage source conflict with pool: 'px-b'", ex.Message);
    }

    [Fact]
    public void Create_refuses_an_active_pool_with_the_same_identity()
    {
        var a = Pool("dir", "px-a", "<target><path>/srv/px/a</path></target>");
        PoolSourceDuplicates.Check(a, [a]);
        PoolSourceDuplicates.Check(a, [a], _ => false);
        var ex = Assert.Throws<VirtPoolException>(() => PoolSourceDuplicates.Check(a, [a], _ => true));
        Assert.Equal(VirErrorCode.OperationInvalid, ex.Code);
        Assert.Equal("Requested operation is not valid: pool is already active as 'px-a'", ex.Message);
    }

    [Theory]
    [InlineData("scsi_host12", 12u)]
    [InlineData("fc_host3", 3u)]
    [InlineData("host0", 0u)]
    [InlineData("host-1", uint.MaxValue)]
    [InlineData("scsi_hostx", null)]
    [InlineData("sda", null)]
    public void HostNumber_matches_virSCSIHostGetNumber(string name, uint? number)
        => Assert.Equal(number, PoolSourceDuplicates.HostNumber(name));
}
