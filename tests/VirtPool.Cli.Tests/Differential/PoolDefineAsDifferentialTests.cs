using VirtPool.Cli.Tests.Support;

namespace VirtPool.Cli.Tests.Differential;

/// <summary>pool-define-as / pool-create-as: virsh builds the XML from options (positional or named).</summary>
[Collection(LibvirtCollection.Name)]
public sealed class PoolDefineAsDifferentialTests(LibvirtOracle oracle)
{
    /// <summary>Arguments after the command name; <c>@ROOT@</c> is each side's root.</summary>
    public static TheoryData<string[]> DefineAsCases() => new()
    {
        // dir
        { ["da-dir", "dir", "--target", "@ROOT@/p/da-dir"] },
        { ["--name", "da-dir-named", "--type", "dir", "--target", "@ROOT@/p/named"] },
        { ["da-dir-pos", "dir", "", "", "", "", "@ROOT@/p/positional"] },
        { ["da-dir-pos2", "dir", "--target=@ROOT@/p/equals"] },
        { ["da-dir-notarget", "dir"] },
        { ["da-dir-relative", "dir", "--target", "relative/dir"] },
        { ["da/slash", "dir", "--target", "@ROOT@/p/slash"] },
        { ["da-unknown", "floppy", "--target", "@ROOT@/p/floppy"] },
        { ["da-missing-type"] },
        { [] },
        { ["da-dir-extra", "dir", "--target", "@ROOT@/p/x", "--bogus"] },
        { ["da-dir-twice", "dir", "--target", "@ROOT@/p/t1", "--target", "@ROOT@/p/t2"] },
        { ["da-dir-ignored-source", "dir", "--source-host", "h.example.com", "--source-path", "/x", "--target", "@ROOT@/p/ign"] },

        // fs
        { ["da-fs", "fs", "--source-dev", "/dev/vp-test-da1", "--source-format", "ext4", "--target", "@ROOT@/p/da-fs"] },
        { ["da-fs-pos", "fs", "", "", "/dev/vp-test-da2", "", "@ROOT@/p/da-fs-pos"] },
        { ["da-fs-nodev", "fs", "--target", "@ROOT@/p/da-fs-nodev"] },
        { ["da-fs-badfmt", "fs", "--source-dev", "/dev/vp-test-da3", "--source-format", "zfs", "--target", "@ROOT@/p/da-fs-badfmt"] },

        // netfs
        { ["da-nfs", "netfs", "--source-host", "nfs.example.com", "--source-path", "/export/da", "--source-format", "nfs", "--source-protocol-ver", "4", "--target", "@ROOT@/p/da-nfs"] },
        { ["da-nfs-pos", "netfs", "nfs.example.com", "/export/pos", "", "", "@ROOT@/p/da-nfs-pos"] },
        { ["da-nfs-hostport", "netfs", "--source-host", "nfs.example.com:2049", "--source-path", "/export/hp", "--target", "@ROOT@/p/da-hp"] },
        { ["da-cifs", "netfs", "--source-host", "smb.example.com", "--source-path", "share", "--source-format", "cifs", "--target", "@ROOT@/p/da-cifs"] },
        { ["da-glusterfs", "netfs", "--source-host", "g.example.com", "--source-path", "/gv", "--source-format", "glusterfs", "--target", "@ROOT@/p/da-gfs"] },
        { ["da-nfs-nohost", "netfs", "--source-path", "/export/x", "--target", "@ROOT@/p/da-nohost"] },
        { ["da-nfs-badver", "netfs", "--source-host", "nfs.example.com", "--source-path", "/e", "--source-protocol-ver", "x", "--target", "@ROOT@/p/da-badver"] },

        // logical, disk
        { ["da-lvm", "logical", "--source-name", "vpdavg", "--source-dev", "/dev/vp-test-da4", "--target", "/dev/vpdavg"] },
        { ["da-lvm-noname", "logical", "--source-dev", "/dev/vp-test-da5"] },
        { ["da-disk", "disk", "--source-dev", "/dev/vp-test-da6", "--source-format", "gpt", "--target", "/dev"] },
        { ["da-disk-nodev", "disk", "--target", "/dev"] },

        // iscsi, iscsi-direct
        { ["da-iscsi", "iscsi", "--source-host", "iscsi.example.com", "--source-dev", "iqn.2013-06.com.example:da", "--target", "/dev/disk/by-path"] },
        { ["da-iscsi-chap", "iscsi", "--source-host", "iscsi.example.com", "--source-dev", "iqn.2013-06.com.example:da2", "--source-initiator", "iqn.2013-06.com.example:init", "--auth-type", "chap", "--auth-username", "vpuser", "--secret-usage", "libvirtiscsi", "--target", "/dev/disk/by-path"] },
        { ["da-iscsi-chap-uuid", "iscsi", "--source-host", "iscsi.example.com", "--source-dev", "iqn.2013-06.com.example:da3", "--auth-type", "chap", "--auth-username", "vpuser", "--secret-uuid", "2ec115d7-3a88-4b81-9e64-d3b8f1d0a2c1", "--target", "/dev/disk/by-path"] },
        { ["da-iscsi-both-secrets", "iscsi", "--source-host", "h", "--source-dev", "iqn.x:y", "--auth-type", "chap", "--auth-username", "u", "--secret-usage", "a", "--secret-uuid", "2ec115d7-3a88-4b81-9e64-d3b8f1d0a2c1"] },
        { ["da-iscsi-auth-no-user", "iscsi", "--source-host", "h", "--source-dev", "iqn.x:z", "--auth-type", "chap", "--secret-usage", "a"] },
        { ["da-iscsi-direct", "iscsi-direct", "--source-host", "192.0.2.40", "--source-dev", "iqn.2013-06.com.example:dd", "--source-initiator", "iqn.2013-06.com.example:di"] },
        { ["da-iscsi-direct-noinit", "iscsi-direct", "--source-host", "192.0.2.41", "--source-dev", "iqn.2013-06.com.example:dd2"] },

        // scsi
        { ["da-scsi", "scsi", "--adapter-name", "host4", "--target", "/dev/disk/by-path"] },
        { ["da-fc", "scsi", "--adapter-wwnn", "20000000c9831b4b", "--adapter-wwpn", "10000000c9831b4b", "--adapter-parent", "scsi_host5", "--target", "/dev/disk/by-path"] },
        { ["da-fc-parent-wwn", "scsi", "--adapter-wwnn", "20000000c9831b5b", "--adapter-wwpn", "10000000c9831b5b", "--adapter-parent-wwnn", "20000000c9848140", "--adapter-parent-wwpn", "10000000c9848140", "--target", "/dev/disk/by-path"] },
        { ["da-fc-fabric", "scsi", "--adapter-wwnn", "20000000c9831b6b", "--adapter-wwpn", "10000000c9831b6b", "--adapter-parent-fabric-wwn", "2000000533ab1234", "--target", "/dev/disk/by-path"] },
        { ["da-fc-nowwpn", "scsi", "--adapter-wwnn", "20000000c9831b7b", "--target", "/dev/disk/by-path"] },
        { ["da-scsi-noadapter", "scsi", "--target", "/dev/disk/by-path"] },

        // mpath, rbd, gluster, zfs, refused types
        { ["da-mpath", "mpath", "--target", "/dev/mapper"] },
        { ["da-rbd", "rbd", "--source-host", "mon1.example.com", "--source-name", "vp-da", "--auth-type", "ceph", "--auth-username", "admin", "--secret-uuid", "4bd7d2b3-0d6f-4a3e-8c2a-7f1e9b8c6d5a"] },
        { ["da-rbd-pos", "rbd", "mon1.example.com", "", "", "vp-da-pos"] },
        { ["da-rbd-noname", "rbd", "--source-host", "mon1.example.com"] },
        { ["da-gluster", "gluster", "--source-host", "g.example.com", "--source-name", "gv0", "--source-path", "/sub"] },
        { ["da-gluster-noname", "gluster", "--source-host", "g.example.com", "--source-path", "/"] },
        { ["da-zfs", "zfs", "--source-name", "vptank", "--source-dev", "/dev/vp-test-da7"] },
        { ["da-sheepdog", "sheepdog", "--source-host", "localhost", "--source-name", "sheep"] },
        { ["da-vstorage", "vstorage", "--source-name", "cluster", "--target", "@ROOT@/p/da-vs"] },
    };

