namespace VirtPool.Cli.Parsing;

internal enum TokenKind
{
    /// <summary>A word (possibly empty).</summary>
    Arg,

    /// <summary>A ';', a newline or a comment ended the current command (string mode only).</summary>
    CommandEnd,

    /// <summary>No more input.</summary>
    End,
}

/// <summary>Where the command parser takes its words from (virsh's vshCommandParser.getNextArg).</summary>
internal interface ITokenSource
{
    /// <summary>The next word. Throws <see cref="VirshUsageException"/> on a quoting error.</summary>
    TokenKind Next(out string token);
}

/// <summary>Words are the process arguments, one per word (vshCommandArgvGetArg).</summary>
internal sealed class ArgvTokenSource(IReadOnlyList<string> args) : ITokenSource
{
    private int _next;

    public TokenKind Next(out string token)
    {
        if (_next >= args.Count)
        {
            token = string.Empty;
            return TokenKind.End;
        }

        token = args[_next++];
        return TokenKind.Arg;
    }
}

/// <summary>
/// Words split from one string the way virsh's shell does (vshCommandStringGetArg): blanks separate
/// words; ';' and newlines separate commands; '#' at the start of a word comments out the rest of the
/// line; single quotes are literal; a backslash escapes the next character outside single quotes;
/// double quotes group; backslash-newline is removed.
/// </summary>
internal sealed class StringTokenSource(string text) : ITokenSource
{
    private int _pos;

    public TokenKind Next(out string token)
    {
        token = string.Empty;
        var p = _pos;
        while (p < text.Length && (text[p] == ' ' || text[p] == '\t' || (text[p] == '\\' && p + 1 < text.Length && text[p + 1] == '\n')))
        {
            p += text[p] == '\\' ? 2 : 1;
        }

        if (p >= text.Length)
        {
            _pos = p;
            return TokenKind.End;
        }

        if (text[p] is ';' or '\n')
        {
            _pos = p + 1;
            return TokenKind.CommandEnd;
        }

        if (text[p] == '#')
        {
            while (p < text.Length && text[p] != '\n')
            {
                p++;
            }

            _pos = p < text.Length ? p + 1 : p;
            return TokenKind.CommandEnd;
        }

        var word = new System.Text.StringBuilder();
        var singleQuote = false;
        var doubleQuote = false;
        while (p < text.Length)
        {
            var c = text[p];
            if (!singleQuote && !doubleQuote && (c is ' ' or '\t' or ';' or '\n'))
            {
                break;
            }

            if (!doubleQuote && c == '\'')
            {
                singleQuote = !singleQuote;
                p++;
                continue;
            }

            if (!singleQuote && c == '\\')
            {
                p++;
                if (p >= text.Length)
                {
                    throw new VirshUsageException("dangling \\");
                }

                if (text[p] == '\n')
                {
                    p++;
                    continue;
                }
            }
            else if (!singleQuote && c == '"')
            {
                doubleQuote = !doubleQuote;
                p++;
                continue;
            }

            word.Append(text[p]);
            p++;
        }

        if (doubleQuote)
        {
            throw new VirshUsageException("missing \"");
        }

        _pos = p;
        token = word.ToString();
        return TokenKind.Arg;
    }
}
