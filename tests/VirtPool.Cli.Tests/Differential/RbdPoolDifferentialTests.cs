using System.Globalization;
using VirtPool.Cli.Tests.Support;
using VirtPool.TestSupport;

namespace VirtPool.Cli.Tests.Differential;

/// <summary>
/// rbd pools on the test Ceph (<see cref="CephCluster.Shared"/>: one mon, one memstore OSD, cephx), the
/// same virsh steps through libvirtd 9.0 and through embedded virtpool, byte for byte. Each side has a
/// RADOS pool of its own (names of one length, shown as @CEPHPOOL@), made for the test and given to
/// client.libvirt, whose key each side keeps in a ceph secret. The scenario follows
/// tests/oracle/libvirt-rbd (its README lists what libvirt does); where virtpool does more on purpose
/// (shrink, upload/download, deleting a clone's parent) the step says so.
/// </summary>
[Collection(LibvirtCollection.Name)]
public sealed class RbdPoolDifferentialTests(LibvirtOracle oracle)
{
    private const string SecretUuid = "5e1d3c2b-7a69-4f58-8e47-3d2c1b0a9f01";
    private const string WrongSecretUuid = "5e1d3c2b-7a69-4f58-8e47-3d2c1b0a9f02";
    private const string VolumeSecretUuid = "5e1d3c2b-7a69-4f58-8e47-3d2c1b0a9f03";
    private const string EmptySecretUuid = "5e1d3c2b-7a69-4f58-8e47-3d2c1b0a9f04";
    private const string MissingSecretUuid = "5e1d3c2b-7a69-4f58-8e47-3d2c1b0a9fff";

    /// <summary>A well-formed cephx key that is not client.libvirt's.</summary>
    private const string WrongKey = "AQDtGhdr0ftNLxAA4Sc793tNlR1EcrT/B8JPoQ==";

    private const string Auth = "<auth type='ceph' username='libvirt'><secret usage='vp rbd diff'/></auth>";

    private static readonly CephCluster Ceph = CephCluster.Shared;

