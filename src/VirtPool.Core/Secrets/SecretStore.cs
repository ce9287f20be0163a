using System.Security.Cryptography;
using System.Text;
using VirtPool.Core.Errors;
using VirtPool.Core.Interop;
using VirtPool.Core.Model;
using VirtPool.Core.State;

namespace VirtPool.Core.Secrets;

/// <summary>
/// libvirt's secret driver (secret_driver.c, virsecretobj.c) on files, shared by every process that
/// uses the same state folder: the CLI now, the RPC daemon later.
/// <para>Layout:</para>
/// <list type="bullet">
/// <item><c>ROOT/secrets/UUID.xml</c>: a persistent definition, as libvirt's /etc/libvirt/secrets/UUID.xml.</item>
/// <item><c>ROOT/secrets/UUID.value</c>: its value, encrypted (<see cref="SecretValueCipher"/>).</item>
/// <item><c>ROOT/secrets/.key</c>: the 32-byte host key, created on the first value written.</item>
/// <item><c>ROOT/secrets/lock</c>: flock, exclusive around every change, shared around reads.</item>
/// <item><c>RUNTIME/secrets/UUID.xml</c> and <c>.value</c>: ephemeral secrets (see below), and <c>boot_id</c>.</item>
/// </list>
/// Folders are 0700 and files 0600; every file is replaced atomically (<see cref="AtomicFile"/>).
/// <para>
/// Ephemeral secrets: libvirtd keeps them in its memory until it stops. The CLI lives for one command,
/// so they are kept in the runtime folder instead (/run/virtpool on an installed system: tmpfs, never on
/// disk), with their value encrypted like any other; they are dropped when the machine reboots (the
/// folder records the boot it belongs to) and whenever the owner calls <see cref="DiscardEphemeral"/>
/// (the daemon does at start, as a restarted libvirtd has forgotten them). When the runtime folder is
/// the default ROOT/status it is on disk, but still per boot.
/// </para>
/// <para>
/// The host key protects values against disclosure through a copied value file, a backup without the
/// key, or a grep of the state folder; someone who can read the whole folder as root can read the key
/// too, as with libvirt's own secret encryption.
/// </para>
/// </summary>
public sealed class SecretStore
{
    /// <summary>REMOTE_SECRET_VALUE_MAX.</summary>
    public const int MaxValueSize = 65536;

    private const string BootIdPath = "/proc/sys/kernel/random/boot_id";
    private const uint DirMode = 0x1C0; // 0700
    private const uint FileMode = 0x180; // 0600
    private const string DefinitionSuffix = ".xml";
    private const string ValueSuffix = ".value";

    private volatile bool _created;
    private volatile bool _bootChecked;

    /// <param name="root">The state folder (the same as the pool manager's).</param>
    /// <param name="runtimeDir">The runtime folder (the state store's StatusDir); by default ROOT/status.</param>
    public SecretStore(string root, string? runtimeDir = null)
    {
        Root = Path.GetFullPath(root);
        ConfigDir = Path.Combine(Root, "secrets");
        RuntimeDir = Path.Combine(runtimeDir is null ? Path.Combine(Root, "status") : Path.GetFullPath(runtimeDir), "secrets");
        KeyPath = Path.Combine(ConfigDir, ".key");
    }

    public string Root { get; }

    /// <summary>Persistent definitions and values.</summary>
    public string ConfigDir { get; }

    /// <summary>Ephemeral definitions and values.</summary>
    public string RuntimeDir { get; }

    public string KeyPath { get; }

    // ----- queries -------------------------------------------------------------------------------

    /// <summary>The secret with this UUID, or null.</summary>
    public SecretDefinition? Find(Guid uuid)
    {
        using var held = Lock(exclusive: false);
        return Locate(uuid)?.Definition;
    }

    /// <summary>secretLookupByUUID.</summary>
    /// <exception cref="VirtPoolException">VIR_ERR_NO_SECRET when there is none.</exception>
    public SecretDefinition LookupByUuid(Guid uuid) => Find(uuid) ?? throw NoSuchUuid(uuid);

