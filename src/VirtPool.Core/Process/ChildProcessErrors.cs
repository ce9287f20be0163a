using System.Buffers;
using System.Globalization;
using System.Text;
using VirtPool.Core.Errors;

namespace VirtPool.Core.Process;

/// <summary>
/// The errors an external command raises, worded as libvirt's vircommand.c words them (code
/// VIR_ERR_INTERNAL_ERROR, domain VIR_FROM_NONE), with the argv rendered as virCommandToString does.
/// </summary>
public static class ChildProcessErrors
{
    /// <summary>
    /// virCommandWait's error for a non-zero exit: "Child process (ARGV) unexpected exit status N", then
    /// ": " and the child's stderr exactly as written (trailing newline included) when it wrote any.
    /// </summary>
    public static VirtPoolException UnexpectedExit(IReadOnlyList<string> argv, ProcessResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        var detail = $"Child process ({CommandText(argv)}) unexpected exit status {result.ExitCode}";
        if (result.StandardError.Length > 0)
        {
            detail += ": " + result.StandardError;
        }

        return Internal(detail);
    }

    /// <summary>The runner's error for a command killed at its time limit (libvirt has no such limit; worded like its sibling above).</summary>
    public static VirtPoolException TimedOut(IReadOnlyList<string> argv, TimeSpan timeout)
        => Internal($"Child process ({CommandText(argv)}) did not finish within {Seconds(timeout)} s and was killed");

    /// <summary>"'mkfs.xfs' not found: install xfsprogs"; for a tool outside the table, where it was looked for.</summary>
    public static VirtPoolException NotFound(string program)
    {
        ArgumentNullException.ThrowIfNull(program);
        var package = ExternalTools.PackageOf(Path.GetFileName(program));
        return package is not null
            ? Internal($"'{program}' not found: install {package}")
            : Internal($"'{program}' not found in PATH, /usr/sbin or /sbin");
    }

    /// <summary>libvirt's virExec error for a program that exists but cannot be executed.</summary>
    public static VirtPoolException CannotExecute(string program, int errno)
        => new(VirErrorCode.SystemError, $"cannot execute binary {program}: {Interop.StrError.Describe(errno)}", VirErrorDomain.None);

    /// <summary>
    /// The argv as virCommandToString renders it: words joined by spaces, a word quoted in '...' only
    /// when it holds a shell metacharacter (virBufferEscapeShell's set), an empty word as ''. An
    /// inline qemu secret (<c>secret,...,data=</c>) is redacted, as in the log.
    /// </summary>
    public static string CommandText(IReadOnlyList<string> argv)
    {
        ArgumentNullException.ThrowIfNull(argv);
        var text = new StringBuilder();
        foreach (var argument in argv)
        {
            if (text.Length > 0)
            {
                text.Append(' ');
            }

            var word = ProcessRunner.RedactInlineSecret(argument);
            if (word.Length == 0)
            {
                text.Append("''");
            }
            else if (word.AsSpan().IndexOfAny(ShellMetacharacters) < 0)
            {
                text.Append(word);
            }
            else
            {
                text.Append('\'').Append(word.Replace("'", "'\\''", StringComparison.Ordinal)).Append('\'');
            }
        }

        return text.ToString();
    }

    private static readonly SearchValues<char> ShellMetacharacters = SearchValues.Create("\r\t\n !\"#$&'()*;<>?[\\]^`{|}~");

    private static string Seconds(TimeSpan timeout) => timeout.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture);

    private static VirtPoolException Internal(string detail) => new(VirErrorCode.InternalError, detail, VirErrorDomain.None);
}
