using Microsoft.Win32.SafeHandles;
using VirtPool.Cli.Output;
using VirtPool.Core.Backends;
using VirtPool.Core.Errors;
using VirtPool.Core.Interop;
using VirtPool.Core.Manager;
using VirtPool.Core.Xml;

namespace VirtPool.Cli.Commands;

/// <summary>
/// virsh's vol-clone, vol-create-from, vol-wipe, vol-upload and vol-download (virsh-volume.c), plus
/// VirtPool's vol-checksum and vol-label. Long operations draw a progress bar on a terminal and stop
/// cleanly on Ctrl-C.
/// </summary>
public sealed partial class StorageCommands
{
    private static readonly string[] WipeAlgorithms = ["zero", "nnsa", "dod", "bsi", "gutmann", "schneier", "pfitzner7", "pfitzner33", "random", "trim"];

    /// <summary>cmdVolClone: the original's XML with a new name, created from the original in its pool.</summary>
    private async Task<bool> VolCloneAsync()
    {
        var flags = CreateFlags() | ReflinkFlag();
        var (original, _) = await OptVolAsync().ConfigureAwait(false);
        var newName = _cmd.GetStringReq("newname")!;
        var originalXml = await _mgr.GetVolumeXmlAsync(original).ConfigureAwait(false);
        var cloneXml = MakeCloneXml(originalXml, newName);
        if (_cmd.GetBool("print-xml"))
        {
            _out.Print(SerializeLikeLibxml(originalXml, newName));
            return true;
        }

        var total = (long)(await _mgr.GetVolumeAsync(original).ConfigureAwait(false)).Capacity;
        using var progress = ProgressBar.ForConsole($"Cloning {original.Name}", total, _out.Quiet);
        var made = await Wrap(() => _mgr.CreateVolumeFromAsync(original.Pool, cloneXml, original, flags, progress, _ct), VirshMessages.FailedToCloneVol(original.Name)).ConfigureAwait(false);
        progress.Dispose();
        _out.PrintExtra(VirshMessages.VolCloned(made.Name, original.Name));
        return true;
    }

    /// <summary>cmdVolCreateFrom: a volume from an XML file, its data from --vol (looked up in --inputpool).</summary>
    private async Task<bool> VolCreateFromAsync()
    {
        var (pool, _) = await OptPoolAsync().ConfigureAwait(false);
        var flags = CreateFlags() | ReflinkFlag();
        var file = _cmd.GetStringReq("file")!;
        var (input, _) = await OptVolAsync(poolOption: "inputpool").ConfigureAwait(false);
        var xml = ReadXmlFile(file);
        var total = (long)(await _mgr.GetVolumeAsync(input).ConfigureAwait(false)).Capacity;
        using var progress = ProgressBar.ForConsole($"Copying {input.Name}", total, _out.Quiet);
        var made = await Wrap(() => _mgr.CreateVolumeFromAsync(pool.Name, xml, input, flags, progress, _ct), VirshMessages.FailedToCreateVolFrom(file)).ConfigureAwait(false);
        progress.Dispose();
        _out.PrintExtra(VirshMessages.VolCreatedFromInput(made.Name, input.Name));
        return true;
    }

    /// <summary>cmdVolWipe: every algorithm runs natively (libvirt needs the scrub binary for all but zero).</summary>
    private async Task<bool> VolWipeAsync()
    {
        var (vol, shown) = await OptVolAsync().ConfigureAwait(false);
        var algorithmText = _cmd.GetStringReq("algorithm");
        var algorithm = VolumeWipeAlgorithm.Zero;
        if (algorithmText is not null)
        {
            var index = Array.IndexOf(WipeAlgorithms, algorithmText);
            if (index < 0)
            {
                throw new CommandFailedException(VirshMessages.UnsupportedWipeAlgorithm(algorithmText));
            }

            algorithm = (VolumeWipeAlgorithm)index;
        }

        using var progress = ProgressBar.ForConsole($"Wiping {vol.Name}", 0, _out.Quiet);
        await Wrap(async () =>
        {
            await _mgr.WipeVolumeAsync(vol, algorithm, progress, _ct).ConfigureAwait(false);
            return true;
        }, VirshMessages.FailedToWipeVol(shown)).ConfigureAwait(false);
        progress.Dispose();
        _out.PrintExtra(VirshMessages.VolWiped(shown));
        return true;
    }

