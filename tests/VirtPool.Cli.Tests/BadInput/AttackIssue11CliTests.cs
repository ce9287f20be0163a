using VirtPool.Cli.Tests.Support;

namespace VirtPool.Cli.Tests.BadInput;

/// <summary>
/// Defects found by the adversarial review of issue 11 that show only through virtpoold: each test
/// fails until its defect is fixed.
/// </summary>
public sealed class AttackIssue11CliTests
{
    /// <summary>
    /// A netfs discovery whose answer is larger than an RPC string may be (4 MiB: ~35 000 gluster
    /// volumes or NFS exports on the host asked about). libvirtd 9.0 answers with its RPC error
    /// ("error: Unable to encode message payload"); virtpoold sends the .NET exception text of its XDR
    /// writer ("internal error: XDR string 23600021 exceeds the limit 4194304. (Parameter 'length')" and
    /// "Actual value was 23600021."). The host's gluster is stood in for by a script on virtpoold's PATH
    /// (VirtPool, like libvirt, looks gluster up on PATH) that lists 200 000 volumes.
    /// </summary>
    [Fact]
    public async Task An_oversized_discovery_answer_gets_libvirts_rpc_error_not_dotnet_text()
    {
        using var tmp = new TempDir("c11atk-big");
        var bin = tmp.Sub("bin");
        Directory.CreateDirectory(bin);
        var gluster = Path.Combine(bin, "gluster");
        await File.WriteAllTextAsync(gluster, """
            #!/usr/bin/python3
            import sys
            out = sys.stdout
            out.write('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<cliOutput><opRet>0</opRet><opErrno>0</opErrno><opErrstr/><volInfo><volumes>')
            for i in range(200000):
                out.write('<volume><name>c11atkvol%07d</name></volume>' % i)
            out.write('</volumes></volInfo></cliOutput>\n')

            """);
        File.SetUnixFileMode(gluster, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);

        var daemonDir = tmp.Sub("daemon");
        var path = $"{bin}:{Environment.GetEnvironmentVariable("PATH")}";
        try
        {
            var up = await ChildProcess.RunAsync("bash", [TestPaths.Script("virtpoold-up.sh"), daemonDir], new Dictionary<string, string?> { ["PATH"] = path }, TimeSpan.FromMinutes(5));
            Assert.True(up.ExitCode == 0, $"virtpoold did not start:\n{up}");
            var uri = up.Stdout.Split('\n')[0];

            var run = await ChildProcess.RunAsync("virsh", ["-c", uri, "find-storage-pool-sources-as", "netfs", "127.0.0.1"], timeout: TimeSpan.FromMinutes(3));
            Assert.Equal(1, run.ExitCode);
            Assert.Equal("error: Failed to find any netfs pool sources\nerror: Unable to encode message payload\n", run.Stderr);
        }
        finally
        {
            await ChildProcess.RunAsync("bash", [TestPaths.Script("virtpoold-down.sh"), daemonDir], timeout: TimeSpan.FromSeconds(60));
        }
    }
}
