using System.Text;
using System.Text.RegularExpressions;
using VirtPool.Cli.Tests.Support;

namespace VirtPool.Cli.Tests.Differential;

/// <summary>
/// secret-* against virsh + libvirtd 9.0: definitions valid and invalid, dumpxml, list filters, values
/// (base64, --plain, files, binary), private secrets, redefinition rules, undefine and bad UUIDs.
/// The oracle keeps secrets in its private /etc/libvirt/secrets; each test removes them before and after.
/// </summary>
[Collection(LibvirtCollection.Name)]
public sealed partial class SecretDifferentialTests(LibvirtOracle oracle)
{
    private const string U1 = "2ec115d7-3a88-3ceb-bc12-0ac909a6fd87";
    private const string U2 = "3b6a6b55-7c3e-4f4e-9d31-0b1f4c9e2a10";
    private const string U3 = "5f0e8c1a-2d4b-4e6f-8a9c-1b2d3e4f5a6b";
    private const string U4 = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d";

    /// <summary>Name → document; each is defined, shown, listed and removed.</summary>
    public static TheoryData<string, string> DefineCases() => new()
    {
        { "ceph-full", $"<secret ephemeral='no' private='no'>\n  <uuid>{U1}</uuid>\n  <description>Ceph client.admin key</description>\n  <usage type='ceph'>\n    <name>client.admin secret</name>\n  </usage>\n</secret>\n" },
        { "volume", $"<secret><uuid>{U1}</uuid><usage type='volume'><volume>/var/lib/libvirt/images/enc.qcow2</volume></usage></secret>" },
        { "iscsi", $"<secret ephemeral='yes'><uuid>{U1}</uuid><usage type='iscsi'><target>iqn.2013-06.com.example:pool</target></usage></secret>" },
        { "tls", $"<secret private='yes'><uuid>{U1}</uuid><usage type='tls'><name>tls-client</name></usage></secret>" },
        { "vtpm", $"<secret ephemeral='yes' private='yes'><uuid>{U1}</uuid><usage type='vtpm'><name>vtpm &amp; co</name></usage></secret>" },
        { "usage-none", $"<secret><uuid>{U1}</uuid><usage type='none'><name>ignored</name></usage></secret>" },
        { "no-usage", $"<secret><uuid>{U1}</uuid></secret>" },
        { "escaped-description", $"<secret><uuid>{U1}</uuid><description>a &lt;b&gt; &amp; \"c\" 'd'\n  second line\ttab</description></secret>" },
        { "empty-description", $"<secret><uuid>{U1}</uuid><description></description><usage type='ceph'><name>x</name></usage></secret>" },
        { "nested-text", $"<secret><uuid>{U1}</uuid><description>one<b>two</b><![CDATA[<three>]]></description><usage type='ceph'><name>a<i>b</i>c</name></usage></secret>" },
        { "uuid-upper-nodash", "<secret><uuid>2EC115D73A883CEBBC120AC909A6FD87</uuid></secret>" },
        { "uuid-spaced", "<secret><uuid>  2e c1-15d7 3a88-3ceb-bc12-0ac909a6fd87 \n</uuid></secret>" },
        { "unknown-parts", $"<secret bogus='1' ephemeral='no'><uuid>{U1}</uuid><extra><uuid>x</uuid></extra><usage type='ceph' other='y'><name>n</name><name>second</name></usage></secret>" },
        { "empty-attributes", $"<secret ephemeral='' private=''><uuid>{U1}</uuid></secret>" },
        { "second-usage", $"<secret><uuid>{U1}</uuid><usage><name>a</name></usage><usage type='tls'><name>b</name></usage></secret>" },
        { "generated-uuid", "<secret><usage type='ceph'><name>generated</name></usage></secret>" },
        { "generated-empty-uuid", "<secret><uuid></uuid></secret>" },

        { "bad-root", "<pool type='dir'><name>x</name></pool>" },
        { "bad-ephemeral", $"<secret ephemeral='1'><uuid>{U1}</uuid></secret>" },
        { "bad-private", $"<secret private='maybe'><uuid>{U1}</uuid></secret>" },
        { "bad-private-case", $"<secret private='Yes'><uuid>{U1}</uuid></secret>" },
        { "bad-uuid", "<secret><uuid>not-a-uuid</uuid></secret>" },
        { "short-uuid", "<secret><uuid>2ec115d7-3a88-3ceb-bc12-0ac909a6fd8</uuid></secret>" },
        { "usage-no-type", $"<secret><uuid>{U1}</uuid><usage><name>x</name></usage></secret>" },
        { "usage-empty-type", $"<secret><uuid>{U1}</uuid><usage type=''/></secret>" },
        { "usage-bad-type", $"<secret><uuid>{U1}</uuid><usage type='rbd'><name>x</name></usage></secret>" },
        { "volume-missing", $"<secret><uuid>{U1}</uuid><usage type='volume'><name>x</name></usage></secret>" },
        { "ceph-missing", $"<secret><uuid>{U1}</uuid><usage type='ceph'><target>x</target></usage></secret>" },
        { "ceph-empty", $"<secret><uuid>{U1}</uuid><usage type='ceph'><name/></usage></secret>" },
        { "iscsi-missing", $"<secret><uuid>{U1}</uuid><usage type='iscsi'><name>x</name></usage></secret>" },
        { "tls-missing", $"<secret><uuid>{U1}</uuid><usage type='tls'/></secret>" },
        { "vtpm-missing", $"<secret><uuid>{U1}</uuid><usage type='vtpm'></usage></secret>" },
        { "empty-document", string.Empty },
        { "junk", "junk\n" },
        { "unclosed", $"<secret><uuid>{U1}</uuid>\n" },
        { "mismatched", "<secret><uuid>x</uid></secret>" },
        { "trailing", "<secret/>\n<secret/>" },
    };

