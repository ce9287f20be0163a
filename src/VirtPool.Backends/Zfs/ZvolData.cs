using System.Globalization;

namespace VirtPool.Backends.Zfs;

/// <summary>
/// A zvol's backend note (VolumeDefinition.BackendData): volsize and refreservation as the last listing
/// gave them, and the dataset, so vol-info and vol-dumpxml of an active pool run no zfs command (libvirt
/// shows what its last refresh saw, too). Text "VOLSIZE REFRESERVATION DATASET".
/// </summary>
internal static class ZvolData
{
    public static string Format(ZvolListing zvol)
        => string.Create(CultureInfo.InvariantCulture, $"{zvol.VolSize} {zvol.RefReservation} {zvol.Dataset}");

    public static bool TryParse(string? text, out ZvolListing zvol)
    {
        zvol = default;
        var parts = (text ?? string.Empty).Split(' ', 3);
        if (parts.Length != 3 || parts[2].Length == 0
            || !ulong.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var volsize)
            || !ulong.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var reservation))
        {
            return false;
        }

        zvol = new ZvolListing(parts[2], volsize, reservation);
        return true;
    }
}
