namespace VirtPool.Formats.Copy;

/// <summary>Whether a copy may share extents with its source (FICLONE/FICLONERANGE).</summary>
public enum ReflinkMode
{
    /// <summary>Copy the bytes. copy_file_range is not used either, because xfs and btrfs reflink inside it.</summary>
    Never,

    /// <summary>Clone when both are regular files on a filesystem that can; copy otherwise.</summary>
    Auto,

    /// <summary>Clone or fail with libvirt's "failed to clone files from '...'" (virsh vol-clone --reflink).</summary>
    Always,
}

/// <summary>What the target gets where the source has holes (or, with <see cref="CopyOptions.DetectZeros"/>, zero blocks).</summary>
public enum HoleMode
{
    /// <summary>Holes: left alone where the target is fresh (past its old end), punched where it had data.</summary>
    Preserve,

    /// <summary>Allocated zeros (fallocate ZERO_RANGE, or written zeros where that is unsupported).</summary>
    Fill,
}

/// <summary>How <see cref="SparseCopy"/> moves data.</summary>
public sealed record CopyOptions
{
    public static CopyOptions Default { get; } = new();

    public ReflinkMode Reflink { get; init; } = ReflinkMode.Auto;

    public HoleMode Holes { get; init; } = HoleMode.Preserve;

    /// <summary>Read data and treat all-zero 64 KiB blocks as holes (needed for block-device sources to stay sparse).</summary>
    public bool DetectZeros { get; init; }

    /// <summary>fdatasync the target before returning.</summary>
    public bool Sync { get; init; }

    /// <summary>Source name for error messages (the volume path); by default the descriptor's /proc link.</summary>
    public string? SourceName { get; init; }

    /// <summary>Target name for error messages; by default the descriptor's /proc link.</summary>
    public string? TargetName { get; init; }
}

/// <summary>Outcome of a copy.</summary>
/// <param name="Bytes">Length of the range handled, holes included.</param>
/// <param name="DataBytes">Bytes actually copied or written as data (0 for a clone).</param>
/// <param name="Reflinked">Whether the range was cloned (extents shared) instead of copied.</param>
public readonly record struct CopyResult(long Bytes, long DataBytes, bool Reflinked);
