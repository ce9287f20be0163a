namespace VirtPool.Formats.Wipe;

/// <summary>libvirt's virStorageVolWipeAlgorithm, with its numbering (the value virsh vol-wipe sends).</summary>
public enum WipeAlgorithm
{
    /// <summary>1-pass, all zeroes.</summary>
    Zero = 0,

    /// <summary>scrub's "nnsa": 4-pass NNSA Policy Letter NAP-14.1-C (XVI-8).</summary>
    Nnsa = 1,

    /// <summary>scrub's "dod": 4-pass DoD 5220.22-M section 8-306 procedure.</summary>
    Dod = 2,

    /// <summary>scrub's "bsi": 9-pass method recommended by the German BSI.</summary>
    Bsi = 3,

    /// <summary>scrub's "gutmann": the canonical 35-pass sequence.</summary>
    Gutmann = 4,

    /// <summary>scrub's "schneier": 7-pass method (0x00, 0xff, five random).</summary>
    Schneier = 5,

    /// <summary>scrub's "pfitzner7": 7 random passes.</summary>
    Pfitzner7 = 6,

    /// <summary>scrub's "pfitzner33": 33 random passes.</summary>
    Pfitzner33 = 7,

    /// <summary>scrub's "random": 1 random pass.</summary>
    Random = 8,

    /// <summary>Discard the volume's blocks (BLKDISCARD; hole punching for a file).</summary>
    Trim = 9,
}
