using System.Text.Json;
using VirtPool.Core.Errors;
using VirtPool.Core.Interop;
using VirtPool.Core.Model;
using VirtPool.TestSupport;

namespace VirtPool.Formats.Tests;

/// <summary>Backing chains made with the real qemu-img (and a few hand-built headers), walked natively.</summary>
public sealed class BackingChainTests : IDisposable
{
    private static readonly string Ids = $"(as uid:{LibC.GetEuid()}, gid:{LibC.GetEgid()})";

    private readonly TempDir _dir = new();

    private string Dir => _dir.Path;

    public void Dispose() => _dir.Dispose();

    private string P(string name) => Path.Combine(Dir, name);

    private Task Create(params string[] args) => QemuImg.CreateAsync(Dir, args);

    /// <summary>qemu-img rebase -u: rewrites the backing name (and format) without opening anything.</summary>
    private static async Task Rebase(string image, string backing, string? format)
    {
        string[] args = format is null ? ["rebase", "-u", "-b", backing, image] : ["rebase", "-u", "-b", backing, "-F", format, image];
        var result = await QemuImg.RunAsync(args);
        Assert.True(result.Succeeded, result.StandardError);
    }

    private static VirtPoolException Fails(string path, int maxDepth = BackingChain.DefaultMaxDepth)
        => Assert.Throws<VirtPoolException>(() => BackingChain.Resolve(path, maxDepth));

    /// <summary>raw ← qcow2 ← qcow2 v2 ← qed ← qcow2, all with relative names and formats.</summary>
    private async Task<string> FiveLayers()
    {
        await Create("-f", "raw", P("base.raw"), "4M");
        await Create("-f", "qcow2", "-b", "base.raw", "-F", "raw", P("l1.qcow2"));
        await Create("-f", "qcow2", "-o", "compat=0.10", "-b", "l1.qcow2", "-F", "qcow2", P("l2.qcow2"));
        await Create("-f", "qed", "-b", "l2.qcow2", "-F", "qcow2", P("l3.qed"));
        await Create("-f", "qcow2", "-b", "l3.qed", "-F", "qed", P("top.qcow2"));
        return P("top.qcow2");
    }

    [Fact]
    public async Task Real_chain_of_five_formats_matches_qemu_img_backing_chain()
    {
        var top = await FiveLayers();
        var chain = BackingChain.Resolve(top);

        Assert.Equal([1, 2, 3, 4, 5], chain.Select(l => l.Depth));
        Assert.Equal([top, P("l3.qed"), P("l2.qcow2"), P("l1.qcow2"), P("base.raw")], chain.Select(l => l.Path));
        Assert.Equal([null, "l3.qed", "l2.qcow2", "l1.qcow2", "base.raw"], chain.Select(l => l.Name));
        Assert.Equal(
            [StorageFileFormat.Qcow2, StorageFileFormat.Qed, StorageFileFormat.Qcow2, StorageFileFormat.Qcow2, StorageFileFormat.Raw],
            chain.Select(l => l.Format!.Value));

        // The top is probed; qed names its qcow2 backing without the raw bit (AUTO_SAFE): probed and trusted.
        Assert.Equal([true, false, true, false, false], chain.Select(l => l.FormatProbed));
        Assert.All(chain, l => Assert.Equal(BackingLayerKind.File, l.Kind));
        Assert.All(chain, l => Assert.Equal(l.Format, l.Info!.Format));
        Assert.Equal(chain.Count, chain.Select(l => (l.Device, l.Inode)).Distinct().Count());

        // qemu-img agrees on every file of the chain.
        var result = await QemuImg.RunAsync("info", "--backing-chain", "--output=json", top);
        Assert.True(result.Succeeded, result.StandardError);
        using var doc = JsonDocument.Parse(result.StandardOutput);
        Assert.Equal(
            doc.RootElement.EnumerateArray().Select(e => e.GetProperty("filename").GetString()),
            chain.Select(l => l.Path));
        Assert.Equal(
            doc.RootElement.EnumerateArray().Select(e => e.GetProperty("format").GetString()),
            chain.Select(l => l.Format!.Value.ToName()));
    }