    [Fact]
    public async Task Rbd_pool_lifecycle_and_volumes_match_libvirt()
    {
        await using var s = await oracle.NewSandboxAsync();
        await using var pools = SidePools.Create(s);
        DefineSecret(s, "ceph.xml", SecretUuid, "<usage type='ceph'><name>vp rbd diff</name></usage>");
        (await s.StepAsync("secret-set-value", SecretUuid, "--file", s.WriteFile("libvirt.key", Ceph.LibvirtKey))).ExpectOracle(0);
        try
        {
            var xml = s.WriteFile("rbdpool.xml", PoolXml("rbddiff", Auth));
            (await s.StepAsync("pool-define", xml)).ExpectOracle(0);
            await s.StepAsync("pool-dumpxml", "--inactive", "rbddiff");
            (await s.StepAsync("pool-build", "rbddiff")).ExpectOracle(0);
            (await s.StepAsync("pool-start", "rbddiff")).ExpectOracle(0);
            (await s.StepAsync("pool-start", "rbddiff")).ExpectOracle(1);
            await s.StepAsync("pool-info", "rbddiff");
            await s.StepAsync("pool-dumpxml", "rbddiff");
            await s.StepAsync("vol-list", "rbddiff", "--details");

            (await s.StepAsync("vol-create-as", "rbddiff", "vol1", "64M")).ExpectOracle(0);
            (await s.StepAsync("vol-create-as", "rbddiff", "vol2", "10M", "--allocation", "0")).ExpectOracle(0);
            (await s.StepAsync("vol-create-as", "rbddiff", "vol3", "1537K", "--format", "raw")).ExpectOracle(0);
            (await s.StepAsync("vol-create-as", "rbddiff", "volq", "10M", "--format", "qcow2")).ExpectOracle(1);
            (await s.StepAsync("vol-create-as", "rbddiff", "vol1", "10M")).ExpectOracle(1);
            (await s.StepAsync("vol-create-as", "rbddiff", "vol0", "0")).ExpectOracle(1);
            var volXml = s.WriteFile("volx.xml", "<volume>\n  <name>volx</name>\n  <capacity unit='M'>8</capacity>\n  <allocation unit='M'>8</allocation>\n  <target><format type='raw'/></target>\n</volume>\n");
            (await s.StepAsync("vol-create", "rbddiff", volXml)).ExpectOracle(0);
            AssertImagesOnBothSides(pools, "vol1", "vol2", "vol3", "volx");

            await s.StepAsync("vol-list", "rbddiff");
            await s.StepAsync("vol-list", "rbddiff", "--details");
            await s.StepAsync("vol-info", "vol1", "--pool", "rbddiff");
            await s.StepAsync("vol-info", "vol3", "--pool", "rbddiff", "--bytes");
            await s.StepAsync("vol-dumpxml", "vol1", "--pool", "rbddiff");
            await s.StepAsync("vol-path", "vol1", "--pool", "rbddiff");
            await s.StepAsync("vol-key", "vol1", "--pool", "rbddiff");
            (await s.StepAsync("vol-info", "@CEPHPOOL@/vol1")).ExpectOracle(0);
            (await s.StepAsync("vol-info", "nosuch", "--pool", "rbddiff")).ExpectOracle(1);
            (await s.StepAsync("pool-refresh", "rbddiff")).ExpectOracle(0);
            await s.StepAsync("pool-info", "rbddiff");

            // An image written by someone else (rbd import): its allocation as libvirt reports it.
            var data = RandomBytes(3 << 20, seed: 12);
            foreach (var pool in pools.Both)
            {
                ImportImage(pool, "imported", data);
            }

            (await s.StepAsync("pool-refresh", "rbddiff")).ExpectOracle(0);
            await s.StepAsync("vol-info", "imported", "--pool", "rbddiff", "--bytes");
            await s.StepAsync("vol-dumpxml", "imported", "--pool", "rbddiff");

            (await s.StepAsync("vol-resize", "vol1", "128M", "--pool", "rbddiff")).ExpectOracle(0);
            (await s.StepAsync("vol-resize", "vol1", "--delta", "16M", "--pool", "rbddiff")).ExpectOracle(0);
            (await s.StepAsync("vol-resize", "vol1", "32M", "--pool", "rbddiff")).ExpectOracle(1);
            (await s.StepAsync("vol-resize", "vol1", "256M", "--pool", "rbddiff", "--allocate")).ExpectOracle(1);
            await s.StepAsync("vol-info", "vol1", "--pool", "rbddiff", "--bytes");

            (await s.StepAsync("vol-clone", "vol1", "vol1clone", "--pool", "rbddiff")).ExpectOracle(0);
            foreach (var pool in pools.Both)
            {
                Assert.Contains($"parent: {pool}/vol1@libvirt-", Ceph.Rbd("info", $"{pool}/vol1clone"), StringComparison.Ordinal);
            }

            await s.StepAsync("vol-list", "rbddiff", "--details");
            await s.StepAsync("vol-dumpxml", "vol1clone", "--pool", "rbddiff");
            (await s.StepAsync("vol-clone", "vol1", "vol1clone", "--pool", "rbddiff")).ExpectOracle(1);
            (await s.StepAsync("vol-clone", "imported", "importedclone", "--pool", "rbddiff")).ExpectOracle(0);
            foreach (var pool in pools.Both)
            {
                Assert.Equal(data, ExportImage(pool, "importedclone"));
            }

            (await s.StepAsync("vol-wipe", "vol2", "--pool", "rbddiff")).ExpectOracle(0);
            (await s.StepAsync("vol-wipe", "vol2", "--pool", "rbddiff", "--algorithm", "zero")).ExpectOracle(0);
            (await s.StepAsync("vol-wipe", "vol2", "--pool", "rbddiff", "--algorithm", "trim")).ExpectOracle(0);
            (await s.StepAsync("vol-wipe", "vol2", "--pool", "rbddiff", "--algorithm", "nnsa")).ExpectOracle(1);
            (await s.StepAsync("vol-wipe", "imported", "--pool", "rbddiff")).ExpectOracle(0);
            foreach (var pool in pools.Both)
            {
                Assert.True(ExportImage(pool, "imported").All(b => b == 0), $"{pool}/imported is not zeros after vol-wipe");
            }

            await s.StepAsync("vol-info", "imported", "--pool", "rbddiff");

            await s.StepAsync("vol-delete", "vol3", "--pool", "rbddiff");
            (await s.StepAsync("vol-delete", "nosuch", "--pool", "rbddiff")).ExpectOracle(1);
            (await s.StepAsync("pool-refresh", "rbddiff")).ExpectOracle(0);
            await s.StepAsync("vol-list", "rbddiff", "--details");
            (await s.StepAsync("pool-destroy", "rbddiff")).ExpectOracle(0);
            await s.StepAsync("pool-info", "rbddiff");
            (await s.StepAsync("vol-list", "rbddiff")).ExpectOracle(1);
            (await s.StepAsync("pool-delete", "rbddiff")).ExpectOracle(1);
            (await s.StepAsync("pool-start", "rbddiff")).ExpectOracle(0);
            await s.StepAsync("vol-list", "rbddiff");
            (await s.StepAsync("pool-destroy", "rbddiff")).ExpectOracle(0);
            (await s.StepAsync("pool-undefine", "rbddiff")).ExpectOracle(0);
            s.AssertNoDifferences();
        }
        finally
        {
            await RemoveSecretsAsync(s, SecretUuid);
        }
    }

