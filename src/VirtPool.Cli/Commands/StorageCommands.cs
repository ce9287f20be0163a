using System.Text;
using VirtPool.Cli.Output;
using VirtPool.Cli.Parsing;
using VirtPool.Core.Backends;
using VirtPool.Core.Errors;
using VirtPool.Core.Interop;
using VirtPool.Core.Manager;
using VirtPool.Core.Model;
using VirtPool.Core.Xml;

namespace VirtPool.Cli.Commands;

/// <summary>
/// virsh's pool-* and vol-* commands (virsh-pool.c, virsh-volume.c) on the pool manager: the same
/// lookups (by UUID then name; volumes by name, key, then path), the same messages, the same output.
/// </summary>
public sealed partial class StorageCommands
{
    private readonly ParsedCommand _cmd;
    private readonly IStorageApi _mgr;
    private readonly ISecretApi? _secrets;
    private readonly VirshConsole _out;
    private readonly CancellationToken _ct;

    private StorageCommands(ParsedCommand cmd, IStorageApi mgr, ISecretApi? secrets, VirshConsole console, CancellationToken ct)
    {
        _cmd = cmd;
        _mgr = mgr;
        _secrets = secrets;
        _out = console;
        _ct = ct;
    }

    /// <summary>Runs one command; prints its errors as virsh does (the command's own, then the cause).</summary>
    public static Task<bool> RunAsync(ParsedCommand cmd, IStorageApi mgr, VirshConsole console, CancellationToken ct = default)
        => RunAsync(cmd, mgr, null, console, ct);

    /// <summary>
    /// As <see cref="RunAsync(ParsedCommand, IStorageApi, VirshConsole, CancellationToken)"/>, with the secret
    /// commands on <paramref name="secrets"/> (null: the embedded manager's secret store).
    /// </summary>
    public static async Task<bool> RunAsync(ParsedCommand cmd, IStorageApi mgr, ISecretApi? secrets, VirshConsole console, CancellationToken ct = default)
    {
        var commands = new StorageCommands(cmd, mgr, secrets, console, ct);
        try
        {
            await mgr.ReconcileIfNeededAsync(ct).ConfigureAwait(false);
            return await commands.DispatchAsync().ConfigureAwait(false);
        }
        catch (CommandFailedException failure)
        {
            console.Error(failure.Message);
            if (failure.Cause is { } cause)
            {
                console.Error(cause.Message);
            }
        }
        catch (VirtPoolException ex)
        {
            console.Error(ex.Message);
        }
        catch (OperationCanceledException)
        {
            // Ctrl-C: the operation undid what it made; say so as libvirt words an abort.
            console.Error(VirtPoolException.Compose(VirErrorCode.OperationAborted, "cancelled by the user"));
        }
        catch (VirshOptionException ex)
        {
            console.Error(ex.Message);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or InvalidOperationException or FormatException)
        {
            // A defect or an OS error the code did not map: still a libvirt-style error, never a stack trace.
            console.Error(VirtPoolException.Compose(VirErrorCode.InternalError, ex.Message));
        }

        return false;
    }

    /// <summary>
    /// Options virsh has that VirtPool does not implement yet (RNG schema validation, XPath filtering
    /// of dumps) are refused plainly rather than silently ignored.
    /// </summary>
    private void RefuseUnimplementedOptions()
    {
        foreach (var option in new[] { "validate", "xpath", "wrap" })
        {
            if (_cmd.Definition.FindOption(option) is not null && _cmd.Has(option))
            {
                throw VirtPoolException.NoSupport($"virtpool does not implement --{option} yet");
            }
        }
    }

    private Task<bool> DispatchAsync()
    {
        RefuseUnimplementedOptions();
        return Dispatch();
    }

