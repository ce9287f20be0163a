using System.Text;
using VirtPool.Core.Errors;
using VirtPool.Core.Model;
using VirtPool.Core.Secrets;

namespace VirtPool.Core.Tests;

public sealed class SecretTests : IDisposable
{
    private const string Uuid1 = "2ec115d7-3a88-3ceb-bc12-0ac909a6fd87";
    private const string Uuid2 = "33333333-3333-4333-8333-333333333333";
    private readonly string _dir = Directory.CreateTempSubdirectory("vp-secret-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private SecretStore NewStore() => new(_dir);

    private static string Xml(string uuid, string usage = "", string attributes = "", string description = "")
        => $"<secret{attributes}><uuid>{uuid}</uuid>{description}{usage}</secret>";

    private static string Ceph(string name) => $"<usage type='ceph'><name>{name}</name></usage>";

    private static VirtPoolException Fails(Action action) => Assert.Throws<VirtPoolException>(action);

    // ----- XML -----------------------------------------------------------------------------------

    [Fact]
    public void Format_matches_libvirt_byte_for_byte()
    {
        var def = SecretXml.Parse("""
            <secret ephemeral='no' private='yes'>
              <uuid>2EC115D7-3a88-3ceb-bc12-0ac909a6fd87</uuid>
              <description>Ceph &lt;client&gt; "admin" key</description>
              <usage type='ceph'>
                <name>client.admin secret</name>
              </usage>
            </secret>
            """);
        Assert.Equal(
            "<secret ephemeral='no' private='yes'>\n"
            + "  <uuid>2ec115d7-3a88-3ceb-bc12-0ac909a6fd87</uuid>\n"
            + "  <description>Ceph &lt;client&gt; &quot;admin&quot; key</description>\n"
            + "  <usage type='ceph'>\n"
            + "    <name>client.admin secret</name>\n"
            + "  </usage>\n"
            + "</secret>\n",
            SecretXml.Format(def));
    }

    [Theory]
    [InlineData("volume", "volume", "/var/lib/libvirt/images/enc.qcow2", SecretUsageType.Volume)]
    [InlineData("ceph", "name", "client.admin secret", SecretUsageType.Ceph)]
    [InlineData("iscsi", "target", "iqn.2013-06.com.example:pool", SecretUsageType.Iscsi)]
    [InlineData("tls", "name", "tls-id", SecretUsageType.Tls)]
    [InlineData("vtpm", "name", "vtpm-id", SecretUsageType.Vtpm)]
    public void Usage_types_round_trip(string type, string element, string id, SecretUsageType expected)
    {
        var def = SecretXml.Parse($"<secret><usage type='{type}'><{element}>{id}</{element}></usage></secret>");
        Assert.Equal(expected, def.UsageType);
        Assert.Equal(id, def.UsageId);
        Assert.Contains($"  <usage type='{type}'>\n    <{element}>{id}</{element}>\n  </usage>\n", SecretXml.Format(def), StringComparison.Ordinal);
        Assert.Equal(def, SecretXml.Parse(SecretXml.Format(def)));
    }

    [Fact]
    public void Defaults_generated_uuid_and_none_usage()
    {
        var def = SecretXml.Parse("<secret><usage type='none'/><description></description><uuid></uuid><bogus/></secret>");
        Assert.NotEqual(Guid.Empty, def.Uuid);
        Assert.False(def.Ephemeral);
        Assert.False(def.Private);
        Assert.Null(def.Description);
        Assert.Equal(SecretUsageType.None, def.UsageType);
        Assert.Equal($"<secret ephemeral='no' private='no'>\n  <uuid>{def.UuidString}</uuid>\n</secret>\n", SecretXml.Format(def));
        Assert.NotEqual(def.Uuid, SecretXml.Parse("<secret/>").Uuid);
        Assert.False(SecretXml.Parse("<secret ephemeral='' private=''/>").Private);
    }

    [Theory]
    [InlineData("<pool/>", VirErrorCode.XmlError, VirErrorDomain.Xml, "XML error: expecting root element of 'secret', not 'pool'")]
    [InlineData("<secret ephemeral='1'/>", VirErrorCode.XmlError, VirErrorDomain.Secret, "XML error: invalid value of 'ephemeral'")]
    [InlineData("<secret private='YES'/>", VirErrorCode.XmlError, VirErrorDomain.Secret, "XML error: invalid value of 'private'")]
    [InlineData("<secret ephemeral='x' private='x'/>", VirErrorCode.XmlError, VirErrorDomain.Secret, "XML error: invalid value of 'ephemeral'")]
    [InlineData("<secret><uuid>zz</uuid></secret>", VirErrorCode.InternalError, VirErrorDomain.Secret, "internal error: malformed uuid element")]
    [InlineData("<secret><usage/></secret>", VirErrorCode.XmlError, VirErrorDomain.Secret, "XML error: unknown secret usage type")]
    [InlineData("<secret><usage type='Ceph'/></secret>", VirErrorCode.ConfigUnsupported, VirErrorDomain.Secret, "unsupported configuration: unknown secret usage type Ceph")]
    [InlineData("<secret><usage type='volume'/></secret>", VirErrorCode.InternalError, VirErrorDomain.Secret, "internal error: volume usage specified, but volume path is missing")]
    [InlineData("<secret><usage type='ceph'><name></name></usage></secret>", VirErrorCode.InternalError, VirErrorDomain.Secret, "internal error: Ceph usage specified, but name is missing")]
    [InlineData("<secret><usage type='iscsi'><name>x</name></usage></secret>", VirErrorCode.InternalError, VirErrorDomain.Secret, "internal error: iSCSI usage specified, but target is missing")]
    [InlineData("<secret><usage type='tls'/></secret>", VirErrorCode.InternalError, VirErrorDomain.Secret, "internal error: TLS usage specified, but name is missing")]
    [InlineData("<secret><usage type='vtpm'/></secret>", VirErrorCode.InternalError, VirErrorDomain.Secret, "internal error: vTPM usage specified, but name is missing")]
    [InlineData("", VirErrorCode.XmlDetail, VirErrorDomain.Secret, "(definition_of_secret):1: Document is empty\n(null)\n^")]
    [InlineData("junk", VirErrorCode.XmlDetail, VirErrorDomain.Secret, "(definition_of_secret):1: Start tag expected, '<' not found\njunk\n^")]
    public void Invalid_definitions_fail_as_libvirt(string xml, VirErrorCode code, VirErrorDomain domain, string message)
    {
        var ex = Fails(() => SecretXml.Parse(xml));
        Assert.Equal(code, ex.Code);
        Assert.Equal(domain, ex.Domain);
        Assert.Equal(message, ex.Message);
    }

    // ----- store rules ---------------------------------------------------------------------------

    [Fact]
    public void Define_lookup_list_and_undefine()
    {
        var store = NewStore();
        var a = store.Define(Xml(Uuid1, Ceph("client.admin")));
        var b = store.Define(Xml(Uuid2));
        Assert.Equal(a, store.LookupByUuid(Guid.Parse(Uuid1)));
        Assert.Equal(a, store.LookupByUsage((int)SecretUsageType.Ceph, "client.admin"));
        Assert.Equal([a, b], store.List());
        Assert.Equal(2, store.Count());

        Assert.Equal("Secret not found: no secret with matching usage 'client.admin'", Fails(() => store.LookupByUsage((int)SecretUsageType.Tls, "client.admin")).Message);
        Assert.Equal("Secret not found: no secret with matching usage ''", Fails(() => store.LookupByUsage(0, string.Empty)).Message);
        Assert.Equal("Secret not found: no secret with matching usage 'x'", Fails(() => store.LookupByUsage(42, "x")).Message);

        store.SetValue(a.Uuid, [1, 2, 3]);
        store.Undefine(a.Uuid);
        Assert.Equal(VirErrorCode.NoSecret, Fails(() => store.LookupByUuid(a.Uuid)).Code);
        Assert.Equal($"Secret not found: no secret with matching uuid '{Uuid1}'", Fails(() => store.Undefine(a.Uuid)).Message);
        Assert.False(File.Exists(Path.Combine(store.ConfigDir, Uuid1 + ".value")));
        Assert.False(File.Exists(Path.Combine(store.ConfigDir, Uuid1 + ".xml")));

        // defined again under the same UUID: no value from before
        store.Define(Xml(Uuid1, Ceph("client.admin")));
        Assert.Equal($"Secret not found: secret '{Uuid1}' does not have a value", Fails(() => store.GetValue(a.Uuid)).Message);
    }

    [Fact]
    public void Usage_conflicts_and_redefinition_rules()
    {
        var store = NewStore();
        store.Define(Xml(Uuid1, Ceph("shared")));

        // the same usage under another UUID: the existing UUID is named
        var clash = Fails(() => store.Define(Xml(Uuid2, Ceph("shared"))));
        Assert.Equal($"internal error: a secret with UUID {Uuid1} already defined for use with shared", clash.Message);
        Assert.Equal(VirErrorDomain.Secret, clash.Domain);

        // the same ID under another type is a different usage
        store.Define(Xml(Uuid2, "<usage type='tls'><name>shared</name></usage>"));

        // the usage ID of a UUID cannot change; libvirt compares only the text, not the type
        Assert.Equal($"internal error: a secret with UUID {Uuid1} is already defined for use with shared",
            Fails(() => store.Define(Xml(Uuid1, Ceph("other")))).Message);
        Assert.Equal($"internal error: a secret with UUID {Uuid1} is already defined for use with shared",
            Fails(() => store.Define(Xml(Uuid1))).Message);
        store.Define(Xml(Uuid1, "<usage type='iscsi'><target>shared</target></usage>", description: "<description>d</description>"));
        Assert.Equal(SecretUsageType.Iscsi, store.LookupByUuid(Guid.Parse(Uuid1)).UsageType);

        // none → an ID: libvirt prints the missing ID as (null)
        const string none = "44444444-4444-4444-8444-444444444444";
        store.Define(Xml(none));
        Assert.Equal($"internal error: a secret with UUID {none} is already defined for use with (null)",
            Fails(() => store.Define(Xml(none, Ceph("x")))).Message);
        store.Define(Xml(none, "<usage type='none'/>"));

        // secrets without usage never conflict
        store.Define(Xml("55555555-5555-4555-8555-555555555555"));
    }

    [Fact]
    public void Pool_auth_reads_the_named_secret_of_the_right_usage_with_libvirts_errors()
    {
        var store = NewStore();
        store.Define(Xml(Uuid1, Ceph("client.libvirt secret"), " private='yes'"));
        store.Define(Xml(Uuid2, "<usage type='iscsi'><target>iqn.2024-01.test:chap</target></usage>"));
        var key = new byte[] { 1, 2, 3, 250 };
        store.SetValue(Guid.Parse(Uuid1), key);
        var ceph = new PoolAuth { Type = PoolAuthType.Ceph, Username = "libvirt", SecretUsage = "client.libvirt secret" };
        var cephByUuid = ceph with { SecretUsage = null, SecretUuid = Guid.Parse(Uuid1) };
        var chap = new PoolAuth { Type = PoolAuthType.Chap, Username = "libvirt", SecretUuid = Guid.Parse(Uuid2) };

        // A private secret is still read: the storage driver needs it.
        Assert.Equal(key, store.GetPoolAuthSecret(ceph));
        Assert.Equal(key, store.GetPoolAuthSecret(cephByUuid));

        Assert.Equal("Secret not found: secret '33333333-3333-4333-8333-333333333333' does not have a value", Fails(() => store.GetPoolAuthSecret(chap)).Message);
        Assert.Equal("Secret not found: no secret with matching usage 'other'", Fails(() => store.GetPoolAuthSecret(ceph with { SecretUsage = "other" })).Message);
        var missing = Fails(() => store.GetPoolAuthSecret(chap with { SecretUuid = Guid.Parse("44444444-4444-4444-8444-444444444444") }));
        Assert.Equal(VirErrorCode.NoSecret, missing.Code);
        Assert.Equal(
            "invalid argument: secret with uuid 2ec115d7-3a88-3ceb-bc12-0ac909a6fd87 is of type 'ceph' not expected 'iscsi' type",
            Fails(() => store.GetPoolAuthSecret(chap with { SecretUuid = Guid.Parse(Uuid1) })).Message);
        // By usage, the lookup already filters on the expected type: a ceph usage name is not an iscsi target.
        Assert.Equal("Secret not found: no secret with matching usage 'client.libvirt secret'", Fails(() => store.GetPoolAuthSecret(ceph with { Type = PoolAuthType.Chap })).Message);
    }

    [Fact]
    public void Private_flag_can_be_set_but_not_cleared_and_hides_the_value()
    {
        var store = NewStore();
        var uuid = Guid.Parse(Uuid1);
        store.Define(Xml(Uuid1, Ceph("c")));
        store.SetValue(uuid, "v1"u8);
        store.Define(Xml(Uuid1, Ceph("c"), " private='yes'"));
        Assert.Equal("internal error: cannot change private flag on existing secret",
            Fails(() => store.Define(Xml(Uuid1, Ceph("c"), " private='no'"))).Message);

        var refused = Fails(() => store.GetValue(uuid));
        Assert.Equal(VirErrorCode.InvalidSecret, refused.Code);
        Assert.Equal("Invalid secret: secret is private", refused.Message);

        // still settable, still listed, and the daemon may read it for its own use
        store.SetValue(uuid, "v2"u8);
        Assert.Equal("v2"u8.ToArray(), store.GetValue(uuid, internalCall: true));
        Assert.True(store.HasValue(uuid));
        Assert.Single(store.List(SecretListFlags.Private));

        // private is checked before the value exists
        store.Define(Xml(Uuid2, attributes: " private='yes'"));
        Assert.Equal("Invalid secret: secret is private", Fails(() => store.GetValue(Guid.Parse(Uuid2))).Message);
    }

    [Fact]
    public void List_filters_as_virConnectListAllSecrets()
    {
        var store = NewStore();
        string[] uuids = ["10000000-0000-4000-8000-000000000000", "20000000-0000-4000-8000-000000000000", "30000000-0000-4000-8000-000000000000", "40000000-0000-4000-8000-000000000000"];
        store.Define(Xml(uuids[0]));
        store.Define(Xml(uuids[1], attributes: " ephemeral='yes'"));
        store.Define(Xml(uuids[2], attributes: " private='yes'"));
        store.Define(Xml(uuids[3], attributes: " ephemeral='yes' private='yes'"));

        string[] Listed(SecretListFlags flags) => [.. store.List(flags).Select(d => d.UuidString)];
        Assert.Equal(uuids, Listed(SecretListFlags.None));
        Assert.Equal([uuids[1], uuids[3]], Listed(SecretListFlags.Ephemeral));
        Assert.Equal([uuids[0], uuids[2]], Listed(SecretListFlags.NoEphemeral));
        Assert.Equal([uuids[2], uuids[3]], Listed(SecretListFlags.Private));
        Assert.Equal([uuids[0], uuids[1]], Listed(SecretListFlags.NoPrivate));
        Assert.Equal([uuids[3]], Listed(SecretListFlags.Ephemeral | SecretListFlags.Private));
        Assert.Equal(uuids, Listed(SecretListFlags.Ephemeral | SecretListFlags.NoEphemeral));
        Assert.Equal([uuids[0]], Listed(SecretListFlags.NoEphemeral | SecretListFlags.NoPrivate));

        var bad = Fails(() => store.List((SecretListFlags)0x30));
        Assert.Equal(VirErrorCode.InvalidArg, bad.Code);
        Assert.Equal("unsupported flags (0x30) in function secretConnectListAllSecrets", bad.Message);
    }

    [Fact]
    public void Values_limits_and_errors()
    {
        var store = NewStore();
        var uuid = Guid.Parse(Uuid1);
        Assert.Equal($"Secret not found: no secret with matching uuid '{Uuid1}'", Fails(() => store.SetValue(uuid, [1])).Message);
        store.Define(Xml(Uuid1));
        Assert.Equal($"Secret not found: secret '{Uuid1}' does not have a value", Fails(() => store.GetValue(uuid)).Message);
        Assert.False(store.HasValue(uuid));

        var empty = Fails(() => store.SetValue(uuid, []));
        Assert.Equal((VirErrorCode.InvalidArg, "value in virSecretSetValue must not be NULL"), (empty.Code, empty.Message));
        Assert.Equal("value length greater than maximum: 65537 > 65536", Fails(() => store.SetValue(uuid, new byte[65537])).Message);

        var max = new byte[SecretStore.MaxValueSize];
        Random.Shared.NextBytes(max);
        store.SetValue(uuid, max);
        Assert.Equal(max, store.GetValue(uuid));
        store.SetValue(uuid, [0]);
        Assert.Equal([0], store.GetValue(uuid));
    }

    [Fact]
    public void Redefinition_keeps_the_value_and_moves_it_between_ephemeral_and_persistent()
    {
        var store = NewStore();
        var uuid = Guid.Parse(Uuid1);
        var configXml = Path.Combine(store.ConfigDir, Uuid1 + ".xml");
        var configValue = Path.Combine(store.ConfigDir, Uuid1 + ".value");
        var runtimeXml = Path.Combine(store.RuntimeDir, Uuid1 + ".xml");
        var runtimeValue = Path.Combine(store.RuntimeDir, Uuid1 + ".value");

        store.Define(Xml(Uuid1, Ceph("c")));
        store.SetValue(uuid, "secret"u8);
        store.Define(Xml(Uuid1, Ceph("c"), description: "<description>new</description>"));
        Assert.Equal("secret"u8.ToArray(), store.GetValue(uuid));
        Assert.Equal("new", store.LookupByUuid(uuid).Description);

        store.Define(Xml(Uuid1, Ceph("c"), " ephemeral='yes'"));
        Assert.False(File.Exists(configXml));
        Assert.False(File.Exists(configValue));
        Assert.True(File.Exists(runtimeXml));
        Assert.True(File.Exists(runtimeValue));
        Assert.Equal("secret"u8.ToArray(), NewStore().GetValue(uuid));
        Assert.True(NewStore().LookupByUuid(uuid).Ephemeral);

        store.SetValue(uuid, "changed"u8);
        store.Define(Xml(Uuid1, Ceph("c")));
        Assert.True(File.Exists(configXml));
        Assert.True(File.Exists(configValue));
        Assert.False(File.Exists(runtimeXml));
        Assert.False(File.Exists(runtimeValue));
        Assert.Equal("changed"u8.ToArray(), NewStore().GetValue(uuid));
    }

    [Fact]
    public void Ephemeral_secrets_are_forgotten_on_discard_and_after_a_reboot()
    {
        var store = NewStore();
        store.Define(Xml(Uuid1, attributes: " ephemeral='yes'"));
        store.Define(Xml(Uuid2));
        store.SetValue(Guid.Parse(Uuid1), [7]);
        Assert.Equal(2, NewStore().Count());

        store.DiscardEphemeral();
        Assert.Equal([Uuid2], NewStore().List().Select(d => d.UuidString));

        // a runtime folder recorded for another boot is cleared by the next store that opens it
        store.Define(Xml(Uuid1, attributes: " ephemeral='yes'"));
        File.WriteAllText(Path.Combine(store.RuntimeDir, "boot_id"), "00000000-0000-0000-0000-000000000000\n");
        Assert.Equal([Uuid2], NewStore().List().Select(d => d.UuidString));
        Assert.Empty(Directory.GetFiles(store.RuntimeDir));
    }

    [Fact]
    public void Runtime_folder_is_configurable()
    {
        var runtime = Path.Combine(_dir, "run");
        var store = new SecretStore(_dir, runtime);
        store.Define(Xml(Uuid1, attributes: " ephemeral='yes'"));
        Assert.True(File.Exists(Path.Combine(runtime, "secrets", Uuid1 + ".xml")));
        Assert.Empty(new SecretStore(_dir).List());
    }

    // ----- encryption at rest --------------------------------------------------------------------

    [Fact]
    public void Values_are_encrypted_at_rest_with_fresh_nonces_and_private_modes()
    {
        var store = NewStore();
        var uuid = Guid.Parse(Uuid1);
        store.Define(Xml(Uuid1, Ceph("c")));
        var plaintext = Encoding.ASCII.GetBytes("AQBy-very-recognisable-cephx-key==");
        store.SetValue(uuid, plaintext);

        var valuePath = Path.Combine(store.ConfigDir, Uuid1 + ".value");
        var first = File.ReadAllBytes(valuePath);
        Assert.Equal(-1, first.AsSpan().IndexOf(plaintext));
        Assert.DoesNotContain(Convert.ToBase64String(plaintext), Encoding.Latin1.GetString(first), StringComparison.Ordinal);
        store.SetValue(uuid, plaintext);
        var second = File.ReadAllBytes(valuePath);
        Assert.NotEqual(first, second);
        Assert.Equal(plaintext, store.GetValue(uuid));

        const UnixFileMode userRw = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        const UnixFileMode userRwx = userRw | UnixFileMode.UserExecute;
        Assert.Equal(32, File.ReadAllBytes(store.KeyPath).Length);
        Assert.Equal(userRw, File.GetUnixFileMode(store.KeyPath));
        Assert.Equal(userRw, File.GetUnixFileMode(valuePath));
        Assert.Equal(userRw, File.GetUnixFileMode(Path.Combine(store.ConfigDir, Uuid1 + ".xml")));
        Assert.Equal(userRwx, File.GetUnixFileMode(store.ConfigDir));
        Assert.Empty(Directory.GetFiles(store.ConfigDir, "*.new"));

        store.Define(Xml(Uuid2, attributes: " ephemeral='yes'"));
        store.SetValue(Guid.Parse(Uuid2), plaintext);
        Assert.Equal(userRwx, File.GetUnixFileMode(store.RuntimeDir));
        Assert.Equal(userRw, File.GetUnixFileMode(Path.Combine(store.RuntimeDir, Uuid2 + ".value")));
        Assert.Equal(-1, File.ReadAllBytes(Path.Combine(store.RuntimeDir, Uuid2 + ".value")).AsSpan().IndexOf(plaintext));
    }

    [Fact]
    public void Tampering_is_detected()
    {
        var store = NewStore();
        var uuid1 = Guid.Parse(Uuid1);
        var uuid2 = Guid.Parse(Uuid2);
        store.Define(Xml(Uuid1));
        store.Define(Xml(Uuid2));
        store.SetValue(uuid1, "one"u8);
        store.SetValue(uuid2, "two"u8);
        var path1 = Path.Combine(store.ConfigDir, Uuid1 + ".value");
        var path2 = Path.Combine(store.ConfigDir, Uuid2 + ".value");
        var original = File.ReadAllBytes(path1);

        // one flipped bit of ciphertext, nonce or tag
        foreach (var offset in new[] { original.Length - 1, 6, 20 })
        {
            var bytes = (byte[])original.Clone();
            bytes[offset] ^= 0x01;
            File.WriteAllBytes(path1, bytes);
            var ex = Fails(() => store.GetValue(uuid1));
            Assert.Equal(VirErrorCode.InternalError, ex.Code);
            Assert.Contains($"secret value file '{path1}' failed authentication", ex.Message, StringComparison.Ordinal);
        }

        // another secret's value file copied over
        File.Copy(path2, path1, overwrite: true);
        Assert.Contains("failed authentication", Fails(() => store.GetValue(uuid1)).Message, StringComparison.Ordinal);

        // not a value file at all
        File.WriteAllText(path1, "plain text");
        Assert.Contains("is not a VirtPool secret value", Fails(() => store.GetValue(uuid1)).Message, StringComparison.Ordinal);

        // another host key
        File.WriteAllBytes(path1, original);
        Assert.Equal("one"u8.ToArray(), store.GetValue(uuid1));
        File.WriteAllBytes(store.KeyPath, new byte[32]);
        Assert.Contains("failed authentication", Fails(() => store.GetValue(uuid1)).Message, StringComparison.Ordinal);
        File.WriteAllBytes(store.KeyPath, new byte[5]);
        Assert.Contains("is damaged (5 bytes, expected 32)", Fails(() => store.GetValue(uuid1)).Message, StringComparison.Ordinal);
        File.Delete(store.KeyPath);
        Assert.Contains("is missing", Fails(() => store.GetValue(uuid1)).Message, StringComparison.Ordinal);
    }

    // ----- concurrency ---------------------------------------------------------------------------

    [Fact]
    public async Task Concurrent_defines_from_two_stores_keep_usages_unique()
    {
        var stores = new[] { NewStore(), NewStore() };
        const int perUsage = 8;
        const int usages = 6;
        var attempts = Enumerable.Range(0, usages * perUsage).Select(i => Task.Run(() =>
        {
            var store = stores[i % 2];
            try
            {
                store.Define(Xml(Guid.NewGuid().ToString("D"), Ceph($"usage-{i % usages}")));
                return true;
            }
            catch (VirtPoolException ex) when (ex.Message.Contains("already defined for use with", StringComparison.Ordinal))
            {
                return false;
            }
        }));
        var results = await Task.WhenAll(attempts);

        Assert.Equal(usages, results.Count(ok => ok));
        var listed = NewStore().List();
        Assert.Equal(usages, listed.Count);
        Assert.Equal(usages, listed.Select(d => d.UsageId).Distinct().Count());
        Assert.Empty(Directory.GetFiles(stores[0].ConfigDir, "*.new"));
    }

    [Fact]
    public async Task Concurrent_value_writes_from_two_stores_leave_a_readable_value()
    {
        var a = NewStore();
        var b = NewStore();
        var uuid = Guid.Parse(Uuid1);
        a.Define(Xml(Uuid1));
        await Task.WhenAll(Enumerable.Range(0, 40).Select(i => Task.Run(() => (i % 2 == 0 ? a : b).SetValue(uuid, BitConverter.GetBytes(i)))));
        var value = NewStore().GetValue(uuid);
        Assert.InRange(BitConverter.ToInt32(value), 0, 39);
        Assert.Equal(32, File.ReadAllBytes(a.KeyPath).Length);
    }
}
