using System.Runtime.InteropServices;

namespace VirtPool.Core.Interop;

/// <summary>strerror texts, as libvirt prints them after "what failed: ".</summary>
public static class StrError
{
    public static string Describe(int errno) => Marshal.GetPInvokeErrorMessage(errno);

    public static string Describe(Exception ex) => ex switch
    {
        FileNotFoundException or DirectoryNotFoundException => Describe(Errno.ENOENT),
        UnauthorizedAccessException => Describe(Errno.EACCES),
        // On Unix the runtime stores the raw errno in HResult for IO errors it maps itself.
        IOException io when io.HResult is > 0 and < 4096 => Describe(io.HResult),
        _ => ex.Message,
    };
}

/// <summary>The errno values the storage code tests for (Linux numbering).</summary>
public static class Errno
{
    public const int EPERM = 1;
    public const int ENOENT = 2;
    public const int EINTR = 4;
    public const int EIO = 5;
    public const int ENXIO = 6;
    public const int EBADF = 9;
    public const int EAGAIN = 11;
    public const int EACCES = 13;
    public const int EBUSY = 16;
    public const int EEXIST = 17;
    public const int EXDEV = 18;
    public const int ENOTDIR = 20;
    public const int EISDIR = 21;
    public const int EINVAL = 22;
    public const int ENFILE = 23;
    public const int EMFILE = 24;
    public const int EFBIG = 27;
    public const int ENOSPC = 28;
    public const int ENAMETOOLONG = 36;
    public const int ENOSYS = 38;
    public const int ENOTEMPTY = 39;
    public const int ELOOP = 40;
    public const int EOVERFLOW = 75;
    public const int EOPNOTSUPP = 95;
}
