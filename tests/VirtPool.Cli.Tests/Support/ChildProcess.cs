using System.Diagnostics;

namespace VirtPool.Cli.Tests.Support;

/// <summary>
/// Runs an external program with an argument vector (no shell), stdin closed, both outputs captured as
/// bytes, and a deadline after which the whole process tree is killed and the run reported as hung.
/// </summary>
public static class ChildProcess
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(90);

    /// <summary>The environment every child gets on top of ours: the C locale, as the differential runs need.</summary>
    public static IReadOnlyDictionary<string, string?> BaseEnvironment { get; } = new Dictionary<string, string?>
    {
        ["LC_ALL"] = "C",
        ["LANG"] = "C",
        ["LANGUAGE"] = null,
        ["VIRTPOOL_STATE_DIR"] = null,
        ["LIBVIRT_DEFAULT_URI"] = null,
        ["VIRSH_DEFAULT_CONNECT_URI"] = null,
    };

    public static ProcessStartInfo StartInfo(string fileName, IEnumerable<string> args, IReadOnlyDictionary<string, string?>? env = null)
    {
        var psi = new ProcessStartInfo(fileName)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in args)
        {
            psi.ArgumentList.Add(arg);
        }

        foreach (var (key, value) in BaseEnvironment)
        {
            Apply(psi, key, value);
        }

        if (env is not null)
        {
            foreach (var (key, value) in env)
            {
                Apply(psi, key, value);
            }
        }

        return psi;
    }

    public static async Task<RunResult> RunAsync(
        string fileName,
        IEnumerable<string> args,
        IReadOnlyDictionary<string, string?>? env = null,
        TimeSpan? timeout = null)
    {
        var psi = StartInfo(fileName, args, env);
        using var running = Running.Start(psi);
        return await running.WaitAsync(timeout ?? DefaultTimeout).ConfigureAwait(false);
    }

    private static void Apply(ProcessStartInfo psi, string key, string? value)
    {
        if (value is null)
        {
            psi.Environment.Remove(key);
        }
        else
        {
            psi.Environment[key] = value;
        }
    }

    /// <summary>A started process whose outputs are being drained; it can be killed at any moment.</summary>
    public sealed class Running : IDisposable
    {
        private readonly Process _process;
        private readonly Task<byte[]> _stdout;
        private readonly Task<byte[]> _stderr;
        private readonly CancellationTokenSource _drainStop = new();

        private Running(Process process)
        {
            _process = process;
            _process.StandardInput.Close();
            _stdout = DrainAsync(process.StandardOutput.BaseStream, _drainStop.Token);
            _stderr = DrainAsync(process.StandardError.BaseStream, _drainStop.Token);
        }

        public int ProcessId => _process.Id;

        public bool HasExited => _process.HasExited;

        public string CommandLine => _process.StartInfo.FileName + " " + string.Join(' ', _process.StartInfo.ArgumentList);

        public static Running Start(ProcessStartInfo psi)
        {
            var process = new Process { StartInfo = psi };
            if (!process.Start())
            {
                throw new InvalidOperationException($"could not start {psi.FileName}");
            }

            return new Running(process);
        }

        /// <summary>SIGKILL, as <c>kill -9</c>: the process gets no chance to clean up.</summary>
        public void Kill()
        {
            try
            {
                _process.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
                // already gone
            }
        }

        public async Task<RunResult> WaitAsync(TimeSpan timeout)
        {
            using var cts = new CancellationTokenSource(timeout);
            try
            {
                await _process.WaitForExitAsync(cts.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                Kill();
                await _process.WaitForExitAsync().ConfigureAwait(false);
                throw new TimeoutException($"'{CommandLine}' did not finish within {timeout.TotalSeconds:0} s and was killed");
            }

            // A daemon forked by the child could keep the pipes open: stop reading a little after the exit.
            _drainStop.CancelAfter(TimeSpan.FromSeconds(5));
            var stdout = await _stdout.ConfigureAwait(false);
            var stderr = await _stderr.ConfigureAwait(false);
            return new RunResult(_process.ExitCode, stdout, stderr);
        }

        public void Dispose()
        {
            if (!_process.HasExited)
            {
                Kill();
            }

            _process.Dispose();
            _drainStop.Dispose();
        }

        private static async Task<byte[]> DrainAsync(Stream stream, CancellationToken stop)
        {
            using var buffer = new MemoryStream();
            var chunk = new byte[16384];
            try
            {
                int n;
                while ((n = await stream.ReadAsync(chunk, stop).ConfigureAwait(false)) > 0)
                {
                    buffer.Write(chunk, 0, n);
                }
            }
            catch (OperationCanceledException)
            {
                // the pipe stayed open after the exit: keep what was read
            }

            return buffer.ToArray();
        }
    }
}
