namespace VirtPool.Cli.Tests.Support;

/// <summary>
/// Editors for pool-edit tests: small sh scripts that change the file they are given with sed, as a user
/// would in vi, in a folder of their own (the same paths on both sides of a differential run).
/// </summary>
public sealed class EditorScripts : IDisposable
{
    private readonly TempDir _dir = new("vpedit");

    public EditorScripts()
    {
        Unchanged = Write("unchanged.sh", "exit 0\n");
        AddPermissions = Write("add-permissions.sh", "sed -i 's|</path>|</path>\\n    <permissions>\\n      <mode>0750</mode>\\n    </permissions>|' \"$1\"\n");
        ChangeMode = Write("change-mode.sh", "sed -i 's|<mode>0750</mode>|<mode>0700</mode>|' \"$1\"\n");
        BreakXml = Write("break.sh", "sed -i 's|<pool type=|<pool tipe=|' \"$1\"\n");
        BreakThenFix = Write(
            "break-then-fix.sh",
            "if grep -q '<pool tipe=' \"$1\"; then\n"
            + "  sed -i 's|<pool tipe=|<pool type=|; s|</path>|</path>\\n    <permissions>\\n      <mode>0705</mode>\\n    </permissions>|' \"$1\"\n"
            + "else\n"
            + "  sed -i 's|<pool type=|<pool tipe=|' \"$1\"\n"
            + "fi\n");
        Fail = Write("fail.sh", "exit 3\n");
    }

    /// <summary>Leaves the file as it is.</summary>
    public string Unchanged { get; }

    /// <summary>Adds &lt;permissions&gt;&lt;mode&gt;0750&lt;/mode&gt;&lt;/permissions&gt; to the target.</summary>
    public string AddPermissions { get; }

    /// <summary>Turns mode 0750 into 0700.</summary>
    public string ChangeMode { get; }

    /// <summary>Misspells the pool element's type attribute: libvirt refuses the document.</summary>
    public string BreakXml { get; }

    /// <summary>Breaks the document on a first run, fixes it and sets mode 0705 on the next (the user's second try).</summary>
    public string BreakThenFix { get; }

    /// <summary>Exits 3 without touching the file.</summary>
    public string Fail { get; }

    /// <summary>The environment of a run with <paramref name="editor"/> as $EDITOR and no $VISUAL.</summary>
    public static IReadOnlyDictionary<string, string?> With(string editor) =>
        new Dictionary<string, string?> { ["EDITOR"] = editor, ["VISUAL"] = null };

    public void Dispose() => _dir.Dispose();

    private string Write(string name, string body)
    {
        var path = _dir.Sub(name);
        File.WriteAllText(path, "#!/bin/sh\n" + body);
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return path;
    }
}
