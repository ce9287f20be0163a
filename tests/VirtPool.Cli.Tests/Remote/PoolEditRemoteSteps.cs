using VirtPool.Cli.Tests.Support;

namespace VirtPool.Cli.Tests.Remote;

/// <summary>pool-edit over a connection (virStoragePoolGetXMLDesc with INACTIVE, then virStoragePoolDefineXML), in the remote scenario.</summary>
public static class PoolEditRemoteSteps
{
    public static async Task RunAsync(RemoteRun run)
    {
        ArgumentNullException.ThrowIfNull(run);
        using var editors = new EditorScripts();
        await run.StepWithEnvAsync(EditorScripts.With(editors.Unchanged), "pool-edit", "@POOL@");
        await run.StepWithEnvAsync(EditorScripts.With(editors.AddPermissions), "pool-edit", "@POOL@");
        await run.StepAsync("pool-dumpxml", "@POOL@", "--inactive");
        await run.StepWithEnvAsync(EditorScripts.With(editors.Fail), "pool-edit", "@POOL@");
        await run.StepWithEnvAsync(EditorScripts.With(editors.Unchanged), "pool-edit", "nosuch");
    }
}
