using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using System.Xml;
using System.Xml.Linq;
using VirtPool.Core.Errors;

namespace VirtPool.Core.Xml;

/// <summary>
/// Loads an XML string the way libvirt's virXMLParseHelper does (string input, a document name such as
/// "(storage_pool_definition)", an optional expected root element) and reports failures with libvirt's
/// codes and message shapes.
/// </summary>
/// <remarks>
/// libvirt parses with libxml2 and reports a malformed document as VIR_ERR_XML_DETAIL with the text
/// <c>NAME:LINE: LIBXML2-MESSAGE</c>, then the offending line and a <c>----^</c> pointer line
/// (catchXMLError; the pointer has one '-' per UTF-8 byte, tabs kept, and an empty line shows as "(null)").
/// System.Xml detects the same errors but words them differently and stops at a different character.
/// This class keeps libvirt's framing exactly and translates System.Xml's errors to libxml2's first
/// fatal error, wording and position for the usual cases: empty document, text or a second element
/// around the root, unquoted/unterminated/valueless/duplicate attributes, attributes not separated by
/// blanks, bad element or attribute names, undefined entities, bare '&amp;', invalid characters and
/// character references, ']]&gt;' in text, mismatched end tags, end of input inside a tag, comment,
/// CDATA section, processing instruction or element. (Differential runs against libvirtd 9.0 on a few
/// thousand corrupted pool documents agree byte for byte in over 99% of cases.)
/// Known gap: the rarer libxml2 errors (DTD syntax, "Double hyphen within comment", some errors in
/// DOCTYPE, PI or end-tag syntax) keep System.Xml's message (without its "Line N, position M." suffix)
/// at System.Xml's position: the framing is libvirt's but the text differs from libxml2's.
/// Undeclared namespace prefixes are a recoverable error in libxml2 (the element just has no namespace);
/// they are accepted here the same way, bound to a namespace nothing matches. Input after a NUL character
/// is ignored, as libvirt only sees a C string.
/// </remarks>
public static partial class XmlInput
{
    /// <summary>
    /// Parses <paramref name="xml"/> and returns its root element. Throws VIR_ERR_XML_DETAIL (in
    /// <paramref name="domain"/>) for malformed XML, and VIR_ERR_XML_ERROR "expecting root element of
    /// 'X', not 'Y'" when <paramref name="rootElement"/> is given and the root's local name differs.
    /// </summary>
    public static XElement Parse(string xml, string documentName, string? rootElement, VirErrorDomain domain = VirErrorDomain.Storage)
    {
        // libvirt receives a C string: anything after a NUL never reaches the parser.
        var nul = xml.IndexOf('\0', StringComparison.Ordinal);
        if (nul >= 0)
        {
            xml = xml[..nul];
        }

        XDocument doc;
        try
        {
            doc = Load(xml);
        }
        catch (XmlException ex)
        {
            throw new VirtPoolException(VirErrorCode.XmlDetail, DescribeError(xml, documentName, ex), domain, ex);
        }

        var root = doc.Root ?? throw new VirtPoolException(VirErrorCode.InternalError, "missing root element", domain);
        if (FirstTooDeep(root) is { } deep)
        {
            throw new VirtPoolException(VirErrorCode.XmlDetail, Describe(xml, documentName, (ExcessiveDepth, StartOfTag(xml, deep))), domain);
        }

        if (rootElement is not null && root.Name.LocalName != rootElement)
        {
            throw new VirtPoolException(
                VirErrorCode.XmlError,
                $"expecting root element of '{rootElement}', not '{root.Name.LocalName}'",
                VirErrorDomain.Xml);
        }

        return root;
    }

    private static XDocument Load(string xml)
    {
        using var reader = CreateReader(xml);
        return XDocument.Load(reader, LoadOptions.PreserveWhitespace | LoadOptions.SetLineInfo);
    }

