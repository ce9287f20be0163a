using System.Text;
using VirtPool.Cli.Tests.Support;
using Xunit.Sdk;

namespace VirtPool.Cli.Tests.BadInput;

/// <summary>
/// Hostile or broken input: each is refused with a clear "error: …" and exit 1, never a crash (no
/// unhandled-exception text), and nothing is written outside the state folder and the pool's folder.
/// </summary>
public sealed class BadInputTests : IDisposable
{
    private readonly TempDir _tmp = new("vpbad");

    public BadInputTests()
    {
        Directory.CreateDirectory(Outside);
    }

    private string State => _tmp.Sub("state");

    /// <summary>The running pool's folder.</summary>
    private string PoolDir => _tmp.Sub("area", "pool");

    /// <summary>A sibling of the pool's folder, where a traversal would land.</summary>
    private string Outside => _tmp.Sub("area", "outside");

    public void Dispose() => _tmp.Dispose();

    public static TheoryData<string, string> BadPoolDocuments() => new()
    {
        { "malformed", "<pool type='dir'><name>bad</name><target><path>/tmp/x</path></target>" },
        { "mismatched-tags", "<pool type='dir'><name>bad</nom></pool>" },
        { "unknown-type", "<pool type='tape'><name>bad</name><target><path>/tmp/x</path></target></pool>" },
        { "missing-type", "<pool><name>bad</name></pool>" },
        { "name-with-slash", "<pool type='dir'><name>a/b</name><target><path>@AREA@/slash</path></target></pool>" },
        { "name-dot-dot-slash", "<pool type='dir'><name>../../escape</name><target><path>@AREA@/esc</path></target></pool>" },
        { "name-missing", "<pool type='dir'><target><path>@AREA@/noname</path></target></pool>" },
        { "wrong-root", "<volume><name>v</name><capacity>1</capacity></volume>" },
        { "bad-uuid", "<pool type='dir'><name>bad</name><uuid>xyz</uuid><target><path>@AREA@/u</path></target></pool>" },
        { "unknown-format", "<pool type='fs'><name>bad</name><source><device path='/dev/null'/><format type='tape'/></source><target><path>@AREA@/f</path></target></pool>" },
        { "empty", string.Empty },
        { "whitespace", " \n\t \n" },
        { "text", "hello" },
        { "utf16-bom", "\uFEFF\uFFFE<pool/>" },
        { "nul-in-name", "<pool type='dir'><name>a&#0;b</name><target><path>@AREA@/nul</path></target></pool>" },
        { "deep-nesting", string.Concat(Enumerable.Repeat("<a>", 50000)) + string.Concat(Enumerable.Repeat("</a>", 50000)) },
        { "external-entity-loop", "<!DOCTYPE pool [<!ENTITY a \"&b;\"><!ENTITY b \"&a;\">]><pool type='dir'><name>&a;</name></pool>" },
        {
            "entity-bomb",
            "<!DOCTYPE pool [<!ENTITY a \"aaaaaaaaaaaaaaaa\">"
            + "<!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\">"
            + "<!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\">"
            + "<!ENTITY d \"&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;\">"
            + "<!ENTITY e \"&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;\">"
            + "<!ENTITY f \"&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;\">"
            + "<!ENTITY g \"&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;\">"
            + "<!ENTITY h \"&g;&g;&g;&g;&g;&g;&g;&g;&g;&g;&g;&g;&g;&g;&g;&g;\">]>"
            + "<pool type='unknown-type-so-it-fails'><name>&h;</name></pool>"
        },
    };

    [Theory]
    [MemberData(nameof(BadPoolDocuments))]
    public async Task Bad_pool_document_is_refused_cleanly(string caseName, string content)
    {
        var file = _tmp.Sub($"{caseName}.xml");
        await File.WriteAllTextAsync(file, content.Replace("@AREA@", _tmp.Sub("area"), StringComparison.Ordinal), new UTF8Encoding(false));
        await RefusedWithoutSideEffectsAsync("pool-define", file);
        await RefusedWithoutSideEffectsAsync("pool-create", file);
        await NothingDefinedAsync();
    }

    [Fact]
    public async Task Binary_garbage_is_refused_cleanly()
    {
        var rng = new Random(4242);
        var bytes = new byte[64 * 1024];
        rng.NextBytes(bytes);
        var file = _tmp.Sub("garbage.xml");
        await File.WriteAllBytesAsync(file, bytes);
        await RefusedWithoutSideEffectsAsync("pool-define", file);

        // garbage after a valid start, and a NUL byte in the middle of a document
        var prefixed = Encoding.UTF8.GetBytes("<pool type='dir'><name>g</name>").Concat(bytes).ToArray();
        await File.WriteAllBytesAsync(file, prefixed);
        await RefusedWithoutSideEffectsAsync("pool-define", file);
        await File.WriteAllBytesAsync(file, Encoding.UTF8.GetBytes("<pool type='dir'><name>g\0h</name></pool>"));
        await RefusedWithoutSideEffectsAsync("pool-define", file);
        await NothingDefinedAsync();
    }