    /// <summary>
    /// secretLookupByUsage: type and ID must both match; type none never matches, and a type out of
    /// range just matches nothing.
    /// </summary>
    public SecretDefinition LookupByUsage(int usageType, string usageId)
    {
        using var held = Lock(exclusive: false);
        return FindByUsage(LoadAll(), usageType, usageId)?.Definition
               ?? throw new VirtPoolException(VirErrorCode.NoSecret, $"no secret with matching usage '{usageId}'", VirErrorDomain.Secret);
    }

    /// <summary>As <see cref="LookupByUsage"/>, null instead of an error when none matches.</summary>
    public SecretDefinition? FindByUsage(SecretUsageType usageType, string usageId)
    {
        using var held = Lock(exclusive: false);
        return FindByUsage(LoadAll(), (int)usageType, usageId)?.Definition;
    }

    /// <summary>virConnectListAllSecrets: the matching secrets, ordered by UUID.</summary>
    /// <exception cref="VirtPoolException">An unknown flag bit (virCheckFlags' message).</exception>
    public IReadOnlyList<SecretDefinition> List(SecretListFlags flags = SecretListFlags.None)
    {
        const SecretListFlags all = SecretListFlags.Ephemeral | SecretListFlags.NoEphemeral | SecretListFlags.Private | SecretListFlags.NoPrivate;
        if ((flags & ~all) != 0)
        {
            throw VirtPoolException.Verbatim(
                VirErrorCode.InvalidArg,
                $"unsupported flags (0x{(uint)(flags & ~all):x}) in function secretConnectListAllSecrets",
                VirErrorDomain.Secret);
        }

        using var held = Lock(exclusive: false);
        return [.. LoadAll().Select(r => r.Definition).Where(d => Matches(d, flags))];
    }

    /// <summary>virConnectNumOfSecrets.</summary>
    public int Count() => List().Count;

    /// <summary>
    /// secretGetValue. A private secret's value is refused unless <paramref name="internalCall"/> (the
    /// daemon's own use, e.g. starting a pool): libvirt never returns it to a client.
    /// </summary>
    public byte[] GetValue(Guid uuid, bool internalCall = false)
    {
        using var held = Lock(exclusive: false);
        var record = Locate(uuid) ?? throw NoSuchUuid(uuid);
        if (record.Definition.Private && !internalCall)
        {
            throw new VirtPoolException(VirErrorCode.InvalidSecret, "secret is private", VirErrorDomain.Secret);
        }

        var path = ValuePath(record.Dir, uuid);
        var blob = ReadIfExists(path)
                   ?? throw new VirtPoolException(VirErrorCode.NoSecret, $"secret '{uuid:D}' does not have a value", VirErrorDomain.Secret);
        var key = ReadKey() ?? throw new VirtPoolException(
            VirErrorCode.InternalError,
            $"the secret key file '{KeyPath}' is missing: stored secret values cannot be decrypted",
            VirErrorDomain.Secret);
        try
        {
            return SecretValueCipher.Decrypt(key, uuid, blob, path);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(key);
        }
    }

    /// <summary>
    /// virSecretGetSecretString for a volume's passphrase: the secret an &lt;encryption&gt; names, by UUID or by
    /// volume usage, and its value. The storage driver reads private secrets too (libvirt elevates its
    /// identity for it). A secret of another usage type is refused, as libvirt refuses it.
    /// </summary>
    public byte[] GetVolumePassphrase(EncryptionSecret secret)
    {
        ArgumentNullException.ThrowIfNull(secret);
        var def = secret.Uuid is { } uuid
            ? LookupByUuid(uuid)
            : LookupByUsage((int)SecretUsageType.Volume, secret.Usage ?? string.Empty);
        if (def.UsageType is not (SecretUsageType.None or SecretUsageType.Volume))
        {
            throw WrongUsage(secret.Uuid, def.UsageType, SecretUsageType.Volume);
        }

        return GetValue(def.Uuid, internalCall: true);
    }

