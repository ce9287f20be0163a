using VirtPool.Core.Errors;

namespace VirtPool.Cli.Commands;

/// <summary>pool-edit (cmdPoolEdit): the pool's inactive definition through $EDITOR, defined again when changed.</summary>
public sealed partial class StorageCommands
{
    private async Task<bool> PoolEditAsync()
    {
        var (pool, _) = await OptPoolAsync().ConfigureAwait(false);

        // virsh asks for the inactive definition, and falls back to the live one when a daemon refuses the flag.
        var inactive = true;
        try
        {
            await _mgr.GetPoolXmlAsync(pool.Name, inactive: true).ConfigureAwait(false);
        }
        catch (VirtPoolException ex) when (ex.Code == VirErrorCode.InvalidArg)
        {
            inactive = false;
        }

        var (result, definedName) = await XmlEditSession.RunAsync(
            _out,
            () => _mgr.GetPoolXmlAsync(pool.Name, inactive),
            async xml => (await _mgr.DefinePoolAsync(xml).ConfigureAwait(false)).Name,
            _ct).ConfigureAwait(false);
        switch (result)
        {
            case XmlEditResult.NotChanged:
                _out.PrintExtra($"Pool {pool.Name} XML configuration not changed.\n");
                return true;
            case XmlEditResult.Edited:
                _out.PrintExtra($"Pool {definedName} XML configuration edited.\n");
                return true;
            default:
                // the user answered n: the define's error was shown before the question
                return false;
        }
    }
}
