using VirtPool.Core.Errors;
using VirtPool.Core.State;

namespace VirtPool.Core.Tests;

/// <summary>
/// The daemon's watch on the state folder answers "did this file change?" per path, so a write to one
/// pool's files no longer sends every other cached file back to stat; and what another process
/// writes (here: a second store on the same folder, without a watch) is always seen at once.
/// </summary>
public sealed class StateWatchTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("vp-watch-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void A_change_marks_its_own_path_and_folder_only()
    {
        var a = Path.Combine(_dir, "a.xml");
        var b = Path.Combine(_dir, "b.xml");
        File.WriteAllText(a, "1");
        File.WriteAllText(b, "1");
        using var watch = StateWatch.TryCreate([_dir])!;
        var before = watch.Generation;
        Assert.True(watch.UnchangedSince(a, before));
        Assert.True(watch.DirectoryUnchangedSince(_dir, before));

        File.WriteAllText(a, "2");
        var after = watch.Generation;
        Assert.True(after > before);
        Assert.False(watch.UnchangedSince(a, before));
        Assert.True(watch.UnchangedSince(b, before));
        Assert.False(watch.DirectoryUnchangedSince(_dir, before));
        Assert.True(watch.UnchangedSince(a, after));

        // Created, renamed over, removed: each marks the names it touched.
        File.WriteAllText(Path.Combine(_dir, "c.new"), "3");
        File.Move(Path.Combine(_dir, "c.new"), b, overwrite: true);
        var moved = watch.Generation;
        Assert.False(watch.UnchangedSince(b, after));
        Assert.True(watch.UnchangedSince(a, after));
        File.Delete(a);
        _ = watch.Generation;
        Assert.False(watch.UnchangedSince(a, moved));
        Assert.True(watch.UnchangedSince(b, moved));
    }

    [Fact]
    public void A_removed_folder_ends_the_watch_for_good()
    {
        var sub = Directory.CreateDirectory(Path.Combine(_dir, "sub")).FullName;
        using var watch = StateWatch.TryCreate([sub])!;
        var before = watch.Generation;
        Directory.Delete(sub);
        Assert.Equal(-1, watch.Generation);
        Assert.False(watch.UnchangedSince(Path.Combine(sub, "x"), before));
        Assert.False(watch.DirectoryUnchangedSince(sub, before));
    }

    [Fact]
    public void A_watched_store_serves_unchanged_files_from_memory_and_sees_every_write_of_another_process()
    {
        var writer = new StateStore(_dir);
        writer.EnsureCreated();
        var reader = new StateStore(_dir);
        reader.WatchForChanges();
        static string Parse(string text) => text;

        writer.WriteConfig("one", "<one/>");
        writer.WriteConfig("two", "<two/>");
        Assert.Equal("<one/>", reader.ReadParsed(reader.ConfigPath("one"), Parse));
        Assert.Equal("<two/>", reader.ReadParsed(reader.ConfigPath("two"), Parse));

        for (var i = 0; i < 50; i++)
        {
            writer.WriteConfig("two", $"<two n='{i}'/>");
            Assert.Equal($"<two n='{i}'/>", reader.ReadParsed(reader.ConfigPath("two"), Parse));
            Assert.Equal("<one/>", reader.ReadParsed(reader.ConfigPath("one"), Parse));
        }

        writer.DeleteConfig("one");
        Assert.Null(reader.ReadParsed(reader.ConfigPath("one"), Parse));
    }

    [Fact]
    public void Job_listings_and_labels_of_a_watched_store_follow_another_process()
    {
        var other = new StateStore(_dir);
        other.EnsureCreated();
        var store = new StateStore(_dir);
        store.WatchForChanges();
        var jobs = new VolumeJobs(store.JobsDir, store);
        var otherJobs = new VolumeJobs(other.JobsDir);

        Assert.Equal(new VolumeJobState(false, 0), jobs.StateOf("p", "v"));
        using (otherJobs.Begin("p", "v", VolumeJobKind.InUse))
        {
            Assert.Equal(new VolumeJobState(false, 1), jobs.StateOf("p", "v"));
            Assert.Equal(new VolumeJobState(false, 0), jobs.StateOf("p", "w"));
            using (otherJobs.Begin("p", "w", VolumeJobKind.Building))
            {
                Assert.Equal(new VolumeJobState(true, 0), jobs.StateOf("p", "w"));
                Assert.Equal(2, jobs.CountForPool("p"));
            }

            Assert.Equal(new VolumeJobState(false, 0), jobs.StateOf("p", "w"));
        }

        Assert.Equal(new VolumeJobState(false, 0), jobs.StateOf("p", "v"));

        Assert.Empty(VolumeLabels.ReadVolume(store, "p", "v"));
        VolumeLabels.WriteVolume(other, "p", "v", new Dictionary<string, string> { ["env"] = "test" });
        Assert.Equal("test", VolumeLabels.ReadVolume(store, "p", "v")["env"]);

        // A caller changing what it read never changes what the store serves next.
        var copy = VolumeLabels.Read(store, "p");
        copy["v"]["env"] = "changed";
        Assert.Equal("test", VolumeLabels.ReadVolume(store, "p", "v")["env"]);

        VolumeLabels.WriteVolume(other, "p", "v", new Dictionary<string, string>());
        Assert.Empty(VolumeLabels.ReadVolume(store, "p", "v"));
    }

    [Fact]
    public async Task Pool_lock_gates_go_with_their_users_and_a_missing_pool_leaves_no_lock_file()
    {
        var store = new StateStore(_dir);
        store.EnsureCreated();
        using var locks = new StateLocks(store, name => name == "real");
        for (var i = 0; i < 100; i++)
        {
            var ex = await Assert.ThrowsAsync<VirtPoolException>(() => locks.PoolAsync($"random-{i}", CancellationToken.None));
            Assert.Equal(VirErrorCode.NoStoragePool, ex.Code);
            Assert.Equal($"Storage pool not found: no storage pool with matching name 'random-{i}'", ex.Message);
        }

        Assert.False(Directory.Exists(locks.LocksDir) && Directory.EnumerateFiles(locks.LocksDir, "random-*").Any());

        var held = await locks.PoolAsync("real", CancellationToken.None);
        var waiting = locks.PoolAsync("real", CancellationToken.None);
        Assert.Equal(1, locks.GateCount);
        held.Dispose();
        (await waiting.WaitAsync(TimeSpan.FromSeconds(30))).Dispose();
        using (await locks.NewPoolAsync("new-one", CancellationToken.None))
        {
            Assert.Equal(1, locks.GateCount);
        }

        Assert.Equal(0, locks.GateCount);
        Assert.True(File.Exists(Path.Combine(locks.LocksDir, "new-one.lock")));
    }
}