    [Theory]
    [MemberData(nameof(DefineCases))]
    public async Task Define(string name, string xml)
    {
        await using var scope = await SecretScope.StartAsync(oracle);
        var s = scope.Sandbox;
        var file = s.WriteFile(name + ".xml", xml);
        var define = await s.StepAsync("secret-define", file);
        if (define.OracleOk)
        {
            var o = CreatedUuid(define.Oracle.Stdout) ?? throw new InvalidOperationException("virsh printed no UUID");
            var v = CreatedUuid(define.Cli.Stdout) ?? o;
            var dump = await s.StepAsync(["secret-dumpxml", o], ["secret-dumpxml", v]);
            await s.StepAsync("secret-list");
            if (o == v)
            {
                // the test's own UUID: the dump defines the same secret again
                await s.StepAsync("secret-define", s.WriteFile(name + "-dumped.xml", dump.Oracle.Stdout));
            }

            await s.StepAsync(["secret-undefine", o], ["secret-undefine", v]);
        }

        await s.StepAsync("secret-list");
        s.AssertNoDifferences();
    }

    [Fact]
    public async Task Define_command_errors()
    {
        await using var scope = await SecretScope.StartAsync(oracle);
        var s = scope.Sandbox;
        await s.StepAsync("secret-define", "@ROOT@/x/missing.xml");
        await s.StepAsync("secret-define");
        await s.StepAsync("secret-define", "");
        s.MakeDir("x/dir");
        await s.StepAsync("secret-define", "@ROOT@/x/dir");
        s.AssertNoDifferences();
    }

