using VirtPool.Core.Backends;
using VirtPool.Core.Errors;
using VirtPool.Core.Manager;
using VirtPool.Rpc;
using VirtPool.Rpc.Xdr;

namespace VirtPool.Daemon.Tests;

/// <summary>
/// Volume procedures on volumes that are not simply there: a file removed behind the daemon's back, a
/// volume still being made, and paths libvirt has its own answer for (empty, holding a NUL, unclean).
/// Each gets libvirt's error, never a .NET message.
/// </summary>
public sealed class VolumeStateProcedureTests : IDisposable
{
    private readonly StorageHarness _h = new();

    public void Dispose() => _h.Dispose();

    private async Task<VolumeRef> CreateAsync(PoolRef pool, string xml)
        => (await _h.CallAsync(RemoteProcedure.StorageVolCreateXml, w =>
        {
            StorageHarness.Pool(w, pool);
            w.WriteString(xml);
            w.WriteUInt32(0);
        })).Ret(StorageHarness.ReadVol);

    [Theory]
    [InlineData("", "Storage volume not found: no storage vol with matching path ''")]
    [InlineData("/srv/a\0b", "Storage volume not found: no storage vol with matching path '/srv/a'")]
    [InlineData("\0", "Storage volume not found: no storage vol with matching path ''")]
    [InlineData("//srv//x/", "Storage volume not found: no storage vol with matching path '//srv//x/' (//srv/x)")]
    [InlineData("relative", "Storage volume not found: no storage vol with matching path 'relative'")]
    public async Task Lookup_by_path_answers_as_libvirt_for_paths_no_volume_has(string path, string message)
    {
        await _h.StartedDirPoolAsync("p");
        (await _h.CallAsync(RemoteProcedure.StorageVolLookupByPath, w => w.WriteString(path)))
            .AssertError(VirErrorCode.NoStorageVol, VirErrorDomain.Storage, message);
    }

    [Fact]
    public async Task Lookup_by_an_unclean_path_finds_the_volume()
    {
        var pool = await _h.StartedDirPoolAsync("p");
        var vol = await CreateAsync(pool, "<volume><name>a.img</name><capacity>4096</capacity></volume>");
        var unclean = vol.Key.Replace("/", "//", StringComparison.Ordinal);
        Assert.Equal(vol, (await _h.CallAsync(RemoteProcedure.StorageVolLookupByPath, w => w.WriteString(unclean))).Ret(StorageHarness.ReadVol));
    }

    [Fact]
    public async Task A_volume_whose_file_vanished_is_not_found_and_can_still_be_deleted()
    {
        var pool = await _h.StartedDirPoolAsync("p");
        var vol = await CreateAsync(pool, "<volume><name>gone.qcow2</name><capacity>1048576</capacity><target><format type='qcow2'/></target></volume>");
        File.Delete(vol.Key);

        // libvirt's refresh of a volume whose file is gone (virStorageBackendVolOpen): not found, by path.
        var notFound = $"Storage volume not found: no storage vol with matching path '{vol.Key}'";
        (await _h.CallAsync(RemoteProcedure.StorageVolGetInfo, w => StorageHarness.Vol(w, vol)))
            .AssertError(VirErrorCode.NoStorageVol, VirErrorDomain.Storage, notFound);
        (await _h.CallAsync(RemoteProcedure.StorageVolGetXmlDesc, w =>
        {
            StorageHarness.Vol(w, vol);
            w.WriteUInt32(0);
        })).AssertError(VirErrorCode.NoStorageVol, VirErrorDomain.Storage, notFound);
        (await _h.CallAsync(RemoteProcedure.StorageVolUpload, w =>
        {
            StorageHarness.Vol(w, vol);
            w.WriteUInt64(0);
            w.WriteUInt64(0);
            w.WriteUInt32(0);
        })).AssertError(VirErrorCode.NoStorageVol, VirErrorDomain.Storage, notFound);
        Assert.Empty(_h.Connection.Uploads);

        // As libvirt's delete: a file already gone is no error, and the volume leaves the pool.
        (await _h.CallAsync(RemoteProcedure.StorageVolDelete, w =>
        {
            StorageHarness.Vol(w, vol);
            w.WriteUInt32(0);
        })).AssertVoid();
        (await _h.CallAsync(RemoteProcedure.StorageVolGetInfo, w => StorageHarness.Vol(w, vol)))
            .AssertError(VirErrorCode.NoStorageVol, VirErrorDomain.Storage, "Storage volume not found: no storage vol with matching name 'gone.qcow2'");
    }

    [Fact]
    public async Task A_delete_the_storage_refuses_leaves_the_volume_as_it_was()
    {
        var pool = await _h.StartedDirPoolAsync("p");
        var vol = await CreateAsync(pool, "<volume><name>folder</name><capacity>0</capacity><target><format type='dir'/></target></volume>");
        await File.WriteAllTextAsync(Path.Combine(vol.Key, "keep.txt"), "data");

        var refused = await _h.CallAsync(RemoteProcedure.StorageVolDelete, w =>
        {
            StorageHarness.Vol(w, vol);
            w.WriteUInt32(0);
        });
        Assert.Equal(VirErrorCode.SystemError, refused.Error.Code);
        Assert.Equal($"cannot remove directory '{vol.Key}': Directory not empty", refused.Error.Message);

        // Still listed, found and described: the index record the delete wrote first was taken back.
        Assert.Equal(vol, (await _h.CallAsync(RemoteProcedure.StorageVolLookupByName, w =>
        {
            StorageHarness.Pool(w, pool);
            w.WriteString("folder");
        })).Ret(StorageHarness.ReadVol));
        (await _h.CallAsync(RemoteProcedure.StorageVolGetInfo, w => StorageHarness.Vol(w, vol)))
            .Ret(static (ref XdrReader r) => (r.ReadInt32(), r.ReadUInt64(), r.ReadUInt64()));
        Assert.Equal(["folder"], (await _h.Manager.ListVolumesAsync("p")).Select(v => v.Name));

        File.Delete(Path.Combine(vol.Key, "keep.txt"));
        (await _h.CallAsync(RemoteProcedure.StorageVolDelete, w =>
        {
            StorageHarness.Vol(w, vol);
            w.WriteUInt32(0);
        })).AssertVoid();
        Assert.Empty(await _h.Manager.ListVolumesAsync("p"));
    }

