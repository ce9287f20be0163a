// Expected texts captured from virsh 9.0: "virsh help NAME" (each ends with the blank line virsh prints
// after every command).

using VirtPool.Cli.Output;
using VirtPool.Cli.Parsing;

namespace VirtPool.Cli.Tests.Output;

public class HelpViewTests
{
    [Fact]
    public void Pool_info()
    {
        const string expected =
            "  NAME\n"
            + "    pool-info - storage pool information\n"
            + "\n"
            + "  SYNOPSIS\n"
            + "    pool-info <pool> [--bytes]\n"
            + "\n"
            + "  DESCRIPTION\n"
            + "    Returns basic information about the storage pool.\n"
            + "\n"
            + "  OPTIONS\n"
            + "    [--pool] <string>  pool name or uuid\n"
            + "    --bytes          Return pool info in bytes\n"
            + "\n"
            + "\n";

        Assert.Equal(expected, HelpView.Help("pool-info") + "\n");
    }

    [Fact]
    public void Pool_uuid_has_no_description()
    {
        const string expected =
            "  NAME\n"
            + "    pool-uuid - convert a pool name to pool UUID\n"
            + "\n"
            + "  SYNOPSIS\n"
            + "    pool-uuid <pool>\n"
            + "\n"
            + "  OPTIONS\n"
            + "    [--pool] <string>  pool name or uuid\n"
            + "\n"
            + "\n";

        Assert.Equal(expected, HelpView.Help("pool-uuid") + "\n");
    }

    [Fact]
    public void Pool_capabilities_has_no_options()
    {
        const string expected =
            "  NAME\n"
            + "    pool-capabilities - storage pool capabilities\n"
            + "\n"
            + "  SYNOPSIS\n"
            + "    pool-capabilities\n"
            + "\n"
            + "  DESCRIPTION\n"
            + "    Returns capabilities of storage pool support.\n"
            + "\n"
            + "\n";

        Assert.Equal(expected, HelpView.Help("pool-capabilities") + "\n");
    }

    [Fact]
    public void Vol_resize_description_spans_lines()
    {
        const string expected =
            "  NAME\n"
            + "    vol-resize - resize a vol\n"
            + "\n"
            + "  SYNOPSIS\n"
            + "    vol-resize <vol> <capacity> [--pool <string>] [--allocate] [--delta] [--shrink]\n"
            + "\n"
            + "  DESCRIPTION\n"
            + "    Resizes a storage volume. This is safe only for storage volumes not in use by an active guest.\n"
            + "See blockresize for live resizing.\n"
            + "\n"
            + "  OPTIONS\n"
            + "    [--vol] <string>  vol name, key or path\n"
            + "    [--capacity] <string>  new capacity for the vol, as scaled integer (default bytes)\n"
            + "    --pool <string>  pool name or uuid\n"
            + "    --allocate       allocate the new capacity, rather than leaving it sparse\n"
            + "    --delta          use capacity as a delta to current size, rather than the new size\n"
            + "    --shrink         allow the resize to shrink the volume\n"
            + "\n"
            + "\n";

        Assert.Equal(expected, HelpView.Help("vol-resize") + "\n");
    }

    [Fact]
    public void Vol_upload_shows_numbers()
    {
        const string expected =
            "  NAME\n"
            + "    vol-upload - upload file contents to a volume\n"
            + "\n"
            + "  SYNOPSIS\n"
            + "    vol-upload <vol> <file> [--pool <string>] [--offset <number>] [--length <number>] [--sparse]\n"
            + "\n"
            + "  DESCRIPTION\n"
            + "    Upload file contents to a volume\n"
            + "\n"
            + "  OPTIONS\n"
            + "    [--vol] <string>  vol name, key or path\n"
            + "    [--file] <string>  file\n"
            + "    --pool <string>  pool name or uuid\n"
            + "    --offset <number>  volume offset to upload to\n"
            + "    --length <number>  amount of data to upload\n"
            + "    --sparse         preserve sparseness of volume\n"
            + "\n"
            + "\n";

        Assert.Equal(expected, HelpView.Help("vol-upload") + "\n");
    }