    [Fact]
    public async Task A_20_MiB_document_is_refused_cleanly()
    {
        var file = _tmp.Sub("huge.xml");
        var sb = new StringBuilder(21 * 1024 * 1024);
        sb.Append("<pool type='dir'><name>huge</name><target><path>").Append(_tmp.Sub("area", "huge")).Append("</path></target><!--");
        sb.Append('x', 20 * 1024 * 1024);
        sb.Append("--></pool>");
        await File.WriteAllTextAsync(file, sb.ToString());
        var result = await RefusedWithoutSideEffectsAsync("pool-define", file);
        Assert.True(result.Stderr.Length < 4096, $"the error should be short, not an echo of the file ({result.Stderr.Length} bytes)");

        // the same size as a volume document
        await RunningPoolAsync();
        await RefusedWithoutSideEffectsAsync("vol-create", "bad-pool", file);
    }

    [Fact]
    public async Task Files_that_cannot_be_read_are_refused_cleanly()
    {
        await RefusedWithoutSideEffectsAsync("pool-define", _tmp.Sub("does-not-exist.xml"));
        await RefusedWithoutSideEffectsAsync("pool-define", _tmp.Sub("area"));
        await RefusedWithoutSideEffectsAsync("pool-define", "/dev/null");
        await RefusedWithoutSideEffectsAsync("pool-define", string.Empty);
        await NothingDefinedAsync();
    }

    [Theory]
    [InlineData("a/b")]
    [InlineData("../escape")]
    [InlineData("/abs")]
    [InlineData("a/../../b")]
    public async Task Pool_names_that_are_paths_are_refused(string name)
    {
        await RefusedWithoutSideEffectsAsync("pool-define-as", name, "dir", "--target", _tmp.Sub("area", "named"));
        await RefusedWithoutSideEffectsAsync("pool-create-as", name, "dir", "--target", _tmp.Sub("area", "named"), "--build");
        await NothingDefinedAsync();
        Assert.False(Directory.Exists(_tmp.Sub("area", "named")), "a refused pool-create-as --build must not create its folder");
    }

    [Fact]
    public async Task A_pool_name_too_long_for_a_file_name_is_refused()
    {
        var name = "long-" + new string('n', 300);
        await RefusedWithoutSideEffectsAsync("pool-define-as", name, "dir", "--target", _tmp.Sub("area", "long"));
        await NothingDefinedAsync();
    }

    [Theory]
    [InlineData("../x")]
    [InlineData("../outside/x")]
    [InlineData("a/b")]
    [InlineData("..")]
    [InlineData(".")]
    [InlineData("")]
    [InlineData("@OUTSIDE@/abs")]
    [InlineData("x/../../outside/y")]
    public async Task Volume_names_that_are_paths_are_refused(string name)
    {
        await RunningPoolAsync();
        var volName = name.Replace("@OUTSIDE@", Outside, StringComparison.Ordinal);
        await RefusedWithoutSideEffectsAsync("vol-create-as", "bad-pool", volName, "1M");
        await RefusedWithoutSideEffectsAsync("vol-create-as", "bad-pool", volName, "1M", "--format", "qcow2");

        var xml = _tmp.Sub("vol.xml");
        await File.WriteAllTextAsync(xml, $"<volume><name>{System.Security.SecurityElement.Escape(volName)}</name><capacity>1048576</capacity></volume>");
        await RefusedWithoutSideEffectsAsync("vol-create", "bad-pool", xml);
        Assert.Empty(Directory.EnumerateFileSystemEntries(PoolDir));
        Assert.Empty(Directory.EnumerateFileSystemEntries(Outside));
    }

    [Theory]
    [InlineData("99999999E")]
    [InlineData("16E")]
    [InlineData("18446744073709551616")]
    [InlineData("10X")]
    [InlineData("abc")]
    [InlineData("-5")]
    [InlineData("1.5G")]
    [InlineData("")]
    public async Task Impossible_sizes_are_refused(string size)
    {
        await RunningPoolAsync();
        await RefusedWithoutSideEffectsAsync("vol-create-as", "bad-pool", "v.img", size);
        if (size.Length > 0)
        {
            // virsh ignores an empty --allocation (the differential tests compare that case)
            await RefusedWithoutSideEffectsAsync("vol-create-as", "bad-pool", "w.img", "1M", "--allocation", size);
        }

        Assert.Empty(Directory.EnumerateFileSystemEntries(PoolDir));
    }

