namespace NatGate.Benchmarks;

/// <summary>
/// Packets laid out one per 64-byte, cache-line-aligned slot in one pinned array, so a batch
/// reads them as a NIC or TUN ring would hand them over: sequentially, a line each.
/// </summary>
internal sealed class PacketRing
{
    public const int Stride = 64;

    private readonly byte[] storage;
    private readonly int origin;

    public PacketRing(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        Count = count;
        storage = GC.AllocateUninitializedArray<byte>((count * Stride) + Stride, pinned: true);
        origin = AlignedOrigin(storage);
    }

    public int Count { get; }

    /// <summary>Bytes held, for reports.</summary>
    public long MemoryBytes => storage.LongLength;

    public Span<byte> Slot(int index) => storage.AsSpan(origin + (index * Stride), Stride);

    /// <summary>Every slot back to back, for <see cref="Core.Translation.NatEngine.TranslateBatch"/>.</summary>
    public Span<byte> All => storage.AsSpan(origin, Count * Stride);

    private static unsafe int AlignedOrigin(byte[] pinned)
    {
        fixed (byte* start = pinned)
        {
            return (int)((Stride - ((nuint)start % Stride)) % Stride);
        }
    }
}
