using VirtPool.Cli.Output;

namespace VirtPool.Cli.Tests.Output;

public class VirshConsoleTests
{
    [Fact]
    public void Print_extra_and_the_blank_line_after_a_command()
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        using var console = new VirshConsole(stdout, stderr, quiet: false);

        console.PrintExtra(VirshMessages.PoolBuilt("vo-q"));
        console.EndCommand();

        Assert.Equal("Pool vo-q built\n\n", stdout.ToString());
        Assert.Equal(string.Empty, stderr.ToString());
    }

    /// <summary>Captured: <c>virsh -q pool-build vo-q</c> printed nothing at all; <c>-q pool-list --name</c> kept its lines.</summary>
    [Fact]
    public void Quiet_drops_extra_text_and_the_blank_line_but_not_output()
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        using var console = new VirshConsole(stdout, stderr, quiet: true);

        console.PrintExtra(VirshMessages.PoolBuilt("vo-q"));
        console.Print("vx-pool             \n");
        console.EndCommand();

        Assert.Equal("vx-pool             \n", stdout.ToString());
    }

    /// <summary>Captured: <c>virsh pool-info nosuch</c>: two error lines on stderr, the blank line on stdout.</summary>
    [Fact]
    public void Errors_go_to_stderr_with_the_prefix()
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        using var console = new VirshConsole(stdout, stderr, quiet: false);

        console.Error(VirshMessages.FailedToGetPool("nosuch"));
        console.Error("Storage pool not found: no storage pool with matching name 'nosuch'");
        console.EndCommand();

        Assert.Equal("\n", stdout.ToString());
        Assert.Equal(
            "error: failed to get pool 'nosuch'\nerror: Storage pool not found: no storage pool with matching name 'nosuch'\n",
            stderr.ToString());
    }

    [Fact]
    public void Timing_replaces_the_blank_line_even_when_quiet()
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        using var console = new VirshConsole(stdout, stderr, quiet: true);

        console.EndCommand(elapsedMilliseconds: 1.2345);

        Assert.Equal("\n(Time: 1.234 ms)\n\n", stdout.ToString());
    }
}

public class VirshMessagesTests
{
    /// <summary>Each text as virsh 9.0 printed it (without -q) for pools vo-q and vo-b and volumes qv, qv2 and fx.</summary>
    [Fact]
    public void Success_messages_match_captures()
    {
        Assert.Equal("Pool vo-q defined\n", VirshMessages.PoolDefined("vo-q"));
        Assert.Equal("Pool vo-q built\n", VirshMessages.PoolBuilt("vo-q"));
        Assert.Equal("Pool vo-q started\n", VirshMessages.PoolStarted("vo-q"));
        Assert.Equal("Pool vo-a marked as autostarted\n", VirshMessages.PoolMarkedAutostart("vo-a"));
        Assert.Equal("Pool vo-q unmarked as autostarted\n", VirshMessages.PoolUnmarkedAutostart("vo-q"));
        Assert.Equal("Pool vo-a refreshed\n", VirshMessages.PoolRefreshed("vo-a"));
        Assert.Equal("Pool vo-q destroyed\n", VirshMessages.PoolDestroyed("vo-q"));
        Assert.Equal("Pool vo-q deleted\n", VirshMessages.PoolDeleted("vo-q"));
        Assert.Equal("Pool vo-q has been undefined\n", VirshMessages.PoolUndefined("vo-q"));
        Assert.Equal("Pool vo-transient created\n", VirshMessages.PoolCreated("vo-transient"));
        Assert.Equal("Pool vo-b defined from /tmp/vo-b.xml\n", VirshMessages.PoolDefinedFrom("vo-b", "/tmp/vo-b.xml"));
        Assert.Equal("Pool vo-b created from /tmp/vo-b.xml\n", VirshMessages.PoolCreatedFrom("vo-b", "/tmp/vo-b.xml"));
        Assert.Equal("Vol qv created\n", VirshMessages.VolCreated("qv"));
        Assert.Equal("Vol qv2 cloned from qv\n", VirshMessages.VolCloned("qv2", "qv"));
        Assert.Equal("Size of volume 'qv' successfully changed to 2M\n", VirshMessages.VolResized("qv", "2M", delta: false));
        Assert.Equal("Size of volume 'qv' successfully changed by 1M\n", VirshMessages.VolResized("qv", "1M", delta: true));
        Assert.Equal("Vol qv wiped\n", VirshMessages.VolWiped("qv"));
        Assert.Equal("Vol fx created from /tmp/vo-fx.xml\n", VirshMessages.VolCreatedFrom("fx", "/tmp/vo-fx.xml"));
        Assert.Equal("Vol fx deleted\n", VirshMessages.VolDeleted("fx"));
    }

    [Fact]
    public void Error_messages_match_captures()
    {
        Assert.Equal("Options --details and --uuid are mutually exclusive", VirshMessages.MutuallyExclusive("details", "uuid"));
        Assert.Equal("Options --all and --inactive are mutually exclusive", VirshMessages.MutuallyExclusive("all", "inactive"));
        Assert.Equal("Failed to start pool vo-a", VirshMessages.FailedToStartPool("vo-a"));
        Assert.Equal("failed to get pool 'nosuch'", VirshMessages.FailedToGetPool("nosuch"));
        Assert.Equal("failed to get vol 'nosuch', specifying --pool might help", VirshMessages.FailedToGetVol("nosuch", "pool"));
        Assert.Equal("failed to get vol 'x68k'", VirshMessages.FailedToGetVol("x68k"));
        Assert.Equal("pool 'vo-long-name-for-width-testing-0123456789' is not active", VirshMessages.PoolNotActive("vo-long-name-for-width-testing-0123456789"));
        Assert.Equal("Failed to open file '/nonexist.xml': No such file or directory", VirshMessages.FailedToOpenFile("/nonexist.xml", "No such file or directory"));
        Assert.Equal("Malformed size 12Q", VirshMessages.MalformedSize("12Q"));
        Assert.Equal("negative size requires --shrink", VirshMessages.NegativeSizeRequiresShrink);
        Assert.Equal("Unsupported algorithm 'nope'", VirshMessages.UnsupportedWipeAlgorithm("nope"));
        Assert.Equal("Invalid pool type 'nope'", VirshMessages.InvalidPoolType("nope"));
        Assert.Equal("Failed to create vol from /tmp/vo-fx.xml", VirshMessages.FailedToCreateVolFrom("/tmp/vo-fx.xml"));
        Assert.Equal("cannot read /tmp/none", VirshMessages.CannotRead("/tmp/none"));
    }
}
