namespace VirtPool.Core.Process;

/// <summary>
/// One external command: its argv, optionally bytes for its stdin (a parted or sfdisk script) and a
/// time limit after which the command and every process it started are killed.
/// </summary>
public sealed record ProcessRequest(IReadOnlyList<string> Argv)
{
    /// <summary>Written to the child's stdin while its output is read, then stdin is closed. Null: stdin is closed at once.</summary>
    public ReadOnlyMemory<byte>? Input { get; init; }

    /// <summary>How long the command may take, output included. Null: no limit (cancellation still stops it).</summary>
    public TimeSpan? Timeout { get; init; }
}