    [Fact]
    public async Task Bad_volume_documents_are_refused_cleanly()
    {
        await RunningPoolAsync();
        string[] documents =
        [
            "<volume><name>v</name></volume>",
            "<volume><name>v</name><capacity>lots</capacity></volume>",
            "<volume><name>v</name><capacity unit='parsec'>1</capacity></volume>",
            "<volume><name>v</name><capacity unit='E'>99999999</capacity></volume>",
            "<volume><capacity>1</capacity></volume>",
            "<volume><name>v</name><capacity>1</capacity><target><format type='tape'/></target></volume>",
            "<volume><name>v</name><capacity>1</capacity><target><permissions><mode>999</mode></permissions></target></volume>",
            "<pool type='dir'><name>v</name></pool>",
            "<volume><name>v",
            string.Empty,
        ];
        var file = _tmp.Sub("vol.xml");
        foreach (var doc in documents)
        {
            await File.WriteAllTextAsync(file, doc);
            await RefusedWithoutSideEffectsAsync("vol-create", "bad-pool", file);
        }

        Assert.Empty(Directory.EnumerateFileSystemEntries(PoolDir));
    }

    [Fact]
    public async Task Unknown_commands_and_options_are_refused_cleanly()
    {
        await RefusedWithoutSideEffectsAsync("pool-frobnicate");
        await RefusedWithoutSideEffectsAsync("pool-list", "--frobnicate");
        await RefusedWithoutSideEffectsAsync("pool-info");
        await RefusedWithoutSideEffectsAsync("vol-create-as", "bad-pool");
        await RefusedWithoutSideEffectsAsync("pool-list", "--type", "tape");
        await RefusedWithoutSideEffectsAsync("vol-name", "no-such-volume");
        await RefusedWithoutSideEffectsAsync("vol-pool", "no-such-volume");
    }

    /// <summary>Runs a command that must fail: exit 1, "error: …" on stderr, no crash, nothing changed outside.</summary>
    private async Task<RunResult> RefusedWithoutSideEffectsAsync(params string[] args)
    {
        var before = Snapshot();
        var result = await VirtPoolCli.RunAsync(State, args);
        var after = Snapshot();
        var shown = string.Join(' ', args.Select(a => a.Length > 80 ? a[..80] + "…" : a));

        var stderr = result.Stderr;
        if (stderr.Contains("Unhandled exception", StringComparison.Ordinal) || stderr.Contains("\n   at ", StringComparison.Ordinal)
            || stderr.Contains("System.", StringComparison.Ordinal))
        {
            throw new XunitException($"virtpool {shown} crashed:\n{Truncate(result.ToString())}");
        }

        if (result.ExitCode != 1 || !stderr.StartsWith("error: ", StringComparison.Ordinal))
        {
            throw new XunitException($"virtpool {shown}: expected exit 1 and 'error: …' on stderr, got\n{Truncate(result.ToString())}");
        }

        if (!before.SequenceEqual(after))
        {
            var added = after.Except(before).ToList();
            var removed = before.Except(after).ToList();
            throw new XunitException($"virtpool {shown} changed files outside its state folder: added [{string.Join(", ", added)}] removed [{string.Join(", ", removed)}]");
        }

        return result;
    }

    /// <summary>Every file and folder of the test's area outside the state folder, with sizes.</summary>
    private List<string> Snapshot()
    {
        var entries = new List<string>();
        foreach (var entry in Directory.EnumerateFileSystemEntries(_tmp.Path, "*", SearchOption.AllDirectories))
        {
            if (entry.StartsWith(State + "/", StringComparison.Ordinal) || entry == State)
            {
                continue;
            }

            // the test's own input files are written between runs, not by virtpool
            if (Path.GetDirectoryName(entry) == _tmp.Path && File.Exists(entry))
            {
                continue;
            }

            entries.Add(File.Exists(entry) ? $"{entry} ({new FileInfo(entry).Length} bytes)" : entry + "/");
        }

        entries.Sort(StringComparer.Ordinal);

        // and nothing new next to the test's folder
        entries.AddRange(Directory.EnumerateFileSystemEntries(Path.GetDirectoryName(_tmp.Path)!, "vpbad*").Order(StringComparer.Ordinal).Select(e => "sibling " + e));
        return entries;
    }

    private async Task RunningPoolAsync()
    {
        foreach (var args in new[]
        {
            new[] { "pool-define-as", "bad-pool", "dir", "--target", PoolDir },
            ["pool-build", "bad-pool"],
            ["pool-start", "bad-pool"],
        })
        {
            var result = await VirtPoolCli.RunAsync(State, args);
            Assert.True(result.ExitCode == 0, $"set-up 'virtpool {string.Join(' ', args)}' failed: {result}");
        }
    }

    private async Task NothingDefinedAsync()
    {
        var list = await VirtPoolCli.RunAsync(State, "pool-list", "--all", "--name");
        Assert.Equal(0, list.ExitCode);
        Assert.Equal("\n", list.Stdout);
    }

    private static string Truncate(string text) => text.Length > 3000 ? text[..3000] + "…" : text;
}
