using VirtPool.Core.Backends;
namespace VirtPool.Formats.Wipe;

/// <summary>
/// The pass lists of the scrub(1) methods libvirt runs for vol-wipe (<c>scrub -f -p NAME PATH</c>),
/// as defined in chaos/scrub src/pattern.c.
/// </summary>
public static class ScrubSequences
{
    private static readonly WipePass R = WipePass.Random;

    private static readonly WipePass[] Nnsa = [R, R, WipePass.FillVerify(0x00)];

    private static readonly WipePass[] Dod = [R, WipePass.Fill(0x00), WipePass.FillVerify(0xff)];

    private static readonly WipePass[] Bsi =
    [
        WipePass.Fill(0xff), WipePass.Fill(0xfe), WipePass.Fill(0xfd), WipePass.Fill(0xfb), WipePass.Fill(0xf7),
        WipePass.Fill(0xef), WipePass.Fill(0xdf), WipePass.Fill(0xbf), WipePass.Fill(0x7f),
    ];

    private static readonly WipePass[] Gutmann =
    [
        R, R, R, R,
        WipePass.Fill(0x55), WipePass.Fill(0xaa),
        WipePass.Fill(0x92, 0x49, 0x24), WipePass.Fill(0x49, 0x24, 0x92), WipePass.Fill(0x24, 0x92, 0x49),
        WipePass.Fill(0x00), WipePass.Fill(0x11), WipePass.Fill(0x22), WipePass.Fill(0x33),
        WipePass.Fill(0x44), WipePass.Fill(0x55), WipePass.Fill(0x66), WipePass.Fill(0x77),
        WipePass.Fill(0x88), WipePass.Fill(0x99), WipePass.Fill(0xaa), WipePass.Fill(0xbb),
        WipePass.Fill(0xcc), WipePass.Fill(0xdd), WipePass.Fill(0xee), WipePass.Fill(0xff),
        WipePass.Fill(0x92, 0x49, 0x24), WipePass.Fill(0x49, 0x24, 0x92), WipePass.Fill(0x24, 0x92, 0x49),
        WipePass.Fill(0x6d, 0xb6, 0xdb), WipePass.Fill(0xb6, 0xdb, 0x6d), WipePass.Fill(0xdb, 0x6d, 0xb6),
        R, R, R, R,
    ];

    private static readonly WipePass[] Schneier = [WipePass.Fill(0x00), WipePass.Fill(0xff), R, R, R, R, R];

    private static readonly WipePass[] Pfitzner7 = Enumerable.Repeat(R, 7).ToArray();

    private static readonly WipePass[] Pfitzner33 = Enumerable.Repeat(R, 33).ToArray();

    private static readonly WipePass[] OneRandom = [R];

    /// <summary>True for the algorithms libvirt hands to scrub (everything but zero and trim).</summary>
    public static bool IsScrub(VolumeWipeAlgorithm algorithm) => algorithm is > VolumeWipeAlgorithm.Zero and < VolumeWipeAlgorithm.Trim;

    /// <summary>scrub's name for the method (the -p argument libvirt passes).</summary>
    public static string Name(VolumeWipeAlgorithm algorithm) => algorithm switch
    {
        VolumeWipeAlgorithm.Nnsa => "nnsa",
        VolumeWipeAlgorithm.Dod => "dod",
        VolumeWipeAlgorithm.Bsi => "bsi",
        VolumeWipeAlgorithm.Gutmann => "gutmann",
        VolumeWipeAlgorithm.Schneier => "schneier",
        VolumeWipeAlgorithm.Pfitzner7 => "pfitzner7",
        VolumeWipeAlgorithm.Pfitzner33 => "pfitzner33",
        VolumeWipeAlgorithm.Random => "random",
        _ => throw new ArgumentOutOfRangeException(nameof(algorithm), algorithm, "not a scrub method"),
    };

    /// <summary>The passes scrub runs for <paramref name="algorithm"/>, in order (a read-only view: the tables are shared).</summary>
    public static IReadOnlyList<WipePass> Passes(VolumeWipeAlgorithm algorithm) => Array.AsReadOnly(algorithm switch
    {
        VolumeWipeAlgorithm.Nnsa => Nnsa,
        VolumeWipeAlgorithm.Dod => Dod,
        VolumeWipeAlgorithm.Bsi => Bsi,
        VolumeWipeAlgorithm.Gutmann => Gutmann,
        VolumeWipeAlgorithm.Schneier => Schneier,
        VolumeWipeAlgorithm.Pfitzner7 => Pfitzner7,
        VolumeWipeAlgorithm.Pfitzner33 => Pfitzner33,
        VolumeWipeAlgorithm.Random => OneRandom,
        _ => throw new ArgumentOutOfRangeException(nameof(algorithm), algorithm, "not a scrub method"),
    });
}