    /// <summary>
    /// virSecretGetSecretString for a pool's &lt;auth&gt;: the secret it names, by UUID or by usage, of the
    /// usage type the auth type needs (ceph for ceph, iscsi for chap), and its raw value. The storage
    /// driver reads private secrets too.
    /// </summary>
    public byte[] GetPoolAuthSecret(PoolAuth auth)
    {
        ArgumentNullException.ThrowIfNull(auth);
        var expected = auth.Type switch
        {
            PoolAuthType.Ceph => SecretUsageType.Ceph,
            PoolAuthType.Chap => SecretUsageType.Iscsi,
            _ => throw VirtPoolException.InvalidArg("the pool's <auth> names no authentication type"),
        };
        var def = auth.SecretUuid is { } uuid
            ? LookupByUuid(uuid)
            : LookupByUsage((int)expected, auth.SecretUsage ?? string.Empty);
        if (def.UsageType != expected)
        {
            throw WrongUsage(auth.SecretUuid, def.UsageType, expected);
        }

        return GetValue(def.Uuid, internalCall: true);
    }

    /// <summary>
    /// virSecretGetSecretString's refusal of a secret of another usage. libvirt formats the lookup's
    /// UUID, which is all zeros for a lookup by usage.
    /// </summary>
    private static VirtPoolException WrongUsage(Guid? lookupUuid, SecretUsageType found, SecretUsageType expected)
        => VirtPoolException.InvalidArg(
            $"secret with uuid {lookupUuid ?? Guid.Empty:D} is of type '{SecretUsageTypes.Name(found)}' not expected '{SecretUsageTypes.Name(expected)}' type");

    /// <summary>Whether the secret has a value (without reading it; allowed for private secrets).</summary>
    public bool HasValue(Guid uuid)
    {
        using var held = Lock(exclusive: false);
        var record = Locate(uuid) ?? throw NoSuchUuid(uuid);
        return File.Exists(ValuePath(record.Dir, uuid));
    }

    // ----- changes -------------------------------------------------------------------------------

    /// <summary>secretDefineXML: parses, then <see cref="Define(SecretDefinition)"/>.</summary>
    public SecretDefinition Define(string xml) => Define(SecretXml.Parse(xml));

    /// <summary>
    /// Creates a secret or replaces an existing definition (virSecretObjListAdd's rules): an existing
    /// UUID keeps its usage ID and cannot lose private='yes'; a new UUID cannot take a usage another
    /// secret has. The value survives a redefinition and follows the secret when it turns ephemeral
    /// or persistent.
    /// </summary>
    public SecretDefinition Define(SecretDefinition def)
    {
        using var held = Lock(exclusive: true);
        var all = LoadAll();
        var existing = all.Find(r => r.Definition.Uuid == def.Uuid);
        if (existing is not null)
        {
            var old = existing.Definition;
            if (!string.Equals(old.UsageId, def.UsageId, StringComparison.Ordinal))
            {
                // libvirt formats a missing ID with printf's "%s", which glibc prints as "(null)".
                throw new VirtPoolException(
                    VirErrorCode.InternalError,
                    $"a secret with UUID {def.UuidString} is already defined for use with {old.UsageId ?? "(null)"}",
                    VirErrorDomain.Secret);
            }

            if (old.Private && !def.Private)
            {
                throw new VirtPoolException(VirErrorCode.InternalError, "cannot change private flag on existing secret", VirErrorDomain.Secret);
            }
        }
        else
        {
            if (FindByUsage(all, (int)def.UsageType, def.UsageId) is { } clash)
            {
                throw new VirtPoolException(
                    VirErrorCode.InternalError,
                    $"a secret with UUID {clash.Definition.UuidString} already defined for use with {def.UsageId}",
                    VirErrorDomain.Secret);
            }

            // A value left by an interrupted change must not attach itself to a new secret.
            AtomicFile.Delete(ValuePath(ConfigDir, def.Uuid));
            AtomicFile.Delete(ValuePath(RuntimeDir, def.Uuid));
        }

        var xml = SecretXml.Format(def);
        if (!def.Ephemeral)
        {
            var fromRuntime = existing is not null && existing.Dir == RuntimeDir;
            if (fromRuntime)
            {
                CopyValue(RuntimeDir, ConfigDir, def.Uuid, durable: true);
            }

            // The persistent definition is the commit point: from here on the secret is persistent.
            AtomicFile.WriteAllText(DefinitionPath(ConfigDir, def.Uuid), xml, FileMode);
            if (fromRuntime)
            {
                DeleteQuietly(DefinitionPath(RuntimeDir, def.Uuid));
                DeleteQuietly(ValuePath(RuntimeDir, def.Uuid));
            }
        }
        else
        {
            EnsureRuntimeDir();
            var fromConfig = existing is not null && existing.Dir == ConfigDir;
            if (fromConfig)
            {
                CopyValue(ConfigDir, RuntimeDir, def.Uuid, durable: false);
            }

            AtomicFile.WriteAllText(DefinitionPath(RuntimeDir, def.Uuid), xml, FileMode, durable: false);

            // Removing the persistent definition is the commit point (a persistent copy wins on load).
            if (fromConfig)
            {
                AtomicFile.Delete(DefinitionPath(ConfigDir, def.Uuid));
                AtomicFile.Delete(ValuePath(ConfigDir, def.Uuid));
            }
        }

        return def;
    }

