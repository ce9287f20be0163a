using VirtPool.Core.State;

namespace VirtPool.Core.Tests;

/// <summary>
/// A long-lived store remembers which files are missing, keyed by names clients ask for: looking up
/// ever new names (a fuzzer, a typo loop) must not grow its memory, and must never change an answer.
/// </summary>
public sealed class StateStoreMissTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("vp-miss-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Lookups_of_ever_new_missing_names_keep_the_caches_bounded_and_answers_right()
    {
        var writer = new StateStore(_dir);
        writer.EnsureCreated();
        var reader = new StateStore(_dir);
        reader.WatchForChanges();
        static string Parse(string text) => text;
        writer.WriteConfig("real", "<pool/>");
        Assert.Equal("<pool/>", reader.ReadParsed(reader.ConfigPath("real"), Parse));

        int baseline = reader.CachedPathCount;
        for (int i = 0; i < 5 * StateStore.MissingCacheCapacity; i++)
        {
            Assert.Null(reader.ReadParsed(reader.ConfigPath($"missing-{i}"), Parse));
            Assert.Null(reader.ReadParsed(reader.StatusPath($"missing-{i}"), Parse));
        }

        // Names too long for any file are not remembered at all.
        Assert.Null(reader.ReadParsed(reader.ConfigPath(new string('x', 100_000)), Parse));
        Assert.InRange(reader.CachedPathCount, baseline, baseline + StateStore.MissingCacheCapacity);

        // A remembered miss is forgotten as soon as the file appears, and the real one is still served.
        Assert.Null(reader.ReadParsed(reader.ConfigPath("late"), Parse));
        writer.WriteConfig("late", "<late/>");
        Assert.Equal("<late/>", reader.ReadParsed(reader.ConfigPath("late"), Parse));
        Assert.Equal("<pool/>", reader.ReadParsed(reader.ConfigPath("real"), Parse));
        writer.DeleteConfig("late");
        Assert.Null(reader.ReadParsed(reader.ConfigPath("late"), Parse));
    }
}