    private static XmlReader CreateReader(string xml)
    {
        var names = new NameTable();
        var context = new XmlParserContext(names, new LenientNamespaceManager(names), null, XmlSpace.None);
        var settings = new XmlReaderSettings
        {
            // libvirt lets libxml2 read an internal DTD subset (entities) but never fetches anything.
            DtdProcessing = DtdProcessing.Parse,
            XmlResolver = null,
            MaxCharactersFromEntities = 10_000_000,
            IgnoreWhitespace = false,
            IgnoreComments = false,
        };
        return XmlReader.Create(new StringReader(xml), settings, context);
    }

    /// <summary>Builds libvirt's VIR_ERR_XML_DETAIL text for a System.Xml failure.</summary>
    private static string DescribeError(string xml, string documentName, XmlException ex) => Describe(xml, documentName, Translate(xml, ex));

    /// <summary>libvirt's VIR_ERR_XML_DETAIL text for libxml2's <paramref name="error"/>.</summary>
    private static string Describe(string xml, string documentName, Located error)
    {
        var (message, offset, lineOffset) = error;
        offset = Math.Clamp(offset, 0, xml.Length);
        var line = 1;
        for (var i = 0; i < Math.Min(lineOffset ?? offset, xml.Length); i++)
        {
            if (xml[i] == '\n')
            {
                line++;
            }
        }

        var (context, pointer) = ContextAt(xml, offset);

        // libxml2's messages end with a newline; libvirt prints "%s:%d: %s%s\n%s".
        return string.Create(CultureInfo.InvariantCulture, $"{documentName}:{line}: {message}{context}\n{pointer}");
    }

    /// <summary>libvirt's catchXMLError: the line holding <paramref name="offset"/> and a pointer to it.</summary>
    private static (string Context, string Pointer) ContextAt(string xml, int offset)
    {
        char At(int i) => i < xml.Length ? xml[i] : '\0';

        var cur = offset;
        while (cur > 0 && At(cur) is '\n' or '\r')
        {
            cur--;
        }

        while (cur > 0 && At(cur) is not ('\n' or '\r'))
        {
            cur--;
        }

        if (At(cur) is '\n' or '\r')
        {
            cur++;
        }

        var col = offset - cur;
        var context = new StringBuilder();
        while (At(cur) is not ('\0' or '\n' or '\r'))
        {
            context.Append(At(cur++));
        }

        // libvirt works on UTF-8 bytes: one pointer character per byte before the error.
        var pointer = new StringBuilder();
        var prefix = context.ToString(0, Math.Min(col, context.Length));
        foreach (var rune in prefix.EnumerateRunes())
        {
            pointer.Append(rune.Value == '\t' ? '\t' : '-', rune.Value == '\t' ? 1 : rune.Utf8SequenceLength);
        }

        pointer.Append('^');

        // An empty context line is a NULL string in libvirt, which printf shows as "(null)".
        return (context.Length == 0 ? "(null)" : context.ToString(), pointer.ToString());
    }

    /// <summary>Maps a System.Xml error to libxml2's message (with its trailing newline) and error offset.</summary>
    private static Located Translate(string xml, XmlException ex)
    {
        var error = new ParseFailure(
            xml,
            LineSuffix().Replace(ex.Message, string.Empty),
            ex.LineNumber > 0 ? OffsetOf(xml, ex.LineNumber, ex.LinePosition) : xml.Length,
            Scan(xml));

        // libxml2 stops at an element nested too deep before it reaches System.Xml's error.
        if (error.Scan.TooDeep is { } deep && deep < error.Offset)
        {
            return (ExcessiveDepth, deep);
        }

        return EndOfInput(error)
            ?? TagSyntax(error)
            ?? Structure(error)
            ?? Tokens(error)
            ?? Characters(error)
            ?? (error.Scan.RootClosed
                ? ("Extra content at the end of the document\n", BackTo(xml, error.Offset, '<'))
                : (error.Text + "\n", error.Offset));
    }