    private Task<bool> Dispatch() => _cmd.Name switch
    {
        "pool-define" => PoolDefineAsync(),
        "pool-define-as" => PoolDefineAsAsync(),
        "pool-create" => PoolCreateAsync(),
        "pool-create-as" => PoolCreateAsAsync(),
        "pool-build" => PoolSimpleAsync((m, p) => m.BuildPoolAsync(p, BuildFlags()), VirshMessages.PoolBuilt, VirshMessages.FailedToBuildPool),
        "pool-start" => PoolSimpleAsync((m, p) => m.StartPoolAsync(p, BuildFlags(), _cmd.GetBool("build") || BuildFlags() != PoolBuildFlags.None), VirshMessages.PoolStarted, VirshMessages.FailedToStartPool),
        "pool-destroy" => PoolSimpleAsync((m, p) => m.DestroyPoolAsync(p), VirshMessages.PoolDestroyed, VirshMessages.FailedToDestroyPool),
        "pool-delete" => PoolSimpleAsync((m, p) => m.DeletePoolAsync(p), VirshMessages.PoolDeleted, VirshMessages.FailedToDeletePool),
        "pool-undefine" => PoolSimpleAsync((m, p) => m.UndefinePoolAsync(p), VirshMessages.PoolUndefined, VirshMessages.FailedToUndefinePool),
        "pool-refresh" => PoolSimpleAsync((m, p) => m.RefreshPoolAsync(p), VirshMessages.PoolRefreshed, VirshMessages.FailedToRefreshPool),
        "pool-autostart" => PoolAutostartAsync(),
        "pool-info" => PoolInfoAsync(),
        "pool-list" => PoolListAsync(),
        "pool-dumpxml" => PoolDumpXmlAsync(),
        "pool-edit" => PoolEditAsync(),
        "pool-uuid" => PoolUuidAsync(),
        "pool-name" => PoolNameAsync(),
        "pool-capabilities" => PoolCapabilitiesAsync(),
        "find-storage-pool-sources" => FindPoolSourcesAsync(),
        "find-storage-pool-sources-as" => FindPoolSourcesAsAsync(),
        "vol-create" => VolCreateAsync(),
        "vol-create-as" => VolCreateAsAsync(),
        "vol-delete" => VolDeleteAsync(),
        "vol-resize" => VolResizeAsync(),
        "vol-info" => VolInfoAsync(),
        "vol-list" => VolListAsync(),
        "vol-dumpxml" => VolDumpXmlAsync(),
        "vol-path" => VolPathAsync(),
        "vol-name" => VolNameAsync(),
        "vol-key" => VolKeyAsync(),
        "vol-pool" => VolPoolAsync(),
        "vol-clone" => VolCloneAsync(),
        "vol-create-from" => VolCreateFromAsync(),
        "vol-wipe" => VolWipeAsync(),
        "vol-upload" => VolUploadAsync(),
        "vol-download" => VolDownloadAsync(),
        "vol-checksum" => VolChecksumAsync(),
        "vol-label" => VolLabelAsync(),
        "help" => HelpAsync(),
        var name when SecretCommands.Handles(name) => SecretCommands.RunAsync(_cmd, _secrets ?? EmbeddedSecrets(), _out),
        _ => throw VirtPoolException.NoSupport($"virtpool does not implement '{_cmd.Name}' yet"),
    };

    // ----- pools ---------------------------------------------------------------------------------

    private async Task<bool> PoolDefineAsync()
    {
        var file = _cmd.GetStringReq("file")!;
        var xml = ReadXmlFile(file);
        var pool = await Wrap(() => _mgr.DefinePoolAsync(xml), VirshMessages.FailedToDefinePoolFrom(file)).ConfigureAwait(false);
        _out.PrintExtra(VirshMessages.PoolDefinedFrom(pool.Name, file));
        return true;
    }

    private async Task<bool> PoolDefineAsAsync()
    {
        var (name, xml) = BuildPoolXml();
        if (_cmd.GetBool("print-xml"))
        {
            _out.Print(xml);
            return true;
        }

        await Wrap(() => _mgr.DefinePoolAsync(xml), VirshMessages.FailedToDefinePool(name)).ConfigureAwait(false);
        _out.PrintExtra(VirshMessages.PoolDefined(name));
        return true;
    }

    private async Task<bool> PoolCreateAsync()
    {
        var file = _cmd.GetStringReq("file")!;
        var flags = BuildFlags();
        var build = _cmd.GetBool("build") || flags != PoolBuildFlags.None;
        var xml = ReadXmlFile(file);
        var pool = await Wrap(() => _mgr.CreatePoolAsync(xml, flags, build), VirshMessages.FailedToCreatePoolFrom(file)).ConfigureAwait(false);
        _out.PrintExtra(VirshMessages.PoolCreatedFrom(pool.Name, file));
        return true;
    }

