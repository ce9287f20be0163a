using System.Text.Json;
using VirtPool.Core.Process;

namespace VirtPool.Formats.Tests;

/// <summary>A private temporary directory, deleted with everything in it on dispose.</summary>
public sealed class TempDir : IDisposable
{
    public TempDir()
    {
        Path = Directory.CreateTempSubdirectory("virtpool-formats-").FullName;
    }

    public string Path { get; }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>Runs the real qemu-img (qemu-utils).</summary>
public static class QemuImg
{
    public const string Program = "/usr/bin/qemu-img";

    public static async Task<ProcessResult> RunAsync(params string[] args)
    {
        Assert.True(File.Exists(Program), "qemu-img is required for these tests: apt-get install qemu-utils");
        return await ProcessRunner.Instance.RunAsync([Program, .. args]).ConfigureAwait(false);
    }

    /// <summary>
    /// qemu-img create. LUKS key derivation benchmarks the CPU and, on this kind of VM, fails at random
    /// with "Unable to get accurate CPU usage"; that one failure is retried.
    /// </summary>
    public static async Task CreateAsync(string dir, params string[] args)
    {
        for (var attempt = 0; ; attempt++)
        {
            var result = await RunAsync(["create", "-q", .. args]).ConfigureAwait(false);
            if (result.Succeeded)
            {
                return;
            }

            if (attempt < 50 && result.StandardError.Contains("Unable to get accurate CPU usage", StringComparison.Ordinal))
            {
                continue;
            }

            Assert.Fail($"qemu-img create {string.Join(' ', args)} in {dir} failed: {result.StandardError}");
        }
    }

    /// <summary>qemu-img info --output=json, parsed with JsonDocument (no reflection).</summary>
    public static async Task<QemuInfo> InfoAsync(string path)
    {
        var result = await RunAsync("info", "--output=json", path).ConfigureAwait(false);
        Assert.True(result.Succeeded, result.StandardError);
        using var doc = JsonDocument.Parse(result.StandardOutput);
        return QemuInfo.From(doc.RootElement);
    }
}

/// <summary>The fields of qemu-img info the probe is compared with.</summary>
public sealed record QemuInfo(
    string Format,
    ulong VirtualSize,
    string? BackingFilename,
    string? BackingFilenameFormat,
    string? Compat,
    bool? LazyRefcounts,
    bool? ExtendedL2,
    ulong? ClusterSize,
    bool Encrypted,
    string? EncryptFormat)
{
    public static QemuInfo From(JsonElement root)
    {
        string? compat = null;
        string? encryptFormat = null;
        bool? lazy = null;
        bool? extL2 = null;
        if (root.TryGetProperty("format-specific", out var specific) && specific.TryGetProperty("data", out var data))
        {
            compat = Str(data, "compat");
            lazy = Bool(data, "lazy-refcounts");
            extL2 = Bool(data, "extended-l2");
            if (data.TryGetProperty("encrypt", out var encrypt))
            {
                encryptFormat = Str(encrypt, "format");
            }
        }

        return new QemuInfo(
            Str(root, "format") ?? throw new InvalidOperationException("no format"),
            root.GetProperty("virtual-size").GetUInt64(),
            Str(root, "backing-filename"),
            Str(root, "backing-filename-format"),
            compat,
            lazy,
            extL2,
            root.TryGetProperty("cluster-size", out var cs) ? cs.GetUInt64() : null,
            Bool(root, "encrypted") ?? false,
            encryptFormat);
    }

    private static string? Str(JsonElement e, string name) => e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    private static bool? Bool(JsonElement e, string name) => e.TryGetProperty(name, out var v) && v.ValueKind is JsonValueKind.True or JsonValueKind.False ? v.GetBoolean() : null;
}