    /// <summary>
    /// Where libvirt 9.0 stops and virtpool goes on (docs/known-differences): upload and download, and deleting a clone's parent once the clone is gone (libvirt leaves the
    /// protected libvirt-N snapshot behind and can then never delete the parent without help).
    /// </summary>
    [Fact]
    public async Task Rbd_additions_to_libvirt_are_declared_differences()
    {
        await using var s = await oracle.NewSandboxAsync();
        await using var pools = SidePools.Create(s);
        DefineSecret(s, "ceph.xml", SecretUuid, "<usage type='ceph'><name>vp rbd diff</name></usage>");
        (await s.StepAsync("secret-set-value", SecretUuid, "--file", s.WriteFile("libvirt.key", Ceph.LibvirtKey))).ExpectOracle(0);
        try
        {
            (await s.StepAsync("pool-create", s.WriteFile("rbdadd.xml", PoolXml("rbdadd", Auth)))).ExpectOracle(0);
            (await s.StepAsync("vol-create-as", "rbdadd", "base", "16M")).ExpectOracle(0);
            // Shrinking is refused alike: the allocation libvirt reports is the capacity rounded up to whole objects.
            (await s.StepAsync("vol-resize", "base", "8M", "--pool", "rbdadd", "--shrink")).ExpectOracle(1);
            await s.StepAsync("vol-info", "base", "--pool", "rbdadd", "--bytes");

            var upload = s.WriteBytes("x/upload.bin", RandomBytes(1 << 20, seed: 3));
            (await s.StepAsync("vol-upload", "base", upload, "--pool", "rbdadd")).ExpectOracle(1)
                .ExpectDifference("vol-upload: an addition (libvirt: storage pool doesn't support volume upload)");
            (await s.StepAsync("vol-download", "base", "@ROOT@/x/download.bin", "--pool", "rbdadd")).ExpectOracle(1)
                .ExpectDifference("vol-download: an addition (libvirt: storage pool doesn't support volume download)");
            Assert.Equal(File.ReadAllBytes(Path.Combine(s.CliRoot, "x", "upload.bin")), File.ReadAllBytes(Path.Combine(s.CliRoot, "x", "download.bin")).AsSpan(0, 1 << 20).ToArray());

            (await s.StepAsync("vol-clone", "base", "child", "--pool", "rbdadd")).ExpectOracle(0);
            (await s.StepAsync("vol-delete", "base", "--pool", "rbdadd", "--delete-snapshots")).ExpectOracle(1)
                .ExpectDifference("a parent with a clone: libvirt fails half-way unprotecting, virtpool refuses first, naming the clone");
            Assert.Contains("base", Ceph.Images(pools.Cli));
            (await s.StepAsync("vol-delete", "child", "--pool", "rbdadd")).ExpectOracle(0);
            (await s.StepAsync("vol-delete", "base", "--pool", "rbdadd")).ExpectOracle(1)
                .ExpectDifference("libvirt leaves the clone's protected snapshot on the parent and cannot delete it; virtpool removed that snapshot with the clone");
            Assert.DoesNotContain("base", Ceph.Images(pools.Cli));
            Assert.Contains("base", Ceph.Images(pools.Oracle));
            (await s.StepAsync("vol-list", "rbdadd")).ExpectDifference("libvirt still lists the parent it could not delete");
            (await s.StepAsync("pool-destroy", "rbdadd")).ExpectOracle(0);
            s.AssertNoDifferences();
        }
        finally
        {
            await RemoveSecretsAsync(s, SecretUuid);
        }
    }

