using VirtPool.Core.State;

namespace VirtPool.Core.Tests;

/// <summary>
/// A job being registered (<see cref="VolumeJobs.Begin"/>) creates its file under a temporary ".new."
/// name and then takes an exclusive flock on it; a reader listing jobs meanwhile must never lock that
/// file (found by an adversarial run: clients got "cannot lock job file '…/.new.…': Resource
/// temporarily unavailable" from vol-create, vol-upload and vol-download under racing readers).
/// </summary>
public sealed class VolumeJobsSweepRaceTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("vp-jobs-race-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Registering_a_job_never_fails_while_another_thread_lists_jobs()
    {
        var jobs = new VolumeJobs(Path.Combine(_dir, "jobs"));
        using var done = new CancellationTokenSource();
        const int Registrations = 20_000;
        Exception? failure = null;

        var listers = Enumerable.Range(0, 2 * Environment.ProcessorCount + 2).Select(n => Task.Run(() =>
        {
            while (!done.IsCancellationRequested)
            {
                _ = jobs.StateOf("pool", "other");
            }
        })).ToArray();

        try
        {
            for (var i = 0; i < Registrations && failure is null; i++)
            {
                try
                {
                    using var job = jobs.Begin("pool", "vol", i % 2 == 0 ? VolumeJobKind.Building : VolumeJobKind.InUse);
                }
                catch (Exception ex)
                {
                    failure = ex;
                }
            }
        }
        finally
        {
            done.Cancel();
            await Task.WhenAll(listers);
        }

        Assert.Null(failure);
    }
}
