using VirtPool.Core.Process;

namespace VirtPool.TestSupport;

/// <summary>
/// Records argv instead of running, for tests of command construction and of how a failure is
/// reported; <c>respond</c> decides each call's result (success with no output by default).
/// </summary>
public sealed class RecordingProcessRunner(Func<IReadOnlyList<string>, ProcessResult>? respond = null) : IProcessRunner
{
    private readonly List<IReadOnlyList<string>> _calls = [];

    public IReadOnlyList<IReadOnlyList<string>> Calls => _calls;

    public Task<ProcessResult> RunAsync(IReadOnlyList<string> argv, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(argv);
        _calls.Add(argv.ToArray());
        return Task.FromResult(respond?.Invoke(argv) ?? new ProcessResult(0, string.Empty, string.Empty));
    }
}