    private async Task<bool> PoolCreateAsAsync()
    {
        var flags = BuildFlags();
        var build = _cmd.GetBool("build") || flags != PoolBuildFlags.None;
        var (name, xml) = BuildPoolXml();
        if (_cmd.GetBool("print-xml"))
        {
            _out.Print(xml);
            return true;
        }

        await Wrap(() => _mgr.CreatePoolAsync(xml, flags, build), VirshMessages.FailedToCreatePool(name)).ConfigureAwait(false);
        _out.PrintExtra(VirshMessages.PoolCreated(name));
        return true;
    }

    /// <summary>The secret store next to the embedded manager's state (secrets need a connection's secret API otherwise).</summary>
    private Remote.EmbeddedSecretApi EmbeddedSecrets() => _mgr is PoolManager embedded
        ? new Remote.EmbeddedSecretApi(embedded.Secrets)
        : throw VirtPoolException.NoSupport("secrets need the connection's secret API");

    private async Task<bool> PoolSimpleAsync(Func<IStorageApi, string, Task> action, Func<string, string> success, Func<string, string> failure)
    {
        var (pool, shown) = await OptPoolAsync().ConfigureAwait(false);
        await Wrap(async () =>
        {
            await action(_mgr, pool.Name).ConfigureAwait(false);
            return true;
        }, failure(shown)).ConfigureAwait(false);
        _out.PrintExtra(success(shown));
        return true;
    }

    private async Task<bool> PoolAutostartAsync()
    {
        var (pool, shown) = await OptPoolAsync().ConfigureAwait(false);
        var disable = _cmd.GetBool("disable");
        await Wrap(async () =>
        {
            await _mgr.SetAutostartAsync(pool.Name, !disable).ConfigureAwait(false);
            return true;
        }, disable ? VirshMessages.FailedToUnmarkAutostart(shown) : VirshMessages.FailedToMarkAutostart(shown)).ConfigureAwait(false);
        _out.PrintExtra(disable ? VirshMessages.PoolUnmarkedAutostart(shown) : VirshMessages.PoolMarkedAutostart(shown));
        return true;
    }

    private async Task<bool> PoolInfoAsync()
    {
        var (pool, _) = await OptPoolAsync().ConfigureAwait(false);
        var summary = await _mgr.GetPoolSummaryAsync(pool.Name).ConfigureAwait(false);
        var info = await _mgr.GetPoolInfoAsync(pool.Name).ConfigureAwait(false);
        _out.Print(VirshViews.PoolInfo(
            new Output.PoolInfo(pool.Name, pool.Uuid.ToString("D"), info.State, summary.Persistent, summary.Autostart, info.Capacity, info.Allocation, info.Available),
            _cmd.GetBool("bytes")));
        return true;
    }

    private async Task<bool> PoolListAsync()
    {
        var details = _cmd.GetBool("details");
        var uuid = _cmd.GetBool("uuid");
        var name = _cmd.GetBool("name");
        if (details && uuid)
        {
            throw new CommandFailedException(VirshMessages.MutuallyExclusive("details", "uuid"));
        }

        if (details && name)
        {
            throw new CommandFailedException(VirshMessages.MutuallyExclusive("details", "name"));
        }

        var filter = PoolListFilter.Active;
        if (_cmd.GetBool("inactive"))
        {
            filter = PoolListFilter.Inactive;
        }

        if (_cmd.GetBool("all"))
        {
            filter = PoolListFilter.Active | PoolListFilter.Inactive;
        }

        if (_cmd.GetBool("persistent"))
        {
            filter |= PoolListFilter.Persistent;
        }

        if (_cmd.GetBool("transient"))
        {
            filter |= PoolListFilter.Transient;
        }

        if (_cmd.GetBool("autostart"))
        {
            filter |= PoolListFilter.Autostart;
        }

        if (_cmd.GetBool("no-autostart"))
        {
            filter |= PoolListFilter.NoAutostart;
        }

        if (_cmd.GetStringReq("type") is { } types)
        {
            foreach (var typeName in types.Split(','))
            {
                if (!PoolTypeNames.TryParse(typeName, out var type))
                {
                    throw new CommandFailedException(VirshMessages.InvalidPoolType(typeName));
                }

                filter |= PoolManager.TypeFlag(type);
            }
        }

        var pools = await _mgr.ListPoolsAsync(filter).ConfigureAwait(false);
        var entries = pools.Select(p => new PoolListEntry(
            p.Pool.Name,
            p.Active ? PoolState.Running : PoolState.Inactive,
            p.Autostart,
            p.Persistent,
            p.Sizes.Capacity,
            p.Sizes.Allocation,
            p.Sizes.Available) { Uuid = p.Pool.Uuid.ToString("D") });
        _out.Print(VirshViews.PoolList(entries, details, uuid, name, VirshStyle.ForQuiet(_out.Quiet)));
        return true;
    }

