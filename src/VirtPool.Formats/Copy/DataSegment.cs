using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace VirtPool.Formats.Copy;

/// <summary>A run of a file or device that is either data or a hole (reads as zeros, need not be read).</summary>
public readonly record struct DataSegment(long Offset, long Length, bool IsHole)
{
    public long End => Offset + Length;
}

/// <summary>How <see cref="DataExtents"/> refines data segments by looking for all-zero blocks.</summary>
public enum ZeroScan
{
    /// <summary>Trust the filesystem's extent map only.</summary>
    Never,

    /// <summary>Scan only sources without hole information: block devices and files whose lseek has no SEEK_DATA.</summary>
    Auto,

    /// <summary>Scan every data segment.</summary>
    Always,
}

/// <summary>All-zero detection over memory.</summary>
public static class ZeroBlocks
{
    /// <summary>True when every byte of <paramref name="data"/> is zero (vectorized).</summary>
    public static bool IsAllZero(ReadOnlySpan<byte> data)
    {
        // Checking the last word first rejects typical data (non-zero near either end) in O(1).
        if (data.Length >= sizeof(ulong) && Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref MemoryMarshal.GetReference(data), data.Length - sizeof(ulong))) != 0)
        {
            return false;
        }

        return !data.ContainsAnyExcept((byte)0);
    }
}