    [Fact]
    public void Pool_create_as()
    {
        const string expected =
            "  NAME\n"
            + "    pool-create-as - create a pool from a set of args\n"
            + "\n"
            + "  SYNOPSIS\n"
            + "    pool-create-as <name> <type> [--print-xml] [--source-host <string>] [--source-path <string>] [--source-dev <string>] [--source-name <string>] [--target <string>] [--source-format <string>] [--auth-type <string>] [--auth-username <string>] [--secret-usage <string>] [--secret-uuid <string>] [--adapter-name <string>] [--adapter-wwnn <string>] [--adapter-wwpn <string>] [--adapter-parent <string>] [--adapter-parent-wwnn <string>] [--adapter-parent-wwpn <string>] [--adapter-parent-fabric-wwn <string>] [--source-protocol-ver <string>] [--source-initiator <string>] [--build] [--no-overwrite] [--overwrite]\n"
            + "\n"
            + "  DESCRIPTION\n"
            + "    Create a pool.\n"
            + "\n"
            + "  OPTIONS\n"
            + "    [--name] <string>  name of the pool\n"
            + "    [--type] <string>  type of the pool\n"
            + "    --print-xml      print XML document, but don't define/create\n"
            + "    --source-host <string>  source-host for underlying storage\n"
            + "    --source-path <string>  source path for underlying storage\n"
            + "    --source-dev <string>  source device for underlying storage\n"
            + "    --source-name <string>  source name for underlying storage\n"
            + "    --target <string>  target for underlying storage\n"
            + "    --source-format <string>  format for underlying storage\n"
            + "    --auth-type <string>  auth type to be used for underlying storage\n"
            + "    --auth-username <string>  auth username to be used for underlying storage\n"
            + "    --secret-usage <string>  auth secret usage to be used for underlying storage\n"
            + "    --secret-uuid <string>  auth secret UUID to be used for underlying storage\n"
            + "    --adapter-name <string>  adapter name to be used for underlying storage\n"
            + "    --adapter-wwnn <string>  adapter wwnn to be used for underlying storage\n"
            + "    --adapter-wwpn <string>  adapter wwpn to be used for underlying storage\n"
            + "    --adapter-parent <string>  adapter parent scsi_hostN to be used for underlying vHBA storage\n"
            + "    --adapter-parent-wwnn <string>  adapter parent scsi_hostN wwnn to be used for underlying vHBA storage\n"
            + "    --adapter-parent-wwpn <string>  adapter parent scsi_hostN wwpn to be used for underlying vHBA storage\n"
            + "    --adapter-parent-fabric-wwn <string>  adapter parent scsi_hostN fabric_wwn to be used for underlying vHBA storage\n"
            + "    --source-protocol-ver <string>  nfsvers value for NFS pool mount option\n"
            + "    --source-initiator <string>  initiator iqn for underlying storage\n"
            + "    --build          build the pool as normal\n"
            + "    --no-overwrite   do not overwrite any existing data\n"
            + "    --overwrite      overwrite any existing data\n"
            + "\n"
            + "\n";

        Assert.Equal(expected, HelpView.Help("pool-create-as") + "\n");
    }

    [Fact]
    public void Secret_set_value()
    {
        const string expected =
            "  NAME\n"
            + "    secret-set-value - set a secret value\n"
            + "\n"
            + "  SYNOPSIS\n"
            + "    secret-set-value <secret> [--file <string>] [--plain] [--interactive] [--base64 <string>]\n"
            + "\n"
            + "  DESCRIPTION\n"
            + "    Set a secret value.\n"
            + "\n"
            + "  OPTIONS\n"
            + "    [--secret] <string>  secret UUID\n"
            + "    --file <string>  read secret from file\n"
            + "    --plain          read the secret from file without converting from base64\n"
            + "    --interactive    read the secret from the terminal\n"
            + "    --base64 <string>  base64-encoded secret value\n"
            + "\n"
            + "\n";

        Assert.Equal(expected, HelpView.Help("secret-set-value") + "\n");
    }

    [Fact]
    public void Help()
    {
        const string expected =
            "  NAME\n"
            + "    help - print help\n"
            + "\n"
            + "  SYNOPSIS\n"
            + "    help [--command <string>]\n"
            + "\n"
            + "  DESCRIPTION\n"
            + "    Prints global help, command specific help, or help for a\n"
            + "    group of related commands\n"
            + "\n"
            + "  OPTIONS\n"
            + "    --command <string>  Prints global help, command specific help, or help for a group of related commands\n"
            + "\n"
            + "\n";

        Assert.Equal(expected, HelpView.Help("help") + "\n");
    }

    [Fact]
    public void Volume_group()
    {
        const string expected =
            " Storage Volume (help keyword 'volume'):\n"
            + "    vol-clone                      clone a volume.\n"
            + "    vol-create-as                  create a volume from a set of args\n"
            + "    vol-create                     create a vol from an XML file\n"
            + "    vol-create-from                create a vol, using another volume as input\n"
            + "    vol-delete                     delete a vol\n"
            + "    vol-download                   download volume contents to a file\n"
            + "    vol-dumpxml                    vol information in XML\n"
            + "    vol-info                       storage vol information\n"
            + "    vol-key                        returns the volume key for a given volume name or path\n"
            + "    vol-list                       list vols\n"
            + "    vol-name                       returns the volume name for a given volume key or path\n"
            + "    vol-path                       returns the volume path for a given volume name or key\n"
            + "    vol-pool                       returns the storage pool for a given volume key or path\n"
            + "    vol-resize                     resize a vol\n"
            + "    vol-upload                     upload file contents to a volume\n"
            + "    vol-wipe                       wipe a vol\n"
            + "\n";

        Assert.Equal(expected, HelpView.Help("volume") + "\n");
        Assert.Equal(expected, HelpView.Help("Storage Volume") + "\n");
    }

    [Fact]
    public void Every_command_has_help()
    {
        foreach (var command in CommandTable.All)
        {
            var text = HelpView.Help(command.Name);
            Assert.NotNull(text);
            Assert.StartsWith("  NAME\n    " + command.Name + " - ", text, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Unknown_name()
    {
        Assert.Null(HelpView.Help("nosuch"));
        Assert.Equal("command or command group 'nosuch' doesn't exist", VirshMessages.NoSuchCommandOrGroup("nosuch"));
    }

    [Fact]
    public void All_groups_start_like_virsh()
    {
        var text = HelpView.Help(null);

        Assert.NotNull(text);
        Assert.StartsWith("Grouped commands:\n\n Storage Pool (help keyword 'pool'):\n", text, StringComparison.Ordinal);
    }
}
