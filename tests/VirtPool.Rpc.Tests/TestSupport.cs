using System.Buffers;
using System.Globalization;
using System.Text;

namespace VirtPool.Rpc.Tests;

internal static class Hex
{
    /// <summary>Hex with any spacing, newlines and '|' separators, as the spec writes wire dumps.</summary>
    public static byte[] Parse(string text)
    {
        var digits = new StringBuilder(text.Length);
        foreach (char c in text)
        {
            if (Uri.IsHexDigit(c))
            {
                digits.Append(c);
            }
        }

        return Convert.FromHexString(digits.ToString());
    }

    public static string Format(ReadOnlySpan<byte> bytes) => Convert.ToHexString(bytes).ToLower(CultureInfo.InvariantCulture);
}

/// <summary>Builds multi-segment sequences, the shape a pipe hands over when a packet arrives in pieces.</summary>
internal sealed class Segment : ReadOnlySequenceSegment<byte>
{
    private Segment(ReadOnlyMemory<byte> memory, long runningIndex)
    {
        Memory = memory;
        RunningIndex = runningIndex;
    }

    public static ReadOnlySequence<byte> Split(byte[] data, params int[] cuts)
    {
        var bounds = cuts.Where(c => c > 0 && c < data.Length).Distinct().Order().ToList();
        bounds.Add(data.Length);
        var first = new Segment(data.AsMemory(0, bounds[0]), 0);
        var last = first;
        for (int i = 1; i < bounds.Count; i++)
        {
            var next = new Segment(data.AsMemory(bounds[i - 1], bounds[i] - bounds[i - 1]), bounds[i - 1]);
            last.Next = next;
            last = next;
        }

        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    public static ReadOnlySequence<byte> BytePerSegment(byte[] data)
        => Split(data, Enumerable.Range(1, Math.Max(0, data.Length - 1)).ToArray());
}

internal static class Packets
{
    /// <summary>Reads every complete packet; the payloads are copied so they outlive the buffer.</summary>
    public static List<(RpcHeader Header, byte[] Payload)> ReadAll(ReadOnlySequence<byte> buffer, out long leftover)
    {
        var packets = new List<(RpcHeader, byte[])>();
        while (RpcFrame.TryReadPacket(ref buffer, out var packet))
        {
            packets.Add((packet.Header, packet.Payload.ToArray()));
        }

        leftover = buffer.Length;
        return packets;
    }

    public static byte[] Build(in RpcHeader header, ReadOnlySpan<byte> payload)
    {
        var output = new ArrayBufferWriter<byte>();
        RpcFrame.WritePacket(output, header, payload);
        return output.WrittenSpan.ToArray();
    }
}