    private async Task<bool> PoolDumpXmlAsync()
    {
        var (pool, _) = await OptPoolAsync().ConfigureAwait(false);
        _out.Print(await _mgr.GetPoolXmlAsync(pool.Name, _cmd.GetBool("inactive")).ConfigureAwait(false));
        return true;
    }

    private async Task<bool> PoolUuidAsync()
    {
        var (pool, _) = await OptPoolAsync(byUuid: false).ConfigureAwait(false);
        _out.Print(pool.Uuid.ToString("D") + "\n");
        return true;
    }

    private async Task<bool> PoolNameAsync()
    {
        var (pool, _) = await OptPoolAsync(byName: false).ConfigureAwait(false);
        _out.Print(pool.Name + "\n");
        return true;
    }

    private async Task<bool> PoolCapabilitiesAsync()
    {
        // virConnectGetStoragePoolCapabilities (embedded: the types this build has a backend for),
        // printed as virsh prints it: with one more newline of its own.
        var served = await _mgr.GetPoolCapabilitiesXmlAsync(_ct).ConfigureAwait(false);
        _out.Print(served + "\n");
        return true;
    }

    // ----- volumes -------------------------------------------------------------------------------

    private async Task<bool> VolCreateAsync()
    {
        var (pool, _) = await OptPoolAsync().ConfigureAwait(false);
        var file = _cmd.GetStringReq("file")!;
        var xml = ReadXmlFile(file);
        var vol = await Wrap(() => _mgr.CreateVolumeAsync(pool.Name, xml, CreateFlags()), VirshMessages.FailedToCreateVolFrom(file)).ConfigureAwait(false);
        _out.PrintExtra(VirshMessages.VolCreatedFrom(vol.Name, file));
        return true;
    }

    private async Task<bool> VolCreateAsAsync()
    {
        var (pool, _) = await OptPoolAsync().ConfigureAwait(false);
        var name = _cmd.GetStringReq("name")!;
        var capacityText = _cmd.GetStringReq("capacity")!;
        var capacity = VolSize(capacityText);

        // virsh only reads --allocation when vshCommandOptStringQuiet returns > 0: an empty value is
        // as if the option were absent.
        ulong? allocation = null;
        if (_cmd.TryGetStringQuiet("allocation", out var allocationText) && allocationText is not null)
        {
            allocation = VolSize(allocationText);
        }

        var format = _cmd.GetStringReq("format");
        var backingVol = _cmd.GetStringReq("backing-vol");
        var backingFormat = _cmd.GetStringReq("backing-vol-format");
        string? backingPath = null;
        if (backingVol is not null)
        {
            var (backing, cause) = await TryLookupVolumeAsync(pool, backingVol).ConfigureAwait(false);
            if (backing is null)
            {
                throw new CommandFailedException($"failed to get vol '{backingVol}'", cause);
            }

            backingPath = await _mgr.GetVolumePathAsync(backing).ConfigureAwait(false);
        }

        var xml = ArgumentXml.Volume(name, capacity, allocation, format, backingPath, backingFormat);
        if (_cmd.GetBool("print-xml"))
        {
            _out.Print(xml);
            return true;
        }

        await Wrap(() => _mgr.CreateVolumeAsync(pool.Name, xml, CreateFlags()), VirshMessages.FailedToCreateVol(name)).ConfigureAwait(false);
        _out.PrintExtra(VirshMessages.VolCreated(name));
        return true;
    }

