using System.Runtime.InteropServices;

namespace VirtPool.Formats.Interop;

/// <summary>libc calls the prober needs beyond VirtPool.Core's LibC.</summary>
internal static partial class NativeFile
{
    public const int SEEK_END = 2;

    [LibraryImport("libc", EntryPoint = "lseek", SetLastError = true)]
    public static partial long LSeek(int fd, long offset, int whence);
}
