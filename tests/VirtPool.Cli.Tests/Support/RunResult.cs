using System.Text;

namespace VirtPool.Cli.Tests.Support;

/// <summary>What a finished process left: its exit code and its two output streams, byte for byte.</summary>
public sealed class RunResult
{
    public RunResult(int exitCode, byte[] stdoutBytes, byte[] stderrBytes)
    {
        ExitCode = exitCode;
        StdoutBytes = stdoutBytes;
        StderrBytes = stderrBytes;
    }

    public int ExitCode { get; }

    public byte[] StdoutBytes { get; }

    public byte[] StderrBytes { get; }

    /// <summary>stdout decoded as UTF-8 (for reading; comparisons use <see cref="Bytes.Exact"/>).</summary>
    public string Stdout => Encoding.UTF8.GetString(StdoutBytes);

    public string Stderr => Encoding.UTF8.GetString(StderrBytes);

    public override string ToString() => $"exit {ExitCode}\n--- stdout\n{Stdout}--- stderr\n{Stderr}";
}

/// <summary>Byte-exact text: Latin-1 maps every byte to one char, so string comparison is byte comparison.</summary>
public static class Bytes
{
    public static string Exact(byte[] bytes) => Encoding.Latin1.GetString(bytes);

    /// <summary>Back from <see cref="Exact"/> to readable text, for reports.</summary>
    public static string Readable(string exact) => Encoding.UTF8.GetString(Encoding.Latin1.GetBytes(exact));
}
