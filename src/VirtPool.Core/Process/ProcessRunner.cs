using System.Diagnostics;
using System.Text;

namespace VirtPool.Core.Process;

/// <summary>The outcome of an external command.</summary>
public sealed record ProcessResult(int ExitCode, string StandardOutput, string StandardError)
{
    public bool Succeeded => ExitCode == 0;
}

/// <summary>
/// Every external command goes through one runner, so its argv can be recorded in golden tests and
/// its failures turn into one libvirt-style error shape.
/// </summary>
public interface IProcessRunner
{
    Task<ProcessResult> RunAsync(IReadOnlyList<string> argv, CancellationToken cancellationToken = default);
}

public sealed class ProcessRunner : IProcessRunner
{
    public static ProcessRunner Instance { get; } = new();

    public async Task<ProcessResult> RunAsync(IReadOnlyList<string> argv, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfZero(argv.Count);
        var psi = new ProcessStartInfo(argv[0])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        for (var i = 1; i < argv.Count; i++)
        {
            psi.ArgumentList.Add(argv[i]);
        }

        // Tools such as qemu-img and parted print translated messages otherwise.
        psi.Environment["LC_ALL"] = "C";
        using var process = new System.Diagnostics.Process { StartInfo = psi };
        try
        {
            process.Start();
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw Errors.VirtPoolException.Internal($"Cannot find '{argv[0]}' in path: {ex.Message}");
        }

        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        try
        {
            await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        return new ProcessResult(process.ExitCode, await stdout.ConfigureAwait(false), await stderr.ConfigureAwait(false));
    }

    /// <summary>
    /// Runs an interactive program (virsh's $EDITOR) on this process's own terminal: stdin, stdout and
    /// stderr inherited, the caller's environment and locale kept, waited for however long it takes.
    /// Returns its exit status; throws <see cref="System.ComponentModel.Win32Exception"/> when it cannot start.
    /// </summary>
    public async Task<int> RunAttachedAsync(IReadOnlyList<string> argv)
    {
        ArgumentOutOfRangeException.ThrowIfZero(argv.Count);
        var psi = new ProcessStartInfo(argv[0]) { UseShellExecute = false };
        for (var i = 1; i < argv.Count; i++)
        {
            psi.ArgumentList.Add(argv[i]);
        }

        using var process = new System.Diagnostics.Process { StartInfo = psi };
        process.Start();
        await process.WaitForExitAsync().ConfigureAwait(false);
        return process.ExitCode;
    }
}
