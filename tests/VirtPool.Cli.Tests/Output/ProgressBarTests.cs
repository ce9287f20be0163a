using VirtPool.Cli.Output;

namespace VirtPool.Cli.Tests.Output;

public class ProgressBarTests
{
    [Fact]
    public void Renders_bar_percent_sizes_and_rate()
    {
        var bar = new ProgressBar("Cloning a.raw", 1L << 30, terminal: null);

        var line = bar.Render(256L << 20, TimeSpan.FromSeconds(2));

        Assert.Equal("Cloning a.raw [########----------------------]  25% 256.00 MiB / 1.00 GiB 128.00 MiB/s", line);
    }

    [Fact]
    public void Unknown_total_shows_bytes_and_rate_only()
    {
        var bar = new ProgressBar("Wiping w", 0, terminal: null);

        Assert.Equal("Wiping w: 3.00 MiB 1.50 MiB/s", bar.Render(3L << 20, TimeSpan.FromSeconds(2)));
    }

    [Fact]
    public void Draws_on_a_terminal_and_erases_itself_and_draws_nothing_without_one()
    {
        using var terminal = new StringWriter();
        using (var bar = new ProgressBar("Up", 100, terminal))
        {
            bar.Report(100);
        }

        Assert.StartsWith("\rUp [", terminal.ToString(), StringComparison.Ordinal);
        Assert.EndsWith("\r\u001b[K", terminal.ToString(), StringComparison.Ordinal);

        var silent = new ProgressBar("Up", 100, terminal: null);
        silent.Report(50);
        silent.Dispose();
    }
}
