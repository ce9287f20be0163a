using static VirtPool.Cli.Parsing.OptionDefinition;

namespace VirtPool.Cli.Parsing;

/// <summary>
/// The definitions of the virsh 9.0 commands VirtPool implements, with virsh's option names, kinds,
/// required flags and declaration order (which is also the order bare words fill the options).
/// Commands are listed per group in the order virsh registers them, which is the order of <c>help GROUP</c>.
/// </summary>
public static class CommandTable
{
    public const string PoolGroup = "pool";
    public const string VolumeGroup = "volume";
    public const string SecretGroup = "secret";
    public const string ExtensionGroup = "virtpool";
    public const string VirshGroup = "virsh";

    private const string PoolNameOrUuid = "pool name or uuid";
    private const string VolNameKeyOrPath = "vol name, key or path";
    private const string BuildHelp = "build the pool as normal";
    private const string NoOverwriteHelp = "do not overwrite any existing data";
    private const string OverwriteHelp = "overwrite any existing data";
    private const string ValidateHelp = "validate the XML against the schema";
    private const string XpathHelp = "xpath expression to filter the XML document";
    private const string WrapHelp = "wrap xpath results in an common root element";
    private const string PreallocHelp = "preallocate metadata (for qcow2 instead of full allocation)";
    private const string ReflinkHelp = "use btrfs COW lightweight copy";
    private const string SecretUuidHelp = "secret UUID";

    private static readonly CommandDefinition[] Commands = Build();

    private static readonly Dictionary<string, CommandDefinition> ByName = Index(Commands);

    /// <summary>All commands, grouped as <c>help</c> lists them.</summary>
    public static IReadOnlyList<CommandDefinition> All => Commands;

    /// <summary>The command groups: (name shown by <c>help</c>, help keyword).</summary>
    public static IReadOnlyList<(string Name, string Keyword)> Groups { get; } =
    [
        ("Storage Pool", PoolGroup),
        ("Storage Volume", VolumeGroup),
        ("Secret", SecretGroup),
        ("VirtPool extensions", ExtensionGroup),
        ("Virsh itself", VirshGroup),
    ];

    /// <summary>The command with this exact name, or null.</summary>
    public static CommandDefinition? Find(string name) => ByName.GetValueOrDefault(name);

    /// <summary>The group (display name, keyword) whose display name or keyword is <paramref name="name"/>, or null.</summary>
    public static (string Name, string Keyword)? FindGroup(string name)
    {
        foreach (var group in Groups)
        {
            if (group.Name == name || group.Keyword == name)
            {
                return group;
            }
        }

        return null;
    }

    private static Dictionary<string, CommandDefinition> Index(CommandDefinition[] commands)
    {
        var map = new Dictionary<string, CommandDefinition>(StringComparer.Ordinal);
        foreach (var command in commands)
        {
            map.Add(command.Name, command);
        }

        return map;
    }

    private static OptionDefinition[] PoolXAs(bool create)
    {
        List<OptionDefinition> options =
        [
            Data("name", "name of the pool"),
            Data("type", "type of the pool"),
            Bool("print-xml", "print XML document, but don't define/create"),
            Str("source-host", "source-host for underlying storage"),
            Str("source-path", "source path for underlying storage"),
            Str("source-dev", "source device for underlying storage"),
            Str("source-name", "source name for underlying storage"),
            Str("target", "target for underlying storage"),
            Str("source-format", "format for underlying storage"),
            Str("auth-type", "auth type to be used for underlying storage"),
            Str("auth-username", "auth username to be used for underlying storage"),
            Str("secret-usage", "auth secret usage to be used for underlying storage"),
            Str("secret-uuid", "auth secret UUID to be used for underlying storage"),
            Str("adapter-name", "adapter name to be used for underlying storage"),
            Str("adapter-wwnn", "adapter wwnn to be used for underlying storage"),
            Str("adapter-wwpn", "adapter wwpn to be used for underlying storage"),
            Str("adapter-parent", "adapter parent scsi_hostN to be used for underlying vHBA storage"),
            Str("adapter-parent-wwnn", "adapter parent scsi_hostN wwnn to be used for underlying vHBA storage"),
            Str("adapter-parent-wwpn", "adapter parent scsi_hostN wwpn to be used for underlying vHBA storage"),
            Str("adapter-parent-fabric-wwn", "adapter parent scsi_hostN fabric_wwn to be used for underlying vHBA storage"),
            Str("source-protocol-ver", "nfsvers value for NFS pool mount option"),
            Str("source-initiator", "initiator iqn for underlying storage"),
        ];
        if (create)
        {
            options.Add(Bool("build", BuildHelp));
            options.Add(Bool("no-overwrite", NoOverwriteHelp));
            options.Add(Bool("overwrite", OverwriteHelp));
        }

        return [.. options];
    }