    /// <summary>secretSetValue: 1 to 65 536 bytes, stored encrypted (allowed for private secrets).</summary>
    public void SetValue(Guid uuid, ReadOnlySpan<byte> value)
    {
        if (value.IsEmpty)
        {
            // libvirtd decodes an empty opaque as a NULL pointer and its argument check words it so.
            throw VirtPoolException.Verbatim(VirErrorCode.InvalidArg, "value in virSecretSetValue must not be NULL", VirErrorDomain.Secret);
        }

        if (value.Length > MaxValueSize)
        {
            // What libvirt's remote client says before sending such a call.
            throw VirtPoolException.Verbatim(VirErrorCode.Rpc, $"value length greater than maximum: {value.Length} > {MaxValueSize}", VirErrorDomain.Remote);
        }

        using var held = Lock(exclusive: true);
        var record = Locate(uuid) ?? throw NoSuchUuid(uuid);
        var key = GetOrCreateKey();
        try
        {
            var blob = SecretValueCipher.Encrypt(key, uuid, value);
            AtomicFile.WriteAllBytes(ValuePath(record.Dir, uuid), blob, FileMode, durable: record.Dir == ConfigDir);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(key);
        }
    }

    /// <summary>secretUndefine: the definition first, then the value.</summary>
    public void Undefine(Guid uuid)
    {
        using var held = Lock(exclusive: true);
        var record = Locate(uuid) ?? throw NoSuchUuid(uuid);
        foreach (var dir in new[] { record.Dir, record.Dir == ConfigDir ? RuntimeDir : ConfigDir })
        {
            AtomicFile.Delete(DefinitionPath(dir, uuid));
            AtomicFile.Delete(ValuePath(dir, uuid));
        }
    }

    /// <summary>Forgets every ephemeral secret, as a restarted libvirtd has (the daemon calls this at start).</summary>
    public void DiscardEphemeral()
    {
        using var held = Lock(exclusive: true);
        ClearRuntimeDir();
    }

    // ----- internals -----------------------------------------------------------------------------

    private sealed record Located(SecretDefinition Definition, string Dir);

    private static VirtPoolException NoSuchUuid(Guid uuid)
        => new(VirErrorCode.NoSecret, $"no secret with matching uuid '{uuid:D}'", VirErrorDomain.Secret);

    private static bool Matches(SecretDefinition d, SecretListFlags flags)
    {
        const SecretListFlags storage = SecretListFlags.Ephemeral | SecretListFlags.NoEphemeral;
        const SecretListFlags privacy = SecretListFlags.Private | SecretListFlags.NoPrivate;
        if ((flags & storage) != 0
            && !((flags.HasFlag(SecretListFlags.Ephemeral) && d.Ephemeral) || (flags.HasFlag(SecretListFlags.NoEphemeral) && !d.Ephemeral)))
        {
            return false;
        }

        return (flags & privacy) == 0
               || (flags.HasFlag(SecretListFlags.Private) && d.Private)
               || (flags.HasFlag(SecretListFlags.NoPrivate) && !d.Private);
    }

