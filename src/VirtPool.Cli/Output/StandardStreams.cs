using System.Runtime.InteropServices;
using System.Text;

namespace VirtPool.Cli.Output;

/// <summary>
/// The process's stdout and stderr as plain write(2) on fds 1 and 2. .NET's console streams set the
/// terminal up on first write when stdin is one (they emit the keypad-transmit sequence "ESC[?1h ESC="),
/// so virtpool on a terminal would print bytes virsh never prints and leave the cursor keys in
/// application mode; these streams write exactly the bytes given.
/// </summary>
internal static partial class StandardStreams
{
    private static readonly UTF8Encoding Utf8NoBom = new(encoderShouldEmitUTF8Identifier: false);

    private static readonly Lazy<TextWriter> ErrorWriter = new(() => CreateWriter(2, autoFlush: true));

    /// <summary>fd 1, unbuffered.</summary>
    public static Stream OpenOutput() => new FdWriteStream(1);

    /// <summary>fd 2, unbuffered.</summary>
    public static Stream OpenError() => new FdWriteStream(2);

    /// <summary>UTF-8 (no byte-order mark) on fd 1 or 2, "\n" line ends.</summary>
    public static StreamWriter CreateWriter(int fd, bool autoFlush)
        => new(new FdWriteStream(fd), Utf8NoBom) { AutoFlush = autoFlush, NewLine = "\n" };

    /// <summary>One shared writer on stderr, flushed on every write (progress bars).</summary>
    public static TextWriter Error => ErrorWriter.Value;

    /// <summary>Write-only, unseekable, no buffer of its own: every Write is write(2) until done.</summary>
    private sealed partial class FdWriteStream(int fd) : Stream
    {
        private const int EINTR = 4;
        private const int EAGAIN = 11;
        private const int EPIPE = 32;

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => throw new NotSupportedException();
            set => throw new NotSupportedException();
        }

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            while (!buffer.IsEmpty)
            {
                var written = WriteFd(fd, ref MemoryMarshal.GetReference(buffer), buffer.Length);
                if (written > 0)
                {
                    buffer = buffer[(int)written..];
                    continue;
                }

                var errno = Marshal.GetLastPInvokeError();
                if (written < 0 && errno is EINTR or EAGAIN)
                {
                    continue;
                }

                // A reader that went away (| head) is not an error of the command's, as for .NET's
                // console streams; anything else is reported.
                if (written < 0 && errno == EPIPE)
                {
                    return;
                }

                throw new IOException($"write to fd {fd} failed: {Marshal.GetPInvokeErrorMessage(errno)}", errno);
            }
        }

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        [LibraryImport("libc", EntryPoint = "write", SetLastError = true)]
        private static partial nint WriteFd(int fd, ref byte buffer, nint count);
    }
}
