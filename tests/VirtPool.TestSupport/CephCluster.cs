using System.Globalization;
using VirtPool.Core.Process;

namespace VirtPool.TestSupport;

/// <summary>
/// A private single-node Ceph (tests/services/ceph-up.sh: one mon, one memstore OSD, no mgr, cephx,
/// a pool "rbd" and the cephx user client.libvirt with 'profile rbd' on it) on 127.0.0.1. Torn down
/// (ceph-down.sh: its own daemons, its folder) on Dispose, and at once when the start fails.
/// </summary>
/// <remarks>
/// <para>One cluster per test process: <see cref="Shared"/>, started by its first user and stopped when
/// the process exits. Not a collection fixture: the rbd tests belong to other collections already (the
/// CLI's differential tests all share the libvirt oracle's collection, and a class has one collection),
/// and a class fixture would start a cluster (~10 s) per class. A test that breaks its cluster on
/// purpose (a fault drill) makes its own with <c>new CephCluster()</c> and disposes it.</para>
/// <para>Unlike glusterd, Ceph's ports are settable, so the clusters of test assemblies that run in
/// parallel live side by side: each takes a slot, a lock file held for the cluster's life that owns a
/// port range (mon msgr v2 on <see cref="MonPort"/>, v1 on MonPort+1, the OSD in MonPort+2 … MonPort+31).
/// The slot also records the cluster's folder, so a cluster left running by a test host that was killed
/// before its exit handler ran is stopped by the next test process that takes the slot.</para>
/// </remarks>
public sealed class CephCluster : IDisposable
{
    /// <summary>The pool ceph-up.sh makes, the one client.libvirt may use.</summary>
    public const string Pool = "rbd";

    /// <summary>The cephx user for pools (client.libvirt): what a pool's &lt;auth username=…&gt; names.</summary>
    public const string User = "libvirt";

    /// <summary>The mon host clients name.</summary>
    public const string MonHost = "127.0.0.1";

    private const int FirstMonPort = 16789;
    private const int PortsPerSlot = 40;
    private const int SlotCount = 16;
    private const int PortsTaken = 3;

    private static readonly TimeSpan StartLimit = TimeSpan.FromMinutes(6);
    private static readonly TimeSpan StopLimit = TimeSpan.FromMinutes(2);

    private static readonly Lazy<CephCluster> SharedCluster = new(StartShared, LazyThreadSafetyMode.ExecutionAndPublication);

    private readonly FileStream? _slotLock;
    private readonly Lock _capsGate = new();
    private readonly SortedSet<string> _libvirtPools = new(StringComparer.Ordinal) { Pool };
    private bool _disposed;
    private readonly string? _slotRecord;