    [Theory]
    [MemberData(nameof(DefineAsCases))]
    public async Task Define_as(string[] args)
    {
        await using var s = await oracle.NewSandboxAsync();

        await s.StepAsync(["pool-define-as", .. args, "--print-xml"]);
        var define = await s.StepAsync(["pool-define-as", .. args]);
        foreach (var name in await oracle.PoolNamesAsync())
        {
            await s.StepAsync("pool-dumpxml", "--inactive", name);
            await s.StepAsync("pool-info", name);
            await s.StepAsync("pool-list", "--all", "--details");
            await s.StepAsync("pool-undefine", name);
        }

        if (!define.OracleOk)
        {
            await s.StepAsync("pool-list", "--all");
        }

        s.AssertNoDifferences();
    }

    [Fact]
    public async Task Create_as_and_print_xml()
    {
        await using var s = await oracle.NewSandboxAsync();

        await s.StepAsync("pool-create-as", "da-create", "dir", "--target", "@ROOT@/p/create", "--print-xml");
        await s.StepAsync("pool-create-as", "da-create", "dir", "--target", "@ROOT@/p/create", "--build", "--print-xml");
        await s.StepAsync("pool-create-as", "da-create", "dir", "--target", "@ROOT@/p/create", "--build", "--overwrite", "--no-overwrite");
        (await s.StepAsync("pool-create-as", "da-create", "dir", "--target", "@ROOT@/p/create", "--build")).ExpectOracle(0);
        await s.StepAsync("pool-dumpxml", "da-create");
        await s.StepAsync("pool-create-as", "da-create2", "dir", "--target", "@ROOT@/p/create", "--build");
        await s.StepAsync("pool-create-as", "da-create", "dir", "--target", "@ROOT@/p/create-other", "--build");
        await s.StepAsync("pool-list", "--all", "--details");
        await s.StepAsync("pool-destroy", "da-create");

        // a definition printed by one command is taken back by pool-define
        var printed = await s.StepAsync("pool-define-as", "da-printed", "netfs", "--source-host", "nfs.example.com", "--source-path", "/e", "--target", "@ROOT@/p/printed", "--print-xml");
        var file = s.WriteFile("printed.xml", printed.Oracle.Stdout.Replace(s.OracleRoot, DiffSandbox.RootToken, StringComparison.Ordinal));
        await s.StepAsync("pool-define", file);
        await s.StepAsync("pool-dumpxml", "da-printed");
        await s.StepAsync("pool-undefine", "da-printed");

        s.AssertNoDifferences();
    }
}
