// The synopsis line virsh 9.0 prints for each command (virsh help COMMAND); it shows every option's
// name, kind and whether it is required, in declaration order.

using VirtPool.Cli.Output;
using VirtPool.Cli.Parsing;

namespace VirtPool.Cli.Tests.Parsing;

public class CommandTableTests
{
    [Theory]
    [InlineData("pool-define", "pool-define <file> [--validate]")]
    [InlineData("pool-define-as", "pool-define-as <name> <type> [--print-xml] [--source-host <string>] [--source-path <string>] [--source-dev <string>] [--source-name <string>] [--target <string>] [--source-format <string>] [--auth-type <string>] [--auth-username <string>] [--secret-usage <string>] [--secret-uuid <string>] [--adapter-name <string>] [--adapter-wwnn <string>] [--adapter-wwpn <string>] [--adapter-parent <string>] [--adapter-parent-wwnn <string>] [--adapter-parent-wwpn <string>] [--adapter-parent-fabric-wwn <string>] [--source-protocol-ver <string>] [--source-initiator <string>]")]
    [InlineData("pool-create", "pool-create <file> [--build] [--no-overwrite] [--overwrite]")]
    [InlineData("pool-create-as", "pool-create-as <name> <type> [--print-xml] [--source-host <string>] [--source-path <string>] [--source-dev <string>] [--source-name <string>] [--target <string>] [--source-format <string>] [--auth-type <string>] [--auth-username <string>] [--secret-usage <string>] [--secret-uuid <string>] [--adapter-name <string>] [--adapter-wwnn <string>] [--adapter-wwpn <string>] [--adapter-parent <string>] [--adapter-parent-wwnn <string>] [--adapter-parent-wwpn <string>] [--adapter-parent-fabric-wwn <string>] [--source-protocol-ver <string>] [--source-initiator <string>] [--build] [--no-overwrite] [--overwrite]")]
    [InlineData("pool-build", "pool-build <pool> [--no-overwrite] [--overwrite]")]
    [InlineData("pool-start", "pool-start <pool> [--build] [--no-overwrite] [--overwrite]")]
    [InlineData("pool-autostart", "pool-autostart <pool> [--disable]")]
    [InlineData("pool-destroy", "pool-destroy <pool>")]
    [InlineData("pool-delete", "pool-delete <pool>")]
    [InlineData("pool-undefine", "pool-undefine <pool>")]
    [InlineData("pool-refresh", "pool-refresh <pool>")]
    [InlineData("pool-info", "pool-info <pool> [--bytes]")]
    [InlineData("pool-list", "pool-list [--inactive] [--all] [--transient] [--persistent] [--autostart] [--no-autostart] [--type <string>] [--details] [--uuid] [--name]")]
    [InlineData("pool-dumpxml", "pool-dumpxml <pool> [--inactive] [--xpath <string>] [--wrap]")]
    [InlineData("pool-uuid", "pool-uuid <pool>")]
    [InlineData("pool-name", "pool-name <pool>")]
    [InlineData("pool-capabilities", "pool-capabilities")]
    [InlineData("vol-create", "vol-create <pool> <file> [--prealloc-metadata] [--validate]")]
    [InlineData("vol-create-as", "vol-create-as <pool> <name> <capacity> [--allocation <string>] [--format <string>] [--backing-vol <string>] [--backing-vol-format <string>] [--prealloc-metadata] [--print-xml]")]
    [InlineData("vol-delete", "vol-delete <vol> [--pool <string>] [--delete-snapshots]")]
    // virsh's synopsis plus VirtPool's --details (labels).
    [InlineData("vol-info", "vol-info <vol> [--pool <string>] [--bytes] [--physical] [--details]")]
    [InlineData("vol-list", "vol-list <pool> [--details]")]
    [InlineData("vol-dumpxml", "vol-dumpxml <vol> [--pool <string>] [--xpath <string>] [--wrap]")]
    [InlineData("vol-path", "vol-path <vol> [--pool <string>]")]
    [InlineData("vol-name", "vol-name <vol>")]
    [InlineData("vol-key", "vol-key <vol> [--pool <string>]")]
    [InlineData("vol-pool", "vol-pool <vol> [--uuid]")]
    [InlineData("vol-create-from", "vol-create-from <pool> <file> <vol> [--inputpool <string>] [--prealloc-metadata] [--reflink] [--validate]")]
    [InlineData("vol-clone", "vol-clone <vol> <newname> [--pool <string>] [--prealloc-metadata] [--reflink] [--print-xml]")]
    [InlineData("vol-resize", "vol-resize <vol> <capacity> [--pool <string>] [--allocate] [--delta] [--shrink]")]
    [InlineData("vol-wipe", "vol-wipe <vol> [--pool <string>] [--algorithm <string>]")]
    [InlineData("vol-upload", "vol-upload <vol> <file> [--pool <string>] [--offset <number>] [--length <number>] [--sparse]")]
    [InlineData("vol-download", "vol-download <vol> <file> [--pool <string>] [--offset <number>] [--length <number>] [--sparse]")]
    [InlineData("secret-define", "secret-define <file> [--validate]")]
    [InlineData("secret-set-value", "secret-set-value <secret> [--file <string>] [--plain] [--interactive] [--base64 <string>]")]
    [InlineData("secret-get-value", "secret-get-value <secret> [--plain]")]
    [InlineData("secret-list", "secret-list [--ephemeral] [--no-ephemeral] [--private] [--no-private]")]
    [InlineData("secret-dumpxml", "secret-dumpxml <secret> [--xpath <string>] [--wrap]")]
    [InlineData("secret-undefine", "secret-undefine <secret>")]
    public void Synopsis_matches_virsh(string name, string synopsis)
    {
        var command = CommandTable.Find(name);

        Assert.NotNull(command);
        var help = HelpView.Command(command);
        Assert.Contains("\n  SYNOPSIS\n    " + synopsis + "\n", help, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_command_is_listed_once()
    {
        string[] expected =
        [
            "find-storage-pool-sources",
            "find-storage-pool-sources-as",
            "pool-define",
            "pool-define-as",
            "pool-create",
            "pool-create-as",
            "pool-build",
            "pool-start",
            "pool-autostart",
            "pool-destroy",
            "pool-delete",
            "pool-undefine",
            "pool-refresh",
            "pool-info",
            "pool-list",
            "pool-dumpxml",
            "pool-edit",
            "pool-uuid",
            "pool-name",
            "pool-capabilities",
            "vol-create",
            "vol-create-as",
            "vol-delete",
            "vol-info",
            "vol-list",
            "vol-dumpxml",
            "vol-path",
            "vol-name",
            "vol-key",
            "vol-pool",
            "vol-create-from",
            "vol-clone",
            "vol-resize",
            "vol-wipe",
            "vol-upload",
            "vol-download",
            "secret-define",
            "secret-set-value",
            "secret-get-value",
            "secret-list",
            "secret-dumpxml",
            "secret-undefine",
            "vol-checksum",
            "vol-label",
            "help",
        ];

        Assert.Equal(expected.Order(StringComparer.Ordinal), CommandTable.All.Select(c => c.Name).Order(StringComparer.Ordinal));
    }

    /// <summary>How many bare words each command accepts before virsh says "unexpected data" (probed with 25 words).</summary>
    [Theory]
    [InlineData("pool-define", 1)]
    [InlineData("pool-define-as", 21)]
    [InlineData("pool-create", 1)]
    [InlineData("pool-create-as", 21)]
    [InlineData("pool-build", 1)]
    [InlineData("pool-start", 1)]
    [InlineData("pool-autostart", 1)]
    [InlineData("pool-destroy", 1)]
    [InlineData("pool-delete", 1)]
    [InlineData("pool-undefine", 1)]
    [InlineData("pool-refresh", 1)]
    [InlineData("pool-info", 1)]
    [InlineData("pool-list", 1)]
    [InlineData("pool-dumpxml", 1)]
    [InlineData("pool-edit", 1)]
    [InlineData("pool-uuid", 1)]
    [InlineData("pool-name", 1)]
    [InlineData("pool-capabilities", 0)]
    [InlineData("find-storage-pool-sources", 2)]
    [InlineData("find-storage-pool-sources-as", 4)]
    [InlineData("vol-create", 2)]
    [InlineData("vol-create-as", 7)]
    [InlineData("vol-delete", 2)]
    [InlineData("vol-info", 2)]
    [InlineData("vol-list", 1)]
    [InlineData("vol-dumpxml", 2)]
    [InlineData("vol-path", 2)]
    [InlineData("vol-name", 1)]
    [InlineData("vol-key", 2)]
    [InlineData("vol-pool", 1)]
    [InlineData("vol-create-from", 4)]
    [InlineData("vol-clone", 3)]
    [InlineData("vol-resize", 3)]
    [InlineData("vol-wipe", 3)]
    [InlineData("vol-upload", 5)]
    [InlineData("vol-download", 5)]
    [InlineData("secret-define", 1)]
    [InlineData("secret-set-value", 2)]
    [InlineData("secret-get-value", 1)]
    [InlineData("secret-list", 0)]
    [InlineData("secret-dumpxml", 1)]
    [InlineData("secret-undefine", 1)]
    public void Positional_capacity_matches_virsh(string name, int count)
    {
        var words = new List<string> { name };
        for (var i = 1; i <= 25; i++)
        {
            words.Add($"a{i}");
        }

        var error = Assert.Throws<VirshUsageException>(() => CommandParser.ParseArgv(words));

        Assert.Equal($"unexpected data 'a{count + 1}'", error.Message);
    }
}
