using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using VirtPool.Core.Backends;
using VirtPool.Core.Errors;
using VirtPool.Core.Interop;
using VirtPool.Core.Model;

namespace VirtPool.Backends.Rbd;

/// <summary>
/// One connection to a Ceph cluster and the I/O context of the pool's RADOS pool (libvirt's
/// virStorageBackendRBDState): opened as libvirt's virStorageBackendRBDOpenRADOSConn opens it, with
/// the same options, in the same order, and the same errors. Owned by the pool's
/// <see cref="Network.NetworkConnection{THandle}"/>, which closes it once.
/// </summary>
internal sealed class RbdCluster
{
    private RbdCluster(nint cluster, nint ioctx, string poolName, string monitors)
    {
        Cluster = cluster;
        Ioctx = ioctx;
        PoolName = poolName;
        Monitors = monitors;
    }

    public nint Cluster { get; }

    public nint Ioctx { get; }

    /// <summary>The RADOS pool (&lt;source&gt;&lt;name&gt;).</summary>
    public string PoolName { get; }

    /// <summary>The cluster's fsid (rados_cluster_fsid, known once connected): which cluster an image of this pool lives on.</summary>
    public unsafe string Fsid()
    {
        Span<byte> text = stackalloc byte[64];
        fixed (byte* p = text)
        {
            var rc = RadosNative.ClusterFsid(Cluster, p, (nuint)text.Length);
            if (rc < 0)
            {
                throw VirtPoolException.System("failed to get the RADOS cluster's fsid", -rc);
            }

            return Encoding.ASCII.GetString(text[..Math.Min(rc, text.Length)]).TrimEnd('\0');
        }
    }

    /// <summary>mon_host as set, libvirt's words for the cluster in its messages ("127.0.0.1:6789,").</summary>
    public string Monitors { get; }

    /// <summary>
    /// libvirt's mon_host: every &lt;host&gt; as "NAME," or "NAME:PORT," (an IPv6 address in brackets when
    /// a port follows), the trailing comma included.
    /// </summary>
    public static string MonitorList(PoolDefinition definition)
    {
        var text = new StringBuilder();
        foreach (var host in definition.Source.Hosts)
        {
            if (host.Port == 0)
            {
                text.Append(host.Name).Append(',');
            }
            else if (IPAddress.TryParse(host.Name, out var address) && address.AddressFamily == AddressFamily.InterNetworkV6)
            {
                text.Append('[').Append(host.Name).Append("]:").Append(host.Port).Append(',');
            }
            else
            {
                text.Append(host.Name).Append(':').Append(host.Port).Append(',');
            }
        }

        return text.ToString();
    }

    /// <summary>
    /// Connects: rados_create with the cephx user, the key (the secret's value base64-encoded, as
    /// libvirt passes it), auth_supported, mon_host, libvirt's three timeouts (here the connection's
    /// own limits, so librados gives up before the backstop does), rbd_default_format 2, the pool's
    /// &lt;rbd:config_opts&gt; last (they override), then rados_connect and the pool's I/O context.
    /// </summary>
    public static RbdCluster Open(PoolContext pool, TimeSpan connectTimeout, TimeSpan callTimeout)
    {
        var definition = pool.Definition;
        var poolName = definition.Source.Name is { Length: > 0 } name ? name : throw VirtPoolException.Internal("missing source name");
        var auth = definition.Source.Auth is { Type: PoolAuthType.Ceph } ceph ? ceph : null;

        // The secret first: a missing or wrong secret is refused before any network traffic.
        string? key = null;
        if (auth is not null)
        {
            var lookup = pool.AuthSecret ?? throw VirtPoolException.Internal("'ceph' authentication not supported for autostarted pools");
            var value = lookup(auth);
            key = Convert.ToBase64String(value);
            CryptographicOperations.ZeroMemory(value);
        }

        var rc = RadosNative.Create(out var cluster, auth?.Username);
        if (rc < 0 || cluster == 0)
        {
            throw auth is null
                ? VirtPoolException.Internal("failed to create the RADOS cluster")
                : VirtPoolException.System("failed to initialize RADOS", -rc);
        }

        var monitors = MonitorList(definition);
        try
        {
            // librados would print its monitor and auth complaints on the CLI's stderr; the failure
            // is reported as libvirt's error instead. A config option can still turn them on.
            Set(cluster, "log_to_stderr", "false");
            Set(cluster, "err_to_stderr", "false");

            // Ceph 16 applies those two to its log only when a configuration file is read (rados_conf_set
            // alone leaves the messages on stderr, measured): an empty one, so no ceph.conf is read, as libvirt.
            _ = RadosNative.ConfReadFile(cluster, "/dev/null");
            if (key is not null)
            {
                Set(cluster, "key", key);
                Set(cluster, "auth_supported", "cephx");
            }
            else
            {
                Set(cluster, "auth_supported", "none");
            }

            Set(cluster, "mon_host", monitors);
            Set(cluster, "client_mount_timeout", Seconds(connectTimeout));
            Set(cluster, "rados_mon_op_timeout", Seconds(callTimeout));
            Set(cluster, "rados_osd_op_timeout", Seconds(callTimeout));
            Set(cluster, "rbd_default_format", "2");
            foreach (var option in definition.RbdConfigOptions ?? [])
            {
                Set(cluster, option.Name, option.Value);
            }

            rc = RadosNative.Connect(cluster);
            if (rc == -RbdErrno.ETIMEDOUT && auth is not null && AnyMonitorAnswers(EffectiveMonitors(definition)))
            {
                // A monitor that refuses the key does not say so: librados retries until its mount
                // timeout. One that accepts TCP connections but never let us in has refused the key.
                throw Network.NetworkErrors.ServerAnswered(new VirtPoolException(
                    VirErrorCode.SystemError,
                    $"failed to connect to the RADOS monitor on: {monitors}: {StrError.Describe(Errno.EACCES)} (the monitor answers, but did not authenticate client.{auth.Username} within {Seconds(connectTimeout)} s: is the secret's key that user's?)"));
            }

            if (rc < 0)
            {
                throw VirtPoolException.System($"failed to connect to the RADOS monitor on: {monitors}", -rc);
            }

            rc = RadosNative.IoctxCreate(cluster, poolName, out var ioctx);
            if (rc < 0 || ioctx == 0)
            {
                // The cluster answered: the pool is not there (or not ours to see).
                throw Network.NetworkErrors.ServerAnswered(VirtPoolException.System($"failed to create the RBD IoCTX. Does the pool '{poolName}' exist?", rc < 0 ? -rc : Errno.ENOENT));
            }

            return new RbdCluster(cluster, ioctx, poolName, monitors);
        }
        catch
        {
            RadosNative.Shutdown(cluster);
            throw;
        }
    }