    [Fact]
    public async Task Rbd_auth_failures_match_libvirt()
    {
        await using var s = await oracle.NewSandboxAsync();
        await using var pools = SidePools.Create(s);
        string[] secrets = [SecretUuid, WrongSecretUuid, VolumeSecretUuid, EmptySecretUuid];
        try
        {
            DefineSecret(s, "ceph.xml", SecretUuid, "<usage type='ceph'><name>vp rbd diff</name></usage>");
            (await s.StepAsync("secret-set-value", SecretUuid, "--file", s.WriteFile("libvirt.key", Ceph.LibvirtKey))).ExpectOracle(0);
            DefineSecret(s, "wrong.xml", WrongSecretUuid, "<usage type='ceph'><name>vp rbd wrong key</name></usage>");
            (await s.StepAsync("secret-set-value", WrongSecretUuid, "--file", s.WriteFile("wrong.key", WrongKey))).ExpectOracle(0);
            DefineSecret(s, "volume.xml", VolumeSecretUuid, "<usage type='volume'><volume>/var/lib/libvirt/images/vp-rbd-diff.img</volume></usage>");
            (await s.StepAsync("secret-set-value", VolumeSecretUuid, "--file", "@ROOT@/x/libvirt.key")).ExpectOracle(0);
            DefineSecret(s, "empty.xml", EmptySecretUuid, "<usage type='ceph'><name>vp rbd no value</name></usage>");

            async Task StartFails(string name, string authXml, string? sourceName = null, string? differs = null)
            {
                var xml = s.WriteFile(name + ".xml", PoolXml(name, authXml, sourceName));
                (await s.StepAsync("pool-define", xml)).ExpectOracle(0);
                var start = (await s.StepAsync("pool-start", name)).ExpectOracle(1);
                if (differs is not null)
                {
                    start.ExpectDifference(differs);
                }

                // Only virsh-style error lines: librados must not log into the CLI's stderr.
                Assert.Equal(1, start.Cli.ExitCode);
                Assert.All(start.V.Stderr.TrimEnd('\n').Split('\n'), line => Assert.StartsWith("error: ", line, StringComparison.Ordinal));
                await s.StepAsync("pool-info", name);
                (await s.StepAsync("pool-undefine", name)).ExpectOracle(0);
            }

            // libvirt 9.0 says "No such file or directory" for a refused key, as for a monitor that is not there.
            const string RefusedKey = "a refused key: libvirt blames a missing file, virtpool says the monitor did not authenticate the user";
            await StartFails("rbdwrongkey", "<auth type='ceph' username='libvirt'><secret usage='vp rbd wrong key'/></auth>", differs: RefusedKey);
            await StartFails("rbdwronguser", "<auth type='ceph' username='vpnosuchuser'><secret usage='vp rbd diff'/></auth>", differs: RefusedKey);
            await StartFails("rbdnosecret", "<auth type='ceph' username='libvirt'><secret usage='vp rbd no such secret'/></auth>");
            await StartFails("rbdnouuid", $"<auth type='ceph' username='libvirt'><secret uuid='{MissingSecretUuid}'/></auth>");
            await StartFails("rbdvolsecret", $"<auth type='ceph' username='libvirt'><secret uuid='{VolumeSecretUuid}'/></auth>");
            await StartFails("rbdemptysecret", "<auth type='ceph' username='libvirt'><secret usage='vp rbd no value'/></auth>");
            await StartFails("rbdnoauth", "", differs: "no <auth> on a cephx cluster: libvirt ends its message with strerror(0), \"Success\"");
            await StartFails("rbdnopool", Auth, "vpnosuchpool");

            // The right key still works after all that.
            (await s.StepAsync("pool-create", s.WriteFile("rbdok.xml", PoolXml("rbdok", Auth)))).ExpectOracle(0);
            await s.StepAsync("vol-list", "rbdok");
            (await s.StepAsync("pool-destroy", "rbdok")).ExpectOracle(0);
            s.AssertNoDifferences();
        }
        finally
        {
            await RemoveSecretsAsync(s, secrets);
        }
    }

