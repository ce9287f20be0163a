namespace VirtPool.Cli.Parsing;

/// <summary>
/// The command line could not be parsed. virsh prints each of <see cref="Errors"/> as
/// <c>error: TEXT</c> on stderr and exits with status 1; no command runs, so no blank line
/// follows on stdout. <see cref="Errors"/> may be empty (virsh "" fails silently).
/// </summary>
public sealed class VirshUsageException : Exception
{
    public VirshUsageException()
        : this([])
    {
    }

    public VirshUsageException(string message)
        : this([message])
    {
    }

    public VirshUsageException(string message, Exception innerException)
        : base(message, innerException)
    {
        Errors = [message];
    }

    public VirshUsageException(IReadOnlyList<string> errors)
        : base(errors.Count == 0 ? "invalid command line" : string.Join('\n', errors))
    {
        Errors = errors;
    }

    /// <summary>The messages, without the "error: " prefix, in the order virsh prints them.</summary>
    public IReadOnlyList<string> Errors { get; }

    /// <summary>The options before the command, when the error is in the command after them (null otherwise).</summary>
    public GlobalOptions? Options { get; init; }

    /// <summary>virsh's exit status for a command line it cannot parse.</summary>
    public static int ExitCode => 1;

    /// <summary>The exact stderr text virsh prints: one <c>error: TEXT\n</c> line per message.</summary>
    public string ToStderrText()
    {
        var text = new System.Text.StringBuilder();
        foreach (var error in Errors)
        {
            text.Append("error: ").Append(error).Append('\n');
        }

        return text.ToString();
    }
}

/// <summary>
/// An option's value was rejected while a parsed command ran (virsh's vshCommandOpt* helpers:
/// "Failed to get option 'pool': Option argument is empty", "Numeric value 'x' for &lt;offset&gt; option
/// is malformed or out of range"). The command fails: virsh prints <c>error: </c><see cref="Exception.Message"/>,
/// and — unlike a <see cref="VirshUsageException"/> — still ends the command with its blank line.
/// </summary>
public sealed class VirshOptionException : Exception
{
    public VirshOptionException()
    {
    }

    public VirshOptionException(string message)
        : base(message)
    {
    }

    public VirshOptionException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
