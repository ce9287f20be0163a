namespace VirtPool.Core.Process;

/// <summary>The outcome of an external command.</summary>
public sealed record ProcessResult(int ExitCode, string StandardOutput, string StandardError)
{
    public bool Succeeded => ExitCode == 0;

    /// <summary>
    /// This result when the command succeeded; otherwise throws libvirt's virCommandRun error for it,
    /// "internal error: Child process (ARGV) unexpected exit status N: STDERR".
    /// </summary>
    public ProcessResult ThrowIfFailed(IReadOnlyList<string> argv)
        => Succeeded ? this : throw ChildProcessErrors.UnexpectedExit(argv, this);
}