    /// <summary>
    /// cmdVolUpload: the whole local file, written at --offset. More data than --length is refused
    /// before anything is written (libvirt writes --length bytes, then fails with ENOSPC).
    /// </summary>
    private async Task<bool> VolUploadAsync()
    {
        var offset = _cmd.GetULongLong("offset") ?? 0;
        var length = _cmd.GetULongLong("length", wrap: true) ?? 0;
        var (vol, shown) = await OptVolAsync().ConfigureAwait(false);
        var file = _cmd.GetStringReq("file")!;
        SafeFileHandle handle;
        try
        {
            handle = File.OpenHandle(file, FileMode.Open, FileAccess.Read);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new CommandFailedException(VirshMessages.CannotRead(file));
        }

        using (handle)
        {
            if (!FileStat.TryFStat((int)handle.DangerousGetHandle(), out var st, out _))
            {
                throw new CommandFailedException(VirshMessages.UnableToStat(file));
            }

            if (!st.IsRegular && !st.IsBlockDevice)
            {
                // A pipe or character device (e.g. /dev/stdin): read until it ends, at most the volume.
                await using var stream = new FileStream(handle, FileAccess.Read, 1, isAsync: false);
                using var streamProgress = ProgressBar.ForConsole($"Uploading {file}", 0, _out.Quiet);
                await Wrap(() => _mgr.UploadVolumeAsync(vol, new StreamEndpoint(stream), offset, length, _cmd.GetBool("sparse"), streamProgress, _ct), VirshMessages.CannotUploadToVolume(shown)).ConfigureAwait(false);
                return true;
            }

            // A block device's size comes from the backend (BLKGETSIZE64).
            var size = st.IsRegular ? (ulong)st.Size : 0;
            if (length > 0 && size > length)
            {
                throw new CommandFailedException(VirshMessages.CannotSendDataToVolume(shown), VirtPoolException.System("cannot write to stream", Errno.ENOSPC));
            }

            var toSend = length > 0 ? Math.Min(length, size) : size;
            using var progress = ProgressBar.ForConsole($"Uploading {file}", (long)toSend, _out.Quiet);
            await Wrap(() => _mgr.UploadVolumeAsync(vol, new LocalFileEndpoint(handle), offset, toSend, _cmd.GetBool("sparse"), progress, _ct), VirshMessages.CannotUploadToVolume(shown)).ConfigureAwait(false);
        }

        return true;
    }

    /// <summary>cmdVolDownload: into FILE (created, or truncated if it exists; removed again on failure if created).</summary>
    private async Task<bool> VolDownloadAsync()
    {
        var offset = _cmd.GetULongLong("offset") ?? 0;
        var length = _cmd.GetULongLong("length", wrap: true) ?? 0;
        var (vol, shown) = await OptVolAsync().ConfigureAwait(false);
        var file = _cmd.GetStringReq("file")!;
        var created = true;
        var fd = LibC.Open(file, LibC.O_WRONLY | LibC.O_CREAT | LibC.O_EXCL | LibC.O_CLOEXEC, 0x1B6);
        if (fd < 0)
        {
            created = false;
            if (LibC.Errno != Errno.EEXIST || (fd = LibC.Open(file, LibC.O_WRONLY | LibC.O_TRUNC | LibC.O_CLOEXEC, 0x1B6)) < 0)
            {
                throw new CommandFailedException(VirshMessages.CannotCreate(file));
            }
        }

        using var handle = new SafeFileHandle(fd, ownsHandle: true);
        var ok = false;
        try
        {
            var total = length > 0 ? (long)length : (long)(await _mgr.GetVolumeAsync(vol).ConfigureAwait(false)).Capacity - (long)offset;
            using var progress = ProgressBar.ForConsole($"Downloading {vol.Name}", Math.Max(0, total), _out.Quiet);
            await Wrap(() => _mgr.DownloadVolumeAsync(vol, new LocalFileEndpoint(handle), offset, length, _cmd.GetBool("sparse"), progress, _ct), VirshMessages.CannotDownloadFromVolume(shown)).ConfigureAwait(false);
            ok = true;
        }
        finally
        {
            if (!ok && created)
            {
                LibC.Unlink(file);
            }
        }

        return true;
    }

