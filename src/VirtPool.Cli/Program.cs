using System.Diagnostics;
using System.Reflection;
using System.Runtime.InteropServices;
using VirtPool.Backends;
using VirtPool.Cli.Commands;
using VirtPool.Cli.Output;
using VirtPool.Cli.Parsing;
using VirtPool.Cli.Remote;
using VirtPool.Core.Errors;
using VirtPool.Core.Interop;
using VirtPool.Core.Manager;
using VirtPool.Core.Process;
using VirtPool.Core.State;
using VirtPool.Rpc.Client;

namespace VirtPool.Cli;

/// <summary>
/// virtpool: virsh's storage commands against the embedded pool manager, or with -c URI against
/// libvirtd or virtpoold over libvirt's remote protocol. Exit 0 on success, 1 when a
/// command failed (virsh's convention), with "error: …" lines on stderr.
/// </summary>
public static class Program
{
    public static async Task<int> Main(string[] args)
    {
        VirshInvocation invocation;
        try
        {
            invocation = VirshArgs.Parse(args);
        }
        catch (VirshUsageException ex)
        {
            await ReportUsageErrorsAsync(ex).ConfigureAwait(false);
            return VirshUsageException.ExitCode;
        }

        var options = invocation.Options;
        using var console = VirshConsole.CreateStandard(options.Quiet);
        foreach (var warning in invocation.Warnings)
        {
            console.Error(warning);
        }

        // -d LEVEL / -l FILE; without them nothing is created and nothing is logged.
        VirshLog? log;
        try
        {
            log = VirshLog.Open(options, console);
        }
        catch (IOException)
        {
            console.Error(VirshLog.OpenFailedMessage);
            return 1;
        }

        using var disposeLog = log;
        if (log is not null)
        {
            console.ErrorLog = log.Error;
            log.Commands(invocation.Commands);
        }

        if (options.Version != VersionRequest.None)
        {
            console.Print(options.Version == VersionRequest.Long ? LongVersionText : VersionText + "\n");
            return 0;
        }

        if (options.ShowUsage)
        {
            console.Print(HelpView.Usage());
            return 0;
        }

        if (invocation.Interactive)
        {
            console.Print(HelpView.Help(null)!);
            return 1;
        }

        // Ctrl-C cancels the running operation, which removes what it made half-way; a second Ctrl-C
        // while it unwinds is left to the default handler. (A POSIX signal registration rather than
        // Console.CancelKeyPress, which sets the terminal up and prints escape sequences virsh does not.)
        // A SIGINT that was ignored when virtpool started (a script's background job) stays ignored,
        // as in dd: a Ctrl-C meant for the script must not cancel a wipe running behind it.
        using var interrupted = new CancellationTokenSource();
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, context =>
        {
            if (!interrupted.IsCancellationRequested)
            {
                context.Cancel = true;
                interrupted.Cancel();
            }
        });

        if (options.Connect is { } uri)
        {
            // Remote mode: libvirt's RPC protocol to libvirtd or virtpoold, as virsh -c URI speaks it.
            RemoteConnection connection;
            try
            {
                connection = await RemoteConnection.OpenAsync(uri, interrupted.Token).ConfigureAwait(false);
            }
            catch (VirtPoolException ex)
            {
                console.Error($"failed to connect to the hypervisor");
                console.Error(ex.Message);
                return 1;
            }
            catch (OperationCanceledException)
            {
                console.Error($"failed to connect to the hypervisor");
                console.Error(VirtPoolException.Compose(VirErrorCode.OperationAborted, "cancelled by the user"));
                return 1;
            }

            await using (connection.ConfigureAwait(false))
            {
                return await RunCommandsAsync(invocation, new RemoteStorageApi(connection), new RemoteSecretApi(connection), console, interrupted.Token).ConfigureAwait(false);
            }
        }