    /// <summary>virSecretObjSearchName: same type (not none) and the same ID.</summary>
    private static Located? FindByUsage(List<Located> all, int usageType, string? usageId)
    {
        if (usageType == (int)SecretUsageType.None || usageId is null)
        {
            return null;
        }

        return all.Find(r => (int)r.Definition.UsageType == usageType && string.Equals(r.Definition.UsageId, usageId, StringComparison.Ordinal));
    }

    private static string DefinitionPath(string dir, Guid uuid) => Path.Combine(dir, uuid.ToString("D") + DefinitionSuffix);

    private static string ValuePath(string dir, Guid uuid) => Path.Combine(dir, uuid.ToString("D") + ValueSuffix);

    /// <summary>The secret's definition and the folder it lives in; a persistent copy wins over a runtime one.</summary>
    private Located? Locate(Guid uuid)
    {
        foreach (var dir in new[] { ConfigDir, RuntimeDir })
        {
            if (ReadDefinition(DefinitionPath(dir, uuid), uuid) is { } def)
            {
                return new Located(def, dir);
            }
        }

        return null;
    }

    /// <summary>Every secret, persistent ones first, ordered by UUID text within the whole list.</summary>
    private List<Located> LoadAll()
    {
        var found = new Dictionary<Guid, Located>();
        foreach (var dir in new[] { ConfigDir, RuntimeDir })
        {
            if (!Directory.Exists(dir))
            {
                continue;
            }

            foreach (var file in Directory.EnumerateFiles(dir, "*" + DefinitionSuffix))
            {
                var name = Path.GetFileName(file)[..^DefinitionSuffix.Length];
                if (name.Length != 36 || !Guid.TryParseExact(name, "D", out var uuid) || uuid.ToString("D") != name || found.ContainsKey(uuid))
                {
                    continue;
                }

                if (ReadDefinition(file, uuid) is { } def)
                {
                    found[uuid] = new Located(def, dir);
                }
            }
        }

        var list = found.Values.ToList();
        list.Sort((a, b) => string.CompareOrdinal(a.Definition.UuidString, b.Definition.UuidString));
        return list;
    }

    /// <summary>
    /// A stored definition, or null when there is none. A file that no longer parses, or whose UUID is
    /// not its name, is ignored, as libvirtd ignores such files when it loads its folder.
    /// </summary>
    private static SecretDefinition? ReadDefinition(string path, Guid uuid)
    {
        var bytes = ReadIfExists(path);
        if (bytes is null)
        {
            return null;
        }

        try
        {
            var def = SecretXml.Parse(Encoding.UTF8.GetString(bytes));
            return def.Uuid == uuid ? def : null;
        }
        catch (VirtPoolException)
        {
            return null;
        }
    }

    private static byte[]? ReadIfExists(string path)
    {
        try
        {
            return File.ReadAllBytes(path);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new VirtPoolException(VirErrorCode.SystemError, $"cannot read file '{path}': {StrError.Describe(ex)}", VirErrorDomain.Secret, ex);
        }
    }

    private static void CopyValue(string fromDir, string toDir, Guid uuid, bool durable)
    {
        // The blob is bound to the UUID, not to the folder: it moves as it is.
        if (ReadIfExists(ValuePath(fromDir, uuid)) is { } blob)
        {
            AtomicFile.WriteAllBytes(ValuePath(toDir, uuid), blob, FileMode, durable);
        }
        else
        {
            AtomicFile.Delete(ValuePath(toDir, uuid));
        }
    }

    private static void DeleteQuietly(string path)
    {
        try
        {
            AtomicFile.Delete(path);
        }
        catch (VirtPoolException)
        {
            // a leftover runtime copy is ignored while the persistent one exists
        }
    }