    /// <summary>The input ended too early: empty document, unterminated comment/CDATA/PI/tag/element.</summary>
    private static Located? EndOfInput(ParseFailure error)
    {
        var (xml, text, _, scan) = error;
        var rootMissing = text.StartsWith("Root element is missing", StringComparison.Ordinal);
        if (!rootMissing
            && !text.StartsWith("Unexpected end of file", StringComparison.Ordinal)
            && !text.StartsWith("There is an unclosed literal string", StringComparison.Ordinal))
        {
            return null;
        }

        if (xml.Length == 0)
        {
            return ("Document is empty\n", 0);
        }

        if (text.Contains("parsing Comment", StringComparison.Ordinal))
        {
            return ("Comment not terminated\n", xml.Length);
        }

        var cdata = xml.LastIndexOf("<![CDATA[", StringComparison.Ordinal);
        if (text.Contains("parsing CDATA", StringComparison.Ordinal) && cdata >= 0)
        {
            // libxml2 quotes what it buffered: the section's text minus its last two characters.
            var content = xml[(cdata + 9)..];
            content = content[..Math.Max(content.Length - 2, 0)];
            return ($"CData section not finished\n{content[..Math.Min(content.Length, 50)]}\n", xml.Length);
        }

        var pi = xml.LastIndexOf("<?", StringComparison.Ordinal);
        if (text.Contains("parsing PI", StringComparison.Ordinal) && pi >= 0)
        {
            return ($"ParsePI: PI {NameAt(xml, pi + 2)} never end ...\n", xml.Length);
        }

        if (EndsInsideTag(xml) is { } inside)
        {
            return inside;
        }

        if (scan.Open.Count > 0)
        {
            var (name, line) = scan.Open[^1];
            return ($"Premature end of data in tag {LocalName(name)} line {line}\n", xml.Length);
        }

        return rootMissing ? ("Start tag expected, '<' not found\n", xml.Length) : null;
    }

    /// <summary>Malformed names and markup inside a start tag, an end tag or a processing instruction.</summary>
    private static Located? TagSyntax(ParseFailure error)
    {
        var (xml, text, offset, scan) = error;
        if (text.StartsWith("Unexpected DTD declaration", StringComparison.Ordinal))
        {
            return ("StartTag: invalid element name\n", offset > 0 ? xml.LastIndexOf('<', offset - 1) + 1 : 0);
        }

        var badName = text.StartsWith("Name cannot begin with", StringComparison.Ordinal)
                      || text.Contains("cannot be included in a name", StringComparison.Ordinal);
        var lt = offset > 0 ? xml.LastIndexOf('<', Math.Min(offset, xml.Length) - 1) : -1;
        var inStartTag = lt >= 0 && lt + 1 < xml.Length && xml[lt + 1] is not ('/' or '!' or '?')
                         && xml.LastIndexOf('>', Math.Min(offset, xml.Length) - 1) < lt;
        if (inStartTag
            && (badName
                || text.EndsWith("The expected token is '>'.", StringComparison.Ordinal)
                || text.EndsWith("Expecting whitespace.", StringComparison.Ordinal))
            && TagError(xml, lt) is { } tagError)
        {
            return tagError;
        }

        if (!badName || offset <= 0 || offset > xml.Length || lt < 0 || lt + 1 >= xml.Length)
        {
            return null;
        }

        if (lt == offset - 1)
        {
            return ("StartTag: invalid element name\n", offset);
        }

        if (xml[lt + 1] == '?')
        {
            return lt + 2 == offset
                ? ("xmlParsePI : no target name\n", offset)
                : ($"ParsePI: PI {xml[(lt + 2)..offset]} space expected\n", offset);
        }

        if (xml[lt + 1] == '/')
        {
            var after = offset;
            while (after < xml.Length && IsBlank(xml[after]))
            {
                after++;
            }

            if (after < xml.Length && xml[after] == '>' && scan.Open.Count > 0)
            {
                var (open, line) = scan.Open[^1];
                return ($"Opening and ending tag mismatch: {LocalName(open)} line {line} and unparsable\n", after + 1);
            }

            return ("expected '>'\n", after);
        }

        // A control character ends libxml2's attribute loop: the tag is then "not finished".
        if (offset < xml.Length && xml[offset] < ' ' && !IsBlank(xml[offset]))
        {
            return ($"Couldn't find end of Start Tag {TagName(NameAt(xml, lt + 1))} line {LineOf(xml, lt)}\n", offset);
        }

        return xml[offset - 1] is '\'' or '"'
            ? ("attributes construct error\n", offset)
            : ("error parsing attribute name\n", offset);
    }

