using System.Buffers.Binary;
using CsCheck;
using VirtPool.Core.Model;

namespace VirtPool.Formats.Tests;

/// <summary>
/// Hostile input: truncated, random and mutated headers never make the probe throw, allocate more than
/// a small multiple of the header, or take long.
/// </summary>
[Collection(QemuImagesCollection.Name)]
public class RobustnessTests(QemuImages images)
{
    private static readonly byte[][] Magics =
    [
        [(byte)'Q', (byte)'F', (byte)'I', 0xfb, 0, 0, 0, 2],
        [(byte)'Q', (byte)'F', (byte)'I', 0xfb, 0, 0, 0, 3],
        [(byte)'Q', (byte)'F', (byte)'I', 0xfb, 0, 0, 0, 1],
        "QED\0"u8.ToArray(),
        [(byte)'K', (byte)'D', (byte)'M', (byte)'V', 1, 0, 0, 0],
        [(byte)'K', (byte)'D', (byte)'M', (byte)'V', 3, 0, 0, 0],
        [(byte)'O', (byte)'O', (byte)'O', (byte)'M', 0, 0, 0, 2],
        "WithouFreSpacExt"u8.ToArray(),
        [(byte)'c', (byte)'o', (byte)'n', (byte)'e', (byte)'c', (byte)'t', (byte)'i', (byte)'x', 0, 0, 0, 2, 0, 1, 0, 0],
        [(byte)'L', (byte)'U', (byte)'K', (byte)'S', 0xba, 0xbe, 0, 1],
    ];

    /// <summary>Headers of every qemu-img sample and of the hand-built formats qemu-img cannot make.</summary>
    private IEnumerable<(string Name, byte[] Header)> Corpus()
    {
        foreach (var sample in QemuImages.All)
        {
            yield return (sample.File, images.Header(sample.File));
        }

        yield return ("iso", Headers.Iso(40 * 1024));
        yield return ("cow", Headers.Cow(1 << 20, "base.img"));
        yield return ("ploop", Headers.Ploop(2048));
        yield return ("luks", Headers.Luks(4040));
        yield return ("vdi", Headers.Vdi(1 << 20));
        yield return ("vpc", Headers.Vpc(1 << 20, 1 << 20));
        yield return ("qed-backing", Headers.Qed(1 << 20, "base.img", 1));
        yield return ("qcow1-backing", Headers.Qcow1(1 << 20, "base.img", 1));
        yield return ("qcow2-extensions", Headers.Qcow2(backing: "base.qcow2", backingFormat: "qcow2", extraExtensions: [(0x6803f857, new byte[48])]));
        yield return ("vmdk-parent", Headers.Vmdk(2048, "# Disk DescriptorFile\nparentFileNameHint=\"base.vmdk\"\n"));
    }

