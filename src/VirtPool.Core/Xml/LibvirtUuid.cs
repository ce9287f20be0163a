namespace VirtPool.Core.Xml;

/// <summary>UUIDs as libvirt reads and writes them in XML, on virsh's command line and in secret files (viruuid.c).</summary>
public static class LibvirtUuid
{
    /// <summary>
    /// virUUIDParse: exactly 32 hex digits, with '-' or ' ' allowed anywhere between digit pairs (not
    /// inside one), and white space around them (g_ascii_isspace: no vertical tab).
    /// </summary>
    public static bool TryParse(string text, out Guid uuid)
    {
        ArgumentNullException.ThrowIfNull(text);
        uuid = Guid.Empty;
        Span<char> hex = stackalloc char[32];
        var i = 0;
        while (i < text.Length && IsGlibSpace(text[i]))
        {
            i++;
        }

        for (var n = 0; n < hex.Length;)
        {
            if (i >= text.Length)
            {
                return false;
            }

            if (text[i] is '-' or ' ')
            {
                i++;
                continue;
            }

            if (i + 1 >= text.Length || !char.IsAsciiHexDigit(text[i]) || !char.IsAsciiHexDigit(text[i + 1]))
            {
                return false;
            }

            hex[n++] = text[i++];
            hex[n++] = text[i++];
        }

        for (; i < text.Length; i++)
        {
            if (!IsGlibSpace(text[i]))
            {
                return false;
            }
        }

        uuid = Guid.ParseExact(hex, "N");
        return true;
    }

    /// <summary>virUUIDFormat: lowercase 8-4-4-4-12.</summary>
    public static string Format(Guid uuid) => uuid.ToString("D");

    // g_ascii_isspace, which libvirt 9.0 uses here: unlike C's isspace, not '\v'.
    private static bool IsGlibSpace(char c) => c is ' ' or '\t' or '\n' or '\f' or '\r';
}
