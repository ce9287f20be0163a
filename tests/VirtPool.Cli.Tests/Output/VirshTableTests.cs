using VirtPool.Cli.Output;

namespace VirtPool.Cli.Tests.Output;

public class VirshTableTests
{
    /// <summary>Captured: an empty <c>virsh pool-list</c> prints the header and its dashes only.</summary>
    [Fact]
    public void Header_only()
    {
        var table = new VirshTable("Name", "State", "Autostart");

        Assert.Equal(" Name   State   Autostart\n---------------------------\n", table.Render(header: true, utf8Locale: true));
        Assert.Equal(string.Empty, table.Render(header: false, utf8Locale: true));
    }

    [Fact]
    public void Columns_are_padded_to_the_widest_cell_plus_two_and_the_last_is_not()
    {
        var table = new VirshTable("A", "Bb").AddRow("long-cell", "x").AddRow("y", "wider-last");

        var text = table.Render(header: true, utf8Locale: true);

        Assert.Equal(
            " A           Bb\n"
            + "-------------------------\n"
            + " long-cell   x\n"
            + " y           wider-last\n",
            text);
        Assert.Equal(2, table.RowCount);
        Assert.Equal(2, table.ColumnCount);
    }

    [Fact]
    public void Quiet_tables_measure_without_the_header()
    {
        var table = new VirshTable("Very-long-header", "B").AddRow("a", "b");

        Assert.Equal(" a   b\n", table.Render(header: false, utf8Locale: true));
    }

    [Fact]
    public void Control_characters_and_backslash_x_are_hex_encoded()
    {
        // Captured from vol-list: "tab\tx" shows as "tab\x09x", "bs\x41" as "bs\x5cx41".
        var table = new VirshTable("N", "P").AddRow("tab\tx", "bs\\x41").AddRow("del\u007F", "a\\b");

        Assert.Equal(
            " N          P\n"
            + "-----------------------\n"
            + " tab\\x09x   bs\\x5cx41\n"
            + " del\\x7f    a\\b\n",
            table.Render(header: true, utf8Locale: true));
    }

    [Fact]
    public void Row_with_wrong_cell_count_is_rejected()
    {
        var table = new VirshTable("A", "B");

        var error = Assert.Throws<ArgumentException>(() => table.AddRow("only-one"));
        Assert.StartsWith("Incorrect number of cells in a table row", error.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => new VirshTable());
    }
}

public class CellTextTests
{
    /// <summary>Widths measured from captured vol-list tables (pools vo-w and vo-w2).</summary>
    [Theory]
    [InlineData("c\u0301", "c\u0301", 1)]
    [InlineData("z\u200B", "z\u200B", 1)]
    [InlineData("\u00AD", "\u00AD", 1)]
    [InlineData("\u1160", "\u1160", 0)]
    [InlineData("\uFF21", "\uFF21", 2)]
    [InlineData("e\u0085", "e\\xff\\xff", 9)]
    [InlineData("x\u0085y", "x\\xff\\xffy", 10)]
    [InlineData("vo-\u00FC\u65E5\u672C", "vo-\u00FC\u65E5\u672C", 8)]
    [InlineData("\U0001F600", "\U0001F600", 2)]
    [InlineData("\u2028", "\\xff\\xff\\xff", 12)]
    public void Utf8_locale(string text, string encoded, int width)
    {
        Assert.Equal((encoded, width), CellText.Encode(text, utf8Locale: true));
    }

    /// <summary>Captured with LANG=C: every non-ASCII byte prints as "\xff" (virsh's signed-char formatting).</summary>
    [Theory]
    [InlineData("vo-\u00FC\u65E5\u672C", "vo-\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff", 35)]
    [InlineData("\u00FC-vol", "\\xff\\xff-vol", 12)]
    [InlineData("plain", "plain", 5)]
    public void C_locale(string text, string encoded, int width)
    {
        Assert.Equal((encoded, width), CellText.Encode(text, utf8Locale: false));
    }
}

public class VirshLocaleTests
{
    [Theory]
    [InlineData(null, null, "C.UTF-8", true)]
    [InlineData(null, null, "C.utf8", true)]
    [InlineData(null, null, "C", false)]
    [InlineData(null, null, null, false)]
    [InlineData("C", null, "C.UTF-8", false)]
    [InlineData("", "C.UTF-8", "C", true)]
    [InlineData(null, null, "en_US.UTF-8", false)]
    [InlineData(null, null, "de_DE.utf8", true)]
    [InlineData(null, null, "de_DE.ISO-8859-1", false)]
    [InlineData(null, null, "POSIX", false)]
    public void Decides_like_setlocale(string? lcAll, string? lcCtype, string? lang, bool expected)
    {
        // Only de_DE.utf8 is "installed" here, as only C.utf8 is on the machine the captures came from.
        static bool Installed(string name) => name == "de_DE.utf8";

        Assert.Equal(expected, VirshLocale.IsUtf8(lcAll, lcCtype, lang, Installed));
    }
}