    [Fact]
    public async Task Rbd_pool_xml_forms_match_libvirt()
    {
        await using var s = await oracle.NewSandboxAsync();
        await using var pools = SidePools.Create(s);
        DefineSecret(s, "ceph.xml", SecretUuid, "<usage type='ceph'><name>vp rbd diff</name></usage>");
        (await s.StepAsync("secret-set-value", SecretUuid, "--file", s.WriteFile("libvirt.key", Ceph.LibvirtKey))).ExpectOracle(0);
        try
        {
            var port = Ceph.MonPort.ToString(CultureInfo.InvariantCulture);
            (await s.StepAsync("pool-define-as", "rbdas", "rbd", "--source-host", "127.0.0.1:" + port, "--source-name", "@CEPHPOOL@",
                "--auth-type", "ceph", "--auth-username", "libvirt", "--secret-usage", "vp rbd diff")).ExpectOracle(0);
            await s.StepAsync("pool-dumpxml", "--inactive", "rbdas");
            (await s.StepAsync("pool-undefine", "rbdas")).ExpectOracle(0);
            (await s.StepAsync("pool-define-as", "rbdasbad", "rbd", "--source-host", "127.0.0.1")).ExpectOracle(1);

            var config = s.WriteFile("rbdconfig.xml",
                "<pool type='rbd' xmlns:rbd='http://libvirt.org/schemas/storagepool/rbd/1.0'>\n  <name>rbdconfig</name>\n  <source>\n" +
                $"    <host name='127.0.0.1' port='{port}'/>\n    <host name='localhost'/>\n    <name>@CEPHPOOL@</name>\n    {Auth}\n  </source>\n" +
                "  <rbd:config_opts>\n    <rbd:option name='rbd_default_features' value='1'/>\n    <rbd:option name='rbd_default_order' value='20'/>\n  </rbd:config_opts>\n</pool>\n");
            (await s.StepAsync("pool-define", config)).ExpectOracle(0);
            await s.StepAsync("pool-dumpxml", "--inactive", "rbdconfig");
            (await s.StepAsync("pool-start", "rbdconfig")).ExpectOracle(0);
            (await s.StepAsync("vol-create-as", "rbdconfig", "volcfg", "8M")).ExpectOracle(0);
            foreach (var pool in pools.Both)
            {
                var info = Ceph.Rbd("info", $"{pool}/volcfg");
                Assert.Contains("order 20 (1 MiB objects)", info, StringComparison.Ordinal);
                Assert.Contains("features: layering\n", info, StringComparison.Ordinal);
            }

            await s.StepAsync("vol-info", "volcfg", "--pool", "rbdconfig", "--bytes");
            (await s.StepAsync("vol-delete", "volcfg", "--pool", "rbdconfig")).ExpectOracle(0);
            (await s.StepAsync("pool-destroy", "rbdconfig")).ExpectOracle(0);
            (await s.StepAsync("pool-undefine", "rbdconfig")).ExpectOracle(0);
            s.AssertNoDifferences();
        }
        finally
        {
            await RemoveSecretsAsync(s, SecretUuid);
        }
    }

