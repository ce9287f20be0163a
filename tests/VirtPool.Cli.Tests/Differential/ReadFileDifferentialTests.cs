using VirtPool.Cli.Tests.Support;

namespace VirtPool.Cli.Tests.Differential;

/// <summary>
/// Files virsh's commands read (XML, a srcSpec) that are not what they should be: a directory, an
/// endless device, a file over 10 MiB. virsh's virFileReadAll words each failure its own way, and reads
/// at most 10 MiB + 1 bytes whatever the file claims.
/// </summary>
[Collection(LibvirtCollection.Name)]
public sealed class ReadFileDifferentialTests(LibvirtOracle oracle)
{
    [Fact]
    public async Task Directories_endless_devices_and_oversized_files_are_refused_in_virshs_words()
    {
        await using var s = await oracle.NewSandboxAsync();
        var big = s.WriteBytes("x/big.xml", new byte[(10 << 20) + 1]);
        Directory.CreateDirectory(Path.Combine(s.OracleRoot, "x", "folder"));
        Directory.CreateDirectory(Path.Combine(s.CliRoot, "x", "folder"));

        foreach (var file in new[] { $"{DiffSandbox.RootToken}/x/folder", "/dev/zero", big })
        {
            (await s.StepAsync("pool-define", file)).ExpectOracle(1);
            (await s.StepAsync("find-storage-pool-sources", "logical", file)).ExpectOracle(1);
            (await s.StepAsync("secret-define", file)).ExpectOracle(1);
        }

        s.AssertNoDifferences();
    }
}
