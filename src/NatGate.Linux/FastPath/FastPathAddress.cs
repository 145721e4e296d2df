using System.Net;
using System.Runtime.CompilerServices;

namespace NatGate.Linux.FastPath;

/// <summary>
/// The 16 address bytes of natgate_fastpath.h's key and value: an IPv6 address, or an IPv4
/// address in the first 4 bytes and zeros after them (network byte order, as in the packet).
/// </summary>
[InlineArray(Size)]
public struct FastPathAddress : IEquatable<FastPathAddress>
{
    public const int Size = 16;

    private byte element;

    /// <summary>An address from its 4 (IPv4) or 16 (IPv6) bytes in network byte order.</summary>
    public static FastPathAddress From(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length is not (4 or Size))
        {
            throw new ArgumentException($"an address is 4 or 16 bytes, not {bytes.Length}", nameof(bytes));
        }
        FastPathAddress address = default;
        bytes.CopyTo(address);
        return address;
    }

    /// <summary>An address from an <see cref="IPAddress"/> (allocates nothing more than the caller's address).</summary>
    public static FastPathAddress From(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        Span<byte> bytes = stackalloc byte[Size];
        if (!address.TryWriteBytes(bytes, out int written))
        {
            throw new ArgumentException("the address does not fit 16 bytes", nameof(address));
        }
        return From(bytes[..written]);
    }

    /// <summary>The address of the given family (4 or 6), for listings.</summary>
    public readonly IPAddress ToAddress(byte family)
    {
        ReadOnlySpan<byte> bytes = this;
        return new IPAddress(family == 4 ? bytes[..4] : bytes);
    }

    public readonly bool Equals(FastPathAddress other) => ((ReadOnlySpan<byte>)this).SequenceEqual(other);

    public override readonly bool Equals(object? obj) => obj is FastPathAddress other && Equals(other);

    public override readonly int GetHashCode()
    {
        var hash = new HashCode();
        hash.AddBytes(this);
        return hash.ToHashCode();
    }

    public static bool operator ==(FastPathAddress left, FastPathAddress right) => left.Equals(right);

    public static bool operator !=(FastPathAddress left, FastPathAddress right) => !left.Equals(right);
}
