using System.Globalization;

namespace VirtPool.Backends.Zfs;

/// <summary>A zpool's space and health as one listing reported it.</summary>
/// <param name="Exact">
/// True for byte counts (<c>-p</c>); false for the old CLI's human-readable sizes ("123M", "90.7M"),
/// which zfs_nicenum rounds to three significant digits: each value is then within 0.5 % of the truth.
/// </param>
public readonly record struct ZpoolSpace(string Health, ulong Size, ulong Allocated, ulong Free, bool Exact);

/// <summary>A zvol as a listing reported it: its dataset name, volsize and refreservation in bytes.</summary>
public readonly record struct ZvolListing(string Dataset, ulong VolSize, ulong RefReservation)
{
    /// <summary>The volume's name in the pool: the dataset name's last component, as libvirt names it.</summary>
    public string VolumeName => Dataset[(Dataset.LastIndexOf('/') + 1)..];
}

/// <summary>A zvol's volsize, volblocksize and refreservation in bytes, as <c>zfs get -Hp</c> gave them before or after a resize.</summary>
public readonly record struct ZvolSizes(ulong VolSize, ulong VolBlockSize, ulong RefReservation)
{
    /// <summary>
    /// Thick (zfs create without -s): its refreservation covers its volsize. A sparse zvol reserves less
    /// (0, or the part libvirt's <c>-o refreservation=</c> asked for).
    /// </summary>
    public bool Thick => RefReservation >= VolSize;
}

/// <summary>
/// Pure parsers for what <c>zpool</c> and <c>zfs</c> print: the machine-readable <c>-Hp</c> forms of
/// OpenZFS that libvirt runs, and the older forms of zfs-fuse 0.7 (pool version 23), whose
/// <c>zpool get</c> takes no options and whose <c>zfs list</c> has no <c>-p</c>. Each TryParse
/// returns false when the text is not what it expects, and never throws on any text.
/// </summary>
public static class ZfsOutput
{
    /// <summary>
    /// <c>zpool get -Hp health,size,free,allocated NAME</c>: one line per property,
    /// "NAME\tPROPERTY\tVALUE\tSOURCE". As libvirt, a line without exactly four fields is skipped;
    /// true when size, free and allocated were all given as byte counts.
    /// </summary>
    public static bool TryParseZpoolGet(string output, out ZpoolSpace space)
    {
        space = default;
        if (output is null)
        {
            return false;
        }

        string health = "-";
        ulong? size = null, free = null, allocated = null;
        foreach (var line in output.Split('\n'))
        {
            var fields = line.Split('\t');
            if (fields.Length != 4)
            {
                continue;
            }

            switch (fields[1])
            {
                case "health":
                    health = fields[2];
                    break;
                case "size":
                    size = Bytes(fields[2]);
                    break;
                case "free":
                    free = Bytes(fields[2]);
                    break;
                case "allocated":
                    allocated = Bytes(fields[2]);
                    break;
            }
        }

        if (size is not { } s || free is not { } f || allocated is not { } a)
        {
            return false;
        }

        space = new ZpoolSpace(health, s, a, f, Exact: true);
        return true;
    }

    /// <summary>
    /// The old CLI's <c>zpool list -H -o name,size,allocated,free,health NAME</c>: one line,
    /// "NAME\tSIZE\tALLOC\tFREE\tHEALTH", sizes human-readable (<see cref="TryParseNiceNumber"/>).
    /// </summary>
    public static bool TryParseZpoolList(string output, string zpool, out ZpoolSpace space)
    {
        space = default;
        if (output is null || zpool is null)
        {
            return false;
        }

        foreach (var line in output.Split('\n'))
        {
            var fields = line.Split('\t');
            if (fields.Length != 5 || fields[0] != zpool)
            {
                continue;
            }

            if (TryParseNiceNumber(fields[1], out var size, out var sizeExact)
                && TryParseNiceNumber(fields[2], out var allocated, out var allocatedExact)
                && TryParseNiceNumber(fields[3], out var free, out var freeExact))
            {
                space = new ZpoolSpace(fields[4], size, allocated, free, sizeExact && allocatedExact && freeExact);
                return true;
            }

            return false;
        }

        return false;
    }

    /// <summary>
    /// <c>zfs list -Hp -t volume -r -o name,volsize,refreservation NAME</c>: "DATASET\tVOLSIZE\tREFRESERVATION"
    /// per zvol. A line that is not three fields of which the last two are byte counts is skipped
    /// (libvirt skips it too, after reporting "malformed volsize reported").
    /// </summary>
    public static IReadOnlyList<ZvolListing> ParseVolumeList(string output)
    {
        var volumes = new List<ZvolListing>();
        foreach (var line in (output ?? string.Empty).Split('\n'))
        {
            if (TryParseVolumeLine(line, out var volume))
            {
                volumes.Add(volume);
            }
        }

        return volumes;
    }