    [Fact]
    public async Task Relative_names_are_resolved_against_the_directory_of_the_image_naming_them()
    {
        Directory.CreateDirectory(P("a"));
        Directory.CreateDirectory(P("b"));
        await Create("-f", "raw", P("a/base.raw"), "1M");
        await Create("-f", "qcow2", "-b", "../a/base.raw", "-F", "raw", P("b/mid.qcow2"));
        await Create("-f", "qcow2", "-b", "b/mid.qcow2", "-F", "qcow2", P("top.qcow2"));
        await Create("-f", "qcow2", "-b", P("b/mid.qcow2"), "-F", "qcow2", P("abs.qcow2"));

        var chain = BackingChain.Resolve(P("top.qcow2"));
        Assert.Equal([P("top.qcow2"), P("b/mid.qcow2"), P("b/../a/base.raw")], chain.Select(l => l.Path));
        Assert.Equal(StorageFileFormat.Raw, chain[^1].Format);

        var abs = BackingChain.Resolve(P("abs.qcow2"));
        Assert.Equal([P("abs.qcow2"), P("b/mid.qcow2"), P("b/../a/base.raw")], abs.Select(l => l.Path));
        Assert.Equal(P("b/mid.qcow2"), abs[1].Name);
    }

    [Fact]
    public async Task A_given_top_format_is_used_instead_of_probing()
    {
        var top = await FiveLayers();
        var chain = BackingChain.Resolve(top, format: StorageFileFormat.Qcow2);
        Assert.False(chain[0].FormatProbed);
        Assert.Equal(5, chain.Count);

        // Declared raw: a raw disk has no backing file, whatever its header says.
        var raw = Assert.Single(BackingChain.Resolve(top, format: StorageFileFormat.Raw));
        Assert.Equal((StorageFileFormat.Raw, StorageFileFormat.Qcow2), (raw.Format!.Value, raw.Info!.Format));
    }

    [Fact]
    public async Task Self_loop_is_reported_with_libvirts_message()
    {
        await Create("-f", "qcow2", P("a.qcow2"), "1M");
        await Rebase(P("a.qcow2"), "a.qcow2", "qcow2");

        var ex = Fails(P("a.qcow2"));
        Assert.Equal(VirErrorCode.InternalError, ex.Code);
        Assert.Equal($"internal error: backing store for {P("a.qcow2")} ({P("a.qcow2")}) is self-referential", ex.Message);
    }

    [Fact]
    public async Task Two_image_loop_is_reported_at_the_first_repeated_layer()
    {
        await Create("-f", "qcow2", P("b.qcow2"), "1M");
        await Create("-f", "qcow2", "-b", "b.qcow2", "-F", "qcow2", P("a.qcow2"));
        await Rebase(P("b.qcow2"), "a.qcow2", "qcow2");

        var ex = Fails(P("a.qcow2"));
        Assert.Equal($"internal error: backing store for {P("a.qcow2")} ({P("a.qcow2")}) is self-referential", ex.Message);
        ex = Fails(P("b.qcow2"));
        Assert.Equal($"internal error: backing store for {P("b.qcow2")} ({P("b.qcow2")}) is self-referential", ex.Message);
    }

    [Fact]
    public async Task Loops_through_a_symlink_a_hard_link_or_a_roundabout_relative_path_are_found_by_inode()
    {
        Directory.CreateDirectory(P("sub"));
        await Create("-f", "raw", P("base.raw"), "1M");

        // a → link → (symlink to a)
        await Create("-f", "qcow2", P("a.qcow2"), "1M");
        File.CreateSymbolicLink(P("link.qcow2"), "a.qcow2");
        await Rebase(P("a.qcow2"), "link.qcow2", "qcow2");
        Assert.Equal($"internal error: backing store for {P("link.qcow2")} ({P("a.qcow2")}) is self-referential", Fails(P("a.qcow2")).Message);

        // The chain may also be entered through the link.
        Assert.Equal($"internal error: backing store for {P("link.qcow2")} ({P("a.qcow2")}) is self-referential", Fails(P("link.qcow2")).Message);

        // sub/c names itself as ../sub/./c.qcow2.
        await Create("-f", "qcow2", P("sub/c.qcow2"), "1M");
        await Rebase(P("sub/c.qcow2"), "../sub/./c.qcow2", "qcow2");
        Assert.Equal($"internal error: backing store for {P("sub/../sub/./c.qcow2")} ({P("sub/c.qcow2")}) is self-referential", Fails(P("sub/c.qcow2")).Message);

        // A hard link is the same inode under a second name; realpath keeps the link's own name.
        await Create("-f", "qcow2", P("h.qcow2"), "1M");
        Assert.True((await QemuImg.RunAsync("rebase", "-u", "-b", "h2.qcow2", "-F", "qcow2", P("h.qcow2"))).Succeeded);
        var ln = await VirtPool.Core.Process.ProcessRunner.Instance.RunAsync(["/bin/ln", P("h.qcow2"), P("h2.qcow2")]);
        Assert.True(ln.Succeeded, ln.StandardError);
        Assert.Equal($"internal error: backing store for {P("h2.qcow2")} ({P("h2.qcow2")}) is self-referential", Fails(P("h.qcow2")).Message);
    }

