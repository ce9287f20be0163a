using System.Runtime.InteropServices;

namespace VirtPool.Cli.Output;

/// <summary>
/// virsh's one-key questions on the terminal (vshAskReedit): stdin is put in raw mode (vshTTYMakeRaw:
/// cfmakeraw, TCSAFLUSH) so one key answers without Enter and is not echoed, then restored to what it
/// was when the command started. Only exists when stdin is a terminal, as virsh asks only then.
/// </summary>
internal sealed partial class TerminalPrompt
{
    private const int StdinFd = 0;
    private const int TcsaFlush = 2;

    // struct termios is 60 bytes on Linux (glibc, x86-64 and arm64); it is only copied and handed back.
    private const int TermiosBufferSize = 128;

    private readonly byte[] _saved;

    private TerminalPrompt(byte[] saved)
    {
        _saved = saved;
    }

    /// <summary>The terminal's settings now (vshInit keeps them to restore after each question), or null when stdin is not a terminal.</summary>
    public static TerminalPrompt? Capture()
    {
        if (IsATty(StdinFd) != 1)
        {
            return null;
        }

        var saved = new byte[TermiosBufferSize];
        return TcGetAttr(StdinFd, ref saved[0]) == 0 ? new TerminalPrompt(saved) : null;
    }

    /// <summary>
    /// "\rMSG Try again? [y,n,f,?]: " until y, n or f (any case) is typed; '?' lists the answers. Returns
    /// the answer in lower case, 'n' when stdin ends, or null when the terminal cannot be made raw.
    /// </summary>
    public char? AskReedit(VirshConsole console, string message)
    {
        var raw = (byte[])_saved.Clone();
        CfMakeRaw(ref raw[0]);
        if (TcSetAttr(StdinFd, TcsaFlush, ref raw[0]) != 0)
        {
            return null;
        }

        char answer;
        try
        {
            while (true)
            {
                console.Print($"\r{message} Try again? [y,n,f,?]: ");
                console.Flush();
                var key = ReadKey();
                if (key < 0)
                {
                    // virsh would ask forever on a closed stdin; nothing more will be typed
                    answer = 'n';
                    break;
                }

                answer = char.ToLowerInvariant((char)key);
                if (answer == '?')
                {
                    console.Print("\r\ny - yes, start editor again\r\nn - no, throw away my changes\r\n"
                        + "f - force, try to redefine again\r\n? - print this help\r\n");
                    continue;
                }

                if (answer is 'y' or 'n' or 'f')
                {
                    break;
                }
            }
        }
        finally
        {
            TcSetAttr(StdinFd, TcsaFlush, ref _saved[0]);
        }

        console.Print("\r\n");
        return answer;
    }

    private static int ReadKey()
    {
        byte key = 0;
        while (true)
        {
            var n = Read(StdinFd, ref key, 1);
            if (n == 1)
            {
                return key;
            }

            if (n == 0 || Marshal.GetLastPInvokeError() != 4 /* EINTR */)
            {
                return -1;
            }
        }
    }

    [LibraryImport("libc", EntryPoint = "isatty")]
    private static partial int IsATty(int fd);

    [LibraryImport("libc", EntryPoint = "tcgetattr", SetLastError = true)]
    private static partial int TcGetAttr(int fd, ref byte termios);

    [LibraryImport("libc", EntryPoint = "tcsetattr", SetLastError = true)]
    private static partial int TcSetAttr(int fd, int optionalActions, ref byte termios);

    [LibraryImport("libc", EntryPoint = "cfmakeraw")]
    private static partial void CfMakeRaw(ref byte termios);

    [LibraryImport("libc", EntryPoint = "read", SetLastError = true)]
    private static partial nint Read(int fd, ref byte buffer, nint count);
}