        using var manager = CreateManager(options.StateDir, log);
        return await RunCommandsAsync(invocation, manager, null, console, interrupted.Token).ConfigureAwait(false);
    }

    /// <summary>
    /// A command line that could not be parsed: its errors on stderr. When the options before the
    /// command were understood and name a log file, the errors go there too, as virsh's do; a log file
    /// that cannot be opened is the only error then (virsh opens it before it reads the command).
    /// </summary>
    private static async Task ReportUsageErrorsAsync(VirshUsageException ex)
    {
        if (ex.Options is not { LogFile: not null } options)
        {
            await StandardStreams.Error.WriteAsync(ex.ToStderrText()).ConfigureAwait(false);
            return;
        }

        using var console = VirshConsole.CreateStandard(options.Quiet);
        VirshLog? log;
        try
        {
            log = VirshLog.Open(options, console);
        }
        catch (IOException)
        {
            console.Error(VirshLog.OpenFailedMessage);
            return;
        }

        using (log)
        {
            console.ErrorLog = log!.Error;
            foreach (var error in ex.Errors)
            {
                console.Error(error);
            }
        }
    }

    private static async Task<int> RunCommandsAsync(VirshInvocation invocation, IStorageApi api, ISecretApi? secrets, VirshConsole console, CancellationToken interrupted)
    {
        var ok = true;
        foreach (var command in invocation.Commands)
        {
            var started = Stopwatch.GetTimestamp();
            ok = await StorageCommands.RunAsync(command, api, secrets, console, interrupted).ConfigureAwait(false);
            console.EndCommand(invocation.Options.Timing ? Stopwatch.GetElapsedTime(started).TotalMilliseconds : null);

            // virsh runs every command of "a; b; c" and exits with the last one's status; Ctrl-C stops the rest.
            if (interrupted.IsCancellationRequested)
            {
                break;
            }
        }

        return ok ? 0 : 1;
    }

    /// <summary>
    /// What <c>-v</c>/<c>--version</c> print: the version of the libvirt whose virsh this CLI matches, as
    /// <c>virsh --version</c> prints it (scripts parse it to decide what the tool can do).
    /// </summary>
    public const string VersionText = "9.0.0";

    /// <summary>VirtPool's own version (Directory.Build.props), without a build-metadata suffix.</summary>
    public static string VirtPoolVersion { get; } = ReadVirtPoolVersion();

    /// <summary>What <c>-V</c>/<c>--version=long</c> print: VirtPool's version first, then the virsh it matches.</summary>
    public static string LongVersionText =>
        $"virtpool (VirtPool) {VirtPoolVersion}\n"
        + $"Compatible with virsh of libvirt {VersionText} (the number -v and --version print, as virsh's do)\n";

    private static string ReadVirtPoolVersion()
    {
        var informational = typeof(Program).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion;
        if (string.IsNullOrEmpty(informational))
        {
            return typeof(Program).Assembly.GetName().Version?.ToString(3) ?? "unknown";
        }

        var plus = informational.IndexOf('+', StringComparison.Ordinal);
        return plus < 0 ? informational : informational[..plus];
    }

    /// <summary>The state folder, resolved as everywhere in VirtPool (<see cref="StateLocations"/>).</summary>
    public static string ResolveStateDir(string? option) => StateLocations.ResolveStateDir(option);

    /// <summary>The runtime folder, resolved as everywhere in VirtPool (<see cref="StateLocations"/>).</summary>
    public static string? ResolveRuntimeDir(string? stateDirOption) => StateLocations.ResolveRuntimeDir(stateDirOption);

    private static PoolManager CreateManager(string? stateDirOption, VirshLog? log)
    {
        var store = new StateStore(ResolveStateDir(stateDirOption), ResolveRuntimeDir(stateDirOption));
        return log is null
            ? new PoolManager(store, BackendCatalog.Create(ProcessRunner.Instance))
            : new PoolManager(store, BackendCatalog.Create(new ProcessRunner(log.CreateLogger("VirtPool.Process"))), log.CreateLogger("VirtPool.Manager"));
    }
}

/// <summary>A command failed: virsh prints <see cref="Exception.Message"/>, then the libvirt error that caused it.</summary>
public sealed class CommandFailedException : Exception
{
    public CommandFailedException()
    {
    }

    public CommandFailedException(string message)
        : base(message)
    {
    }

    public CommandFailedException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }

    public VirtPoolException? Cause => InnerException as VirtPoolException;
}