    /// <summary>
    /// Whether any &lt;host&gt; greets a TCP connection with Ceph's banner within a second (port 3300
    /// where none is given): a live monitor. A stopped one accepts in the kernel but never greets.
    /// </summary>
    private static bool AnyMonitorAnswers(List<(string Name, int Port)> monitors)
    {
        foreach (var host in monitors)
        {
            try
            {
                using var client = new TcpClient();
                using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(1));
                client.ConnectAsync(host.Name, host.Port == 0 ? 3300 : host.Port, limit.Token).AsTask().GetAwaiter().GetResult();
                var banner = new byte[4];
                var got = 0;
                while (got < banner.Length)
                {
                    var n = client.GetStream().ReadAsync(banner.AsMemory(got), limit.Token).AsTask().GetAwaiter().GetResult();
                    if (n <= 0)
                    {
                        break;
                    }

                    got += n;
                }

                if (got == banner.Length && banner.AsSpan().SequenceEqual("ceph"u8))
                {
                    return true;
                }
            }
            catch (Exception ex) when (ex is SocketException or OperationCanceledException or IOException)
            {
                // Not this one.
            }
        }

        return false;
    }

    /// <summary>
    /// The monitors librados was told to use: the &lt;host&gt;s, unless an &lt;rbd:config_opts&gt; option
    /// overrides mon_host (Ceph reads "mon host", "mon-host" and "mon_host" alike); then its entries
    /// ("HOST", "HOST:PORT", "[v2:HOST:PORT,v1:HOST:PORT]", "[IPV6]:PORT"; commas, semicolons or spaces between).
    /// </summary>
    private static List<(string Name, int Port)> EffectiveMonitors(PoolDefinition definition)
    {
        var overridden = (definition.RbdConfigOptions ?? []).Where(o => o.Name.Replace('-', '_').Replace(' ', '_') == "mon_host").Select(o => o.Value).LastOrDefault();
        if (overridden is null)
        {
            return [.. definition.Source.Hosts.Select(h => (h.Name, h.Port))];
        }

        var monitors = new List<(string Name, int Port)>();
        foreach (var raw in overridden.Split([',', ';', ' ', '\t'], StringSplitOptions.RemoveEmptyEntries))
        {
            var entry = raw.Trim('[', ']');
            if (entry.StartsWith("v1:", StringComparison.Ordinal) || entry.StartsWith("v2:", StringComparison.Ordinal))
            {
                entry = entry[3..];
            }

            entry = entry.Split('/')[0];
            if (entry.StartsWith('[') && entry.IndexOf("]:", StringComparison.Ordinal) is var close and > 0)
            {
                monitors.Add((entry[1..close], int.TryParse(entry[(close + 2)..], out var v6Port) ? v6Port : 0));
            }
            else if (entry.Count(ch => ch == ':') == 1)
            {
                var colon = entry.IndexOf(':');
                monitors.Add((entry[..colon], int.TryParse(entry[(colon + 1)..], out var port) ? port : 0));
            }
            else
            {
                monitors.Add((entry, 0));
            }
        }

        return monitors;
    }

    /// <summary>libvirt's virStorageBackendRBDCloseRADOSConn.</summary>
    public void Close()
    {
        RadosNative.IoctxDestroy(Ioctx);
        RadosNative.Shutdown(Cluster);
    }

    /// <summary>librados counts its timeouts in whole seconds; never 0 (which means "no limit").</summary>
    private static string Seconds(TimeSpan limit) => Math.Max(1, (long)Math.Ceiling(limit.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);

    private static void Set(nint cluster, string option, string value)
    {
        // librados aborts the process on a null value: every value here is a non-null string.
        ArgumentNullException.ThrowIfNull(value);
        if (RadosNative.ConfSet(cluster, option, value) < 0)
        {
            throw VirtPoolException.Internal($"failed to set RADOS option: {option}");
        }
    }
}