    private async Task<bool> VolDeleteAsync()
    {
        var (vol, shown) = await OptVolAsync().ConfigureAwait(false);
        var flags = _cmd.GetBool("delete-snapshots") ? VolumeDeleteFlags.WithSnapshots : VolumeDeleteFlags.None;
        await Wrap(async () =>
        {
            await _mgr.DeleteVolumeAsync(vol, flags).ConfigureAwait(false);
            return true;
        }, VirshMessages.FailedToDeleteVol(shown)).ConfigureAwait(false);
        _out.PrintExtra(VirshMessages.VolDeleted(shown));
        return true;
    }

    /// <summary>cmdVolResize: "-SIZE" means a shrinking delta (only with --shrink).</summary>
    private async Task<bool> VolResizeAsync()
    {
        var flags = VolumeResizeFlags.None;
        if (_cmd.GetBool("allocate"))
        {
            flags |= VolumeResizeFlags.Allocate;
        }

        if (_cmd.GetBool("shrink"))
        {
            flags |= VolumeResizeFlags.Shrink;
        }

        var delta = _cmd.GetBool("delta");
        var (vol, _) = await OptVolAsync().ConfigureAwait(false);
        var capacityText = _cmd.GetStringReq("capacity")!.TrimStart(' ', '\t', '\n', '\r', '\v', '\f');
        if (capacityText.StartsWith('-'))
        {
            if (!flags.HasFlag(VolumeResizeFlags.Shrink))
            {
                throw new CommandFailedException(VirshMessages.NegativeSizeRequiresShrink);
            }

            capacityText = capacityText[1..];
            delta = true;
        }

        if (delta)
        {
            flags |= VolumeResizeFlags.Delta;
        }

        var capacity = VolSize(capacityText);
        await Wrap(async () =>
        {
            await _mgr.ResizeVolumeAsync(vol, capacity, flags).ConfigureAwait(false);
            return true;
        }, VirshMessages.FailedToResizeVol(vol.Name, capacityText, delta)).ConfigureAwait(false);
        _out.PrintExtra(VirshMessages.VolResized(vol.Name, capacityText, delta));
        return true;
    }

    private async Task<bool> VolInfoAsync()
    {
        var (vol, _) = await OptVolAsync().ConfigureAwait(false);
        var physical = _cmd.GetBool("physical");
        var def = await _mgr.GetVolumeSizesAsync(vol, physical).ConfigureAwait(false);
        var allocation = def.Allocation;
        string? labels = null;
        if (_cmd.GetBool("details"))
        {
            labels = LabelText(await _mgr.GetVolumeLabelsAsync(vol).ConfigureAwait(false));
        }

        _out.Print(VirshViews.VolumeInfo(new Output.VolumeInfo(vol.Name, def.Type, def.Capacity, allocation) { Labels = labels }, _cmd.GetBool("bytes"), physical));
        return true;
    }

    private async Task<bool> VolListAsync()
    {
        var (pool, _) = await OptPoolAsync().ConfigureAwait(false);
        IReadOnlyList<VolumeRef> vols;
        try
        {
            vols = await _mgr.ListVolumesAsync(pool.Name).ConfigureAwait(false);
        }
        catch (VirtPoolException ex)
        {
            throw new CommandFailedException("Failed to list volumes", ex);
        }

        var details = _cmd.GetBool("details");
        var entries = new List<VolumeListEntry>(vols.Count);
        foreach (var v in vols)
        {
            if (!details)
            {
                entries.Add(new VolumeListEntry(v.Name, await PathOrNullAsync(v).ConfigureAwait(false), VolumeType.File, 0, 0));
                continue;
            }

            try
            {
                var def = await _mgr.GetVolumeAsync(v).ConfigureAwait(false);
                entries.Add(new VolumeListEntry(v.Name, def.Target.Path, def.Type, def.Capacity, def.Allocation ?? 0));
            }
            catch (VirtPoolException)
            {
                entries.Add(new VolumeListEntry(v.Name, await PathOrNullAsync(v).ConfigureAwait(false), VolumeType.File, 0, 0) { InfoUnavailable = true });
            }
        }

        _out.Print(VirshViews.VolumeList(entries, details, VirshStyle.ForQuiet(_out.Quiet)));
        return true;
    }

    private async Task<bool> VolDumpXmlAsync()
    {
        var (vol, _) = await OptVolAsync().ConfigureAwait(false);
        _out.Print(await _mgr.GetVolumeXmlAsync(vol).ConfigureAwait(false));
        return true;
    }

