using System.Security.Cryptography;
using VirtPool.Cli.Tests.Support;

namespace VirtPool.Cli.Tests.Differential;

/// <summary>
/// Volume data operations against virsh + libvirtd: clone, create-from, wipe (zero), upload and
/// download, each followed by vol-info/vol-dumpxml/vol-list as libvirt shows them, and the files
/// themselves compared byte for byte between the two sides.
/// </summary>
[Collection(LibvirtCollection.Name)]
public sealed class VolumeDataDifferentialTests(LibvirtOracle oracle)
{
    private const string Pool = "dd-pool";

    [Fact]
    public async Task Clone_raw_full_sparse_and_qcow2()
    {
        await using var s = await NewPoolAsync();
        await s.StepAsync("vol-create-as", Pool, "full.raw", "3M");
        await s.StepAsync("vol-create-as", Pool, "sparse.raw", "64M", "--allocation", "0");
        await s.StepAsync("vol-create-as", Pool, "q.qcow2", "32M", "--format", "qcow2");
        await s.StepAsync("vol-upload", "sparse.raw", s.WriteBytes("x/data.bin", Pattern(1 << 20, 7)), "--pool", Pool, "--offset", "4194304");

        (await s.StepAsync("vol-clone", "full.raw", "full-copy.raw", "--pool", Pool)).ExpectOracle(0);
        (await s.StepAsync("vol-clone", "sparse.raw", "sparse-copy.raw", "--pool", Pool)).ExpectOracle(0);
        (await s.StepAsync("vol-clone", "q.qcow2", "q-copy.qcow2", "--pool", Pool)).ExpectOracle(0);
        await s.StepAsync("vol-clone", "full.raw", "full.raw", "--pool", Pool);
        await s.StepAsync("vol-clone", "nosuch", "x.raw", "--pool", Pool);
        await s.StepAsync("vol-clone", "full.raw", "meta.raw", "--pool", Pool, "--prealloc-metadata");
        await s.StepAsync("vol-clone", "q.qcow2", "q-meta.qcow2", "--pool", Pool, "--prealloc-metadata");
        await s.StepAsync("vol-clone", "full.raw", "printed.raw", "--pool", Pool, "--print-xml");
        await s.StepAsync("vol-clone", "q.qcow2", "q-reflink.qcow2", "--pool", Pool, "--reflink");
        foreach (var name in new[] { "full-copy.raw", "sparse-copy.raw", "q-copy.qcow2", "q-meta.qcow2" })
        {
            await ShowVolumeAsync(s, name);
        }

        await s.StepAsync("vol-list", Pool, "--details");
        await s.StepAsync("pool-info", "--bytes", Pool);
        s.AssertNoDifferences();
        AssertSameFile(s, "p/vols/sparse-copy.raw");
        AssertSameFile(s, "p/vols/full-copy.raw");
    }

    [Fact]
    public async Task Clone_with_reflink_on_a_filesystem_without_it_is_refused()
    {
        await using var s = await NewPoolAsync();
        await s.StepAsync("vol-create-as", Pool, "a.raw", "1M");
        await s.StepAsync("vol-clone", "a.raw", "b.raw", "--pool", Pool, "--reflink");
        await s.StepAsync("vol-list", Pool);
        s.AssertNoDifferences();
    }

