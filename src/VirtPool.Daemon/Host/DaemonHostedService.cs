using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace VirtPool.Daemon.Host;

/// <summary>Runs <see cref="VirtPoolDaemon"/> inside the generic host, which turns SIGTERM/SIGINT into StopAsync.</summary>
internal sealed class DaemonHostedService(DaemonOptions options, ILoggerFactory loggers) : IHostedService
{
    private VirtPoolDaemon? _daemon;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        // A process-wide setting, so here rather than in the daemon (which tests run in-process).
        FileDescriptorLimit.RaiseForClients(options.MaxClients, loggers.CreateLogger("VirtPool.Daemon"));
        _daemon = await VirtPoolDaemon.StartAsync(options, loggers, cancellationToken).ConfigureAwait(false);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_daemon is not null)
        {
            await _daemon.DisposeAsync().ConfigureAwait(false);
        }
    }
}
