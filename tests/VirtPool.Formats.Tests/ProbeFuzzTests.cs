using System.Buffers.Binary;
using System.Numerics;
using System.Text;
using CsCheck;
using VirtPool.Core.Errors;
using VirtPool.Core.Model;
using VirtPool.Core.Process;

namespace VirtPool.Formats.Tests;

/// <summary>
/// Real headers made once by qemu-img (plus hand-built ones for the formats qemu-img cannot make), the offsets
/// of their interesting fields, and a small real backing chain to mutate.
/// </summary>
public sealed class ProbeFuzzCorpus : IAsyncLifetime
{
    private const string Secret = "secret,id=sec0,data=abc123";

    private readonly TempDir _dir = new();

    public string Dir => _dir.Path;

    public List<(string Name, byte[] Header, int[] Fields)> Samples { get; } = [];

    /// <summary>The chain top.qcow2 → l2.qed → l1.qcow2 → base.raw, plus sb.vmdk → s.vmdk: each file's first 64 KiB.</summary>
    public Dictionary<string, byte[]> Chain { get; } = [];

    public string Fifo => Path.Combine(Dir, "fifo");

    public async Task InitializeAsync()
    {
        (string File, string[] Options, string? Size)[] creates =
        [
            ("base.raw", ["-f", "raw"], "1M"),
            ("v2b.qcow2", ["-f", "qcow2", "-o", "compat=0.10", "-b", "base.raw", "-F", "raw"], null),
            ("v3ext.qcow2", ["-f", "qcow2", "-o", "lazy_refcounts=on,extended_l2=on,cluster_size=128K", "-b", "base.raw", "-F", "raw"], null),
            ("v3.qcow2", ["-f", "qcow2"], "4M"),
            ("enc.qcow2", ["--object", Secret, "-f", "qcow2", "-o", "encrypt.format=luks,encrypt.key-secret=sec0,encrypt.iter-time=10"], "4M"),
            ("q1b.qcow", ["-f", "qcow", "-b", "base.raw", "-F", "raw"], "4M"),
            ("eb.qed", ["-f", "qed", "-b", "base.raw", "-F", "raw"], null),
            ("ebq.qed", ["-f", "qed", "-b", "v3.qcow2", "-F", "qcow2"], null),
            ("s.vmdk", ["-f", "vmdk"], "10M"),
            ("sb.vmdk", ["-f", "vmdk", "-b", "s.vmdk", "-F", "vmdk"], "10M"),
            ("flat.vmdk", ["-f", "vmdk", "-o", "subformat=monolithicFlat"], "1M"),
            ("d.vdi", ["-f", "vdi"], "4M"),
            ("vd.vhd", ["-f", "vpc"], "4M"),
            ("l.luks", ["--object", Secret, "-f", "luks", "-o", "key-secret=sec0,iter-time=10"], "4M"),
            ("p.hds", ["-f", "parallels"], "4M"),
            ("x.vhdx", ["-f", "vhdx"], "4M"),
            ("l1.qcow2", ["-f", "qcow2", "-b", "base.raw", "-F", "raw"], null),
            ("l2.qed", ["-f", "qed", "-b", "l1.qcow2", "-F", "qcow2"], null),
            ("top.qcow2", ["-f", "qcow2", "-b", "l2.qed", "-F", "qed"], null),
        ];
        foreach (var (file, options, size) in creates)
        {
            string[] args = size is null ? [.. options, Path.Combine(Dir, file)] : [.. options, Path.Combine(Dir, file), size];
            await QemuImg.CreateAsync(Dir, args);
        }

        var bitmap = await QemuImg.RunAsync("bitmap", "--add", Path.Combine(Dir, "v3.qcow2"), "b0");
        Assert.True(bitmap.Succeeded, bitmap.StandardError);

        foreach (var name in new[] { "v2b.qcow2", "v3ext.qcow2", "v3.qcow2", "enc.qcow2", "q1b.qcow", "eb.qed", "ebq.qed", "s.vmdk", "sb.vmdk", "flat.vmdk", "d.vdi", "vd.vhd", "l.luks", "p.hds", "x.vhdx" })
        {
            Add(name, Read(name, ImageProbe.HeaderBytes));
        }

        Add("iso", Headers.Iso(40 * 1024));
        Add("cow", Headers.Cow(1 << 20, "base.img"));
        Add("qcow2-exts", Headers.Qcow2(backing: "base.qcow2", backingFormat: "qcow2", extraExtensions: [(0x6803f857, new byte[48]), (0x23852875, new byte[8])]));
        Add("qed-raw", Headers.Qed(1 << 20, "base.raw", 1 | 4));
        Add("vmdk-parent", Headers.Vmdk(2048, "# Disk DescriptorFile\nparentFileNameHint=\"base.vmdk\"\n"));

        foreach (var name in new[] { "base.raw", "l1.qcow2", "l2.qed", "top.qcow2", "s.vmdk", "sb.vmdk" })
        {
            Chain[name] = Read(name, 0x10000);
        }

        var mk = await ProcessRunner.Instance.RunAsync(["/usr/bin/mkfifo", Fifo]);
        Assert.True(mk.Succeeded, mk.StandardError);
    }