    [Fact]
    public async Task Create_from_between_formats_and_pools()
    {
        await using var s = await NewPoolAsync();
        (await s.StepAsync("pool-define-as", "dd-other", "dir", "--target", "@ROOT@/p/other")).ExpectOracle(0);
        await s.StepAsync("pool-build", "dd-other");
        await s.StepAsync("pool-start", "dd-other");
        await s.StepAsync("vol-create-as", Pool, "src.raw", "8M", "--allocation", "0");
        await s.StepAsync("vol-upload", "src.raw", s.WriteBytes("x/d.bin", Pattern(300000, 3)), "--pool", Pool);
        await s.StepAsync("vol-create-as", "dd-other", "other.qcow2", "4M", "--format", "qcow2");

        var toQcow2 = s.WriteFile("to-qcow2.xml", "<volume><name>conv.qcow2</name><capacity unit='M'>1</capacity><target><format type='qcow2'/></target></volume>");
        var toRaw = s.WriteFile("to-raw.xml", "<volume><name>conv.raw</name><capacity unit='M'>16</capacity><allocation>0</allocation></volume>");
        var noCapacity = s.WriteFile("nocap.xml", "<volume><name>nocap.raw</name></volume>");
        var fromOther = s.WriteFile("from-other.xml", "<volume><name>from-other.raw</name><capacity>0</capacity></volume>");
        var broken = s.WriteFile("broken.xml", "<volume><name>broken.raw</name>");
        (await s.StepAsync("vol-create-from", Pool, toQcow2, "src.raw", "--inputpool", Pool)).ExpectOracle(0);
        (await s.StepAsync("vol-create-from", Pool, toRaw, "conv.qcow2", "--inputpool", Pool)).ExpectOracle(0);
        (await s.StepAsync("vol-create-from", Pool, noCapacity, "src.raw", "--inputpool", Pool)).ExpectOracle(0);
        (await s.StepAsync("vol-create-from", Pool, fromOther, "other.qcow2", "--inputpool", "dd-other")).ExpectOracle(0);
        await s.StepAsync("vol-create-from", Pool, broken, "src.raw", "--inputpool", Pool);
        await s.StepAsync("vol-create-from", Pool, toRaw, "src.raw");
        await s.StepAsync("vol-create-from", Pool, toRaw, "nosuch", "--inputpool", Pool);
        foreach (var name in new[] { "conv.qcow2", "conv.raw", "nocap.raw", "from-other.raw" })
        {
            await ShowVolumeAsync(s, name);
        }

        await s.StepAsync("pool-info", "--bytes", Pool);
        await s.StepAsync("pool-destroy", "dd-other");
        await s.StepAsync("pool-undefine", "dd-other");
        s.AssertNoDifferences();
        AssertSameFile(s, "p/vols/conv.raw");
    }

    [Fact]
    public async Task Wipe_zero_of_full_sparse_and_qcow2_volumes()
    {
        await using var s = await NewPoolAsync();
        await s.StepAsync("vol-create-as", Pool, "full.raw", "2M");
        await s.StepAsync("vol-upload", "full.raw", s.WriteBytes("x/d.bin", Pattern(1 << 20, 9)), "--pool", Pool);
        await s.StepAsync("vol-create-as", Pool, "sparse.raw", "16M", "--allocation", "0");
        await s.StepAsync("vol-upload", "sparse.raw", "@ROOT@/x/d.bin", "--pool", Pool, "--offset", "65536");
        await s.StepAsync("vol-create-as", Pool, "q.qcow2", "8M", "--format", "qcow2");

        (await s.StepAsync("vol-wipe", "full.raw", "--pool", Pool)).ExpectOracle(0);
        (await s.StepAsync("vol-wipe", "sparse.raw", "--pool", Pool, "--algorithm", "zero")).ExpectOracle(0);
        (await s.StepAsync("vol-wipe", "q.qcow2", "--pool", Pool)).ExpectOracle(0);
        await s.StepAsync("vol-wipe", "full.raw", "--pool", Pool, "--algorithm", "nosuch");
        await s.StepAsync("vol-wipe", "nosuch", "--pool", Pool);
        foreach (var name in new[] { "full.raw", "sparse.raw", "q.qcow2" })
        {
            await ShowVolumeAsync(s, name);
        }

        await s.StepAsync("pool-refresh", Pool);
        await ShowVolumeAsync(s, "q.qcow2");
        await s.StepAsync("pool-info", "--bytes", Pool);
        s.AssertNoDifferences();
        AssertSameFile(s, "p/vols/full.raw");
        AssertSameFile(s, "p/vols/sparse.raw");
    }

