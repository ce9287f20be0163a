using System.Security.Cryptography;
using System.Text;
using VirtPool.Cli.Output;
using VirtPool.Core.Errors;
using VirtPool.Core.Interop;
using VirtPool.Core.Process;
using VirtPool.Formats;

namespace VirtPool.Cli.Commands;

/// <summary>How an edit ended.</summary>
internal enum XmlEditResult
{
    /// <summary>The editor left the document as it was: nothing was defined.</summary>
    NotChanged,

    /// <summary>The edited document was defined.</summary>
    Edited,

    /// <summary>A define failed and the user answered n: the changes are thrown away.</summary>
    Abandoned,
}

/// <summary>
/// virsh's edit round trip (virsh-edit.c with vsh.c's helpers): the object's XML goes to
/// <c>$TMPDIR/virshXXXXXX.xml</c> (0600), <c>$VISUAL</c>, else <c>$EDITOR</c>, else <c>vi</c> edits it, an
/// unchanged file defines nothing, a changed one is defined after checking nobody else changed the
/// object meanwhile. When that fails and stdin is a terminal, virsh's question
/// "Failed. Try again? [y,n,f,?]" decides: edit again, define again, or give up.
/// <para>
/// One deliberate difference: without a terminal virsh 9.0 prints "error: Failed." and then reports
/// success ("Pool (null) XML configuration edited.", exit 0); VirtPool fails the command with the
/// cause (exit 1), as virsh does when the question is answered n.
/// </para>
/// </summary>
internal static class XmlEditSession
{
    /// <summary>vsh.c's ACCEPTED_CHARS: an editor made only of these runs directly, anything else through sh -c.</summary>
    private const string AcceptedChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-/_.:@";

    private const string TempNameChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

    private const string ChangedByAnotherUser = "The XML configuration was changed by another user.";
    private const string Failed = "Failed.";

    /// <summary>
    /// Runs the round trip. <paramref name="getXml"/> reads the object's current definition,
    /// <paramref name="define"/> defines an edited one and returns the name it got.
    /// </summary>
    public static async Task<(XmlEditResult Result, string? DefinedName)> RunAsync(
        VirshConsole console, Func<Task<string>> getXml, Func<string, Task<string>> define, CancellationToken ct)
    {
        var doc = await getXml().ConfigureAwait(false);
        var terminal = TerminalPrompt.Capture();
        var tmp = WriteTempFile(doc);
        try
        {
            while (true)
            {
                // reedit:
                await RunEditorAsync(console, tmp).ConfigureAwait(false);
                ct.ThrowIfCancellationRequested();
                var edited = ReadBack(tmp);
                if (edited == doc)
                {
                    return (XmlEditResult.NotChanged, null);
                }

                while (true)
                {
                    // redefine: did someone else change the object while it was being edited?
                    string message;
                    VirtPoolException? cause = null;
                    var reread = await getXml().ConfigureAwait(false);
                    if (reread != doc)
                    {
                        message = ChangedByAnotherUser;
                        doc = reread;
                    }
                    else
                    {
                        try
                        {
                            return (XmlEditResult.Edited, await define(edited).ConfigureAwait(false));
                        }
                        catch (VirtPoolException ex)
                        {
                            message = Failed;
                            cause = ex;
                        }
                    }

                    if (terminal is null)
                    {
                        throw new CommandFailedException(message, cause);
                    }

                    if (cause is not null)
                    {
                        console.Error(cause.Message);
                    }

                    var answer = terminal.AskReedit(console, message) ?? throw new CommandFailedException(message);
                    if (answer == 'n')
                    {
                        return (XmlEditResult.Abandoned, null);
                    }

                    if (answer == 'y')
                    {
                        break;
                    }

                    // 'f': define the same edited document again
                }
            }
        }
        finally
        {
            try
            {
                File.Delete(tmp);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // virsh ignores unlink's failure too
            }
        }
    }

    /// <summary>vshEditWriteToTempFile: $TMPDIR/virshXXXXXX.xml created exclusively, mode 0600.</summary>
    private static string WriteTempFile(string doc)
    {
        var dir = Environment.GetEnvironmentVariable("TMPDIR") ?? "/tmp";
        var bytes = new UTF8Encoding(false).GetBytes(doc);
        const int Attempts = 100;
        for (var attempt = 1; ; attempt++)
        {
            var path = $"{dir}/virsh{RandomNumberGenerator.GetString(TempNameChars, 6)}.xml";
            FileStream stream;
            try
            {
                stream = new FileStream(path, new FileStreamOptions
                {
                    Mode = FileMode.CreateNew,
                    Access = FileAccess.Write,
                    UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
                });
            }
            catch (IOException ex) when (attempt < Attempts && ex is not (DirectoryNotFoundException or PathTooLongException) && File.Exists(path))
            {
                continue;
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                throw new CommandFailedException($"g_mkstemp_full: failed to create temporary file: {StrError.Describe(ex)}");
            }

            try
            {
                using (stream)
                {
                    stream.Write(bytes);
                }
            }
            catch (IOException ex)
            {
                File.Delete(path);
                throw new CommandFailedException($"write: {path}: failed to write to temporary file: {StrError.Describe(ex)}");
            }

            return path;
        }
    }

