using VirtPool.Cli.Tests.Support;

namespace VirtPool.Cli.Tests;

/// <summary>
/// Adversarial review of issue 12 through the CLI as users run it: each test is a defect the review
/// found, fails until it is fixed, and says what is wrong and what is expected.
/// </summary>
public sealed class AttackIssue12CliTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("vp-atk12-cli-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    /// <summary>
    /// DEFECT (crash with .NET text). On a host without Ceph's or Gluster's client library (libvirt is
    /// installed, librados2 / libgfapi0 are not: they are separate packages), pool-start of an rbd or
    /// gluster pool reaches the first P/Invoke, whose DllNotFoundException no layer turns into an error:
    /// the CLI dies with "Unhandled exception. System.DllNotFoundException: Unable to load shared library
    /// 'librados.so.2' …", a stack trace and SIGABRT (exit 134). The test hides the library in a private
    /// mount namespace (bind-mounts /dev/null over it) for the CLI only. Expected: libvirt's kind of
    /// error (e.g. "internal error: the rbd pool type needs librados.so.2, which is not installed"), exit 1.
    /// </summary>
    [Theory]
    [InlineData("rbd", "librados.so.2", "<pool type='rbd'><name>nolib</name><source><host name='127.0.0.1' port='6789'/><name>rbd</name></source></pool>")]
    [InlineData("gluster", "libgfapi.so.0", "<pool type='gluster'><name>nolib</name><source><host name='127.0.0.1'/><name>gv0</name></source></pool>")]
    public async Task A_network_pool_without_its_client_library_crashes_the_cli_with_a_dotnet_exception(string type, string library, string xml)
    {
        var file = Path.Combine(_root, type + ".xml");
        await File.WriteAllTextAsync(file, xml);
        var real = new FileInfo(Path.Combine("/usr/lib/x86_64-linux-gnu", library)).ResolveLinkTarget(returnFinalTarget: true)?.FullName
            ?? Path.Combine("/usr/lib/x86_64-linux-gnu", library);
        var cli = VirtPoolCli.CreateStartInfo(Path.Combine(_root, "state-" + type), "pool-create", file);
        var run = await ChildProcess.RunAsync(
            "unshare",
            ["-m", "sh", "-c", "mount --bind /dev/null \"$0\" && exec \"$@\"", real, cli.FileName, .. cli.ArgumentList]);

        Assert.DoesNotContain("Unhandled exception", run.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("System.DllNotFoundException", run.Stderr, StringComparison.Ordinal);
        Assert.Equal(1, run.ExitCode);
        Assert.StartsWith("error: ", run.Stderr, StringComparison.Ordinal);
    }
}