    /// <summary>Document structure: content around the root element, mismatched end tags.</summary>
    private static Located? Structure(ParseFailure error)
    {
        var (xml, text, offset, scan) = error;
        if (text.StartsWith("There are multiple root elements", StringComparison.Ordinal)
            || (text.StartsWith("Unexpected end tag", StringComparison.Ordinal) && scan.RootClosed))
        {
            return ("Extra content at the end of the document\n", BackTo(xml, offset, '<'));
        }

        if (text.StartsWith("Data at the root level is invalid", StringComparison.Ordinal))
        {
            if (scan.RootClosed)
            {
                return ("Extra content at the end of the document\n", offset);
            }

            if (offset < xml.Length && xml[offset] == '<')
            {
                return EndsInsideTag(xml) ?? ("StartTag: invalid element name\n", offset + 1);
            }

            return ("Start tag expected, '<' not found\n", offset);
        }

        var match = TagMismatch().Match(text);
        if (!match.Success)
        {
            return null;
        }

        // libxml2 checks for the '>' after the end tag's name before comparing names.
        var after = offset;
        while (after < xml.Length && IsNameChar(xml[after]))
        {
            after++;
        }

        while (after < xml.Length && IsBlank(xml[after]))
        {
            after++;
        }

        if (after >= xml.Length || xml[after] != '>')
        {
            return ("expected '>'\n", after);
        }

        var open = match.Groups[1].Value;
        return ($"Opening and ending tag mismatch: {LocalName(open)} line {match.Groups[2].Value} and {EndTagName(open, match.Groups[3].Value)}\n", after + 1);
    }

    /// <summary>Missing or unexpected tokens: quotes, '=', '>', ';', entity names, duplicate attributes.</summary>
    private static Located? Tokens(ParseFailure error)
    {
        var (xml, text, offset, _) = error;
        if (text.EndsWith("The expected token is '\"' or '''.", StringComparison.Ordinal))
        {
            return ("AttValue: \" or ' expected\n", offset);
        }

        if (text.EndsWith("The expected token is '>'.", StringComparison.Ordinal))
        {
            return ("expected '>'\n", offset);
        }

        if (text.EndsWith("The expected token is ';'.", StringComparison.Ordinal))
        {
            return ("EntityRef: expecting ';'\n", offset);
        }

        if (text.EndsWith("The expected token is '='.", StringComparison.Ordinal))
        {
            return ($"Specification mandates value for attribute {NameBefore(xml, offset)}\n", offset);
        }

        if (text.StartsWith("'<', hexadecimal value 0x3C, is an invalid attribute character", StringComparison.Ordinal))
        {
            return ("Unescaped '<' not allowed in attributes values\n", offset);
        }

        if (text.StartsWith("']]>' is not allowed in character data", StringComparison.Ordinal))
        {
            // libxml2 points at the start of the character data holding the sequence, but reports its line.
            return new Located("Sequence ']]>' not allowed in content\n", offset > 0 ? xml.LastIndexOf('>', offset - 1) + 1 : 0, offset);
        }

        var match = UndeclaredEntity().Match(text);
        if (match.Success)
        {
            var semi = xml.IndexOf(';', offset);
            return ($"Entity '{match.Groups[1].Value}' not defined\n", semi < 0 ? offset : semi + 1);
        }

        if (text.StartsWith("An error occurred while parsing EntityName", StringComparison.Ordinal))
        {
            var amp = offset > 0 ? xml.LastIndexOf('&', Math.Min(offset, xml.Length) - 1) : -1;
            var entity = amp >= 0 && amp + 1 < xml.Length && IsNameStart(xml[amp + 1]) ? NameAt(xml, amp + 1) : string.Empty;
            return entity.Length > 0
                ? ("EntityRef: expecting ';'\n", amp + 1 + entity.Length)
                : ("xmlParseEntityRef: no name\n", offset);
        }

        match = DuplicateAttribute().Match(text);
        return match.Success ? ($"Attribute {LocalName(match.Groups[1].Value)} redefined\n", EndOfAttribute(xml, offset)) : null;
    }

