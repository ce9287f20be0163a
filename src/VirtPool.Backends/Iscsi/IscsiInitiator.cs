using System.Globalization;
using System.Security.Cryptography;
using VirtPool.Core.Errors;
using VirtPool.Core.Process;

namespace VirtPool.Backends.Iscsi;

/// <summary>
/// The kernel initiator driven through iscsiadm, step by step as libvirt 9.0's viriscsi.c drives it:
/// session lookup, the iface of an initiator IQN (made on first use as <c>libvirt-iface-XXXXXXXX</c>),
/// sendtargets discovery, node records, login and logout. Each step's failure is libvirt's error for it.
/// </summary>
public sealed class IscsiInitiator(IProcessRunner runner, IscsiCommands commands, Func<string>? ifaceNames = null, TimeSpan? timeout = null)
{
    private readonly IProcessRunner _runner = runner ?? throw new ArgumentNullException(nameof(runner));
    private readonly Func<string> _ifaceNames = ifaceNames ?? NewIfaceName;
    private readonly TimeSpan? _timeout = timeout;

    public IscsiCommands Commands { get; } = commands ?? throw new ArgumentNullException(nameof(commands));

    /// <summary>virISCSIRescanLUNs: the session's LUNs scanned again; a failure is iscsiadm's exit status and stderr.</summary>
    public Task RescanAsync(string session, CancellationToken cancellationToken)
        => RunCheckedAsync(Commands.Rescan(session), cancellationToken);

    /// <summary>libvirt's name for an iface it makes: 32 random bits in hex.</summary>
    public static string NewIfaceName()
        => "libvirt-iface-" + RandomNumberGenerator.GetInt32(int.MinValue, int.MaxValue).ToString("x8", CultureInfo.InvariantCulture);

    /// <summary>
    /// virISCSIGetSession: the id of <paramref name="target"/>'s session. iscsiadm's exit status is not
    /// looked at (it exits 21 when there is no session at all). None: null when probing, else
    /// "cannot find iscsiadm session: " and what iscsiadm wrote to stderr.
    /// </summary>
    public async Task<string?> FindSessionAsync(string target, bool probe, CancellationToken cancellationToken)
    {
        var result = await RunAsync(Commands.Sessions(), cancellationToken).ConfigureAwait(false);
        var session = IscsiadmOutput.FindSession(result.StandardOutput, target);
        return session is null && !probe
            ? throw VirtPoolException.Internal("cannot find iscsiadm session: " + result.StandardError)
            : session;
    }

    /// <summary>virStorageBackendIQNFound: the iface whose initiator name is <paramref name="initiatorIqn"/>, or null.</summary>
    public async Task<string?> FindIfaceAsync(string initiatorIqn, CancellationToken cancellationToken)
    {
        var result = await RunCheckedAsync(Commands.Ifaces(), cancellationToken).ConfigureAwait(false);
        var iface = IscsiadmOutput.FindIface(result.StandardOutput, initiatorIqn, out var malformed);
        return malformed is not null
            ? throw VirtPoolException.Internal($"malformed output of {Commands.Program}: {malformed}")
            : iface;
    }