    public Task DisposeAsync()
    {
        _dir.Dispose();
        return Task.CompletedTask;
    }

    private byte[] Read(string name, int max)
    {
        using var f = File.OpenRead(Path.Combine(Dir, name));
        var buf = new byte[Math.Min(max, f.Length)];
        f.ReadExactly(buf);
        return buf;
    }

    private void Add(string name, byte[] header) => Samples.Add((name, header, ProbeFuzzTests.Fields(header)));
}

/// <summary>
/// Mutation fuzzing of <see cref="ImageProbe"/> and <see cref="BackingChain"/>: the probe must never throw, never
/// hang and never report something the header cannot hold; the chain walk must only ever fail with
/// <see cref="VirtPoolException"/>.
/// </summary>
public sealed class ProbeFuzzTests(ProbeFuzzCorpus corpus) : IClassFixture<ProbeFuzzCorpus>
{
    /// <summary>
    /// Each test's hang guard, not a speed limit: a probe or walk that never ends fails the test instead
    /// of stalling the run (no per-probe time limit: it would fail on a loaded machine, not on a slow probe).
    /// </summary>
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(60);

    private static readonly string[] PlantedNames =
    [
        "top.qcow2", "l1.qcow2", "./l2.qed", "base.raw", "sub/../l1.qcow2", "link", "missing", "", "/", ".", "..",
        "nbd://h:1/e", "rbd:pool/img", "json:{}", "fat:/nonexistent", "foo:bar", "gluster://h/v/i", "l1.qcow2/", "/dev/null",
        "a:b/c", new string('A', 1000), "l1.qcow2\0trailing", "\u00e9\u00e8.qcow2",
    ];

    /// <summary>How the edits are described, for CsCheck to print and shrink.</summary>
    public readonly record struct Edit(int Kind, int Where, ulong Value, int Width)
    {
        public override string ToString() => $"{Kind}@{Where}:{Value:x}/{Width}";
    }

    private static readonly Gen<Edit> GenEdit = Gen.Frequency<Edit>(
        (3, Gen.Select(Gen.Int[0, int.MaxValue], Gen.ULong[0, 7]).Select((w, v) => new Edit(0, w, v, 0))),            // bit flip
        (2, Gen.Select(Gen.Int[0, int.MaxValue], Gen.ULong[0, 255]).Select((w, v) => new Edit(1, w, v, 0))),          // byte overwrite
        (6, Gen.Select(Gen.Int[0, int.MaxValue], Gen.ULong, Gen.Int[0, 3]).Select((w, v, k) => new Edit(2, w, v, k))), // field value
        (1, Gen.Int[0, int.MaxValue].Select(w => new Edit(3, w, 0, 0))),                                              // truncation
        (1, Gen.Select(Gen.Int[0, int.MaxValue], Gen.ULong, Gen.Int[1, 64]).Select((w, v, n) => new Edit(4, w, v, n))), // garbage run
        (1, Gen.Select(Gen.Int[0, int.MaxValue], Gen.Int[0, 1 << 16]).Select((w, n) => new Edit(5, w, 0, n))));        // extend with zeros/garbage

