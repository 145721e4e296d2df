using System.Buffers.Binary;

namespace NatGate.Linux.Tests.FastPath;

/// <summary>Reads the frames of a pcap file as tcpdump -w writes it (libpcap format, Ethernet).</summary>
internal static class Pcap
{
    public static List<byte[]> ReadFrames(string path)
    {
        byte[] file = File.ReadAllBytes(path);
        var frames = new List<byte[]>();
        if (file.Length < 24)
        {
            return frames;
        }
        // The magic says the writer's byte order: a1b2c3d4 (microseconds) or a1b23c4d (nanoseconds).
        uint magic = BinaryPrimitives.ReadUInt32LittleEndian(file);
        bool little = magic is 0xA1B2C3D4 or 0xA1B23C4D;
        int offset = 24;
        while (offset + 16 <= file.Length)
        {
            ReadOnlySpan<byte> record = file.AsSpan(offset, 16);
            int captured = (int)(little ? BinaryPrimitives.ReadUInt32LittleEndian(record[8..]) : BinaryPrimitives.ReadUInt32BigEndian(record[8..]));
            offset += 16;
            if (offset + captured > file.Length)
            {
                break; // a record cut short when tcpdump stopped
            }
            frames.Add(file.AsSpan(offset, captured).ToArray());
            offset += captured;
        }
        return frames;
    }
}