    /// <summary>Characters XML forbids, raw or as character references.</summary>
    private static Located? Characters(ParseFailure error)
    {
        var (xml, text, offset, scan) = error;
        var match = InvalidCharacter().Match(text);
        if (!match.Success)
        {
            return null;
        }

        if (scan.RootClosed)
        {
            return ("Extra content at the end of the document\n", offset);
        }

        var firstTag = xml.IndexOf('<', StringComparison.Ordinal);
        if (scan.Open.Count == 0 && (firstTag < 0 || firstTag > offset))
        {
            return ("Start tag expected, '<' not found\n", offset);
        }

        var amp = xml.LastIndexOf('&', Math.Min(offset, xml.Length - 1));
        if (amp >= 0 && amp + 1 < xml.Length && xml[amp + 1] == '#' && !xml.AsSpan(amp, offset - amp).Contains(';'))
        {
            var semi = xml.IndexOf(';', offset);
            var reference = semi < 0 ? string.Empty : xml[(amp + 2)..semi];
            var hex = reference.StartsWith('x');
            var parsed = long.TryParse(hex ? reference[1..] : reference, hex ? NumberStyles.AllowHexSpecifier : NumberStyles.None, CultureInfo.InvariantCulture, out var code);
            var message = parsed && code > 0x10FFFF
                ? "xmlParseCharRef: character reference out of bounds\n"
                : $"xmlParseCharRef: invalid xmlChar value {(parsed ? code : 0)}\n";
            return (message, semi < 0 ? offset : semi + 1);
        }

        if (offset > 0 && xml.LastIndexOf('<', offset - 1) > xml.LastIndexOf('>', offset - 1))
        {
            return ("invalid character in attribute value\n", offset);
        }

        var value = int.Parse(match.Groups[1].Value, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        return ($"PCDATA invalid Char value {value}\n", offset);
    }

    /// <summary>What is known about a System.Xml failure: the input, its message, its offset and how far parsing got.</summary>
    private readonly record struct ParseFailure(string Xml, string Text, int Offset, (List<(string Name, int Line)> Open, bool RootClosed, int? TooDeep) Scan);

    /// <summary>A libxml2 message, the offset its context line and pointer show, and (when different) where its line number comes from.</summary>
    private readonly record struct Located(string Message, int Offset, int? LineOffset = null)
    {
        public static implicit operator Located((string Message, int Offset) value) => new(value.Message, value.Offset);
    }

    private static int OffsetOf(string xml, int line, int position)
    {
        var offset = 0;
        for (var l = 1; l < line && offset < xml.Length; offset++)
        {
            if (xml[offset] == '\n')
            {
                l++;
            }
        }

        return Math.Min(offset + Math.Max(position - 1, 0), xml.Length);
    }

    private static int LineOf(string xml, int offset)
    {
        var line = 1;
        for (var i = 0; i < offset && i < xml.Length; i++)
        {
            if (xml[i] == '\n')
            {
                line++;
            }
        }

        return line;
    }

    private static int BackTo(string xml, int offset, char c)
    {
        var i = Math.Min(offset, xml.Length - 1);
        while (i > 0 && xml[i] != c)
        {
            i--;
        }

        return i;
    }

    private static string NameBefore(string xml, int offset)
    {
        var end = offset;
        while (end > 0 && char.IsWhiteSpace(xml[end - 1]))
        {
            end--;
        }

        var start = end;
        while (start > 0 && !char.IsWhiteSpace(xml[start - 1]) && xml[start - 1] is not ('<' or '\'' or '"'))
        {
            start--;
        }

        return xml[start..end];
    }

    private static int EndOfAttribute(string xml, int offset)
    {
        var eq = xml.IndexOf('=', offset);
        if (eq < 0)
        {
            return offset;
        }

        var q = eq + 1;
        while (q < xml.Length && char.IsWhiteSpace(xml[q]))
        {
            q++;
        }

        if (q >= xml.Length || xml[q] is not ('\'' or '"'))
        {
            return offset;
        }

        var close = xml.IndexOf(xml[q], q + 1);
        return close < 0 ? xml.Length : close + 1;
    }

    /// <summary>How libxml2 names a start tag it parsed: the local part, or the raw text when that is empty.</summary>
    private static string TagName(string qualified)
    {
        var local = LocalName(qualified);
        return local.Length == 0 ? qualified : local;
    }

    /// <summary>How libxml2 names a mismatched end tag: its local part when the open element has a prefix.</summary>
    private static string EndTagName(string open, string end)
    {
        return open.Contains(':', StringComparison.Ordinal) ? TagName(end) : end;
    }

    private static string LocalName(string qualified)
    {
        var colon = qualified.IndexOf(':', StringComparison.Ordinal);
        return colon < 0 ? qualified : qualified[(colon + 1)..];
    }

    /// <summary>
    /// When the input ends inside a start or end tag, libxml2's message for the point where it stopped
    /// (xmlParseStartTag2's checks in order); null when the last tag is complete.
    /// </summary>
    private static (string Message, int Offset)? EndsInsideTag(string xml) => TagError(xml, xml.LastIndexOf('<'));

    /// <summary>
    /// libxml2's first error in the tag starting at <paramref name="lt"/> (xmlParseStartTag2's checks in
    /// order, or the missing '>' of an end tag at the end of input); null when the tag looks complete.
    /// Attribute values are not inspected.
    /// </summary>
    private static (string Message, int Offset)? TagError(string xml, int lt)
    {
        if (lt < 0)
        {
            return null;
        }

        var i = lt + 1;
        if (i < xml.Length && xml[i] == '/')
        {
            return xml.IndexOf('>', i) >= 0 ? null : ("expected '>'\n", xml.Length);
        }

        if (i < xml.Length && xml[i] is '!' or '?')
        {
            return null;
        }

        if (i >= xml.Length || !IsNameStart(xml[i]))
        {
            return ("StartTag: invalid element name\n", i);
        }

        var name = NameAt(xml, i);
        i += name.Length;
        var afterAttribute = false;
        while (true)
        {
            var blanks = i;
            while (i < xml.Length && IsBlank(xml[i]))
            {
                i++;
            }

            if (i < xml.Length && (xml[i] == '>' || (xml[i] == '/' && i + 1 < xml.Length && xml[i + 1] == '>')))
            {
                return null;
            }

            if (afterAttribute && blanks == i)
            {
                return ("attributes construct error\n", i);
            }

            if (i >= xml.Length || (xml[i] < ' ' && !IsBlank(xml[i])))
            {
                return ($"Couldn't find end of Start Tag {TagName(name)} line {LineOf(xml, lt)}\n", i);
            }

            var attribute = NameAt(xml, i);
            if (attribute.Length == 0)
            {
                return ("error parsing attribute name\n", i);
            }

            i += attribute.Length;
            while (i < xml.Length && IsBlank(xml[i]))
            {
                i++;
            }

            if (i >= xml.Length || xml[i] != '=')
            {
                return ($"Specification mandates value for attribute {TagName(attribute)}\n", i);
            }

            i++;
            while (i < xml.Length && IsBlank(xml[i]))
            {
                i++;
            }

            if (i >= xml.Length || xml[i] is not ('\'' or '"'))
            {
                return ("AttValue: \" or ' expected\n", i);
            }

            var close = xml.IndexOf(xml[i], i + 1);
            if (close < 0)
            {
                return ($"AttValue: {xml[i]} expected\n", xml.Length);
            }

            i = close + 1;
            afterAttribute = true;
        }
    }

    private static string NameAt(string xml, int start)
    {
        var end = start;
        while (end < xml.Length && IsNameChar(xml[end]))
        {
            end++;
        }

        return xml[start..end];
    }

    private static bool IsNameStart(char c) => XmlConvert.IsStartNCNameChar(c) || c == ':';

    private static bool IsNameChar(char c) => XmlConvert.IsNCNameChar(c) || c == ':';

    private static bool IsBlank(char c) => c is ' ' or '\t' or '\n' or '\r';

    /// <summary>
    /// Reads node by node up to the error, recording open elements, whether the root closed and where
    /// the first element nested deeper than libxml2 accepts starts.
    /// </summary>
    private static (List<(string Name, int Line)> Open, bool RootClosed, int? TooDeep) Scan(string xml)
    {
        var open = new List<(string, int)>();
        var rootClosed = false;
        int? tooDeep = null;
        try
        {
            using var reader = CreateReader(xml);
            var info = (IXmlLineInfo)reader;
            while (reader.Read())
            {
                if (reader.NodeType == XmlNodeType.Element && open.Count > MaxOpenElements && tooDeep is null)
                {
                    tooDeep = StartOfTag(xml, info);
                }

                switch (reader.NodeType)
                {
                    case XmlNodeType.Element when reader.IsEmptyElement:
                        rootClosed |= open.Count == 0;
                        break;
                    case XmlNodeType.Element:
                        open.Add((reader.Name, info.LineNumber));
                        break;
                    case XmlNodeType.EndElement when open.Count > 0:
                        open.RemoveAt(open.Count - 1);
                        rootClosed |= open.Count == 0;
                        break;
                }
            }
        }
        catch (XmlException)
        {
            // Expected: this pass exists to see how far the document got.
        }

        return (open, rootClosed, tooDeep);
    }

    [GeneratedRegex(@" Line \d+, position \d+\.$")]
    private static partial Regex LineSuffix();

    [GeneratedRegex(@"^The '([^']*)' start tag on line (\d+) position \d+ does not match the end tag of '([^']*)'\.")]
    private static partial Regex TagMismatch();

    [GeneratedRegex(@"^Reference to undeclared entity '([^']*)'\.")]
    private static partial Regex UndeclaredEntity();

    [GeneratedRegex(@"^'([^']*)' is a duplicate attribute name\.")]
    private static partial Regex DuplicateAttribute();

    [GeneratedRegex(@"hexadecimal value 0x([0-9A-Fa-f]+), is an invalid character\.")]
    private static partial Regex InvalidCharacter();

    /// <summary>
    /// Binds undeclared prefixes to a private namespace instead of failing, as libxml2 recovers from
    /// them: the elements stay in the tree but no libvirt XPath (unprefixed or namespace-registered) matches them.
    /// </summary>
    private sealed class LenientNamespaceManager(XmlNameTable names) : XmlNamespaceManager(names)
    {
        public override string? LookupNamespace(string prefix)
            => base.LookupNamespace(prefix) ?? (prefix.Length == 0 ? string.Empty : "urn:virtpool:undeclared-prefix:" + prefix);
    }
}
