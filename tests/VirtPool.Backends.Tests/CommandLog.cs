using VirtPool.Core.Process;

namespace VirtPool.Backends.Tests;

/// <summary>Runs each command for real and keeps its argv as text, to compare with libvirtd's recorded argv.</summary>
internal sealed class CommandLog(IProcessRunner inner) : IProcessRunner
{
    private readonly List<string> _lines = [];

    public Task<ProcessResult> RunAsync(IReadOnlyList<string> argv, CancellationToken cancellationToken = default)
        => RunAsync(new ProcessRequest(argv), cancellationToken);

    public Task<ProcessResult> RunAsync(ProcessRequest request, CancellationToken cancellationToken = default)
    {
        lock (_lines)
        {
            _lines.Add(ChildProcessErrors.CommandText(request.Argv));
        }

        return inner.RunAsync(request, cancellationToken);
    }

    /// <summary>The commands run since the last call.</summary>
    public string[] Take()
    {
        lock (_lines)
        {
            var taken = _lines.ToArray();
            _lines.Clear();
            return taken;
        }
    }
}
