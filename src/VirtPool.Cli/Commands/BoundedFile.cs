using Microsoft.Win32.SafeHandles;
using VirtPool.Core.Errors;
using VirtPool.Core.Interop;

namespace VirtPool.Cli.Commands;

/// <summary>
/// libvirt's virFileReadAll, as virsh reads the files its commands name (XML, secret values): at most
/// a limit, read rather than trusted from the file's size (so /dev/zero or a pipe is refused once the
/// limit is passed, not read until memory runs out), with libvirt's messages on failure.
/// </summary>
internal static class BoundedFile
{
    /// <summary>virsh's limit for XML files (VSH_MAX_XML_FILE).</summary>
    public const int MaxXmlFile = 10 * 1024 * 1024;

    /// <summary>
    /// The file's bytes; "Failed to open file" when it cannot be opened, "Failed to read file … Value too
    /// large for defined data type" past <paramref name="maxLength"/>, "Failed to read file … Is a
    /// directory" (and any other read failure) as libvirt words them.
    /// </summary>
    public static byte[] ReadAll(string path, int maxLength)
    {
        var fd = LibC.Open(path, LibC.O_RDONLY | LibC.O_CLOEXEC, 0);
        if (fd < 0)
        {
            throw VirtPoolException.Verbatim(VirErrorCode.SystemError, $"Failed to open file '{path}': {StrError.Describe(LibC.Errno)}");
        }

        try
        {
            using var stream = new FileStream(new SafeFileHandle(fd, ownsHandle: true), FileAccess.Read, bufferSize: 0);
            var buffer = new byte[Math.Min(maxLength + 1, 64 * 1024)];
            using var content = new MemoryStream();
            int n;
            while (content.Length <= maxLength && (n = stream.Read(buffer, 0, (int)Math.Min(buffer.Length, maxLength + 1 - content.Length))) > 0)
            {
                content.Write(buffer, 0, n);
            }

            if (content.Length > maxLength)
            {
                // virFileReadLimFD's errno for "at least one byte more than the limit".
                throw VirtPoolException.Verbatim(VirErrorCode.SystemError, $"Failed to read file '{path}': {StrError.Describe(Errno.EOVERFLOW)}");
            }

            return content.ToArray();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw VirtPoolException.Verbatim(VirErrorCode.SystemError, $"Failed to read file '{path}': {StrError.Describe(ex)}");
        }
    }
}
