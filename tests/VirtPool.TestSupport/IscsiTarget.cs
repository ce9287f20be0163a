using VirtPool.Core.Process;

namespace VirtPool.TestSupport;

/// <summary>
/// A private iSCSI target for the tests of a class (tests/services/iscsi-up.sh): tgtd on
/// 127.0.0.1:3260, target <see cref="PlainIqn"/> (LUN 1 of 64 MiB, thin provisioned; LUN 2 of 32 MiB)
/// without authentication and target <see cref="ChapIqn"/> (LUN 1 of 16 MiB) behind CHAP, both for the
/// initiator address 127.0.0.1 only, their LUNs sparse files in <see cref="Folder"/>. Torn down
/// (iscsi-down.sh) when the class is done, and at once when the start fails.
/// </summary>
/// <remarks>
/// tgtd is one per machine (port 3260, one control socket) and test assemblies run in parallel: each
/// target holds <see cref="LockPath"/> from before its start to after its stop, and the next one waits.
/// </remarks>
public sealed class IscsiTarget : IDisposable
{
    /// <summary>The lock that serializes the test suites' tgtd instances on this machine.</summary>
    public const string LockPath = "/run/lock/virtpool-tests-tgtd.lock";

    public const string PlainIqn = "iqn.2026-12.org.virtpool.test:plain";

    public const string ChapIqn = "iqn.2026-12.org.virtpool.test:chap";

    public const string ChapUser = "virtpool";

    /// <summary>The initiator IQN the tests' pools log in with.</summary>
    public const string InitiatorIqn = "iqn.2026-12.org.virtpool.test:initiator";

    public const string Host = "127.0.0.1";

    public const int Port = 3260;

    public const string Portal = "127.0.0.1:3260";

    /// <summary>The LUNs' sizes, as iscsi-up.sh makes them.</summary>
    public const long PlainLun1Bytes = 64L << 20;

    public const long PlainLun2Bytes = 32L << 20;

    public const long ChapLun1Bytes = 16L << 20;

    private readonly FileStream _machineLock = TestServices.TakeMachineLock(LockPath);

    public IscsiTarget()
    {
        try
        {
            Start();
            ChapPassword = File.ReadAllText(Path.Combine(Folder, "chap-password")).Trim();
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>tgtd's pid file and log, and the LUNs' backing files.</summary>
    public string Folder { get; } = Directory.CreateTempSubdirectory("vp-iscsi-").FullName;

    /// <summary>The CHAP password of <see cref="ChapUser"/> on <see cref="ChapIqn"/> (random per run).</summary>
    public string ChapPassword { get; } = string.Empty;

    /// <summary>The backing file of LUN <paramref name="lun"/> (1 or 2) of <see cref="PlainIqn"/>.</summary>
    public string PlainLunFile(int lun) => Path.Combine(Folder, $"plain-lun{lun}.img");

    /// <summary>The backing file of LUN 1 of <see cref="ChapIqn"/>.</summary>
    public string ChapLunFile => Path.Combine(Folder, "chap-lun1.img");

    /// <summary>Starts tgtd again on the same LUN files (a fault drill's "the server is back").</summary>
    public void Start()
    {
        var up = Run("iscsi-up.sh");
        if (up.ExitCode != 0)
        {
            throw new InvalidOperationException($"iscsi-up.sh failed ({up.ExitCode}): {up.StandardError}{up.StandardOutput}");
        }
    }

    /// <summary>Stops tgtd (its targets first, sessions dropped); the LUN files stay.</summary>
    public void Stop()
    {
        var down = Run("iscsi-down.sh");
        if (down.ExitCode != 0)
        {
            throw new InvalidOperationException($"iscsi-down.sh failed ({down.ExitCode}): {down.StandardError}");
        }
    }

    /// <summary>The pid of the running tgtd.</summary>
    public int Pid => int.Parse(File.ReadAllText(Path.Combine(Folder, "tgtd.pid")).Trim(), System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Freezes tgtd (SIGSTOP): connections stay open and nothing answers, as a hung server.</summary>
    public void Freeze() => Signal("-STOP");

    /// <summary>Lets a frozen tgtd run again (SIGCONT).</summary>
    public void Thaw() => Signal("-CONT");

    private void Signal(string signal)
    {
        var pid = Pid.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var result = ProcessRunner.Instance.RunAsync(["sh", "-c", $"kill {signal} {pid} $(pgrep -P {pid} -x tgtd)"]).GetAwaiter().GetResult();
        if (result.ExitCode != 0)
        {
            throw new InvalidOperationException($"kill {signal} of tgtd {pid} failed: {result.StandardError}");
        }
    }

    public void Dispose()
    {
        if (File.Exists(Path.Combine(Folder, "tgtd.pid")))
        {
            try
            {
                Thaw(); // a drill that failed half-way may have left it frozen
            }
            catch (InvalidOperationException)
            {
                // not running: iscsi-down.sh has nothing to stop
            }
        }

        var down = Run("iscsi-down.sh");
        Directory.Delete(Folder, recursive: true);
        _machineLock.Dispose();
        if (down.ExitCode != 0)
        {
            throw new InvalidOperationException($"iscsi-down.sh failed ({down.ExitCode}): {down.StandardError}");
        }
    }

    private ProcessResult Run(string script)
        => ProcessRunner.Instance.RunAsync([TestServices.Script(script), Folder]).GetAwaiter().GetResult();
}