    /// <summary>The host key, created (32 random bytes, 0600) when missing. Caller holds the exclusive lock.</summary>
    private byte[] GetOrCreateKey()
    {
        if (ReadKey() is { } key)
        {
            return key;
        }

        key = RandomNumberGenerator.GetBytes(SecretValueCipher.KeySize);
        AtomicFile.WriteAllBytes(KeyPath, key, FileMode);
        return key;
    }

    private byte[]? ReadKey()
    {
        var key = ReadIfExists(KeyPath);
        if (key is not null && key.Length != SecretValueCipher.KeySize)
        {
            CryptographicOperations.ZeroMemory(key);
            throw new VirtPoolException(
                VirErrorCode.InternalError,
                $"the secret key file '{KeyPath}' is damaged ({key.Length} bytes, expected {SecretValueCipher.KeySize})",
                VirErrorDomain.Secret);
        }

        return key;
    }

    private void EnsureCreated()
    {
        if (_created)
        {
            return;
        }

        foreach (var dir in new[] { Root, ConfigDir })
        {
            if (!Directory.Exists(dir))
            {
                Directory.CreateDirectory(dir, (UnixFileMode)DirMode);
            }
        }

        _created = true;
    }

    private void EnsureRuntimeDir()
    {
        if (!Directory.Exists(RuntimeDir))
        {
            Directory.CreateDirectory(RuntimeDir, (UnixFileMode)DirMode);
        }

        var boot = CurrentBoot();
        var path = Path.Combine(RuntimeDir, "boot_id");
        if (ReadText(path) != boot)
        {
            AtomicFile.WriteAllText(path, boot + "\n", FileMode, durable: false);
        }
    }

    /// <summary>
    /// flock on ROOT/secrets/lock, on a descriptor of its own: two stores, in one process or two,
    /// exclude each other. The first lock of an instance also drops ephemeral secrets of a past boot.
    /// </summary>
    private SecretLock Lock(bool exclusive)
    {
        EnsureCreated();
        if (!_bootChecked)
        {
            if (RuntimeBelongsToOtherBoot())
            {
                using var cleanup = Acquire(exclusive: true);
                if (RuntimeBelongsToOtherBoot())
                {
                    ClearRuntimeDir();
                }
            }

            _bootChecked = true;
        }

        return Acquire(exclusive);
    }

    private SecretLock Acquire(bool exclusive)
    {
        var path = Path.Combine(ConfigDir, "lock");
        var fd = LibC.Check(LibC.Open(path, LibC.O_RDWR | LibC.O_CREAT | LibC.O_CLOEXEC, FileMode), $"cannot open lock file '{path}'");
        while (LibC.Flock(fd, exclusive ? LibC.LOCK_EX : LibC.LOCK_SH) < 0)
        {
            var errno = LibC.Errno;
            if (errno != Errno.EINTR)
            {
                LibC.Close(fd);
                throw VirtPoolException.System($"cannot lock '{path}'", errno);
            }
        }

        return new SecretLock(fd);
    }

    private bool RuntimeBelongsToOtherBoot()
    {
        if (!Directory.Exists(RuntimeDir) || !Directory.EnumerateFileSystemEntries(RuntimeDir).Any())
        {
            return false;
        }

        return ReadText(Path.Combine(RuntimeDir, "boot_id")) != CurrentBoot();
    }

    private void ClearRuntimeDir()
    {
        if (!Directory.Exists(RuntimeDir))
        {
            return;
        }

        foreach (var file in Directory.EnumerateFiles(RuntimeDir))
        {
            AtomicFile.Delete(file);
        }
    }

    private static string CurrentBoot() => ReadText(BootIdPath) ?? string.Empty;

    private static string? ReadText(string path) => ReadIfExists(path) is { } bytes ? Encoding.UTF8.GetString(bytes).Trim() : null;

    private sealed class SecretLock(int fd) : IDisposable
    {
        private int _fd = fd;

        public void Dispose()
        {
            var fd = Interlocked.Exchange(ref _fd, -1);
            if (fd >= 0)
            {
                // Closing the only descriptor of the open file description releases the flock.
                LibC.Close(fd);
            }
        }
    }
}
