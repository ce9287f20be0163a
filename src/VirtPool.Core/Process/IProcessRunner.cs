namespace VirtPool.Core.Process;

/// <summary>
/// Every external command goes through one runner, so its argv can be recorded in golden tests and
/// its failures turn into one libvirt-style error shape.
/// </summary>
public interface IProcessRunner
{
    Task<ProcessResult> RunAsync(IReadOnlyList<string> argv, CancellationToken cancellationToken = default);

    /// <summary>
    /// Runs a command with stdin input and a time limit. <see cref="ProcessRunner"/> honours both; this
    /// default, kept by runners that only record argv, drops them and runs the argv alone.
    /// </summary>
    Task<ProcessResult> RunAsync(ProcessRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        return RunAsync(request.Argv, cancellationToken);
    }
}

/// <summary>The calls most backends make: run, and turn a non-zero exit into libvirt's error.</summary>
public static class ProcessRunnerExtensions
{
    /// <summary>Runs the command; a non-zero exit throws "internal error: Child process (ARGV) unexpected exit status N: STDERR".</summary>
    public static async Task<ProcessResult> RunCheckedAsync(this IProcessRunner runner, ProcessRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(runner);
        ArgumentNullException.ThrowIfNull(request);
        var result = await runner.RunAsync(request, cancellationToken).ConfigureAwait(false);
        return result.ThrowIfFailed(request.Argv);
    }

    /// <inheritdoc cref="RunCheckedAsync(IProcessRunner, ProcessRequest, CancellationToken)"/>
    public static Task<ProcessResult> RunCheckedAsync(this IProcessRunner runner, IReadOnlyList<string> argv, CancellationToken cancellationToken = default)
        => runner.RunCheckedAsync(new ProcessRequest(argv), cancellationToken);
}
