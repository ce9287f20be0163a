using System.Globalization;
using System.Text;

namespace VirtPool.Formats.Wipe;

/// <summary>What one pass of a scrub sequence does (scrub's PAT_NORMAL, PAT_RANDOM, PAT_VERIFY).</summary>
public enum WipePassKind
{
    /// <summary>Overwrite with a repeated byte pattern.</summary>
    Pattern,

    /// <summary>Overwrite with fresh random data.</summary>
    Random,

    /// <summary>Overwrite with a repeated byte pattern, sync, then read back and compare.</summary>
    Verify,
}

/// <summary>
/// One overwrite pass. A pattern is 1 to <see cref="MaxPatternBytes"/> bytes, repeated from the start of every
/// <see cref="VolumeWiper.ChunkSize"/> chunk (scrub fills its 4 MiB buffer once and writes it repeatedly,
/// so a 3-byte pattern restarts at each 4 MiB boundary).
/// </summary>
public sealed class WipePass
{
    /// <summary>scrub's MAXPATBYTES.</summary>
    public const int MaxPatternBytes = 16;

    private readonly byte[] _pattern;

    private WipePass(WipePassKind kind, byte[] pattern)
    {
        Kind = kind;
        _pattern = pattern;
    }

    public static WipePass Random { get; } = new(WipePassKind.Random, []);

    public WipePassKind Kind { get; }

    /// <summary>The repeated bytes; empty for a random pass.</summary>
    public ReadOnlyMemory<byte> Pattern => _pattern;

    public static WipePass Fill(params ReadOnlySpan<byte> pattern) => new(WipePassKind.Pattern, Checked(pattern));

    public static WipePass FillVerify(params ReadOnlySpan<byte> pattern) => new(WipePassKind.Verify, Checked(pattern));

    /// <summary>How many times this pass goes over the volume: a verify pass writes, then reads.</summary>
    public int Sweeps => Kind == WipePassKind.Verify ? 2 : 1;

    /// <summary>scrub's pat2str ("random", or "0x" and the pattern in hex), with " (verify)" marking a verify pass.</summary>
    public override string ToString()
    {
        if (Kind == WipePassKind.Random)
        {
            return "random";
        }

        var sb = new StringBuilder("0x");
        foreach (var b in _pattern)
        {
            sb.Append(b.ToString("x2", CultureInfo.InvariantCulture));
        }

        return Kind == WipePassKind.Verify ? sb.Append(" (verify)").ToString() : sb.ToString();
    }

    private static byte[] Checked(ReadOnlySpan<byte> pattern)
    {
        if (pattern.IsEmpty || pattern.Length > MaxPatternBytes)
        {
            throw new ArgumentOutOfRangeException(nameof(pattern), pattern.Length, $"a wipe pattern has 1 to {MaxPatternBytes} bytes");
        }

        return pattern.ToArray();
    }
}