    [Fact]
    public async Task Values_base64_plain_and_files()
    {
        await using var scope = await SecretScope.StartAsync(oracle);
        var s = scope.Sandbox;
        (await s.StepAsync("secret-define", s.WriteFile("c.xml", Ceph(U1, "client.admin")))).ExpectOracle(0);
        await s.StepAsync("secret-get-value", U1);
        await s.StepAsync("secret-get-value", U1, "--plain");

        (await s.StepAsync("secret-set-value", U1, "--base64", "QVFCeS4uLg==")).ExpectOracle(0);
        await s.StepAsync("secret-get-value", U1);
        await s.StepAsync("secret-get-value", U1, "--plain");
        await s.StepAsync("secret-get-value", "--secret", U1, "--plain");
        await s.StepAsync("-q", "secret-set-value", "--secret", U1, "--base64=aGVsbG8gd29ybGQ");
        await s.StepAsync("secret-get-value", U1);

        // GLib's lenient decoder: junk skipped, '=' as a zero digit, an incomplete group dropped
        foreach (var text in new[] { "aGVs bG8=\n", "Q!Q=*=", "QUJDRA", "QQ==QUJD", "====", "!!!", "QQ" })
        {
            await s.StepAsync("secret-set-value", U1, "--base64", text);
            await s.StepAsync("secret-get-value", U1);
        }

        await s.StepAsync("secret-set-value", U1, "--file", s.WriteFile("v.b64", "c2VjcmV0LWZyb20tZmlsZQ==\n"));
        await s.StepAsync("secret-get-value", U1, "--plain");
        await s.StepAsync("secret-set-value", U1, "--file", s.WriteFile("v.txt", "plain text\n"), "--plain");
        await s.StepAsync("secret-get-value", U1);
        await s.StepAsync("secret-get-value", U1, "--plain");

        // binary bytes, not UTF-8, through --plain both ways
        var binary = s.WriteBytes("x/v.bin", [0x00, 0x01, 0xff, 0xfe, 0x80, (byte)'\n', 0xc3]);
        await s.StepAsync("secret-set-value", U1, "--file", binary, "--plain");
        await s.StepAsync("secret-get-value", U1);
        await s.StepAsync("secret-get-value", U1, "--plain");
        await s.StepAsync("secret-set-value", U1, "--file", binary);
        await s.StepAsync("secret-get-value", U1);

        // file size limit (1024 bytes), empty values, missing files
        await s.StepAsync("secret-set-value", U1, "--file", s.WriteFile("k1024", new string('k', 1024)), "--plain");
        await s.StepAsync("secret-get-value", U1);
        await s.StepAsync("secret-set-value", U1, "--file", s.WriteFile("k1025", new string('k', 1025)), "--plain");
        await s.StepAsync("secret-set-value", U1, "--file", s.WriteFile("empty", string.Empty), "--plain");
        await s.StepAsync("secret-set-value", U1, "--file", s.WriteFile("newline", "\n"));
        await s.StepAsync("secret-set-value", U1, "--file", "@ROOT@/x/missing");
        await s.StepAsync("secret-set-value", U1, "--base64", "");
        await s.StepAsync("secret-get-value", U1, "--plain");

        // option checks come before the lookup
        await s.StepAsync("secret-set-value", U1);
        await s.StepAsync("secret-set-value", U1, "--file", "@ROOT@/x/v.b64", "--base64", "QQ==");
        await s.StepAsync("secret-set-value", U1, "--plain", "--base64", "QQ==");
        await s.StepAsync("secret-set-value", U1, "--interactive", "--base64", "QQ==");
        await s.StepAsync("secret-set-value", U1, "--interactive", "--plain");
        await s.StepAsync("secret-set-value", U1, "--interactive", "--file", "@ROOT@/x/v.b64");
        await s.StepAsync("secret-set-value", U4, "--plain", "--base64", "QQ==");
        await s.StepAsync("secret-set-value", U4, "--base64", "QQ==");
        await s.StepAsync("secret-set-value", U4);

        // the largest value, and one byte more (refused before anything is sent)
        await s.StepAsync("secret-set-value", U1, "--base64", Convert.ToBase64String(new byte[65536]));
        await s.StepAsync("secret-set-value", U1, "--base64", Convert.ToBase64String(new byte[65537]));
        await s.StepAsync("secret-get-value", U1);

        // undefine takes the value with it
        await s.StepAsync("secret-undefine", U1);
        await s.StepAsync("secret-define", "@ROOT@/x/c.xml");
        await s.StepAsync("secret-get-value", U1);
        s.AssertNoDifferences();
    }

    [Fact]
    public async Task Private_secret_value_is_refused()
    {
        await using var scope = await SecretScope.StartAsync(oracle);
        var s = scope.Sandbox;
        (await s.StepAsync("secret-define", s.WriteFile("p.xml", Ceph(U1, "private-one", " private='yes'")))).ExpectOracle(0);
        await s.StepAsync("secret-get-value", U1);
        (await s.StepAsync("secret-set-value", U1, "--base64", "c2VjcmV0")).ExpectOracle(0);
        await s.StepAsync("secret-get-value", U1);
        await s.StepAsync("secret-get-value", U1, "--plain");
        await s.StepAsync("secret-dumpxml", U1);

        // the flag cannot be cleared, but the rest may change
        await s.StepAsync("secret-define", s.WriteFile("p-clear.xml", Ceph(U1, "private-one", " private='no'")));
        await s.StepAsync("secret-define", s.WriteFile("p-default.xml", Ceph(U1, "private-one")));
        await s.StepAsync("secret-define", s.WriteFile("p-desc.xml", Ceph(U1, "private-one", " private='yes' ephemeral='yes'", "<description>now ephemeral</description>")));
        await s.StepAsync("secret-dumpxml", U1);
        await s.StepAsync("secret-get-value", U1);

        // a non-private secret may become private
        (await s.StepAsync("secret-define", s.WriteFile("n.xml", Ceph(U2, "later-private")))).ExpectOracle(0);
        await s.StepAsync("secret-set-value", U2, "--base64", "b3Blbg==");
        await s.StepAsync("secret-get-value", U2);
        await s.StepAsync("secret-define", s.WriteFile("n-private.xml", Ceph(U2, "later-private", " private='yes'")));
        await s.StepAsync("secret-get-value", U2);
        await s.StepAsync("secret-list", "--private");
        await s.StepAsync("secret-list", "--no-private");
        s.AssertNoDifferences();
    }