    /// <summary>vshEditFile: the editor directly when its name is plain, else <c>sh -c "EDITOR FILE"</c>.</summary>
    private static async Task RunEditorAsync(VirshConsole console, string file)
    {
        var editor = Environment.GetEnvironmentVariable("VISUAL") ?? Environment.GetEnvironmentVariable("EDITOR") ?? "vi";
        string[] argv;
        if (!IsPlain(editor))
        {
            if (!IsPlain(file))
            {
                throw new CommandFailedException($"{file}: temporary filename contains shell meta or other unacceptable characters (is $TMPDIR wrong?)");
            }

            argv = ["sh", "-c", $"{editor} {file}"];
        }
        else
        {
            argv = [editor, file];
        }

        // virCommandRunAsync: a relative name is looked up in $PATH first; an absolute one is exec'd
        // by the child, which reports its own failure and exits 126 or 127.
        string binary;
        if (argv[0].StartsWith('/'))
        {
            binary = argv[0];
        }
        else
        {
            binary = FindInPath(argv[0])
                ?? throw VirtPoolException.System($"Cannot find '{argv[0]}' in path", Errno.ENOENT);
        }

        console.Flush();
        int status;
        var execError = ExecError(binary);
        if (execError != 0)
        {
            status = ReportExecFailure(console, argv[0], execError);
        }
        else
        {
            try
            {
                status = await ProcessRunner.Instance.RunAttachedAsync([ProgramToStart(argv[0], binary), .. argv[1..]]).ConfigureAwait(false);
            }
            catch (System.ComponentModel.Win32Exception ex)
            {
                status = ReportExecFailure(console, argv[0], ex.NativeErrorCode);
            }
        }

        if (status != 0)
        {
            throw ChildProcessErrors.UnexpectedExit(argv, new ProcessResult(status, string.Empty, string.Empty));
        }
    }

    /// <summary>
    /// .NET passes the program it is given as argv[0], which is what sh's messages and vi's mode go by:
    /// the name as typed, as libvirt passes it, unless .NET would find another file of that name before
    /// $PATH (in its own folder or the working folder); then the path found in $PATH.
    /// </summary>
    private static string ProgramToStart(string name, string foundInPath)
    {
        if (name.Contains('/', StringComparison.Ordinal))
        {
            return name;
        }

        var ownFolder = Path.GetDirectoryName(Environment.ProcessPath);
        var shadowed = (ownFolder is not null && File.Exists(Path.Combine(ownFolder, name)))
            || File.Exists(Path.Combine(Environment.CurrentDirectory, name));
        return shadowed ? foundInPath : name;
    }

    /// <summary>What libvirt's child prints when exec fails (its error on stderr), and the status it exits with.</summary>
    private static int ReportExecFailure(VirshConsole console, string program, int errno)
    {
        console.ErrorRaw($"libvirt:  error : cannot execute binary {program}: {StrError.Describe(errno)}\n");
        return errno == Errno.ENOENT ? 127 : 126;
    }

    /// <summary>The errno exec would fail with for a file that is missing or not executable, else 0.</summary>
    private static int ExecError(string path)
    {
        if (!FileStat.TryStat(path, out var st, out var errno))
        {
            return errno;
        }

        return IsExecutableFile(st) ? 0 : Errno.EACCES;
    }

    /// <summary>virFindFileInPath: a name with a slash is taken as it is, else each $PATH folder is tried.</summary>
    private static string? FindInPath(string name)
    {
        if (name.Contains('/', StringComparison.Ordinal))
        {
            return IsExecutable(name) ? Path.GetFullPath(name) : null;
        }

        var searchPath = Environment.GetEnvironmentVariable("PATH") ?? "/bin:/usr/bin";
        foreach (var dir in searchPath.Split(':'))
        {
            var candidate = Path.Combine(dir, name);
            if (IsExecutable(candidate))
            {
                return candidate;
            }
        }

        return null;
    }

    private static bool IsExecutable(string path) => FileStat.TryStat(path, out var st, out _) && IsExecutableFile(st);

    private static bool IsExecutableFile(FileStat st) => (st.Mode & 0xF000) == 0x8000 && (st.Mode & 0x49) != 0;

    private static bool IsPlain(string text)
    {
        foreach (var c in text)
        {
            if (!AcceptedChars.Contains(c, StringComparison.Ordinal))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// vshEditReadBackFile: virsh's own message, then the one virFileReadAll reported (open failures
    /// as "Failed to open file", a file over 10 MiB (EOVERFLOW) or a failed read as "Failed to read file").
    /// </summary>
    private static string ReadBack(string path)
    {
        FileStream stream;
        try
        {
            stream = new FileStream(path, FileMode.Open, FileAccess.Read);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw ReadBackFailed(path, StrError.Describe(ex), VirtPoolException.System($"Failed to open file '{path}'", ex));
        }

        using (stream)
        {
            try
            {
                if (stream.Length > BoundedFile.MaxXmlFile)
                {
                    // virFileReadLimFD's errno for "at least one byte more than the limit"
                    var tooLong = StrError.Describe(Errno.EOVERFLOW);
                    throw ReadBackFailed(path, tooLong, VirtPoolException.System($"Failed to read file '{path}'", Errno.EOVERFLOW));
                }

                using var reader = new StreamReader(stream, new UTF8Encoding(false));
                return reader.ReadToEnd();
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                throw ReadBackFailed(path, StrError.Describe(ex), VirtPoolException.System($"Failed to read file '{path}'", ex));
            }
        }
    }

    private static CommandFailedException ReadBackFailed(string path, string reason, VirtPoolException cause)
        => new($"{path}: failed to read temporary file: {reason}", cause);
}