    [Fact]
    public async Task Upload_and_download_plain_sparse_offset_and_length()
    {
        await using var s = await NewPoolAsync();
        var data = Pattern(3 << 20, 5);
        var holey = new byte[8 << 20];
        Pattern(1 << 20, 11).CopyTo(holey, 2 << 20);
        var src = s.WriteBytes("x/src.bin", data);
        var holeySrc = s.WriteBytes("x/holey.bin", holey);
        await s.StepAsync("vol-create-as", Pool, "v.raw", "8M", "--allocation", "0");
        await s.StepAsync("vol-create-as", Pool, "q.qcow2", "8M", "--format", "qcow2");

        (await s.StepAsync("vol-upload", "v.raw", src, "--pool", Pool)).ExpectOracle(0);
        await s.StepAsync("vol-upload", "v.raw", src, "--pool", Pool, "--offset", "1048576", "--length", "4194304");
        await s.StepAsync("vol-upload", "v.raw", holeySrc, "--pool", Pool, "--sparse");
        await s.StepAsync("vol-upload", "v.raw", "@ROOT@/x/missing.bin", "--pool", Pool);
        await s.StepAsync("vol-upload", "v.raw", src, "--pool", Pool, "--offset", "-1");
        await s.StepAsync("vol-upload", "nosuch", src, "--pool", Pool);
        await ShowVolumeAsync(s, "v.raw");

        (await s.StepAsync("vol-download", "v.raw", "@ROOT@/x/out-plain.bin", "--pool", Pool)).ExpectOracle(0);
        (await s.StepAsync("vol-download", "v.raw", "@ROOT@/x/out-sparse.bin", "--pool", Pool, "--sparse")).ExpectOracle(0);
        (await s.StepAsync("vol-download", "v.raw", "@ROOT@/x/out-window.bin", "--pool", Pool, "--offset", "2097152", "--length", "1500000")).ExpectOracle(0);
        await s.StepAsync("vol-download", "v.raw", "@ROOT@/x/out-past.bin", "--pool", Pool, "--offset", "9000000");
        await s.StepAsync("vol-download", "v.raw", "@ROOT@/nosuchdir/out.bin", "--pool", Pool);
        await s.StepAsync("vol-download", "nosuch", "@ROOT@/x/none.bin", "--pool", Pool);

        // An image uploaded into a raw volume: libvirt's refresh after the stream shows its format.
        var image = File.ReadAllBytes(Path.Combine(s.OracleRoot, "p/vols/q.qcow2"));
        var imageFile = s.WriteBytes("x/image.qcow2", image);
        await s.StepAsync("vol-create-as", Pool, "holder.raw", "8M", "--allocation", "0");
        await s.StepAsync("vol-upload", "holder.raw", imageFile, "--pool", Pool);
        await ShowVolumeAsync(s, "holder.raw");
        await s.StepAsync("vol-list", Pool, "--details");
        await s.StepAsync("pool-info", "--bytes", Pool);
        s.AssertNoDifferences();

        foreach (var file in new[] { "p/vols/v.raw", "x/out-plain.bin", "x/out-sparse.bin", "x/out-window.bin" })
        {
            AssertSameFile(s, file);
        }
    }

    private static byte[] Pattern(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    private static void AssertSameFile(DiffSandbox s, string relative)
    {
        var oracle = SHA256.HashData(File.ReadAllBytes(Path.Combine(s.OracleRoot, relative)));
        var cli = SHA256.HashData(File.ReadAllBytes(Path.Combine(s.CliRoot, relative)));
        Assert.True(oracle.AsSpan().SequenceEqual(cli), $"{relative} differs between libvirt's and VirtPool's side");
    }

    private async Task<DiffSandbox> NewPoolAsync()
    {
        var s = await oracle.NewSandboxAsync();
        try
        {
            (await s.StepAsync("pool-define-as", Pool, "dir", "--target", "@ROOT@/p/vols")).ExpectOracle(0);
            (await s.StepAsync("pool-build", Pool)).ExpectOracle(0);
            (await s.StepAsync("pool-start", Pool)).ExpectOracle(0);
            return s;
        }
        catch
        {
            await s.DisposeAsync();
            throw;
        }
    }

    private static async Task ShowVolumeAsync(DiffSandbox s, string name)
    {
        await s.StepAsync("vol-info", "--bytes", name, "--pool", Pool);
        await s.StepAsync("vol-dumpxml", name, "--pool", Pool);
    }
}