    /// <summary>
    /// virStorageBackendCreateIfaceIQN: a new iface, its initiator name set, then looked up again (both
    /// commands' exit statuses are ignored, as old iscsiadm exits non-zero on success). Where the
    /// lookup still misses it libvirt fails without a message ("An error occurred, but the cause is
    /// unknown"); VirtPool says why, with what the update wrote to stderr, and removes the iface again.
    /// </summary>
    public async Task<string> CreateIfaceAsync(string initiatorIqn, CancellationToken cancellationToken)
    {
        var name = _ifaceNames();
        await RunAsync(Commands.IfaceNew(name), cancellationToken).ConfigureAwait(false);
        try
        {
            var update = await RunAsync(Commands.IfaceSetInitiator(name, initiatorIqn), cancellationToken).ConfigureAwait(false);
            return await FindIfaceAsync(initiatorIqn, cancellationToken).ConfigureAwait(false)
                ?? throw VirtPoolException.Internal(
                    $"Failed to set initiator IQN '{initiatorIqn}' on iscsi interface '{name}'"
                    + (update.StandardError.Length > 0 ? ": " + update.StandardError : string.Empty));
        }
        catch
        {
            await RunAsync(Commands.IfaceDelete(name), CancellationToken.None).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// virISCSIScanTargets: sendtargets discovery at <paramref name="portal"/>, through the iface of
    /// <paramref name="initiatorIqn"/> when given (which must exist: "no iSCSI interface defined for IQN …").
    /// A failed discovery is iscsiadm's exit status and stderr.
    /// </summary>
    public async Task<IReadOnlyList<IscsiDiscoveredTarget>> ScanTargetsAsync(string portal, string? initiatorIqn, bool persist, CancellationToken cancellationToken)
    {
        string? iface = null;
        if (initiatorIqn is not null)
        {
            iface = await FindIfaceAsync(initiatorIqn, cancellationToken).ConfigureAwait(false)
                ?? throw VirtPoolException.Failed($"no iSCSI interface defined for IQN {initiatorIqn}");
        }

        var result = await RunCheckedAsync(Commands.Discovery(portal, iface, persist), cancellationToken).ConfigureAwait(false);
        return IscsiadmOutput.ParseSendTargets(result.StandardOutput);
    }

    /// <summary>
    /// Whether a node record for the portal and target exists (VirtPool's check before
    /// <see cref="NewNodeAsync"/>, which succeeds either way, so a failed start knows what it made).
    /// Only iscsiadm's "no records found" (exit 21) says there is none: any other failure (a locked
    /// database) counts as "there may be one", so a failed start never deletes a record it cannot
    /// tell it made.
    /// </summary>
    public async Task<bool> NodeExistsAsync(string portal, string target, CancellationToken cancellationToken)
        => (await RunAsync(Commands.NodeShow(portal, target), cancellationToken).ConfigureAwait(false)).ExitCode != NoRecordsFound;

    /// <summary>iscsiadm's ISCSI_ERR_NO_OBJS_FOUND.</summary>
    private const int NoRecordsFound = 21;

    /// <summary>virISCSINodeNew, with its two errors: iscsiadm not run, and a non-zero exit status.</summary>
    public async Task NewNodeAsync(string portal, string target, CancellationToken cancellationToken)
    {
        ProcessResult result;
        try
        {
            result = await RunAsync(Commands.NodeNew(portal, target), cancellationToken).ConfigureAwait(false);
        }
        catch (VirtPoolException)
        {
            throw VirtPoolException.Internal($"Failed new node mode for target '{target}'");
        }

        if (!result.Succeeded)
        {
            throw VirtPoolException.Internal(string.Create(CultureInfo.InvariantCulture, $"{Commands.Program} failed new mode for target '{target}' with status '{result.ExitCode}'"));
        }
    }

    /// <summary>virISCSINodeUpdate: one setting of the node record; iscsiadm's exit status is ignored, as by libvirt.</summary>
    public async Task UpdateNodeAsync(string portal, string target, string name, string value, CancellationToken cancellationToken)
    {
        try
        {
            await RunAsync(Commands.NodeUpdate(portal, target, name, value), cancellationToken).ConfigureAwait(false);
        }
        catch (VirtPoolException)
        {
            throw VirtPoolException.Internal($"Failed to update '{name}' of node mode for target '{target}'");
        }
    }

    /// <summary>VirtPool's: removes a node record; a failure is ignored (this only tidies up after another error).</summary>
    public Task DeleteNodeAsync(string portal, string target)
        => RunAsync(Commands.NodeDelete(portal, target), CancellationToken.None);

    /// <summary>
    /// virISCSIConnectionLogin/Logout. With an initiator IQN the node command names its iface: an existing
    /// one, or one made now (<see cref="CreateIfaceAsync"/>) followed by a persistent discovery through it
    /// (iscsiadm knows no node for a new iface before). Returns the iface this call created, if any, so a
    /// caller whose later step fails can remove it.
    /// </summary>
    public async Task<string?> ConnectAsync(string portal, string target, string? initiatorIqn, bool login, CancellationToken cancellationToken)
    {
        string? iface = null;
        string? created = null;
        if (initiatorIqn is not null)
        {
            iface = await FindIfaceAsync(initiatorIqn, cancellationToken).ConfigureAwait(false);
            if (iface is null)
            {
                iface = created = await CreateIfaceAsync(initiatorIqn, cancellationToken).ConfigureAwait(false);
                await DiscoverOrRemoveAsync(portal, created, cancellationToken).ConfigureAwait(false);
            }
        }

        var argv = login ? Commands.Login(portal, target, iface) : Commands.Logout(portal, target, iface);
        try
        {
            await RunCheckedAsync(argv, cancellationToken).ConfigureAwait(false);
        }
        catch when (created is not null)
        {
            await RunAsync(Commands.IfaceDelete(created), CancellationToken.None).ConfigureAwait(false);
            throw;
        }

        return created;
    }

    private async Task DiscoverOrRemoveAsync(string portal, string iface, CancellationToken cancellationToken)
    {
        try
        {
            await RunCheckedAsync(Commands.Discovery(portal, iface, persist: true), cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await RunAsync(Commands.IfaceDelete(iface), CancellationToken.None).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>One iscsiadm run, bounded by the time limit (libvirt has none; iscsiadm's own login and discovery timeouts come first).</summary>
    private Task<ProcessResult> RunAsync(IReadOnlyList<string> argv, CancellationToken cancellationToken)
        => _runner.RunAsync(new ProcessRequest(argv) { Timeout = _timeout }, cancellationToken);

    private Task<ProcessResult> RunCheckedAsync(IReadOnlyList<string> argv, CancellationToken cancellationToken)
        => _runner.RunCheckedAsync(new ProcessRequest(argv) { Timeout = _timeout }, cancellationToken);
}