    /// <summary>VirtPool's vol-checksum: "SHA256  PATH", as sha256sum prints it (so sha256sum -c can check it).</summary>
    private async Task<bool> VolChecksumAsync()
    {
        var (vol, _) = await OptVolAsync().ConfigureAwait(false);
        var def = await _mgr.GetVolumeAsync(vol).ConfigureAwait(false);
        using var progress = ProgressBar.ForConsole($"Reading {vol.Name}", (long)def.Capacity, _out.Quiet);
        var hash = await _mgr.ChecksumVolumeAsync(vol, progress, _ct).ConfigureAwait(false);
        progress.Dispose();
        _out.Print($"{Convert.ToHexStringLower(hash)}  {def.Target.Path}\n");
        return true;
    }

    /// <summary>VirtPool's vol-label: KEY=VALUE sets, KEY- removes; prints the labels afterwards, one per line.</summary>
    private async Task<bool> VolLabelAsync()
    {
        var (vol, _) = await OptVolAsync().ConfigureAwait(false);
        var set = new Dictionary<string, string>(StringComparer.Ordinal);
        var remove = new List<string>();
        foreach (var argument in _cmd.Has("labels") ? _cmd.GetArgv("labels") : [])
        {
            var eq = argument.IndexOf('=', StringComparison.Ordinal);
            if (eq > 0)
            {
                set[argument[..eq]] = argument[(eq + 1)..];
            }
            else if (eq < 0 && argument.Length > 1 && argument.EndsWith('-'))
            {
                remove.Add(argument[..^1]);
            }
            else
            {
                throw VirtPoolException.InvalidArg($"label '{argument}' is neither KEY=VALUE nor KEY-");
            }
        }

        var labels = await _mgr.UpdateVolumeLabelsAsync(vol, set, remove).ConfigureAwait(false);
        foreach (var (key, value) in labels)
        {
            _out.Print($"{key}={value}\n");
        }

        return true;
    }

    private VolumeCreateFlags ReflinkFlag() => _cmd.GetBool("reflink") ? VolumeCreateFlags.Reflink : VolumeCreateFlags.None;

    private static string? LabelText(IReadOnlyDictionary<string, string> labels)
        => string.Join(',', labels.Select(l => l.Key + "=" + l.Value));

    /// <summary>
    /// virshMakeCloneXML: libxml2 re-serialises the original document with /volume/name replaced, after
    /// an XML declaration. VirtPool's own XML has one &lt;name&gt; as the volume element's first child.
    /// </summary>
    /// <summary>
    /// What virsh prints for vol-clone --print-xml: the renamed document as libxml2 serialises the root
    /// node, attribute values in double quotes and no XML declaration.
    /// </summary>
    private static string SerializeLikeLibxml(string originalXml, string newName)
    {
        var renamed = MakeCloneXml(originalXml, newName);
        renamed = renamed[(renamed.IndexOf('\n', StringComparison.Ordinal) + 1)..].TrimEnd('\n');
        return TagRegex().Replace(renamed, tag => SingleQuotedAttributeRegex().Replace(tag.Value, a => $"{a.Groups[1].Value}=\"{a.Groups[2].Value.Replace("\"", "&quot;", StringComparison.Ordinal)}\""));
    }

    [System.Text.RegularExpressions.GeneratedRegex("<[^>]*>")]
    private static partial System.Text.RegularExpressions.Regex TagRegex();

    [System.Text.RegularExpressions.GeneratedRegex("(\\s[\\w:.-]+)='([^']*)'")]
    private static partial System.Text.RegularExpressions.Regex SingleQuotedAttributeRegex();

    private static string MakeCloneXml(string originalXml, string newName)
    {
        const string open = "<name>";
        var start = originalXml.IndexOf(open, StringComparison.Ordinal);
        var end = originalXml.IndexOf("</name>", start + open.Length, StringComparison.Ordinal);
        var escaped = XmlBuffer.Escape(newName);
        return "<?xml version=\"1.0\"?>\n" + originalXml[..(start + open.Length)] + escaped + originalXml[end..];
    }
}