    [Fact]
    public async Task Redefinition_rules()
    {
        await using var scope = await SecretScope.StartAsync(oracle);
        var s = scope.Sandbox;
        (await s.StepAsync("secret-define", s.WriteFile("a.xml", Ceph(U1, "shared")))).ExpectOracle(0);
        await s.StepAsync("secret-set-value", U1, "--base64", "a2VwdA==");

        // same UUID: description changes, the value stays
        await s.StepAsync("secret-define", s.WriteFile("a-desc.xml", Ceph(U1, "shared", "", "<description>changed</description>")));
        await s.StepAsync("secret-dumpxml", U1);
        await s.StepAsync("secret-get-value", U1);

        // same UUID, another usage ID; another type with the same ID
        await s.StepAsync("secret-define", s.WriteFile("a-other.xml", Ceph(U1, "other")));
        await s.StepAsync("secret-define", s.WriteFile("a-none.xml", $"<secret><uuid>{U1}</uuid></secret>"));
        await s.StepAsync("secret-define", s.WriteFile("a-tls.xml", $"<secret><uuid>{U1}</uuid><usage type='tls'><name>shared</name></usage></secret>"));
        await s.StepAsync("secret-dumpxml", U1);

        // another UUID with a usage in use; the same ID under another type is free
        await s.StepAsync("secret-define", s.WriteFile("b-clash.xml", $"<secret><uuid>{U2}</uuid><usage type='tls'><name>shared</name></usage></secret>"));
        await s.StepAsync("secret-define", s.WriteFile("b-ceph.xml", Ceph(U2, "shared")));
        await s.StepAsync("secret-define", s.WriteFile("c-gen.xml", "<secret><usage type='ceph'><name>shared</name></usage></secret>"));

        // an unused secret cannot take a usage later
        await s.StepAsync("secret-define", s.WriteFile("c-none.xml", $"<secret><uuid>{U3}</uuid></secret>"));
        await s.StepAsync("secret-define", s.WriteFile("c-later.xml", Ceph(U3, "late")));
        await s.StepAsync("secret-define", s.WriteFile("c-none2.xml", $"<secret><uuid>{U3}</uuid><usage type='none'/><description>still none</description></secret>"));

        // ephemeral and back: the value follows
        await s.StepAsync("secret-define", s.WriteFile("a-eph.xml", $"<secret ephemeral='yes'><uuid>{U1}</uuid><usage type='tls'><name>shared</name></usage></secret>"));
        await s.StepAsync("secret-list", "--ephemeral");
        await s.StepAsync("secret-get-value", U1);
        await s.StepAsync("secret-set-value", U1, "--base64", "ZXBoZW1lcmFs");
        await s.StepAsync("secret-define", "@ROOT@/x/a-tls.xml");
        await s.StepAsync("secret-list", "--ephemeral");
        await s.StepAsync("secret-get-value", U1);
        await s.StepAsync("secret-list");
        s.AssertNoDifferences();
    }

    [Fact]
    public async Task List_filters()
    {
        await using var scope = await SecretScope.StartAsync(oracle);
        var s = scope.Sandbox;
        await s.StepAsync("secret-list");
        await s.StepAsync("-q", "secret-list");
        await s.StepAsync("secret-list", "--ephemeral");

        await s.StepAsync("secret-define", s.WriteFile("1.xml", $"<secret><uuid>{U4}</uuid><usage type='volume'><volume>/var/lib/images/a very long volume path/disk.qcow2</volume></usage></secret>"));
        await s.StepAsync("secret-define", s.WriteFile("2.xml", $"<secret ephemeral='yes'><uuid>{U2}</uuid><usage type='iscsi'><target>iqn.2013-06.com.example:t</target></usage></secret>"));
        await s.StepAsync("secret-define", s.WriteFile("3.xml", $"<secret private='yes'><uuid>{U3}</uuid></secret>"));
        await s.StepAsync("secret-define", s.WriteFile("4.xml", Ceph(U1, "ceph both", " ephemeral='yes' private='yes'")));

        string[][] filters =
        [
            [], ["--ephemeral"], ["--no-ephemeral"], ["--private"], ["--no-private"],
            ["--ephemeral", "--private"], ["--no-ephemeral", "--no-private"], ["--ephemeral", "--no-private"],
            ["--ephemeral", "--no-ephemeral"], ["--private", "--no-private"],
            ["--ephemeral", "--no-ephemeral", "--private", "--no-private"],
        ];
        foreach (var filter in filters)
        {
            await s.StepAsync(["secret-list", .. filter]);
        }

        await s.StepAsync("-q", "secret-list", "--no-ephemeral");
        await s.StepAsync("secret-list", "--bogus");
        await s.StepAsync("secret-list", "extra");
        s.AssertNoDifferences();
    }

