using System.Text;
using Microsoft.Win32.SafeHandles;
using VirtPool.Cli.Output;
using VirtPool.Cli.Parsing;
using VirtPool.Core.Errors;
using VirtPool.Core.Interop;
using VirtPool.Core.Manager;
using VirtPool.Core.Secrets;
using VirtPool.Core.Xml;

namespace VirtPool.Cli.Commands;

/// <summary>
/// virsh's secret-* commands (tools/virsh-secret.c, libvirt 9.0) on the embedded <see cref="SecretStore"/>:
/// the same lookups, option checks, messages and output. Errors are thrown for the caller
/// (<see cref="StorageCommands"/>) to print as virsh does: a <see cref="CommandFailedException"/> is
/// virsh's own message followed by the library error, a <see cref="VirtPoolException"/> the library
/// error alone.
/// </summary>
public sealed class SecretCommands
{
    /// <summary>cmdSecretSetValue reads at most this much from --file.</summary>
    private const int MaxValueFile = 1024;

    private readonly ParsedCommand _cmd;
    private readonly ISecretApi _store;
    private readonly VirshConsole _out;

    private SecretCommands(ParsedCommand cmd, ISecretApi store, VirshConsole console)
    {
        _cmd = cmd;
        _store = store;
        _out = console;
    }

    /// <summary>Whether <paramref name="command"/> is one of the secret commands this class runs.</summary>
    public static bool Handles(string command) => command is "secret-define" or "secret-dumpxml" or "secret-get-value"
        or "secret-list" or "secret-set-value" or "secret-undefine";

    /// <summary>Runs one secret command; true when it succeeded.</summary>
    public static Task<bool> RunAsync(ParsedCommand cmd, SecretStore store, VirshConsole console)
        => RunAsync(cmd, new Remote.EmbeddedSecretApi(store), console);

    /// <summary>Runs one secret command on the embedded store or over a connection; true when it succeeded.</summary>
    public static Task<bool> RunAsync(ParsedCommand cmd, ISecretApi secrets, VirshConsole console)
    {
        var commands = new SecretCommands(cmd, secrets, console);
        return cmd.Name switch
        {
            "secret-define" => commands.Define(),
            "secret-dumpxml" => commands.DumpXml(),
            "secret-get-value" => commands.GetValue(),
            "secret-list" => commands.List(),
            "secret-set-value" => commands.SetValue(),
            "secret-undefine" => commands.Undefine(),
            _ => throw VirtPoolException.NoSupport($"virtpool does not implement '{cmd.Name}' yet"),
        };
    }

    private async Task<bool> Define()
    {
        var file = _cmd.GetStringReq("file")!;
        var xml = Encoding.UTF8.GetString(BoundedFile.ReadAll(file, BoundedFile.MaxXmlFile));
        SecretDefinition def;
        try
        {
            def = await _store.DefineSecretAsync(xml).ConfigureAwait(false);
        }
        catch (VirtPoolException ex)
        {
            throw new CommandFailedException($"Failed to set attributes from {file}", ex);
        }

        _out.PrintExtra($"Secret {def.UuidString} created\n");
        return true;
    }

    private async Task<bool> DumpXml()
    {
        var (def, _) = await OptSecret().ConfigureAwait(false);
        _out.Print(await _store.GetSecretXmlAsync(def).ConfigureAwait(false));
        return true;
    }

    private async Task<bool> SetValue()
    {
        var plain = _cmd.GetBool("plain");
        var interactive = _cmd.GetBool("interactive");
        Exclusive("file", "base64");
        Exclusive("plain", "base64");
        Exclusive("interactive", "base64");
        Exclusive("interactive", "plain");
        Exclusive("interactive", "file");

        var (def, _) = await OptSecret().ConfigureAwait(false);
        var base64 = _cmd.GetStringReq("base64");
        var file = _cmd.GetStringReq("file");
        byte[] value;
        if (base64 is not null)
        {
            _out.Error("Passing secret value as command-line argument is insecure!");
            value = Encoding.UTF8.GetBytes(base64);
        }
        else if (file is not null)
        {
            value = BoundedFile.ReadAll(file, MaxValueFile);
        }
        else if (interactive)
        {
            // virsh would prompt "Enter new value for secret:" and read the terminal without echo.
            throw VirtPoolException.NoSupport("virtpool does not implement --interactive yet: use --file or --base64");
        }
        else
        {
            throw new CommandFailedException("Input secret value is missing");
        }

        if (!plain)
        {
            var encoded = value;
            value = GBase64.Decode(encoded);
            Array.Clear(encoded);
        }

        try
        {
            await _store.SetSecretValueAsync(def, value).ConfigureAwait(false);
        }
        catch (VirtPoolException ex)
        {
            throw new CommandFailedException("Failed to set secret value", ex);
        }
        finally
        {
            Array.Clear(value);
        }

        _out.PrintExtra("Secret value set\n");
        return true;
    }

