using System.Text.RegularExpressions;

namespace VirtPool.Cli.Tests.Support;

/// <summary>
/// A sandbox for tests that define secrets: the oracle keeps secrets in its private /etc/libvirt/secrets
/// (shared by every test), so each test's scope removes them before and after.
/// </summary>
internal sealed partial class SecretScope : IAsyncDisposable
{
    private readonly LibvirtOracle _oracle;

    private SecretScope(LibvirtOracle oracle, DiffSandbox sandbox)
    {
        _oracle = oracle;
        Sandbox = sandbox;
    }

    public DiffSandbox Sandbox { get; }

    public static async Task<SecretScope> StartAsync(LibvirtOracle oracle)
    {
        await RemoveOracleSecretsAsync(oracle);
        return new SecretScope(oracle, await oracle.NewSandboxAsync());
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await RemoveOracleSecretsAsync(_oracle);
        }
        finally
        {
            await Sandbox.DisposeAsync();
        }
    }

    private static async Task RemoveOracleSecretsAsync(LibvirtOracle oracle)
    {
        foreach (var uuid in await OracleSecretsAsync(oracle))
        {
            await oracle.VirshAsync("secret-undefine", uuid);
        }

        var left = await OracleSecretsAsync(oracle);
        if (left.Count > 0)
        {
            throw new InvalidOperationException($"the oracle libvirtd still holds secrets: {string.Join(", ", left)}");
        }
    }

    private static async Task<List<string>> OracleSecretsAsync(LibvirtOracle oracle)
    {
        var list = await oracle.VirshAsync("-q", "secret-list");
        if (list.ExitCode != 0)
        {
            throw new InvalidOperationException($"virsh secret-list failed on the oracle: {list.Stderr}");
        }

        return [.. list.Stdout.Split('\n').Select(l => UuidRegex().Match(l)).Where(m => m.Success).Select(m => m.Value)];
    }

    [GeneratedRegex("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")]
    private static partial Regex UuidRegex();
}
