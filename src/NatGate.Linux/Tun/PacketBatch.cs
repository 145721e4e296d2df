using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace NatGate.Linux.Tun;

/// <summary>
/// A fixed set of packet slots in one pinned array, read into and written from without
/// copying or allocating. Slot <c>i</c> holds an optional <c>virtio_net_hdr</c>
/// (<see cref="HeaderLength"/> bytes) followed by up to <see cref="PacketCapacity"/> bytes of
/// IP packet; one read(2) or write(2) covers both. A packet of length 0 is skipped on write,
/// which is how the data path drops a packet in place.
/// </summary>
public sealed unsafe class PacketBatch
{
    /// <summary>Bytes of a <c>virtio_net_hdr</c> (linux/virtio_net.h, without num_buffers).</summary>
    public const int VirtioHeaderLength = 10;

    private const int SlotAlignment = 64;

    private readonly byte[] _memory;
    private readonly byte* _base;
    private readonly int[] _lengths;

    /// <summary>Creates <paramref name="capacity"/> slots, each for a packet of up to <paramref name="packetCapacity"/> bytes.</summary>
    public PacketBatch(int capacity, int packetCapacity, bool virtioHeader = false)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(packetCapacity, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(packetCapacity, 65535 + 14);
        Capacity = capacity;
        PacketCapacity = packetCapacity;
        HeaderLength = virtioHeader ? VirtioHeaderLength : 0;
        // One spare byte lets a read tell a packet that fills the slot from one cut to fit it.
        SlotSize = (HeaderLength + packetCapacity + 1 + SlotAlignment - 1) / SlotAlignment * SlotAlignment;
        // The pinned object heap never moves the array, so one address serves every call.
        _memory = GC.AllocateArray<byte>(checked(capacity * SlotSize), pinned: true);
        _base = (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_memory));
        _lengths = new int[capacity];
    }

    /// <summary>How many slots the batch has.</summary>
    public int Capacity { get; }

    /// <summary>The largest packet a slot holds, not counting the virtio header.</summary>
    public int PacketCapacity { get; }

    /// <summary>0, or <see cref="VirtioHeaderLength"/> when each slot starts with a virtio header.</summary>
    public int HeaderLength { get; }

    /// <summary>Bytes between the starts of two slots (header, packet, alignment padding).</summary>
    public int SlotSize { get; }

    /// <summary>How many slots hold packets: set by a read, or by the caller before a write.</summary>
    public int Count
    {
        get;
        set
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value);
            ArgumentOutOfRangeException.ThrowIfGreaterThan(value, Capacity);
            field = value;
        }
    }

    /// <summary>The packet in slot <paramref name="index"/>: its first <see cref="GetLength"/> bytes.</summary>
    public Span<byte> Packet(int index) => new(_base + SlotOffset(index) + HeaderLength, _lengths[index]);

    /// <summary>The whole packet area of slot <paramref name="index"/>, for building a packet in place.</summary>
    public Span<byte> PacketSpace(int index) => new(_base + SlotOffset(index) + HeaderLength, PacketCapacity);

    /// <summary>The virtio header of slot <paramref name="index"/>; empty when the batch has none.</summary>
    public Span<byte> VirtioHeader(int index) => new(_base + SlotOffset(index), HeaderLength);

    /// <summary>Every slot, back to back: slot i starts at i * <see cref="SlotSize"/>, its packet <see cref="HeaderLength"/> bytes later.</summary>
    public Span<byte> Slots => new(_base, Capacity * SlotSize);

    /// <summary>The packet lengths of the slots in use (writable: 0 drops a packet).</summary>
    public Span<int> Lengths => _lengths.AsSpan(0, Count);

    /// <summary>The packet length in slot <paramref name="index"/>; 0 means no packet (skipped on write).</summary>
    public int GetLength(int index) => _lengths[index];

    /// <summary>Sets the packet length of slot <paramref name="index"/>, for example after rewriting it.</summary>
    public void SetLength(int index, int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, PacketCapacity);
        _lengths[index] = length;
    }

    /// <summary>Marks slot <paramref name="index"/> as dropped: the next write skips it.</summary>
    public void Drop(int index) => _lengths[index] = 0;

    /// <summary>Copies <paramref name="packet"/> into the next slot and counts it; false when the batch is full.</summary>
    public bool TryAdd(ReadOnlySpan<byte> packet)
    {
        if (Count == Capacity || packet.Length > PacketCapacity)
        {
            return false;
        }
        int index = Count;
        VirtioHeader(index).Clear();
        packet.CopyTo(PacketSpace(index));
        _lengths[index] = packet.Length;
        Count = index + 1;
        return true;
    }

    /// <summary>Empties the batch (lengths and count); the bytes are left as they are.</summary>
    public void Clear()
    {
        Array.Clear(_lengths, 0, Count);
        Count = 0;
    }

    internal byte* SlotPointer(int index) => _base + SlotOffset(index);

    internal void SetReadLength(int index, int length) => _lengths[index] = length;

    private int SlotOffset(int index)
    {
        if ((uint)index >= (uint)Capacity)
        {
            throw new ArgumentOutOfRangeException(nameof(index), index, $"The batch has {Capacity} slots.");
        }
        return index * SlotSize;
    }
}
