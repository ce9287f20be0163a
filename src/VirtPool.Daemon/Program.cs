using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using VirtPool.Daemon.Host;

// virtpoold: serves libvirt's remote RPC protocol (storage and secrets) on a UNIX socket and optionally TCP.
if (args.Any(a => a is "--help" or "-h"))
{
    Console.WriteLine(DaemonOptions.Usage);
    return 0;
}

if (args.Any(a => a is "--version" or "-V"))
{
    Console.WriteLine(DaemonOptions.VersionText);
    return 0;
}

DaemonOptions options;
try
{
    options = DaemonOptions.Parse(args);
}
catch (ArgumentException ex)
{
    Console.Error.WriteLine($"virtpoold: {ex.Message}");
    Console.Error.WriteLine(DaemonOptions.Usage);
    return 2;
}

// Socket completions run on the epoll threads instead of hopping to the thread pool: a call answered
// from the state caches is then read, run and answered on one thread, at half the CPU per call.
// Everything that may wait on storage is handed to the thread pool by the connection. Read once, when
// the first socket is made, so it is set before anything else.
if (Environment.GetEnvironmentVariable("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS") is null)
{
    Environment.SetEnvironmentVariable("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS", "1");
}

// DisableDefaults: no appsettings or environment configuration sources, the command line above is the configuration.
var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true, Args = [] });
builder.Logging.ClearProviders();
builder.Logging.AddSimpleConsole(o =>
{
    o.SingleLine = true;
    o.TimestampFormat = "yyyy-MM-dd HH:mm:ss.fff ";
});
builder.Services.Configure<ConsoleLoggerOptions>(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
bool debug = Environment.GetEnvironmentVariable("VIRTPOOLD_DEBUG") is { Length: > 0 };
builder.Logging.SetMinimumLevel(debug ? LogLevel.Debug : LogLevel.Information);
if (!debug)
{
    // As libvirtd (log_level 3): a line per volume operation or external command only when asked
    // for; what failed is still logged.
    builder.Logging.AddFilter("VirtPool.Manager", LogLevel.Warning);
    builder.Logging.AddFilter("VirtPool.Process", LogLevel.Warning);
}
builder.Services.Configure<ConsoleLifetimeOptions>(o => o.SuppressStatusMessages = true);
builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(30));
builder.Services.AddSingleton(options);
builder.Services.AddHostedService<DaemonHostedService>();
builder.Services.AddHostedService<IdleMemoryTrimmer>();

try
{
    using var host = builder.Build();
    await host.RunAsync().ConfigureAwait(false);
    return 0;
}
catch (Exception ex) when (ex is not OutOfMemoryException)
{
    Console.Error.WriteLine($"virtpoold: {ex.Message}");
    return 1;
}