    private async Task<bool> GetValue()
    {
        var plain = _cmd.GetBool("plain");
        var (def, _) = await OptSecret().ConfigureAwait(false);
        var value = await _store.GetSecretValueAsync(def).ConfigureAwait(false);
        try
        {
            if (!plain)
            {
                _out.Print(Convert.ToBase64String(value));
            }
            else if (System.Text.Unicode.Utf8.IsValid(value))
            {
                _out.Print(Encoding.UTF8.GetString(value));
            }
            else
            {
                // Not text: the bytes go to stdout as they are, after what was printed before.
                _out.Flush();
                using var stdout = StandardStreams.OpenOutput();
                stdout.Write(value);
                stdout.Flush();
            }
        }
        finally
        {
            Array.Clear(value);
        }

        return true;
    }

    private async Task<bool> List()
    {
        var flags = SecretListFlags.None;
        if (_cmd.GetBool("ephemeral"))
        {
            flags |= SecretListFlags.Ephemeral;
        }

        if (_cmd.GetBool("no-ephemeral"))
        {
            flags |= SecretListFlags.NoEphemeral;
        }

        if (_cmd.GetBool("private"))
        {
            flags |= SecretListFlags.Private;
        }

        if (_cmd.GetBool("no-private"))
        {
            flags |= SecretListFlags.NoPrivate;
        }

        IReadOnlyList<SecretDefinition> secrets;
        try
        {
            secrets = await _store.ListSecretsAsync(flags).ConfigureAwait(false);
        }
        catch (VirtPoolException ex)
        {
            throw new CommandFailedException("Failed to list node secrets", ex);
        }

        var table = new VirshTable("UUID", "Usage");
        foreach (var def in secrets.OrderBy(d => d.UuidString, StringComparer.OrdinalIgnoreCase))
        {
            table.AddRow(def.UuidString, def.UsageType == SecretUsageType.None
                ? "Unused"
                : SecretUsageTypes.Name(def.UsageType) + " " + def.UsageId);
        }

        _out.Print(table.Render(header: !_out.Quiet));
        return true;
    }

    private async Task<bool> Undefine()
    {
        var (def, shown) = await OptSecret().ConfigureAwait(false);
        try
        {
            await _store.UndefineSecretAsync(def).ConfigureAwait(false);
        }
        catch (VirtPoolException ex)
        {
            throw new CommandFailedException($"Failed to delete secret {shown}", ex);
        }

        _out.PrintExtra($"Secret {shown} deleted\n");
        return true;
    }

    /// <summary>virshCommandOptSecret: virSecretLookupByUUIDString, "failed to get secret 'X'" on failure.</summary>
    private async Task<(SecretDefinition Secret, string Shown)> OptSecret()
    {
        var text = _cmd.GetStringReq("secret")!;
        if (!LibvirtUuid.TryParse(text, out var uuid))
        {
            throw new CommandFailedException(
                $"failed to get secret '{text}'",
                VirtPoolException.Verbatim(VirErrorCode.InvalidArg, "uuidstr in virSecretLookupByUUIDString must be a valid UUID", VirErrorDomain.Secret));
        }

        try
        {
            return (await _store.LookupSecretByUuidAsync(uuid).ConfigureAwait(false), text);
        }
        catch (VirtPoolException ex)
        {
            throw new CommandFailedException($"failed to get secret '{text}'", ex);
        }
    }

    /// <summary>VSH_EXCLUSIVE_OPTIONS.</summary>
    private void Exclusive(string first, string second)
    {
        if (_cmd.Has(first) && _cmd.Has(second))
        {
            throw new CommandFailedException(VirshMessages.MutuallyExclusive(first, second));
        }
    }

    /// <summary>
    /// GLib's g_base64_decode, which virsh uses: the text ends at the first NUL, characters outside the
    /// alphabet are skipped, '=' counts as a zero digit that drops output bytes, and an incomplete last
    /// group is dropped. It never fails.
    /// </summary>
    internal static class GBase64
    {
        private const string Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

        public static byte[] Decode(ReadOnlySpan<byte> text)
        {
            var nul = text.IndexOf((byte)0);
            if (nul >= 0)
            {
                text = text[..nul];
            }

            var output = new List<byte>(text.Length / 4 * 3);
            uint v = 0;
            var i = 0;
            byte last0 = 0, last1 = 0;
            foreach (var c in text)
            {
                int rank;
                if (c == '=')
                {
                    rank = 0;
                }
                else
                {
                    rank = c < 128 ? Alphabet.IndexOf((char)c, StringComparison.Ordinal) : -1;
                    if (rank < 0)
                    {
                        continue;
                    }
                }

                last1 = last0;
                last0 = c;
                v = (v << 6) | (uint)rank;
                if (++i == 4)
                {
                    output.Add((byte)(v >> 16));
                    if (last1 != '=')
                    {
                        output.Add((byte)(v >> 8));
                    }

                    if (last0 != '=')
                    {
                        output.Add((byte)v);
                    }

                    i = 0;
                }
            }

            return [.. output];
        }
    }
}