    [Fact]
    public async Task Symlink_cycle_is_a_broken_chain()
    {
        await Create("-f", "qcow2", P("a.qcow2"), "1M");
        File.CreateSymbolicLink(P("l1"), "l2");
        File.CreateSymbolicLink(P("l2"), "l1");
        await Rebase(P("a.qcow2"), "l1", "qcow2");

        var ex = Fails(P("a.qcow2"));
        Assert.Equal(VirErrorCode.SystemError, ex.Code);
        Assert.Equal($"Cannot access backing file '{P("l1")}' of storage file '{P("a.qcow2")}' {Ids}: {StrError.Describe(40)}", ex.Message);
        Assert.Equal("Too many levels of symbolic links", StrError.Describe(40));
    }

    [Fact]
    public async Task Chain_deeper_than_max_depth_fails_naming_the_first_layer_too_many()
    {
        var top = await FiveLayers();
        Assert.Equal(5, BackingChain.Resolve(top, maxDepth: 5).Count);
        var ex = Fails(top, maxDepth: 4);
        Assert.Equal(VirErrorCode.InternalError, ex.Code);
        Assert.Equal($"internal error: backing store for {P("base.raw")} is self-referential or too deeply nested", ex.Message);
        Assert.Equal($"internal error: backing store for {P("l3.qed")} is self-referential or too deeply nested", Fails(top, maxDepth: 1).Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => BackingChain.Resolve(top, maxDepth: 0));
    }

    [Fact]
    public void Default_limit_is_200_layers()
    {
        // 201 hand-built qcow2 headers, f000 → f001 → ... → f200, each declaring its backing's format.
        for (var i = 0; i <= 200; i++)
        {
            var next = i < 200 ? $"f{i + 1:D3}.qcow2" : null;
            File.WriteAllBytes(P($"f{i:D3}.qcow2"), Headers.Qcow2(version: 2, backing: next, backingFormat: next is null ? null : "qcow2"));
        }

        Assert.Equal(200, BackingChain.Resolve(P("f001.qcow2")).Count);
        var ex = Fails(P("f000.qcow2"));
        Assert.Equal($"internal error: backing store for {P("f200.qcow2")} is self-referential or too deeply nested", ex.Message);
        Assert.Equal(201, BackingChain.Resolve(P("f000.qcow2"), maxDepth: 201).Count);
    }

    [Fact]
    public async Task Missing_layer_or_top_is_a_broken_chain()
    {
        var top = await FiveLayers();
        File.Delete(P("l1.qcow2"));
        var ex = Fails(top);
        Assert.Equal(VirErrorCode.SystemError, ex.Code);
        Assert.Equal($"Cannot access backing file '{P("l1.qcow2")}' of storage file '{top}' {Ids}: No such file or directory", ex.Message);

        var missing = P("nothing.qcow2");
        Assert.Equal($"Cannot access storage file '{missing}' {Ids}: No such file or directory", Fails(missing).Message);

        // A directory in the way of a relative name.
        await Create("-f", "qcow2", "-u", "-b", "top.qcow2/x", "-F", "qcow2", P("notdir.qcow2"), "1M");
        Assert.Equal($"Cannot access backing file '{P("top.qcow2/x")}' of storage file '{P("notdir.qcow2")}' {Ids}: Not a directory", Fails(P("notdir.qcow2")).Message);
    }