    private static CommandDefinition Pool(string name, string help, string description, params OptionDefinition[] options)
        => new(name, PoolGroup, help, description, options);

    private static CommandDefinition Vol(string name, string help, string description, params OptionDefinition[] options)
        => new(name, VolumeGroup, help, description, options);

    private static CommandDefinition Secret(string name, string help, string description, params OptionDefinition[] options)
        => new(name, SecretGroup, help, description, options);

    private static CommandDefinition Extension(string name, string help, string description, params OptionDefinition[] options)
        => new(name, ExtensionGroup, help, description, options);

    private static CommandDefinition[] Build() =>
    [
        Pool("find-storage-pool-sources-as", "find potential storage pool sources", "Returns XML <sources> document.",
            Data("type", "type of storage pool sources to find"),
            Str("host", "optional host to query"),
            Str("port", "optional port to query"),
            Str("initiator", "optional initiator IQN to use for query")),
        Pool("find-storage-pool-sources", "discover potential storage pool sources", "Returns XML <sources> document.",
            Data("type", "type of storage pool sources to discover"),
            Str("srcSpec", "optional file of source xml to query for pools")),
        Pool("pool-autostart", "autostart a pool", "Configure a pool to be automatically started at boot.",
            Data("pool", PoolNameOrUuid),
            Bool("disable", "disable autostarting")),
        Pool("pool-build", "build a pool", "Build a given pool.",
            Data("pool", PoolNameOrUuid),
            Bool("no-overwrite", NoOverwriteHelp),
            Bool("overwrite", OverwriteHelp)),
        Pool("pool-create-as", "create a pool from a set of args", "Create a pool.", PoolXAs(create: true)),
        Pool("pool-create", "create a pool from an XML file", "Create a pool.",
            Data("file", "file containing an XML pool description"),
            Bool("build", BuildHelp),
            Bool("no-overwrite", NoOverwriteHelp),
            Bool("overwrite", OverwriteHelp)),
        Pool("pool-define-as", "define a pool from a set of args", "Define a pool.", PoolXAs(create: false)),
        Pool("pool-define",
            "define an inactive persistent storage pool or modify an existing persistent one from an XML file",
            "Define or modify a persistent storage pool.",
            Data("file", "file containing an XML pool description"),
            Bool("validate", ValidateHelp)),
        Pool("pool-delete", "delete a pool", "Delete a given pool.",
            Data("pool", PoolNameOrUuid)),
        Pool("pool-destroy", "destroy (stop) a pool", "Forcefully stop a given pool. Raw data in the pool is untouched",
            Data("pool", PoolNameOrUuid)),
        Pool("pool-dumpxml", "pool information in XML", "Output the pool information as an XML dump to stdout.",
            Data("pool", PoolNameOrUuid),
            Bool("inactive", "show inactive defined XML"),
            NamedStr("xpath", XpathHelp),
            Bool("wrap", WrapHelp)),
        Pool("pool-edit", "edit XML configuration for a storage pool", "Edit the XML configuration for a storage pool.",
            Data("pool", PoolNameOrUuid)),
        Pool("pool-info", "storage pool information", "Returns basic information about the storage pool.",
            Data("pool", PoolNameOrUuid),
            Bool("bytes", "Return pool info in bytes")),
        Pool("pool-list", "list pools", "Returns list of pools.",
            Bool("inactive", "list inactive pools"),
            Bool("all", "list inactive & active pools"),
            Bool("transient", "list transient pools"),
            Bool("persistent", "list persistent pools"),
            Bool("autostart", "list pools with autostart enabled"),
            Bool("no-autostart", "list pools with autostart disabled"),
            Str("type", "only list pool of specified type(s) (if supported)"),
            Bool("details", "display extended details for pools"),
            Bool("uuid", "list UUID of active pools only"),
            Bool("name", "list name of active pools only")),
        Pool("pool-name", "convert a pool UUID to pool name", "",
            Data("pool", PoolNameOrUuid)),
        Pool("pool-refresh", "refresh a pool", "Refresh a given pool.",
            Data("pool", PoolNameOrUuid)),
        Pool("pool-start", "start a (previously defined) inactive pool", "Start a pool.",
            Data("pool", PoolNameOrUuid),
            Bool("build", BuildHelp),
            Bool("no-overwrite", NoOverwriteHelp),
            Bool("overwrite", OverwriteHelp)),
        Pool("pool-undefine", "undefine an inactive pool", "Undefine the configuration for an inactive pool.",
            Data("pool", PoolNameOrUuid)),
        Pool("pool-uuid", "convert a pool name to pool UUID", "",
            Data("pool", PoolNameOrUuid)),
        Pool("pool-capabilities", "storage pool capabilities", "Returns capabilities of storage pool support."),

        Vol("vol-clone", "clone a volume.", "Clone an existing volume within the parent pool.",
            Data("vol", VolNameKeyOrPath),
            Data("newname", "clone name"),
            Str("pool", PoolNameOrUuid),
            Bool("prealloc-metadata", PreallocHelp),
            Bool("reflink", ReflinkHelp),
            Bool("print-xml", "print XML document rather than clone the volume")),
        Vol("vol-create-as", "create a volume from a set of args", "Create a vol.",
            Data("pool", "pool name"),
            Data("name", "name of the volume"),
            Data("capacity", "size of the vol, as scaled integer (default bytes)"),
            Str("allocation", "initial allocation size, as scaled integer (default bytes)"),
            Str("format", "file format type raw,bochs,qcow,qcow2,qed,vmdk"),
            Str("backing-vol", "the backing volume if taking a snapshot"),
            Str("backing-vol-format", "format of backing volume if taking a snapshot"),
            Bool("prealloc-metadata", PreallocHelp),
            Bool("print-xml", "print XML document, but don't define/create")),
        Vol("vol-create", "create a vol from an XML file", "Create a vol.",
            Data("pool", "pool name"),
            Data("file", "file containing an XML vol description"),
            Bool("prealloc-metadata", PreallocHelp),
            Bool("validate", ValidateHelp)),
        Vol("vol-create-from", "create a vol, using another volume as input", "Create a vol from an existing volume.",
            Data("pool", PoolNameOrUuid),
            Data("file", "file containing an XML vol description"),
            Data("vol", VolNameKeyOrPath),
            Str("inputpool", "pool name or uuid of the input volume's pool"),
            Bool("prealloc-metadata", PreallocHelp),
            Bool("reflink", ReflinkHelp),
            Bool("validate", ValidateHelp)),
        Vol("vol-delete", "delete a vol", "Delete a given vol.",
            Data("vol", VolNameKeyOrPath),
            Str("pool", PoolNameOrUuid),
            Bool("delete-snapshots", "delete snapshots associated with volume (must be supported by storage driver)")),
        Vol("vol-download", "download volume contents to a file", "Download volume contents to a file",
            Data("vol", VolNameKeyOrPath),
            Data("file", "file"),
            Str("pool", PoolNameOrUuid),
            Int("offset", "volume offset to download from"),
            Int("length", "amount of data to download"),
            Bool("sparse", "preserve sparseness of volume")),
        Vol("vol-dumpxml", "vol information in XML", "Output the vol information as an XML dump to stdout.",
            Data("vol", VolNameKeyOrPath),
            Str("pool", PoolNameOrUuid),
            NamedStr("xpath", XpathHelp),
            Bool("wrap", WrapHelp)),
        Vol("vol-info", "storage vol information", "Returns basic information about the storage vol.",
            Data("vol", VolNameKeyOrPath),
            Str("pool", PoolNameOrUuid),
            Bool("bytes", "sizes are represented in bytes rather than pretty units"),
            Bool("physical", "return the physical size of the volume in allocation field"),
            Bool("details", "also show the volume's labels (VirtPool)")),
        Vol("vol-key", "returns the volume key for a given volume name or path", "",
            Data("vol", "volume name or path"),
            Str("pool", PoolNameOrUuid)),
        Vol("vol-list", "list vols", "Returns list of vols by pool.",
            Data("pool", PoolNameOrUuid),
            Bool("details", "display extended details for volumes")),
        Vol("vol-name", "returns the volume name for a given volume key or path", "",
            Data("vol", "volume key or path")),
        Vol("vol-path", "returns the volume path for a given volume name or key", "",
            Data("vol", "volume name or key"),
            Str("pool", PoolNameOrUuid)),
        Vol("vol-pool", "returns the storage pool for a given volume key or path", "",
            Data("vol", "volume key or path"),
            Bool("uuid", "return the pool uuid rather than pool name")),
        Vol("vol-resize", "resize a vol",
            "Resizes a storage volume. This is safe only for storage volumes not in use by an active guest.\nSee blockresize for live resizing.",
            Data("vol", VolNameKeyOrPath),
            Data("capacity", "new capacity for the vol, as scaled integer (default bytes)"),
            Str("pool", PoolNameOrUuid),
            Bool("allocate", "allocate the new capacity, rather than leaving it sparse"),
            Bool("delta", "use capacity as a delta to current size, rather than the new size"),
            Bool("shrink", "allow the resize to shrink the volume")),
        Vol("vol-upload", "upload file contents to a volume", "Upload file contents to a volume",
            Data("vol", VolNameKeyOrPath),
            Data("file", "file"),
            Str("pool", PoolNameOrUuid),
            Int("offset", "volume offset to upload to"),
            Int("length", "amount of data to upload"),
            Bool("sparse", "preserve sparseness of volume")),
        Vol("vol-wipe", "wipe a vol", "Ensure data previously on a volume is not accessible to future reads",
            Data("vol", VolNameKeyOrPath),
            Str("pool", PoolNameOrUuid),
            Str("algorithm", "perform selected wiping algorithm")),

        Secret("secret-define", "define or modify a secret from an XML file", "Define or modify a secret.",
            Data("file", "file containing secret attributes in XML"),
            Bool("validate", ValidateHelp)),
        Secret("secret-dumpxml", "secret attributes in XML", "Output attributes of a secret as an XML dump to stdout.",
            Data("secret", SecretUuidHelp),
            NamedStr("xpath", XpathHelp),
            Bool("wrap", WrapHelp)),
        Secret("secret-get-value", "Output a secret value", "Output a secret value to stdout.",
            Data("secret", SecretUuidHelp),
            Bool("plain", "get value without converting to base64")),
        Secret("secret-list", "list secrets", "Returns a list of secrets",
            Bool("ephemeral", "list ephemeral secrets"),
            Bool("no-ephemeral", "list non-ephemeral secrets"),
            Bool("private", "list private secrets"),
            Bool("no-private", "list non-private secrets")),
        Secret("secret-set-value", "set a secret value", "Set a secret value.",
            Data("secret", SecretUuidHelp),
            NamedStr("file", "read secret from file"),
            Bool("plain", "read the secret from file without converting from base64"),
            Bool("interactive", "read the secret from the terminal"),
            Str("base64", "base64-encoded secret value")),
        Secret("secret-undefine", "undefine a secret", "Undefine a secret.",
            Data("secret", SecretUuidHelp)),

        Extension("vol-checksum", "checksum of a volume's contents", "Prints the SHA-256 of the volume's bytes as sha256sum does, reading no holes.",
            Data("vol", VolNameKeyOrPath),
            Str("pool", PoolNameOrUuid)),
        Extension("vol-label", "show or change a volume's labels", "Sets KEY=VALUE labels and removes KEY- labels, then prints the volume's labels.",
            Data("vol", VolNameKeyOrPath),
            NamedStr("pool", PoolNameOrUuid),
            new OptionDefinition("labels", OptionKind.Argv, "KEY=VALUE to set, KEY- to remove")),

        new CommandDefinition("help", VirshGroup, "print help",
            "Prints global help, command specific help, or help for a\n    group of related commands",
            Str("command", "Prints global help, command specific help, or help for a group of related commands")),
    ];
}
