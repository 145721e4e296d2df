using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using NatGate.Core.Checksums;

namespace NatGate.Core.Translation.Nat64;

/// <summary>
/// The in-place field rewrites both translation directions share: a 16-bit port or identifier
/// replaced with its checksum change gathered into a delta, and the delta applied once. Fields
/// beyond the bytes present (in a quoted, truncated packet) are left alone.
/// </summary>
internal static class TransportFields
{
    /// <summary>Writes <paramref name="value"/> into the 16-bit field at <paramref name="offset"/> when given and present; returns the delta with its change added.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort Rewrite(Span<byte> bytes, int offset, ushort? value, ushort delta)
    {
        if (value is not ushort newValue || bytes.Length < offset + 2)
        {
            return delta;
        }
        ushort oldValue = BinaryPrimitives.ReadUInt16BigEndian(bytes[offset..]);
        BinaryPrimitives.WriteUInt16BigEndian(bytes[offset..], newValue);
        return InternetChecksum.Add(delta, InternetChecksum.Delta(oldValue, newValue));
    }

    /// <summary>Applies <paramref name="delta"/> to the checksum at <paramref name="offset"/> when present; a UDP zero stays zero.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void AdjustChecksum(Span<byte> bytes, int offset, ushort delta, bool udp)
    {
        if (bytes.Length < offset + 2)
        {
            return;
        }
        ushort checksum = BinaryPrimitives.ReadUInt16BigEndian(bytes[offset..]);
        checksum = udp ? InternetChecksum.ApplyDeltaUdp(checksum, delta) : InternetChecksum.ApplyDelta(checksum, delta);
        BinaryPrimitives.WriteUInt16BigEndian(bytes[offset..], checksum);
    }
}
