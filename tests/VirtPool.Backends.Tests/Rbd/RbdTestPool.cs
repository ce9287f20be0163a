using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using VirtPool.Backends.Network;
using VirtPool.Backends.Rbd;
using VirtPool.Core.Backends;
using VirtPool.Core.Manager;
using VirtPool.Core.Model;
using VirtPool.Core.State;
using VirtPool.Core.Xml;
using VirtPool.TestSupport;

namespace VirtPool.Backends.Tests.Rbd;

/// <summary>
/// What the rbd tests share: the test process's Ceph cluster (<see cref="CephCluster.Shared"/>), a
/// private state folder with a <see cref="PoolManager"/> that knows the rbd type, pool XML with cephx
/// through a secret, unique image names, and readings of an image from the rbd CLI (as client.admin).
/// </summary>
internal sealed class RbdTestPool : IDisposable
{
    private static int _counter;

    private readonly string _root = Directory.CreateTempSubdirectory("vp-rbd-").FullName;
    private readonly List<string> _images = [];

    public RbdTestPool(NetworkConnectionOptions? options = null, CephCluster? cluster = null)
    {
        Ceph = cluster ?? CephCluster.Shared;
        var type = options is null ? RbdBackend.Type() : RbdBackend.Type(options);
        // A dir pool too, as the source of full copies into rbd.
        Manager = new PoolManager(new StateStore(_root), new BackendRegistry([type, Dir.DirBackend.Type(Core.Process.ProcessRunner.Instance)]));
    }

    public CephCluster Ceph { get; }

    public PoolManager Manager { get; }

    public string Root => _root;

    /// <summary>A name no other test uses; the image, if made, is removed on dispose.</summary>
    public string NewImageName(string what)
    {
        var name = $"vp{Environment.ProcessId}-{Interlocked.Increment(ref _counter)}-{what}";
        _images.Add(name);
        return name;
    }

    /// <summary>A ceph secret (usage NAME) holding client.libvirt's key, as virsh secret-set-value stores it.</summary>
    public async Task<string> DefineCephSecretAsync(byte[]? value = null)
    {
        var usage = $"vp-rbd-{Guid.NewGuid():N}";
        var secret = Manager.Secrets.Define($"<secret ephemeral='no' private='no'><usage type='ceph'><name>{usage}</name></usage></secret>");
        Manager.Secrets.SetValue(secret.Uuid, value ?? Ceph.LibvirtKeyBytes);
        return await Task.FromResult(usage);
    }

    public string PoolXml(string name, string auth, string extra = "", int? port = null)
        => $"<pool type='rbd'><name>{name}</name><source><host name='{CephCluster.MonHost}' port='{port ?? Ceph.MonPort}'/><name>{CephCluster.Pool}</name>{auth}</source>{extra}</pool>";

    public static string CephAuth(string usage) => $"<auth type='ceph' username='{CephCluster.User}'><secret usage='{usage}'/></auth>";

    /// <summary>Defines and starts a pool with cephx through a fresh secret.</summary>
    public async Task<string> StartPoolAsync(string extra = "")
    {
        var name = $"rbd{Interlocked.Increment(ref _counter)}";
        var usage = await DefineCephSecretAsync();
        await Manager.DefinePoolAsync(PoolXml(name, CephAuth(usage), extra));
        await Manager.StartPoolAsync(name, PoolBuildFlags.None, doBuild: false);
        return name;
    }

    /// <summary>A backend loaded directly (no manager), with the key handed over as the secret accessor would.</summary>
    public (RbdBackend Backend, PoolContext Context) LoadBackend(string extra = "", NetworkConnectionOptions? options = null)
    {
        var definition = Core.Xml.PoolXml.Parse(PoolXml("direct", $"<auth type='ceph' username='{CephCluster.User}'><secret usage='unused'/></auth>", extra));
        var context = new PoolContext(definition) { AuthSecret = _ => Ceph.LibvirtKeyBytes };
        var type = options is null ? RbdBackend.Type() : RbdBackend.Type(options);
        return ((RbdBackend)type.Load(context), context);
    }

    /// <summary><c>rbd du</c>'s used bytes of an image (its own, without the parent's).</summary>
    public ulong UsedBytes(string image)
    {
        using var doc = JsonDocument.Parse(Ceph.Rbd("du", "--format", "json", $"{CephCluster.Pool}/{image}"));
        return doc.RootElement.GetProperty("images").EnumerateArray()
            .Where(i => i.GetProperty("name").GetString() == image && !i.TryGetProperty("snapshot", out _))
            .Select(i => i.GetProperty("used_size").GetUInt64())
            .Single();
    }

    /// <summary><c>rbd info --format json</c> of an image.</summary>
    public JsonDocument Info(string image) => JsonDocument.Parse(Ceph.Rbd("info", "--format", "json", $"{CephCluster.Pool}/{image}"));

    /// <summary>The image's snapshots as <c>rbd snap ls</c> lists them: name and whether protected.</summary>
    public List<(string Name, bool Protected)> Snapshots(string image)
    {
        using var doc = JsonDocument.Parse(Ceph.Rbd("snap", "ls", "--format", "json", $"{CephCluster.Pool}/{image}"));
        return [.. doc.RootElement.EnumerateArray().Select(s => (s.GetProperty("name").GetString()!, s.GetProperty("protected").GetString() == "true"))];
    }

    public bool Exists(string image) => Ceph.RbdResult("info", $"{CephCluster.Pool}/{image}").ExitCode == 0;

    /// <summary>SHA-256 of the image's bytes as <c>rbd export</c> writes them.</summary>
    public string ExportSha256(string image)
    {
        var file = Path.Combine(_root, "export-" + image);
        Ceph.Rbd("export", $"{CephCluster.Pool}/{image}", file);
        try
        {
            using var stream = File.OpenRead(file);
            return Convert.ToHexStringLower(SHA256.HashData(stream));
        }
        finally
        {
            File.Delete(file);
        }
    }

    public static string Sha256(string file)
    {
        using var stream = File.OpenRead(file);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }

    /// <summary>A sparse file of <paramref name="size"/> bytes with random data at the given (offset, length) runs.</summary>
    public string SparseFile(string name, long size, params (long Offset, int Length)[] data)
    {
        var path = Path.Combine(_root, name);
        using (var file = new FileStream(path, FileMode.Create, FileAccess.Write))
        {
            file.SetLength(size);
            foreach (var (offset, length) in data)
            {
                file.Position = offset;
                file.Write(RandomNumberGenerator.GetBytes(length));
            }
        }

        return path;
    }

    /// <summary>The bytes a file takes on disk (st_blocks × 512).</summary>
    public static long AllocatedBytes(string path)
        => Core.Interop.FileStat.TryStat(path, out var st, out _) ? st.AllocatedBytes : throw new FileNotFoundException(path);

    public static string Mib(ulong bytes) => (bytes >> 20).ToString(CultureInfo.InvariantCulture);

    public void Dispose()
    {
        Manager.Dispose();
        foreach (var image in Enumerable.Reverse(_images))
        {
            if (Exists(image))
            {
                // Clones first (reverse order of making), then snapshots, then the image.
                foreach (var (snap, isProtected) in Snapshots(image))
                {
                    if (isProtected)
                    {
                        Ceph.RbdResult("snap", "unprotect", $"{CephCluster.Pool}/{image}@{snap}");
                    }
                }

                Ceph.RbdResult("snap", "purge", $"{CephCluster.Pool}/{image}");
                Ceph.RbdResult("rm", $"{CephCluster.Pool}/{image}");
            }
        }

        Directory.Delete(_root, recursive: true);
    }
}