    /// <summary>One line of <see cref="ParseVolumeList"/>'s listing.</summary>
    public static bool TryParseVolumeLine(string line, out ZvolListing volume)
    {
        volume = default;
        var fields = (line ?? string.Empty).Split('\t');
        if (fields.Length != 3 || fields[0].Length == 0 || Bytes(fields[1]) is not { } volsize || Bytes(fields[2]) is not { } reservation)
        {
            return false;
        }

        volume = new ZvolListing(fields[0], volsize, reservation);
        return true;
    }

    /// <summary>
    /// The old CLI's stand-in for the volume listing, <c>zfs get -Hp -r -o name,property,value
    /// type,volsize,refreservation NAME</c> (its <c>zfs list</c> has no <c>-p</c>, its <c>zfs get</c>
    /// no <c>-t</c>): "DATASET\tPROPERTY\tVALUE" lines; the datasets of type volume whose volsize and
    /// refreservation are byte counts, in the order listed. Filesystems (volsize "-") are left out.
    /// </summary>
    public static IReadOnlyList<ZvolListing> ParseVolumeProperties(string output)
    {
        var order = new List<string>();
        var properties = new Dictionary<string, Dictionary<string, string>>(StringComparer.Ordinal);
        foreach (var line in (output ?? string.Empty).Split('\n'))
        {
            var fields = line.Split('\t');
            if (fields.Length != 3 || fields[0].Length == 0)
            {
                continue;
            }

            if (!properties.TryGetValue(fields[0], out var values))
            {
                values = new Dictionary<string, string>(StringComparer.Ordinal);
                properties[fields[0]] = values;
                order.Add(fields[0]);
            }

            values[fields[1]] = fields[2];
        }

        var volumes = new List<ZvolListing>();
        foreach (var dataset in order)
        {
            var values = properties[dataset];
            if (values.GetValueOrDefault("type") == "volume"
                && Bytes(values.GetValueOrDefault("volsize")) is { } volsize
                && Bytes(values.GetValueOrDefault("refreservation")) is { } reservation)
            {
                volumes.Add(new ZvolListing(dataset, volsize, reservation));
            }
        }

        return volumes;
    }

    /// <summary>
    /// <c>zfs get -Hp -o property,value volsize,volblocksize,refreservation DATASET</c>: "PROPERTY\tVALUE"
    /// lines. False when any of the three is not a byte count: a filesystem's volsize and volblocksize
    /// are "-", so false means "not a zvol" (or text this parser does not know).
    /// </summary>
    public static bool TryParseVolumeSizes(string output, out ZvolSizes sizes)
    {
        sizes = default;
        ulong? volsize = null, blocksize = null, reservation = null;
        foreach (var line in (output ?? string.Empty).Split('\n'))
        {
            var fields = line.Split('\t');
            if (fields.Length != 2)
            {
                continue;
            }

            switch (fields[0])
            {
                case "volsize":
                    volsize = Bytes(fields[1]);
                    break;
                case "volblocksize":
                    blocksize = Bytes(fields[1]);
                    break;
                case "refreservation":
                    reservation = Bytes(fields[1]);
                    break;
            }
        }

        if (volsize is not { } v || blocksize is not ({ } b and > 0) || reservation is not { } r)
        {
            return false;
        }

        sizes = new ZvolSizes(v, b, r);
        return true;
    }

    /// <summary>
    /// A size as zfs_nicenum prints it: a plain byte count below 1024 ("512"), else a number with one
    /// of the suffixes K M G T P E (powers of 1024) and up to two decimals ("123M", "90.7M", "1.88G").
    /// <paramref name="exact"/> is true when the text names the bytes exactly: no suffix, or a whole
    /// number of one or two digits (zfs_nicenum gives a non-multiple decimals while they fit in five
    /// characters, so only "123M" and "1023M" can be rounded without showing it). Otherwise the value
    /// is the printed number's nearest byte, within 0.5 % of the truth.
    /// </summary>
    public static bool TryParseNiceNumber(string text, out ulong bytes, out bool exact)
    {
        bytes = 0;
        exact = false;
        if (string.IsNullOrEmpty(text))
        {
            return false;
        }

        var shift = "KMGTPE".IndexOf(text[^1], StringComparison.Ordinal) is var unit and >= 0 ? 10 * (unit + 1) : 0;
        var number = shift == 0 ? text : text[..^1];
        if (number.Length == 0 || !decimal.TryParse(number, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var value))
        {
            return false;
        }

        var scaled = value * (1UL << shift);
        if (scaled > ulong.MaxValue)
        {
            return false;
        }

        bytes = (ulong)Math.Round(scaled, MidpointRounding.AwayFromZero);

        exact = shift == 0 || (!number.Contains('.', StringComparison.Ordinal) && number.Length <= 2);
        return true;
    }

    /// <summary>A byte count as <c>-p</c> prints it (digits only), else null.</summary>
    private static ulong? Bytes(string? text)
        => text is { Length: > 0 } && ulong.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) ? value : null;
}