    [Fact]
    public async Task A_volume_being_made_is_found_described_and_refused_changes_in_the_reply()
    {
        var pool = await _h.StartedDirPoolAsync("p");
        var source = await CreateAsync(pool, "<volume><name>big.raw</name><capacity>268435456</capacity></volume>");

        // A clone held at its first progress report: its volume is being made for as long as the test wants.
        var reported = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var release = new ManualResetEventSlim();
        var clone = Task.Run(() => _h.Manager.CreateVolumeFromAsync("p", "<volume><name>copy.raw</name><capacity>0</capacity></volume>", source, VolumeCreateFlags.None, new Progress(() =>
        {
            reported.TrySetResult();
            release.Wait(TimeSpan.FromSeconds(60));
        })));
        await reported.Task.WaitAsync(TimeSpan.FromSeconds(60));

        try
        {
            // As libvirt lists a volume from before it is built: found by name, key and path, listed.
            var copy = (await _h.CallAsync(RemoteProcedure.StorageVolLookupByName, w =>
            {
                StorageHarness.Pool(w, pool);
                w.WriteString("copy.raw");
            })).Ret(StorageHarness.ReadVol);
            Assert.Equal(Path.Combine(_h.Images, "p", "copy.raw"), copy.Key);
            Assert.Equal(copy, (await _h.CallAsync(RemoteProcedure.StorageVolLookupByPath, w => w.WriteString(copy.Key))).Ret(StorageHarness.ReadVol));
            Assert.Equal(copy, (await _h.CallAsync(RemoteProcedure.StorageVolLookupByKey, w => w.WriteString(copy.Key))).Ret(StorageHarness.ReadVol));
            var names = (await _h.CallAsync(RemoteProcedure.StoragePoolListVolumes, w =>
            {
                StorageHarness.Pool(w, pool);
                w.WriteInt32(10);
            })).Ret(static (ref XdrReader r) => r.ReadArray(1024, static (ref XdrReader e) => e.ReadString()));
            Assert.Equal(["big.raw", "copy.raw"], names);

            // Described with the capacity it is being made with.
            var (_, capacity, _) = (await _h.CallAsync(RemoteProcedure.StorageVolGetInfo, w => StorageHarness.Vol(w, copy)))
                .Ret(static (ref XdrReader r) => (r.ReadInt32(), r.ReadUInt64(), r.ReadUInt64()));
            Assert.Equal(268435456UL, capacity);

            // Changes get libvirt's refusal, an upload in the CALL's reply (no stream is opened).
            var allocating = "Requested operation is not valid: volume 'copy.raw' is still being allocated.";
            (await _h.CallAsync(RemoteProcedure.StorageVolUpload, w =>
            {
                StorageHarness.Vol(w, copy);
                w.WriteUInt64(0);
                w.WriteUInt64(0);
                w.WriteUInt32(0);
            })).AssertError(VirErrorCode.OperationInvalid, VirErrorDomain.Storage, allocating);
            (await _h.CallAsync(RemoteProcedure.StorageVolDownload, w =>
            {
                StorageHarness.Vol(w, copy);
                w.WriteUInt64(0);
                w.WriteUInt64(0);
                w.WriteUInt32(0);
            })).AssertError(VirErrorCode.OperationInvalid, VirErrorDomain.Storage, allocating);
            Assert.Empty(_h.Connection.Uploads);
            Assert.Empty(_h.Connection.Downloads);
            (await _h.CallAsync(RemoteProcedure.StorageVolResize, w =>
            {
                StorageHarness.Vol(w, copy);
                w.WriteUInt64(1 << 30);
                w.WriteUInt32(0);
            })).AssertError(VirErrorCode.OperationInvalid, VirErrorDomain.Storage, allocating);
            (await _h.CallAsync(RemoteProcedure.StorageVolDelete, w =>
            {
                StorageHarness.Vol(w, copy);
                w.WriteUInt32(0);
            })).AssertError(VirErrorCode.OperationInvalid, VirErrorDomain.Storage, allocating);

            // The source is being read: an upload into it is refused in the reply too.
            (await _h.CallAsync(RemoteProcedure.StorageVolUpload, w =>
            {
                StorageHarness.Vol(w, source);
                w.WriteUInt64(0);
                w.WriteUInt64(0);
                w.WriteUInt32(0);
            })).AssertError(VirErrorCode.OperationInvalid, VirErrorDomain.Storage, "Requested operation is not valid: volume 'big.raw' is still in use.");
        }
        finally
        {
            release.Set();
            await clone;
        }
    }

    /// <summary>Reports progress on the reporting thread (IProgress's usual class posts it elsewhere).</summary>
    private sealed class Progress(Action report) : IProgress<long>
    {
        public void Report(long value) => report();
    }
}