    private async Task<bool> VolPathAsync()
    {
        var (vol, _) = await OptVolAsync().ConfigureAwait(false);
        _out.Print(await _mgr.GetVolumePathAsync(vol).ConfigureAwait(false) + "\n");
        return true;
    }

    private async Task<bool> VolNameAsync()
    {
        // vol-name takes a key or path only (virsh looks it up with VIRSH_BYUUID).
        var (vol, _) = await OptVolAsync(byName: false).ConfigureAwait(false);
        _out.Print(vol.Name + "\n");
        return true;
    }

    private async Task<bool> VolKeyAsync()
    {
        var (vol, _) = await OptVolAsync().ConfigureAwait(false);
        _out.Print(vol.Key + "\n");
        return true;
    }

    private async Task<bool> VolPoolAsync()
    {
        var (vol, _) = await OptVolAsync(byName: false).ConfigureAwait(false);
        var pool = await _mgr.LookupPoolByNameAsync(vol.Pool).ConfigureAwait(false);
        _out.Print((_cmd.GetBool("uuid") ? pool.Uuid.ToString("D") : pool.Name) + "\n");
        return true;
    }

    private Task<bool> HelpAsync()
    {
        var topic = _cmd.GetString("command");
        var text = HelpView.Help(topic);
        if (text is null)
        {
            throw new CommandFailedException(VirshMessages.NoSuchCommandOrGroup(topic!));
        }

        _out.Print(text);
        return Task.FromResult(true);
    }

    // ----- lookups as virsh does them ------------------------------------------------------------

    /// <summary>virshCommandOptPoolBy: by UUID when the text is one, else by name; "failed to get pool".</summary>
    private async Task<(PoolRef Pool, string Shown)> OptPoolAsync(string option = "pool", bool byUuid = true, bool byName = true)
    {
        var text = _cmd.GetStringReq(option)!;
        return (await LookupPoolTextAsync(text, byUuid, byName).ConfigureAwait(false), text);
    }

    private async Task<PoolRef> LookupPoolTextAsync(string text, bool byUuid, bool byName)
    {
        VirtPoolException? last = null;
        if (byUuid && text.Length == 36 && Guid.TryParse(text, out var uuid))
        {
            try
            {
                return await _mgr.LookupPoolByUuidAsync(uuid).ConfigureAwait(false);
            }
            catch (VirtPoolException ex)
            {
                last = ex;
            }
        }

        if (byName)
        {
            try
            {
                return await _mgr.LookupPoolByNameAsync(text).ConfigureAwait(false);
            }
            catch (VirtPoolException ex)
            {
                last = ex;
            }
        }

        throw new CommandFailedException(VirshMessages.FailedToGetPool(text), last);
    }

    /// <summary>virshCommandOptVolBy: in --pool by name, else by key, else by path.</summary>
    private async Task<(VolumeRef Vol, string Shown)> OptVolAsync(bool byName = true, string poolOption = "pool")
    {
        var text = _cmd.GetStringReq("vol")!;

        // vol-name and vol-pool have no --pool: they look up by key and path only.
        var hasPoolOption = _cmd.Definition.FindOption(poolOption) is not null;
        var poolText = hasPoolOption ? _cmd.GetStringReq(poolOption) : null;
        PoolRef? pool = null;
        if (poolText is not null)
        {
            pool = await LookupPoolTextAsync(poolText, byUuid: true, byName: true).ConfigureAwait(false);
            if (!(await _mgr.GetPoolSummaryAsync(pool.Name).ConfigureAwait(false)).Active)
            {
                throw new CommandFailedException(VirshMessages.PoolNotActive(poolText));
            }
        }

        VirtPoolException? last = null;
        VolumeRef? vol = null;
        if (pool is not null && byName)
        {
            (vol, last) = await TryAsync(() => _mgr.LookupVolumeByNameAsync(pool.Name, text)).ConfigureAwait(false);
        }

        if (vol is null)
        {
            (vol, last) = await TryAsync(() => _mgr.LookupVolumeByKeyAsync(text)).ConfigureAwait(false);
        }

        if (vol is null)
        {
            (vol, last) = await TryAsync(() => _mgr.LookupVolumeByPathAsync(text)).ConfigureAwait(false);
        }

        if (vol is null)
        {
            throw new CommandFailedException(VirshMessages.FailedToGetVol(text, pool is null && hasPoolOption ? poolOption : null), last);
        }

        if (pool is not null && vol.Pool != pool.Name)
        {
            throw new CommandFailedException(VirshMessages.VolNotInPool(text, poolText!));
        }

        return (vol, text);
    }

