using System.Text;

namespace VirtPool.Cli.Output;

/// <summary>
/// virsh's vshTable. Every cell is printed as " " + text; every column but the last is padded to its
/// widest cell plus two spaces (so the last column has no trailing blanks); under the header runs a
/// line of dashes, (width + 3) per column. Without the header (virsh -q) the header is neither printed
/// nor measured. Widths are terminal columns of the <see cref="CellText"/>-encoded cells.
/// </summary>
public sealed class VirshTable
{
    private readonly List<string[]> _rows = [];

    public VirshTable(params string[] header)
    {
        if (header.Length == 0)
        {
            throw new ArgumentException("Table row cannot be empty", nameof(header));
        }

        _rows.Add(header);
    }

    public int ColumnCount => _rows[0].Length;

    /// <summary>The number of rows below the header.</summary>
    public int RowCount => _rows.Count - 1;

    /// <summary>Appends a row; it must have as many cells as the header.</summary>
    public VirshTable AddRow(params string[] cells)
    {
        if (cells.Length != ColumnCount)
        {
            throw new ArgumentException("Incorrect number of cells in a table row", nameof(cells));
        }

        _rows.Add(cells);
        return this;
    }

    /// <summary>The table as virsh prints it, for the locale of this process.</summary>
    public string Render(bool header = true) => Render(header, VirshLocale.IsUtf8FromEnvironment);

    /// <summary>The table as virsh prints it.</summary>
    /// <param name="header">Print the header and its dashes (false under virsh -q).</param>
    /// <param name="utf8Locale">Measure and encode cells for a UTF-8 locale (else the C locale).</param>
    public string Render(bool header, bool utf8Locale)
    {
        var columns = ColumnCount;
        var maxWidths = new int[columns];
        var encoded = new (string Text, int Width)[_rows.Count][];
        for (var r = header ? 0 : 1; r < _rows.Count; r++)
        {
            encoded[r] = new (string, int)[columns];
            for (var c = 0; c < columns; c++)
            {
                var cell = CellText.Encode(_rows[r][c], utf8Locale);
                encoded[r][c] = cell;
                maxWidths[c] = Math.Max(maxWidths[c], cell.Width);
            }
        }

        var output = new StringBuilder();
        if (header)
        {
            AppendRow(output, encoded[0], maxWidths);
            for (var c = 0; c < columns; c++)
            {
                output.Append('-', maxWidths[c] + 3);
            }

            output.Append('\n');
        }

        for (var r = 1; r < _rows.Count; r++)
        {
            AppendRow(output, encoded[r], maxWidths);
        }

        return output.ToString();
    }

    private static void AppendRow(StringBuilder output, (string Text, int Width)[] cells, int[] maxWidths)
    {
        for (var c = 0; c < cells.Length; c++)
        {
            output.Append(' ').Append(cells[c].Text);
            if (c < cells.Length - 1)
            {
                output.Append(' ', maxWidths[c] - cells[c].Width + 2);
            }
        }

        output.Append('\n');
    }
}