    public CephCluster()
    {
        try
        {
            var refused = new List<string>();
            for (var slot = 0; slot < SlotCount && _slotLock is null; slot++)
            {
                var slotLock = TryTakeSlot(slot, out var record);
                if (slotLock is null)
                {
                    continue;
                }

                (_slotLock, _slotRecord) = (slotLock, record);
                StopLeftOver(record);
                File.WriteAllText(record, Folder);
                var port = FirstMonPort + slot * PortsPerSlot;
                var up = RunScript("ceph-up.sh", StartLimit, Folder, port.ToString(CultureInfo.InvariantCulture));
                if (up.ExitCode == PortsTaken)
                {
                    // Something else listens there: leave the slot and try the next one.
                    refused.Add($"slot {slot}: {up.StandardError.Trim()}");
                    File.Delete(record);
                    slotLock.Dispose();
                    (_slotLock, _slotRecord) = (null, null);
                    continue;
                }

                if (up.ExitCode != 0)
                {
                    throw new InvalidOperationException($"ceph-up.sh failed ({up.ExitCode}): {up.StandardError}{up.StandardOutput}");
                }

                MonPort = port;
            }

            if (_slotLock is null)
            {
                throw new InvalidOperationException($"no free Ceph test slot among {SlotCount}: {string.Join("; ", refused)}");
            }

            LibvirtKey = File.ReadAllText(Path.Combine(Folder, "client.libvirt.key")).Trim();
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>The test process's cluster, started on first use, stopped when the process exits.</summary>
    public static CephCluster Shared => SharedCluster.Value;

    /// <summary>The cluster's state, logs and keyrings (deleted by Dispose); tests may put their own files here.</summary>
    public string Folder { get; } = Directory.CreateTempSubdirectory("vp-ceph-").FullName;

    /// <summary>The mon's port (msgr v2): a pool's &lt;host name='127.0.0.1' port=…&gt;.</summary>
    public int MonPort { get; }

    /// <summary>client.libvirt's key as <c>ceph auth get-key</c> prints it (base64): a ceph secret's value.</summary>
    public string LibvirtKey { get; } = "";

    /// <summary>client.libvirt's key as raw bytes: what virsh secret-set-value stores for it.</summary>
    public byte[] LibvirtKeyBytes => Convert.FromBase64String(LibvirtKey);

    /// <summary>The admin configuration (client.admin unless --id names another user), for rbd, rados and ceph.</summary>
    public string AdminConf => Path.Combine(Folder, "ceph.conf");

    /// <summary>The pid of the OSD (a fault drill stops it with SIGSTOP: memstore would lose the data on a restart).</summary>
    public int OsdPid => int.Parse(File.ReadAllText(Path.Combine(Folder, "run", "ceph-osd.0.pid")).Trim(), CultureInfo.InvariantCulture);

    /// <summary>The pid of the mon.</summary>
    public int MonPid => int.Parse(File.ReadAllText(Path.Combine(Folder, "run", "ceph-mon.a.pid")).Trim(), CultureInfo.InvariantCulture);

    /// <summary>Runs <c>rbd --conf ADMIN ARGS</c> (as client.admin); a failure throws with rbd's stderr.</summary>
    public string Rbd(params string[] args)
    {
        var result = RbdResult(args);
        return result.ExitCode == 0
            ? result.StandardOutput
            : throw new InvalidOperationException($"rbd {string.Join(' ', args)} failed ({result.ExitCode}): {result.StandardError}");
    }

    /// <summary>Runs <c>rbd --conf ADMIN ARGS</c> and returns its exit code and output, for a test that expects a failure.</summary>
    public ProcessResult RbdResult(params string[] args)
        => ProcessRunner.Instance.RunAsync(new ProcessRequest(["rbd", "--conf", AdminConf, .. args]) { Timeout = TimeSpan.FromMinutes(2) })
            .GetAwaiter().GetResult();

    /// <summary>Runs <c>ceph --conf ADMIN ARGS</c>; a failure throws with ceph's stderr.</summary>
    public string Ceph(params string[] args)
    {
        string[] argv = ["ceph", "--conf", AdminConf, "--connect-timeout", "30", .. args];
        var result = ProcessRunner.Instance.RunAsync(new ProcessRequest(argv) { Timeout = TimeSpan.FromMinutes(2) }).GetAwaiter().GetResult();
        return result.ExitCode == 0
            ? result.StandardOutput
            : throw new InvalidOperationException($"{string.Join(' ', args)} failed ({result.ExitCode}): {result.StandardError}");
    }

    /// <summary>
    /// A new Ceph pool <paramref name="name"/> (size 1, rbd application) that client.libvirt may use as
    /// it uses pool rbd: a test's own pool, so what it lists is only what it made (the two sides of a
    /// differential test each get one, with names of the same length).
    /// </summary>
    public void CreatePool(string name)
    {
        Ceph("osd", "pool", "create", name, "8", "8");
        Ceph("osd", "pool", "set", name, "size", "1", "--yes-i-really-mean-it");
        Rbd("pool", "init", name);
        lock (_capsGate)
        {
            _libvirtPools.Add(name);
            GrantLibvirtPools();
        }
    }

    /// <summary>Deletes a pool <see cref="CreatePool"/> made, with its images, and takes it from client.libvirt's caps.</summary>
    public void DeletePool(string name)
    {
        lock (_capsGate)
        {
            _libvirtPools.Remove(name);
            GrantLibvirtPools();
        }

        Ceph("osd", "pool", "delete", name, name, "--yes-i-really-really-mean-it");
    }

    /// <summary>The names of a pool's images (<c>rbd ls</c>).</summary>
    public IReadOnlyList<string> Images(string pool) =>
        [.. Rbd("ls", pool).Split('\n', StringSplitOptions.RemoveEmptyEntries)];

    private void GrantLibvirtPools() =>
        Ceph("auth", "caps", "client." + User, "mon", "profile rbd", "osd", string.Join(", ", _libvirtPools.Select(p => "profile rbd pool=" + p)));

    /// <summary>Sends a signal (STOP, CONT …) to one of the cluster's daemons, through kill(1).</summary>
    public static void Signal(int pid, string signal)
    {
        var result = ProcessRunner.Instance.RunAsync(new ProcessRequest(["kill", "-" + signal, pid.ToString(CultureInfo.InvariantCulture)]) { Timeout = TimeSpan.FromSeconds(30) })
            .GetAwaiter().GetResult();
        if (result.ExitCode != 0)
        {
            throw new InvalidOperationException($"kill -{signal} {pid} failed ({result.ExitCode}): {result.StandardError}");
        }
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        var down = RunScript("ceph-down.sh", StopLimit, Folder);
        if (Directory.Exists(Folder))
        {
            Directory.Delete(Folder, recursive: true);
        }

        if (_slotRecord is not null && down.ExitCode == 0)
        {
            File.Delete(_slotRecord);
        }

        _slotLock?.Dispose();
        if (down.ExitCode != 0)
        {
            throw new InvalidOperationException($"ceph-down.sh failed ({down.ExitCode}): {down.StandardError}");
        }
    }

    private static CephCluster StartShared()
    {
        var cluster = new CephCluster();
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try
            {
                cluster.Dispose();
            }
            catch (InvalidOperationException ex)
            {
                // Nothing can fail a test any more; say it where the run's log shows it.
                Console.Error.WriteLine($"CephCluster: {ex.Message}");
            }
        };
        return cluster;
    }

    /// <summary>The slot's lock if no other test process holds it (the lock is an flock: a killed holder frees it), else null.</summary>
    private static FileStream? TryTakeSlot(int slot, out string record)
    {
        const string prefix = "/run/lock/virtpool-tests-ceph-";
        record = $"{prefix}{slot}.folder";
        Directory.CreateDirectory(Path.GetDirectoryName(prefix)!);
        try
        {
            return new FileStream($"{prefix}{slot}.lock", FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException ex) when (ex is not DirectoryNotFoundException and not FileNotFoundException)
        {
            return null;
        }
    }

    /// <summary>Stops the cluster a killed test host left in this slot (ceph-down.sh stops only that folder's daemons).</summary>
    private static void StopLeftOver(string record)
    {
        if (!File.Exists(record))
        {
            return;
        }

        var folder = File.ReadAllText(record).Trim();
        if (folder.Length > 0 && Directory.Exists(folder))
        {
            var down = RunScript("ceph-down.sh", StopLimit, folder);
            if (down.ExitCode != 0)
            {
                throw new InvalidOperationException($"ceph-down.sh of the left-over cluster in {folder} failed ({down.ExitCode}): {down.StandardError}");
            }
        }

        File.Delete(record);
    }

    private static ProcessResult RunScript(string script, TimeSpan limit, params string[] args)
        => ProcessRunner.Instance.RunAsync(new ProcessRequest([TestServices.Script(script), .. args]) { Timeout = limit }).GetAwaiter().GetResult();
}