    /// <summary>cmdVolCreateAs's backing lookup: by name in the pool, then key, then path; the last error is kept.</summary>
    private async Task<(VolumeRef? Vol, VirtPoolException? Cause)> TryLookupVolumeAsync(PoolRef pool, string text)
    {
        var result = await TryAsync(() => _mgr.LookupVolumeByNameAsync(pool.Name, text)).ConfigureAwait(false);
        if (result.Value is null)
        {
            result = await TryAsync(() => _mgr.LookupVolumeByKeyAsync(text)).ConfigureAwait(false);
        }

        if (result.Value is null)
        {
            result = await TryAsync(() => _mgr.LookupVolumeByPathAsync(text)).ConfigureAwait(false);
        }

        return result;
    }

    private static async Task<(T? Value, VirtPoolException? Error)> TryAsync<T>(Func<Task<T>> call)
        where T : class
    {
        try
        {
            return (await call().ConfigureAwait(false), null);
        }
        catch (VirtPoolException ex)
        {
            return (null, ex);
        }
    }

    private async Task<string?> PathOrNullAsync(VolumeRef vol)
    {
        try
        {
            return await _mgr.GetVolumePathAsync(vol).ConfigureAwait(false);
        }
        catch (VirtPoolException)
        {
            return null;
        }
    }

    // ----- helpers -------------------------------------------------------------------------------

    private static async Task<T> Wrap<T>(Func<Task<T>> call, string failure)
    {
        try
        {
            return await call().ConfigureAwait(false);
        }
        catch (VirtPoolException ex)
        {
            throw new CommandFailedException(failure, ex);
        }
    }

    /// <summary>virshVolSize: a scaled integer; a bad suffix also leaves libvirt's error to report.</summary>
    private static ulong VolSize(string text)
    {
        try
        {
            return Units.TryParseScaled(text, ulong.MaxValue, out var bytes) ? bytes : throw new CommandFailedException(VirshMessages.MalformedSize(text));
        }
        catch (VirtPoolException ex)
        {
            throw new CommandFailedException(VirshMessages.MalformedSize(text), ex);
        }
    }

    private VolumeCreateFlags CreateFlags()
        => _cmd.Definition.FindOption("prealloc-metadata") is not null && _cmd.GetBool("prealloc-metadata") ? VolumeCreateFlags.PreallocMetadata : VolumeCreateFlags.None;

    private PoolBuildFlags BuildFlags()
    {
        var flags = PoolBuildFlags.None;
        var overwrite = _cmd.GetBool("overwrite");
        var noOverwrite = _cmd.GetBool("no-overwrite");
        if (overwrite && noOverwrite && _cmd.Name is "pool-start" or "pool-create" or "pool-create-as")
        {
            throw new CommandFailedException(VirshMessages.MutuallyExclusive("overwrite", "no-overwrite"));
        }

        if (noOverwrite)
        {
            flags |= PoolBuildFlags.NoOverwrite;
        }

        if (overwrite)
        {
            flags |= PoolBuildFlags.Overwrite;
        }

        return flags;
    }

    private (string Name, string Xml) BuildPoolXml()
    {
        var secretUsage = _cmd.GetStringReq("secret-usage");
        var secretUuid = _cmd.GetStringReq("secret-uuid");
        if (secretUsage is not null && secretUuid is not null)
        {
            throw new CommandFailedException(VirshMessages.MutuallyExclusive("secret-usage", "secret-uuid"));
        }

        var name = _cmd.GetStringReq("name")!;
        return (name, ArgumentXml.Pool(_cmd.GetStringReq));
    }

    /// <summary>virFileReadAll with virsh's 10 MiB cap (VSH_MAX_XML_FILE) and libvirt's messages.</summary>
    /// <summary>virsh's virFileReadAll of an XML file: at most 10 MiB, UTF-8.</summary>
    private static string ReadXmlFile(string file)
        => new UTF8Encoding(false).GetString(BoundedFile.ReadAll(file, BoundedFile.MaxXmlFile));
}