    [Fact]
    public async Task Fifo_in_the_chain_is_refused_without_opening_it()
    {
        var mk = await VirtPool.Core.Process.ProcessRunner.Instance.RunAsync(["/usr/bin/mkfifo", P("fifo")]);
        Assert.True(mk.Succeeded, mk.StandardError);
        await Create("-f", "qcow2", "-u", "-b", "fifo", "-F", "raw", P("a.qcow2"), "1M");

        // Opening a FIFO for reading blocks until a writer comes: the guard turns that hang into a failure.
        var ex = await Task.Run(() => Fails(P("a.qcow2"))).WaitAsync(Eventually.HangGuard);
        Assert.Equal(VirErrorCode.ConfigUnsupported, ex.Code);
        Assert.Equal($"unsupported configuration: backing file '{P("fifo")}' of storage file '{P("a.qcow2")}' is not a regular file, block device or directory", ex.Message);
    }

    [Theory]
    [InlineData("nbd://127.0.0.1:10809/export", "nbd")]
    [InlineData("nbd+unix:///export?socket=/run/nbd.sock", "nbd")]
    [InlineData("gluster://host/vol/image.qcow2", "gluster")]
    [InlineData("rbd:pool/image:id=admin", "rbd")]
    [InlineData("nbd:localhost:10809:exportname=e", "nbd")]
    [InlineData("https://example.org/disk.raw", "https")]
    [InlineData("json:{\"file\":{\"driver\":\"nbd\",\"server\":{\"type\":\"inet\",\"host\":\"h\",\"port\":\"1\"}}}", null)]
    public async Task Network_backing_ends_the_walk_unopened(string name, string? protocol)
    {
        await Create("-f", "qcow2", "-u", "-b", name, "-F", "raw", P("n.qcow2"), "1M");
        var chain = BackingChain.Resolve(P("n.qcow2"));
        Assert.Equal(2, chain.Count);
        var net = chain[1];
        Assert.Equal((BackingLayerKind.Network, name, name, protocol, (StorageFileFormat?)StorageFileFormat.Raw, (ImageInfo?)null), (net.Kind, net.Path, net.Name, net.Protocol, net.Format, net.Info));
        Assert.Equal(2, net.Depth);

        // It counts towards the depth.
        Assert.Contains("is self-referential or too deeply nested", Fails(P("n.qcow2"), maxDepth: 1).Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("foo://host/x", "internal error: invalid backing protocol 'foo'")]
    [InlineData("nbd+carrier-pigeon://h/x", "internal error: invalid protocol transport type 'carrier-pigeon'")]
    [InlineData("foo:bar", "internal error: invalid backing protocol 'foo'")]
    [InlineData("http:host/x", "internal error: malformed backing store path for protocol http")]
    [InlineData("sheepdog:x", "internal error: backing store parser is not implemented for protocol sheepdog")]
    public async Task Invalid_network_backing_fails_as_libvirt_parses_it(string name, string message)
    {
        await Create("-f", "qcow2", "-u", "-b", name, "-F", "raw", P("n.qcow2"), "1M");
        Assert.Equal(message, Fails(P("n.qcow2")).Message);
    }

    [Fact]
    public void Fat_backing_is_a_directory_layer_never_read()
    {
        File.WriteAllBytes(P("t.qcow2"), Headers.Qcow2(version: 2, backing: "fat:/srv/dir", backingFormat: "raw"));
        var chain = BackingChain.Resolve(P("t.qcow2"));
        Assert.Equal((BackingLayerKind.Directory, "/srv/dir", (StorageFileFormat?)StorageFileFormat.Fat), (chain[1].Kind, chain[1].Path, chain[1].Format));
    }

    [Fact]
    public async Task Probing_a_backing_format_is_trusted_only_for_a_layer_without_backing()
    {
        await Create("-f", "raw", P("base.raw"), "1M");
        await Create("-f", "qcow2", "-b", "base.raw", "-F", "raw", P("mid.qcow2"));

        // No backing format: base.raw is probed (raw, no backing): fine.
        File.WriteAllBytes(P("ok.qcow2"), Headers.Qcow2(version: 2, backing: "base.raw"));
        var chain = BackingChain.Resolve(P("ok.qcow2"));
        Assert.Equal((StorageFileFormat.Raw, true), (chain[1].Format!.Value, chain[1].FormatProbed));

        // mid.qcow2 probes as qcow2 with a backing file: libvirt refuses to follow it.
        File.WriteAllBytes(P("bad.qcow2"), Headers.Qcow2(version: 2, backing: "mid.qcow2"));
        var ex = Fails(P("bad.qcow2"));
        Assert.Equal(VirErrorCode.OperationInvalid, ex.Code);
        Assert.Equal(
            $"Requested operation is not valid: format of backing image 'mid.qcow2' of image '{P("bad.qcow2")}' was not specified in the image metadata (See https://libvirt.org/kbase/backing_chains.html for troubleshooting)",
            ex.Message);

        // So is a network backing without a format.
        File.WriteAllBytes(P("net.qcow2"), Headers.Qcow2(version: 2, backing: "nbd://h/e"));
        Assert.Contains("format of backing image 'nbd://h/e' of image", Fails(P("net.qcow2")).Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Declared_format_differing_from_the_header_is_used_and_not_followed()
    {
        await Create("-f", "raw", P("base.raw"), "1M");
        await Create("-f", "qcow2", "-b", "base.raw", "-F", "raw", P("mid.qcow2"));
        await Create("-f", "qcow2", "-b", "mid.qcow2", "-F", "qcow2", P("top.qcow2"));
        await Rebase(P("top.qcow2"), "mid.qcow2", "raw");

        var chain = BackingChain.Resolve(P("top.qcow2"));
        Assert.Equal(2, chain.Count);
        Assert.Equal((StorageFileFormat.Raw, false, StorageFileFormat.Qcow2), (chain[1].Format!.Value, chain[1].FormatProbed, chain[1].Info!.Format));
    }

    [Fact]
    public void Backing_format_none_fails_as_in_libvirt()
    {
        File.WriteAllBytes(P("base.raw"), new byte[4096]);
        File.WriteAllBytes(P("t.qcow2"), Headers.Qcow2(backing: "base.raw", backingFormat: "none"));
        var ex = Fails(P("t.qcow2"));
        Assert.Equal("unknown storage file meta->format 0: Invalid argument", ex.Message);
    }

    [Fact]
    public async Task Vmdk_parent_is_probed()
    {
        await Create("-f", "vmdk", P("s.vmdk"), "10M");
        await Create("-f", "vmdk", "-b", "s.vmdk", "-F", "vmdk", P("sb.vmdk"));
        var chain = BackingChain.Resolve(P("sb.vmdk"));
        Assert.Equal([StorageFileFormat.Vmdk, StorageFileFormat.Vmdk], chain.Select(l => l.Format!.Value));
        Assert.True(chain[1].FormatProbed);
    }

    [Fact]
    public void Directory_layer_ends_the_chain()
    {
        Directory.CreateDirectory(P("d"));
        File.WriteAllBytes(P("t.qcow2"), Headers.Qcow2(backing: "d", backingFormat: "dir"));
        var chain = BackingChain.Resolve(P("t.qcow2"));
        Assert.Equal((BackingLayerKind.Directory, (StorageFileFormat?)StorageFileFormat.Dir), (chain[1].Kind, chain[1].Format));
    }

    [Theory]
    [InlineData("a.qcow2", true, true)]
    [InlineData("/abs/a.qcow2", true, false)]
    [InlineData("dir/a:b", true, true)]
    [InlineData("/x:y", true, false)]
    [InlineData("nbd:h:1", false, false)]
    [InlineData("rbd:pool/img", false, false)]
    [InlineData("json:{}", false, false)]
    [InlineData("", true, true)]
    public void File_and_relative_names_follow_libvirt(string name, bool file, bool relative)
    {
        Assert.Equal((file, relative), (BackingChain.IsFile(name), BackingChain.IsRelative(name)));
    }

    [Theory]
    [InlineData("a", ".")]
    [InlineData("/a", "/")]
    [InlineData("/x/y/a", "/x/y")]
    [InlineData("x//a", "x")]
    [InlineData("//a", "/")]
    [InlineData("x/", "x")]
    public void DirName_is_glibs(string path, string dir) => Assert.Equal(dir, BackingChain.DirName(path));
}