    /// <summary>An rbd pool's XML on the test cluster, in the RADOS pool @CEPHPOOL@ unless named.</summary>
    private static string PoolXml(string name, string authXml, string? sourceName = null) =>
        $"<pool type='rbd'>\n  <name>{name}</name>\n  <source>\n    <host name='127.0.0.1' port='{Ceph.MonPort}'/>\n" +
        $"    <name>{sourceName ?? "@CEPHPOOL@"}</name>\n    {authXml}\n  </source>\n</pool>\n";

    private static void DefineSecret(DiffSandbox s, string file, string uuid, string usage)
    {
        var xml = s.WriteFile(file, $"<secret ephemeral='no' private='yes'>\n  <uuid>{uuid}</uuid>\n  {usage}\n</secret>\n");
        s.StepAsync("secret-define", xml).GetAwaiter().GetResult().ExpectOracle(0);
    }

    /// <summary>Undefines the test's secrets on both sides (libvirtd keeps them across sandboxes; virtpool's go with its state folder).</summary>
    private async Task RemoveSecretsAsync(DiffSandbox s, params string[] uuids)
    {
        foreach (var uuid in uuids)
        {
            await oracle.VirshAsync("secret-undefine", uuid);
            await VirtPoolCli.RunAsync(s.StateDir, "secret-undefine", uuid);
        }
    }

    private static void AssertImagesOnBothSides(SidePools pools, params string[] images)
    {
        foreach (var pool in pools.Both)
        {
            Assert.Equal(images.Order(StringComparer.Ordinal), Ceph.Images(pool).Order(StringComparer.Ordinal));
        }
    }

    private static byte[] RandomBytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    private static void ImportImage(string pool, string image, byte[] data)
    {
        var file = Path.Combine(Ceph.Folder, $"import-{Guid.NewGuid():N}");
        File.WriteAllBytes(file, data);
        try
        {
            Ceph.Rbd("import", "--no-progress", file, $"{pool}/{image}");
        }
        finally
        {
            File.Delete(file);
        }
    }

    private static byte[] ExportImage(string pool, string image)
    {
        var file = Path.Combine(Ceph.Folder, $"export-{Guid.NewGuid():N}");
        try
        {
            Ceph.Rbd("export", "--no-progress", $"{pool}/{image}", file);
            return File.ReadAllBytes(file);
        }
        finally
        {
            File.Delete(file);
        }
    }

    /// <summary>A RADOS pool per side, names of one length (virsh pads columns to the real text), shown as @CEPHPOOL@; deleted with their images.</summary>
    private sealed class SidePools : IAsyncDisposable
    {
        private SidePools(string oracle, string cli) => (Oracle, Cli) = (oracle, cli);

        public string Oracle { get; }

        public string Cli { get; }

        public string[] Both => [Oracle, Cli];

        public static SidePools Create(DiffSandbox s)
        {
            var tag = Guid.NewGuid().ToString("N")[..6];
            var pools = new SidePools("vpo" + tag, "vpv" + tag);
            Ceph.CreatePool(pools.Oracle);
            try
            {
                Ceph.CreatePool(pools.Cli);
            }
            catch
            {
                Ceph.DeletePool(pools.Oracle);
                throw;
            }

            s.Alias("@CEPHPOOL@", pools.Oracle, pools.Cli);
            return pools;
        }

        public ValueTask DisposeAsync()
        {
            Ceph.DeletePool(Oracle);
            Ceph.DeletePool(Cli);
            return ValueTask.CompletedTask;
        }
    }
}