    [Fact]
    public void Mutated_real_headers_never_throw_and_stay_sane()
    {
        var samples = corpus.Samples;
        var gen = Gen.Select(Gen.Int[0, samples.Count - 1], GenEdit.Array[1, 8], Gen.ULong);
        var count = 0;
        Bounded(() => gen.Sample((s, edits, size) =>
        {
            var (name, header, fields) = samples[s];
            var buf = Apply(header, fields, edits);
            Check(buf, size, name);
            Interlocked.Increment(ref count);
        }, iter: 30_000));
        Assert.Equal(30_000, count);
    }

    [Fact]
    public void Every_truncation_of_every_real_header()
    {
        var probes = 0;
        Bounded(() =>
        {
            foreach (var (name, header, _) in corpus.Samples)
            {
                // Every length through the fixed fields and the first extensions/names, then a stride to the end.
                for (var len = 0; len <= header.Length; len += len < 4096 ? 1 : 97)
                {
                    Check(header.AsSpan(0, len), (ulong)header.Length, name);
                    probes++;
                }

                Assert.Equal(ImageProbe.Probe(header, 1 << 30), Check(header, 1 << 30, name));
            }
        });
        Assert.True(probes > 50_000, probes.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public void Huge_offsets_and_lengths_in_backing_and_extension_fields()
    {
        var probes = 0;
        Bounded(() =>
        {
            foreach (var (name, header, _) in corpus.Samples)
            {
                var pairs = BackingFieldPairs(header);
                foreach (var (offAt, lenAt, bigEndian) in pairs)
                {
                    var buf = (byte[])header.Clone();
                    foreach (var off in Interesting(buf.Length))
                    {
                        foreach (var len in Interesting(buf.Length))
                        {
                            WriteField(buf, offAt, off, bigEndian ? 2 : 0);
                            WriteField(buf, lenAt, len, bigEndian ? 1 : 3);
                            Check(buf, 1 << 30, name);
                            probes++;
                        }
                    }
                }
            }
        });
        Assert.True(probes > 5_000, probes.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public void Real_magic_and_header_prefix_then_random_garbage()
    {
        var samples = corpus.Samples;
        var gen = Gen.Select(Gen.Int[0, samples.Count - 1], Gen.Int[4, 512], Gen.Byte.Array[0, 40_000]);
        Bounded(() => gen.Sample((s, keep, tail) =>
        {
            var (name, header, _) = samples[s];
            var prefix = header.AsSpan(0, Math.Min(keep, header.Length));
            var buf = new byte[prefix.Length + tail.Length];
            prefix.CopyTo(buf);
            tail.CopyTo(buf, prefix.Length);
            Check(buf, (ulong)buf.Length, name);
        }, iter: 3_000));
    }

    [Fact]
    public void ProbeFile_of_mutated_files_equals_Probe_of_their_first_bytes()
    {
        using var dir = new TempDir();
        var samples = corpus.Samples;
        var gen = Gen.Select(Gen.Int[0, samples.Count - 1], GenEdit.Array[1, 6], Gen.Int[0, 40_000]);
        var count = 0;
        Bounded(() => gen.Sample((s, edits, extra) =>
        {
            var (name, header, fields) = samples[s];
            var bytes = Apply(header, fields, edits);
            if (extra > 30_000)
            {
                // Past libvirt's 0x8200 bytes too: ProbeFile reads only that far.
                Array.Resize(ref bytes, bytes.Length + extra);
            }

            var path = Path.Combine(dir.Path, $"f{Environment.CurrentManagedThreadId}");
            File.WriteAllBytes(path, bytes);
            var fromFile = ImageProbe.ProbeFile(path);
            var fromSpan = Check(bytes.AsSpan(0, Math.Min(bytes.Length, ImageProbe.HeaderBytes)), (ulong)bytes.Length, name);
            Assert.Equal(fromSpan, fromFile);
            Assert.Equal(ImageProbe.Probe(bytes, (ulong)bytes.Length).Format, ImageProbe.ProbeFile(path, ImageProbe.MaxHeaderBytes).Format);
            Interlocked.Increment(ref count);
        }, iter: 1_500));
        Assert.Equal(1_500, count);
    }

    [Fact]
    public void BackingChain_over_mutated_chains_fails_only_with_VirtPoolException()
    {
        using var dir = new TempDir();
        var files = corpus.Chain.Keys.Order(StringComparer.Ordinal).ToArray();
        string[] names = [.. PlantedNames, corpus.Fifo];
        var plant = Gen.Frequency<int>((3, Gen.Const(-1)), (2, Gen.Int[0, names.Length - 1]));
        var gen = Gen.Select(Gen.Int[0, files.Length - 1], GenEdit.Array[0, 4], plant, Gen.Int[1, 8], Gen.Int[0, files.Length - 1]);
        var outcomes = new int[2];
        var iteration = 0;
        Bounded(() => gen.Sample((victim, edits, planted, maxDepth, start) =>
        {
            var run = Path.Combine(dir.Path, $"r{Interlocked.Increment(ref iteration)}");
            Directory.CreateDirectory(run);
            try
            {
                foreach (var (file, bytes) in corpus.Chain)
                {
                    var content = bytes;
                    if (file == files[victim])
                    {
                        content = Apply(bytes, Fields(bytes), edits);
                        if (planted >= 0)
                        {
                            content = PlantBacking(content, names[planted]);
                        }
                    }

                    File.WriteAllBytes(Path.Combine(run, file), content);
                }

                File.CreateSymbolicLink(Path.Combine(run, "link"), "top.qcow2");
                Directory.CreateDirectory(Path.Combine(run, "sub"));
                try
                {
                    var chain = BackingChain.Resolve(Path.Combine(run, files[start]), maxDepth);
                    Assert.InRange(chain.Count, 1, maxDepth);
                    Assert.Equal(Enumerable.Range(1, chain.Count), chain.Select(l => l.Depth));
                    var local = chain.Where(l => l.Info is not null).Select(l => (l.Device, l.Inode)).ToList();
                    Assert.Equal(local.Count, local.Distinct().Count());
                    Interlocked.Increment(ref outcomes[0]);
                }
                catch (VirtPoolException ex)
                {
                    Assert.False(string.IsNullOrEmpty(ex.Message));
                    Interlocked.Increment(ref outcomes[1]);
                }
            }
            finally
            {
                Directory.Delete(run, recursive: true);
            }
        }, iter: 1_200));

        // Both outcomes are exercised.
        Assert.True(outcomes[0] > 50 && outcomes[1] > 50, $"{outcomes[0]} resolved, {outcomes[1]} failed");
    }

    [Fact]
    public async Task Vhdx_is_raw_for_libvirt_and_vhdx_for_qemu()
    {
        var path = Path.Combine(corpus.Dir, "x.vhdx");
        var info = ImageProbe.ProbeFile(path);
        Assert.Equal("vhdx", info.DetectedQemuFormat);
        Assert.Equal(new ImageInfo { Format = StorageFileFormat.Raw, Capacity = (ulong)new FileInfo(path).Length }, info with { DetectedQemuFormat = null });
        Assert.Equal("vhdx", (await QemuImg.InfoAsync(path)).Format);

        // Only the signature counts; everything else is null.
        Assert.Equal("vhdx", ImageProbe.Probe("vhdxfile"u8, 8).DetectedQemuFormat);
        Assert.Null(ImageProbe.Probe("vhdxfil"u8, 7).DetectedQemuFormat);
        Assert.Null(ImageProbe.Probe("Vhdxfile"u8, 8).DetectedQemuFormat);
        foreach (var (name, header, _) in corpus.Samples.Where(s => s.Name != "x.vhdx"))
        {
            Assert.Null(ImageProbe.Probe(header, 1 << 30).DetectedQemuFormat);
            Assert.True(name.Length > 0);
        }
    }

    /// <summary>The offsets of the fields worth hitting with boundary values, for the format the header starts with.</summary>
    public static int[] Fields(byte[] h)
    {
        var s = h.AsSpan();
        var fields = new List<int>();
        if (s.Length >= 4 && s[0] == 'Q' && s[1] == 'F' && s[2] == 'I' && s[3] == 0xfb)
        {
            fields.AddRange([4, 8, 12, 16, 20, 24, 32, 36, 40, 48, 72, 80, 88, 96, 100]);
            if (s.Length >= 24)
            {
                var version = BinaryPrimitives.ReadUInt32BigEndian(s[4..]);
                var start = version == 3 && s.Length >= 104 ? BinaryPrimitives.ReadUInt32BigEndian(s[100..]) : 72u;
                var off = (long)start;
                for (var i = 0; i < 16 && off + 8 <= s.Length; i++)
                {
                    fields.Add((int)off);
                    fields.Add((int)off + 4);
                    var len = BinaryPrimitives.ReadUInt32BigEndian(s[((int)off + 4)..]);
                    if (BinaryPrimitives.ReadUInt32BigEndian(s[(int)off..]) == 0)
                    {
                        break;
                    }

                    off += 8 + ((len + 7) & ~7L);
                }

                var backing = BinaryPrimitives.ReadUInt64BigEndian(s[8..]);
                if (backing is > 0 and < int.MaxValue)
                {
                    fields.Add((int)backing);
                }
            }
        }
        else if (s.StartsWith("QED\0"u8))
        {
            fields.AddRange([4, 8, 12, 16, 24, 32, 40, 48, 56, 60]);
            if (s.Length >= 60)
            {
                fields.Add((int)Math.Min(BinaryPrimitives.ReadUInt32LittleEndian(s[56..]), int.MaxValue));
            }
        }
        else if (s.StartsWith("KDMV"u8))
        {
            fields.AddRange([4, 8, 12, 20, 28, 36, 0x200]);
            var hint = s.IndexOf("parentFileNameHint"u8);
            if (hint >= 0)
            {
                fields.AddRange([hint, hint + 19, hint + 20]);
            }
        }
        else if (s.StartsWith("conectix"u8))
        {
            fields.AddRange([8, 12, 16, 40, 48]);
        }
        else if (s.StartsWith("WithouFreSpacExt"u8))
        {
            fields.AddRange([16, 28, 32, 36]);
        }
        else if (s.StartsWith("OOOM"u8))
        {
            fields.AddRange([4, 8, 1028, 1032, 1036]);
        }
        else if (s.StartsWith("LUKS"u8) && s.Length >= 6 && s[4] == 0xba && s[5] == 0xbe)
        {
            fields.AddRange([6, 104, 108]);
        }
        else if (s.StartsWith("vhdxfile"u8))
        {
            fields.AddRange([0, 8, 0x10000]);
        }

        fields.AddRange([64, 68, 368, 32769]); // vdi and iso, which sit past other magics
        return [.. fields.Where(f => f >= 0 && f < h.Length).Distinct()];
    }

    /// <summary>Where a header keeps a backing name's offset and length (and the endianness).</summary>
    private static List<(int OffsetAt, int LengthAt, bool BigEndian)> BackingFieldPairs(byte[] h)
    {
        var s = h.AsSpan();
        if (s.Length >= 4 && s[0] == 'Q' && s[1] == 'F' && s[2] == 'I' && s[3] == 0xfb)
        {
            var pairs = new List<(int, int, bool)> { (8, 16, true) };

            // The first extension's magic/length and, for v3, the header length with the first extension length.
            var fields = Fields(h);
            if (fields.Contains(104))
            {
                pairs.Add((100, 108, true));
            }
            else if (fields.Contains(72))
            {
                pairs.Add((72, 76, true));
            }

            return pairs;
        }

        return s.StartsWith("QED\0"u8) ? [(56, 60, false)] : [];
    }

    private static ulong[] Interesting(int length) =>
    [
        0, 1, 7, 8, 72, 100, 104, (ulong)length - 8, (ulong)length - 1, (ulong)length, (ulong)length + 1,
        1023, 1024, ImageProbe.HeaderBytes - 1, ImageProbe.HeaderBytes, 0x7fffffff, 0x80000000, 0xffffffff, 1UL << 32,
        long.MaxValue, ulong.MaxValue - 7, ulong.MaxValue,
    ];

    /// <summary>Applies the edits to a copy of <paramref name="header"/>.</summary>
    public static byte[] Apply(byte[] header, int[] fields, Edit[] edits)
    {
        var buf = (byte[])header.Clone();
        foreach (var e in edits)
        {
            if (e.Kind == 3)
            {
                Array.Resize(ref buf, e.Where % (buf.Length + 1));
                continue;
            }

            if (e.Kind == 5)
            {
                var old = buf.Length;
                Array.Resize(ref buf, Math.Min(old + e.Width, 2 * ImageProbe.HeaderBytes));
                if ((e.Where & 1) == 1)
                {
                    new Random(e.Where).NextBytes(buf.AsSpan(old));
                }

                continue;
            }

            if (buf.Length == 0)
            {
                continue;
            }

            switch (e.Kind)
            {
                case 0:
                    buf[e.Where % buf.Length] ^= (byte)(1 << (int)e.Value);
                    break;
                case 1:
                    buf[e.Where % buf.Length] = (byte)e.Value;
                    break;
                case 2:
                    {
                        // A field gets a boundary value (relative to the buffer) or a random one.
                        var at = fields.Length > 0 && e.Where % 4 != 0 ? fields[e.Where % fields.Length] : e.Where % buf.Length;
                        var interesting = Interesting(buf.Length);
                        var value = (e.Value & 3) == 0 ? e.Value : interesting[(int)((e.Value >> 2) % (ulong)interesting.Length)];
                        WriteField(buf, at, value, e.Width);
                        break;
                    }

                case 4:
                    {
                        var at = e.Where % buf.Length;
                        var n = Math.Min(e.Width, buf.Length - at);
                        new Random((int)(e.Value & 0x7fffffff)).NextBytes(buf.AsSpan(at, n));
                        break;
                    }
            }
        }

        return buf;
    }

    /// <summary>Width 0..3: 32-bit little, 32-bit big, 64-bit big, 64-bit little; clipped to the buffer.</summary>
    private static void WriteField(byte[] buf, int at, ulong value, int width)
    {
        Span<byte> tmp = stackalloc byte[8];
        var size = width is 0 or 1 ? 4 : 8;
        switch (width)
        {
            case 0:
                BinaryPrimitives.WriteUInt32LittleEndian(tmp, (uint)value);
                break;
            case 1:
                BinaryPrimitives.WriteUInt32BigEndian(tmp, (uint)value);
                break;
            case 2:
                BinaryPrimitives.WriteUInt64BigEndian(tmp, value);
                break;
            default:
                BinaryPrimitives.WriteUInt64LittleEndian(tmp, value);
                break;
        }

        if (at >= 0 && at < buf.Length)
        {
            tmp[..Math.Min(size, buf.Length - at)].CopyTo(buf.AsSpan(at));
        }
    }

    /// <summary>Points a qcow/qcow2/qed header's backing name at <paramref name="name"/>, written at offset 0x1000.</summary>
    private static byte[] PlantBacking(byte[] h, string name)
    {
        var bytes = Encoding.UTF8.GetBytes(name);
        if (h.Length < 0x1000 + bytes.Length)
        {
            return h;
        }

        var buf = (byte[])h.Clone();
        bytes.CopyTo(buf, 0x1000);
        if (buf[0] == 'Q' && buf[1] == 'F' && buf[2] == 'I')
        {
            Headers.SetBacking(buf, 0x1000, (uint)bytes.Length);
        }
        else if (buf.AsSpan().StartsWith("QED\0"u8))
        {
            BinaryPrimitives.WriteUInt64LittleEndian(buf.AsSpan(16), BinaryPrimitives.ReadUInt64LittleEndian(buf.AsSpan(16)) | 1);
            BinaryPrimitives.WriteUInt32LittleEndian(buf.AsSpan(56), 0x1000);
            BinaryPrimitives.WriteUInt32LittleEndian(buf.AsSpan(60), (uint)bytes.Length);
        }

        return buf;
    }

    /// <summary>Runs <paramref name="body"/> on the thread pool and fails if it outlives <see cref="Budget"/>.</summary>
    private static void Bounded(Action body)
    {
        var task = Task.Run(body);
        if (!task.Wait(Budget))
        {
            Assert.Fail($"fuzzing did not finish within {Budget}: a probe hangs");
        }
    }

    /// <summary>Probes and checks every invariant a result must keep whatever the bytes.</summary>
    private static ImageInfo Check(ReadOnlySpan<byte> buf, ulong fileSize, string what)
    {
        var before = GC.GetAllocatedBytesForCurrentThread();
        ImageInfo info;
        try
        {
            info = ImageProbe.Probe(buf, fileSize);
        }
        catch (Exception ex)
        {
            throw new Xunit.Sdk.XunitException($"{what}: Probe threw on {buf.Length} bytes ({Convert.ToHexString(buf[..Math.Min(buf.Length, 128)])}): {ex}");
        }

        // What a probe allocates is bounded by the header (strings from it, UTF-16), whatever the bytes.
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(allocated <= (3L * buf.Length) + (16 * 1024), $"{what}: {buf.Length} bytes allocated {allocated}");

        var f = info.Format;
        Assert.True(Enum.IsDefined(f), what);
        Assert.True(f is not (StorageFileFormat.None or StorageFileFormat.Dir or StorageFileFormat.Bochs or StorageFileFormat.Cloop or StorageFileFormat.Dmg or StorageFileFormat.Fat or StorageFileFormat.Vhd), $"{what}: {f}");
        Assert.True(info.BackingStore is null || info.BackingStore.Length <= buf.Length, $"{what}: backing name of {info.BackingStore?.Length} chars from {buf.Length} bytes");
        Assert.True(info.BackingStore is null || f is StorageFileFormat.Cow or StorageFileFormat.Qcow or StorageFileFormat.Qcow2 or StorageFileFormat.Qed or StorageFileFormat.Vmdk, $"{what}: backing for {f}");
        Assert.True(info.BackingFormat is null || f is StorageFileFormat.Qcow2 or StorageFileFormat.Qed, $"{what}: backing format for {f}");
        Assert.True(!info.BackingFormatAutoSafe || (f == StorageFileFormat.Qed && info.BackingFormat is null && info.BackingStore is not null), what);
        Assert.True(info.Compat is null || (info.Compat == "1.1" && f == StorageFileFormat.Qcow2), $"{what}: compat {info.Compat}");
        Assert.True(!(info.LazyRefcounts || info.ExtendedL2) || info.Compat == "1.1", what);
        Assert.True(info.ClusterSize is null || (f == StorageFileFormat.Qcow2 && BitOperations.IsPow2(info.ClusterSize.Value)), $"{what}: cluster {info.ClusterSize}");
        Assert.Equal(info.Encrypted, info.EncryptionFormat is not null);
        Assert.True(info.EncryptionFormat is null or "qcow" or "luks", what);
        Assert.True(!info.ProbeFailed || f == StorageFileFormat.Qcow2, what);
        Assert.True(info.HeaderVersion is null || f is StorageFileFormat.Vpc or StorageFileFormat.Vdi or StorageFileFormat.Cow or StorageFileFormat.Qcow or StorageFileFormat.Qcow2 or StorageFileFormat.Vmdk, what);
        if ((f == StorageFileFormat.Raw && !info.Encrypted) || f is StorageFileFormat.Iso or StorageFileFormat.Ploop)
        {
            Assert.Equal(fileSize, info.Capacity);
        }

        Assert.Equal(buf.StartsWith("vhdxfile"u8) ? "vhdx" : null, info.DetectedQemuFormat);

        // Deterministic, and independent of what lies past the span.
        Assert.Equal(info, ImageProbe.Probe(buf.ToArray(), fileSize));
        return info;
    }
}