    [Fact]
    public void Every_truncation_of_every_sample()
    {
        var probes = 0;
        foreach (var (name, header) in Corpus())
        {
            var full = ImageProbe.Probe(header, 1 << 30);
            for (var len = 0; len <= header.Length; len++)
            {
                var info = Check(header.AsSpan(0, len), name);
                probes++;

                // Below the magic nothing is recognised; at full length the answer is the full one.
                if (len == header.Length)
                {
                    Assert.Equal(full, info);
                }
            }
        }

        Assert.True(probes > 100_000, probes.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public void Random_bytes_with_and_without_magics()
    {
        var random = new Random(20240901);
        for (var i = 0; i < 4000; i++)
        {
            var len = random.Next(4) switch
            {
                0 => random.Next(0, 128),
                1 => random.Next(0, 1200),
                2 => random.Next(0, 8192),
                _ => random.Next(0, ImageProbe.HeaderBytes + 1),
            };
            var buf = new byte[len];
            random.NextBytes(buf);
            if (random.Next(3) > 0)
            {
                var magic = Magics[random.Next(Magics.Length)];
                magic.AsSpan(0, Math.Min(magic.Length, len)).CopyTo(buf);
            }

            Check(buf, "random #" + i.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
    }

    [Fact]
    public void Mutated_real_headers()
    {
        var random = new Random(1234567);
        foreach (var (name, header) in Corpus())
        {
            var buf = new byte[header.Length];
            for (var i = 0; i < 1500; i++)
            {
                header.CopyTo(buf, 0);
                Mutate(random, buf);
                Check(buf, name);
            }
        }
    }

    /// <summary>Flips bytes, mostly in the first 512 where the fields are, and plants boundary values in fields.</summary>
    private static void Mutate(Random random, byte[] buf)
    {
        if (buf.Length == 0)
        {
            return;
        }

        var edits = random.Next(1, 9);
        for (var e = 0; e < edits; e++)
        {
            var limit = random.Next(10) < 7 ? Math.Min(512, buf.Length) : buf.Length;
            var at = random.Next(limit);
            switch (random.Next(4))
            {
                case 0:
                    buf[at] ^= (byte)(1 << random.Next(8));
                    break;
                case 1:
                    buf[at] = (byte)random.Next(256);
                    break;
                default:
                    if (at + 8 <= buf.Length)
                    {
                        ulong[] values = [0, 1, 7, 8, 0x7f, 0xff, 0x200, 0x8200, 0x81ff, 0x7fffffff, 0x80000000, 0xffffffff, 0x1_0000_0000, long.MaxValue, ulong.MaxValue];
                        var value = values[random.Next(values.Length)];
                        if (random.Next(2) == 0)
                        {
                            BinaryPrimitives.WriteUInt64BigEndian(buf.AsSpan(at), value);
                        }
                        else
                        {
                            BinaryPrimitives.WriteUInt32BigEndian(buf.AsSpan(at), (uint)value);
                        }
                    }

                    break;
            }
        }
    }

    [Fact]
    public void Qcow2_extension_area_of_empty_extensions_walks_the_whole_header_quickly()
    {
        // Every 8 bytes an unknown extension of length 0: the longest walk a header allows.
        var h = new byte[ImageProbe.HeaderBytes];
        Headers.Qcow2(version: 2).AsSpan(0, 72).CopyTo(h);
        for (var off = 72; off + 8 <= h.Length; off += 8)
        {
            BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(off), 0x01020304);
        }

        Headers.SetBacking(h, (ulong)h.Length - 4, 4);
        var info = Check(h, "walk");
        Assert.Equal(StorageFileFormat.Qcow2, info.Format);
    }

    [Fact]
    public void Property_any_bytes_after_any_magic()
    {
        var gen = Gen.Select(Gen.Int[0, Magics.Length - 1], Gen.Byte.Array[0, 2048], Gen.ULong);
        gen.Sample((m, tail, size) =>
        {
            var buf = Magics[m].Concat(tail).ToArray();
            var a = ImageProbe.Probe(buf, size);
            Assert.Equal(a, ImageProbe.Probe(buf, size));
            Assert.Equal(a.Encrypted, a.EncryptionFormat is not null);
            Assert.True(a.Compat is null or "1.1");
            Assert.True(a.BackingStore is null || a.BackingStore.Length <= buf.Length);
        }, iter: 3000);
    }

    [Fact]
    public void Property_qcow2_backing_fields_anywhere()
    {
        // The backing offset/size and header length may point anywhere, including far past the buffer.
        var gen = Gen.Select(Gen.ULong, Gen.UInt, Gen.UInt, Gen.Int[2, 3], Gen.Int[8, 8192]);
        gen.Sample((offset, size, headerLength, version, length) =>
        {
            var h = Headers.Qcow2(version: version, backing: "base", backingFormat: "qcow2", length: Math.Max(length, 200));
            Headers.SetBacking(h, offset, size);
            if (version == 3)
            {
                BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(100), headerLength);
            }

            var info = ImageProbe.Probe(h.AsSpan(0, Math.Min(length, h.Length)), 1 << 20);
            Assert.Equal(StorageFileFormat.Qcow2, info.Format);
        }, iter: 3000);
    }

    private static ImageInfo Check(ReadOnlySpan<byte> header, string what)
    {
        var before = GC.GetAllocatedBytesForCurrentThread();
        var info = ImageProbe.Probe(header, 1 << 30);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        // Strings come from the header and are bounded by it (UTF-16: at most 2 bytes per input byte).
        Assert.True(allocated <= (3L * header.Length) + (16 * 1024), $"{what}: {header.Length} bytes allocated {allocated}");
        Assert.True(Enum.IsDefined(info.Format), what);
        return info;
    }
}
