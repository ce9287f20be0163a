using VirtPool.Cli.Tests.Support;

namespace VirtPool.Cli.Tests.Differential;

/// <summary>
/// A dir pool on a filesystem that reserves blocks for root (ext4 made with <c>-m 5</c>), where
/// statvfs's f_bfree and f_bavail differ: libvirt reports f_bfree as available (and allocation =
/// capacity − available), so pool-info and pool-dumpxml must agree with it there, also after the
/// accounting of a volume create and delete. The tmpfs the other differential tests use cannot tell.
/// </summary>
[Collection(LibvirtCollection.Name)]
public sealed class ReservedBlocksDifferentialTests(LibvirtOracle oracle)
{
    [Fact]
    public async Task Pool_sizes_on_ext4_with_reserved_blocks_are_libvirts()
    {
        await using var s = await oracle.NewSandboxAsync();
        using var images = new TempDir("vpext4");
        // The same image size and mkfs options on both sides give the same block counts.
        string[] mkfs = ["-q", "-F", "-m", "5", "-b", "4096", "-E", "lazy_itable_init=0,lazy_journal_init=0"];
        await using var oracleFs = await LoopFileSystem.CreateAsync(images.Sub("o.img"), Path.Combine(s.OracleRoot, "p", "ext4"), 256L << 20, "mkfs.ext4", mkfs);
        await using var cliFs = await LoopFileSystem.CreateAsync(images.Sub("v.img"), Path.Combine(s.CliRoot, "p", "ext4"), 256L << 20, "mkfs.ext4", mkfs);

        (await s.StepAsync("pool-define-as", "rb-ext4", "dir", "--target", "@ROOT@/p/ext4/pool")).ExpectOracle(0);
        (await s.StepAsync("pool-build", "rb-ext4")).ExpectOracle(0);
        (await s.StepAsync("pool-start", "rb-ext4")).ExpectOracle(0);
        await s.StepAsync("pool-info", "--bytes", "rb-ext4");
        await s.StepAsync("pool-dumpxml", "rb-ext4");
        await s.StepAsync("pool-list", "--details");

        // Accounting, not a new statvfs: a fully allocated volume moves its size from available to allocation.
        (await s.StepAsync("vol-create-as", "rb-ext4", "full.img", "16M")).ExpectOracle(0);
        (await s.StepAsync("vol-create-as", "rb-ext4", "sparse.img", "1G", "--allocation", "0")).ExpectOracle(0);
        await s.StepAsync("pool-info", "--bytes", "rb-ext4");
        await s.StepAsync("pool-dumpxml", "rb-ext4");
        await s.StepAsync("vol-delete", "full.img", "--pool", "rb-ext4");
        await s.StepAsync("pool-info", "--bytes", "rb-ext4");

        // A refresh reads the filesystem again.
        await s.StepAsync("pool-refresh", "rb-ext4");
        await s.StepAsync("pool-info", "--bytes", "rb-ext4");
        await s.StepAsync("pool-dumpxml", "rb-ext4");
        await s.StepAsync("vol-delete", "sparse.img", "--pool", "rb-ext4");
        (await s.StepAsync("pool-destroy", "rb-ext4")).ExpectOracle(0);
        await s.StepAsync("pool-undefine", "rb-ext4");
        s.AssertNoDifferences();
    }
}
