using VirtPool.Cli.Tests.Support;
using Xunit.Sdk;

namespace VirtPool.Cli.Tests.Differential;

/// <summary>
/// The sandbox itself: a difference fails the test even when the test never asks, once; a difference
/// declared on purpose does not, and a declared one that does not happen does. The differing step runs
/// <c>pool-list</c> on virsh and <c>pool-list --no-such-option</c> on virtpool.
/// </summary>
[Collection(LibvirtCollection.Name)]
public sealed class DiffSandboxTests(LibvirtOracle oracle)
{
    private static readonly string[] Listing = ["pool-list"];
    private static readonly string[] Refused = ["pool-list", "--no-such-option"];

    [Fact]
    public async Task A_difference_the_test_never_asserts_fails_it_when_the_sandbox_is_disposed()
    {
        var s = await oracle.NewSandboxAsync();
        await s.StepAsync("pool-list", "--all");
        Assert.False((await s.StepAsync(Listing, Refused)).Same);

        var ex = await Assert.ThrowsAsync<XunitException>(() => s.DisposeAsync().AsTask());
        Assert.Contains("in 1 of 2 steps (found at the end of the test", ex.Message, StringComparison.Ordinal);
        Assert.Contains("#2 pool-list\n", ex.Message, StringComparison.Ordinal);

        // Cleaned up all the same.
        Assert.False(Directory.Exists(s.CliRoot));
        Assert.False(Directory.Exists(s.StateDir));
    }

    [Fact]
    public async Task An_explicit_assert_reports_a_difference_once_and_later_steps_still_count()
    {
        var s = await oracle.NewSandboxAsync();
        await s.StepAsync(Listing, Refused);
        Assert.Throws<XunitException>(s.AssertNoDifferences);
        await s.DisposeAsync();

        var t = await oracle.NewSandboxAsync();
        await t.StepAsync("pool-list");
        t.AssertNoDifferences();
        await t.StepAsync(Listing, Refused);
        var ex = await Assert.ThrowsAsync<XunitException>(() => t.DisposeAsync().AsTask());
        Assert.Contains("#2 pool-list\n", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_declared_difference_passes_and_a_declared_one_that_does_not_happen_fails()
    {
        await using (var s = await oracle.NewSandboxAsync())
        {
            (await s.StepAsync(Listing, Refused)).ExpectDifference("virtpool is given an option virsh is not");
            s.AssertNoDifferences();
        }

        var t = await oracle.NewSandboxAsync();
        (await t.StepAsync("pool-list")).ExpectDifference("wrongly expected");
        var ex = await Assert.ThrowsAsync<XunitException>(() => t.DisposeAsync().AsTask());
        Assert.Contains("declared to differ from virsh (wrongly expected), but printed the same", ex.Message, StringComparison.Ordinal);
    }
}