    [Fact]
    public async Task Unknown_and_malformed_uuids()
    {
        await using var scope = await SecretScope.StartAsync(oracle);
        var s = scope.Sandbox;
        (await s.StepAsync("secret-define", s.WriteFile("a.xml", Ceph(U1, "x")))).ExpectOracle(0);
        foreach (var command in new[] { "secret-dumpxml", "secret-get-value", "secret-undefine" })
        {
            await s.StepAsync(command, U4);
            await s.StepAsync(command, "9A8B7C6D5E4F4A3B8C2D1E0F9A8B7C6D");
            await s.StepAsync(command, "nope");
            await s.StepAsync(command, "2ec115d7-3a88-3ceb-bc12-0ac909a6fd8");
            await s.StepAsync(command, "2ec115d7-3a88-3ceb-bc12-0ac909a6fd877");
            await s.StepAsync(command, "");
            await s.StepAsync(command);
        }

        await s.StepAsync("secret-set-value", "nope", "--base64", "QQ==");
        await s.StepAsync("secret-dumpxml", " 2EC115D7 3A88 3CEB BC12 0AC909A6FD87 ");
        await s.StepAsync("secret-get-value", "2EC115D73A883CEBBC120AC909A6FD87");
        await s.StepAsync("secret-undefine", "2EC115D7-3A88-3CEB-BC12-0AC909A6FD87");
        await s.StepAsync("secret-undefine", U1);
        await s.StepAsync("secret-list");
        s.AssertNoDifferences();
    }

    [Fact]
    public async Task Several_commands_in_one_run()
    {
        await using var scope = await SecretScope.StartAsync(oracle);
        var s = scope.Sandbox;
        var file = s.WriteFile("a.xml", Ceph(U1, "batch"));
        await s.StepAsync($"secret-define {file}; secret-set-value {U1} --base64 YmF0Y2g=; secret-get-value {U1}; secret-list; secret-undefine {U1}");
        // the failing command last: virsh goes on after a failed command, virtpool's command loop
        // (Program.cs, not part of the secret commands) stops there
        await s.StepAsync($"secret-define {file}; secret-list; secret-get-value {U1}");
        s.AssertNoDifferences();
    }

    /// <summary>
    /// Known difference: virsh prompts for the value on the terminal; virtpool refuses --interactive
    /// plainly (after the same option checks and lookup), changing nothing.
    /// </summary>
    [Fact]
    public async Task Interactive_value_is_refused_plainly()
    {
        var state = TestPaths.NewTempDir("vpsecret");
        try
        {
            var file = Path.Combine(state, "a.xml");
            await File.WriteAllTextAsync(file, Ceph(U1, "interactive"));
            Assert.Equal(0, (await VirtPoolCli.RunAsync(state, "secret-define", file)).ExitCode);
            var run = await VirtPoolCli.RunAsync(state, "secret-set-value", U1, "--interactive");
            Assert.Equal(1, run.ExitCode);
            Assert.Equal("\n", run.Stdout);
            Assert.Equal("error: this function is not supported by the connection driver: virtpool does not implement --interactive yet: use --file or --base64\n", run.Stderr);
            var get = await VirtPoolCli.RunAsync(state, "secret-get-value", U1);
            Assert.Equal($"error: Secret not found: secret '{U1}' does not have a value\n", get.Stderr);
        }
        finally
        {
            TestPaths.DeleteTree(state);
        }
    }

    private static string Ceph(string uuid, string name, string attributes = "", string description = "")
        => $"<secret{attributes}>\n  <uuid>{uuid}</uuid>\n  {description}<usage type='ceph'>\n    <name>{name}</name>\n  </usage>\n</secret>\n";

    private static string? CreatedUuid(string stdout) => CreatedRegex().Match(stdout) is { Success: true } m ? m.Groups[1].Value : null;

    [GeneratedRegex("^Secret ([0-9a-f-]{36}) created")]
    private static partial Regex CreatedRegex();
}
