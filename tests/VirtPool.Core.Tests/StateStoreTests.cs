using VirtPool.Core.Model;
using VirtPool.Core.State;

namespace VirtPool.Core.Tests;

public sealed class StateStoreTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("vp-state-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Atomic_write_replaces_content_and_leaves_no_temporary_files()
    {
        var path = Path.Combine(_dir, "f.xml");
        AtomicFile.WriteAllText(path, "one");
        AtomicFile.WriteAllText(path, "two");
        AtomicFile.WriteAllText(path, "three", durable: false);
        Assert.Equal("three", File.ReadAllText(path));
        Assert.Single(Directory.GetFiles(_dir));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
    }

    [Fact]
    public void Config_status_and_autostart_round_trip()
    {
        var store = new StateStore(_dir);
        store.EnsureCreated();
        store.WriteConfig("p1", "<pool/>");
        store.WriteStatus("p2", "<pool/>");
        store.SetAutostart("p1", true);
        Assert.Equal(["p1"], store.ConfigNames());
        Assert.Equal(["p2"], store.StatusNames());
        Assert.True(store.IsAutostart("p1"));
        store.SetAutostart("p1", false);
        store.SetAutostart("p1", false);
        Assert.False(store.IsAutostart("p1"));
        store.DeleteConfig("p1");
        Assert.Null(store.ReadConfig("p1"));
    }

    [Fact]
    public void Volume_index_round_trips_names_with_tabs_newlines_and_backslashes()
    {
        var index = new VolumeIndex { Sizes = new PoolSizes(1, 2, 3) };
        index.Volumes.Add(new VolumeIndexEntry("a\tb", "/p/a\tb", "/p/a\tb", VolumeType.File, "qcow2"));
        index.Volumes.Add(new VolumeIndexEntry("c\\n\nd", "k", "/p/c", VolumeType.Dir, null));
        var back = VolumeIndex.Parse(index.Serialize());
        Assert.Equal(index.Sizes, back.Sizes);
        Assert.Equal(index.Volumes, back.Volumes);
    }

    [Fact]
    public void A_new_boot_drops_runtime_state_once()
    {
        var store = new StateStore(_dir);
        store.EnsureCreated();
        Assert.True(store.BeginBootIfNew());
        store.WriteStatus("p", "<pool/>");
        Assert.False(store.BeginBootIfNew());
        Assert.Equal(["p"], store.StatusNames());
        File.WriteAllText(Path.Combine(_dir, "boot_id"), "an-earlier-boot\n");
        Assert.True(store.BeginBootIfNew());
        Assert.Empty(store.StatusNames());
    }

    [Fact]
    public void Exclusive_lock_excludes_another_process_until_released()
    {
        var store = new StateStore(_dir);
        using (store.Lock(exclusive: true))
        {
            // flock locks belong to the open file description: a second open in this process conflicts too.
            var fd = Interop.LibC.Open(Path.Combine(_dir, "lock"), Interop.LibC.O_RDWR, 0);
            Assert.True(fd >= 0);
            Assert.True(Interop.LibC.Flock(fd, Interop.LibC.LOCK_EX | Interop.LibC.LOCK_NB) < 0);
            Interop.LibC.Close(fd);
        }

        using (store.Lock(exclusive: true))
        {
        }
    }
}
