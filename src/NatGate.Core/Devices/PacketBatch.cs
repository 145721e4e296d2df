using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace NatGate.Core.Devices;

/// <summary>
/// A fixed set of packet slots in one pinned array, read into and written from without
/// copying or allocating. Slot <c>i</c> holds <see cref="DeviceHeaderLength"/> bytes that
/// belong to the device (a TUN's <c>virtio_net_hdr</c>; none for most devices) followed by up
/// to <see cref="PacketCapacity"/> bytes of IP packet, so one read(2) or write(2) covers both.
/// Beside each packet is its "checksum partial" flag, the one offload fact the data path needs.
/// A packet of length 0 is skipped on write, which is how the data path drops a packet in place.
/// </summary>
public sealed unsafe class PacketBatch
{
    /// <summary>Packets a batch holds by default (wireguard-go reads 128 at most; 64 keeps a batch in cache).</summary>
    public const int DefaultCapacity = 64;

    private const int SlotAlignment = 64;

    private readonly byte[] _memory;
    private readonly byte* _base;
    private readonly int[] _lengths;
    private readonly bool[] _checksumPartial;

    /// <summary>
    /// Creates <paramref name="capacity"/> slots, each for a packet of up to
    /// <paramref name="packetCapacity"/> bytes after <paramref name="deviceHeaderLength"/> bytes
    /// the device keeps for itself.
    /// </summary>
    public PacketBatch(int capacity, int packetCapacity, int deviceHeaderLength = 0)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(packetCapacity, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(packetCapacity, 65535 + 14);
        ArgumentOutOfRangeException.ThrowIfNegative(deviceHeaderLength);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(deviceHeaderLength, SlotAlignment);
        Capacity = capacity;
        PacketCapacity = packetCapacity;
        DeviceHeaderLength = deviceHeaderLength;
        // Room to grow (which also lets a read tell a packet that fills the slot from one cut to fit it).
        SlotSize = (deviceHeaderLength + packetCapacity + GrowthRoom + SlotAlignment - 1) / SlotAlignment * SlotAlignment;
        // The pinned object heap never moves the array, so one address serves every call.
        _memory = GC.AllocateArray<byte>(checked(capacity * SlotSize), pinned: true);
        _base = (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_memory));
        _lengths = new int[capacity];
        _checksumPartial = new bool[capacity];
    }

    /// <summary>
    /// Bytes every slot keeps after <see cref="PacketCapacity"/>, so that a packet rewritten in
    /// place may grow: NAT64 makes an IPv4 packet 20 bytes longer as IPv6, 28 with a Fragment
    /// header. The engine is handed the whole slot as the packet's room; its result's length may
    /// exceed <see cref="PacketCapacity"/> by up to this much.
    /// </summary>
    public const int GrowthRoom = 28;

    /// <summary>How many slots the batch has.</summary>
    public int Capacity { get; }

    /// <summary>The largest packet a slot holds, not counting the device header.</summary>
    public int PacketCapacity { get; }

    /// <summary>Bytes before each packet that belong to the device (a TUN's virtio header), 0 for none.</summary>
    public int DeviceHeaderLength { get; }

    /// <summary>Bytes between the starts of two slots (device header, packet, alignment padding).</summary>
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
    public Span<byte> Packet(int index) => new(_base + SlotOffset(index) + DeviceHeaderLength, _lengths[index]);

    /// <summary>The whole packet area of slot <paramref name="index"/>, for building a packet in place.</summary>
    public Span<byte> PacketSpace(int index) => new(_base + SlotOffset(index) + DeviceHeaderLength, PacketCapacity);

    /// <summary>The device's header of slot <paramref name="index"/>; empty when the device keeps none.</summary>
    public Span<byte> DeviceHeader(int index) => new(_base + SlotOffset(index), DeviceHeaderLength);

    /// <summary>
    /// Slot <paramref name="index"/> whole: device header, packet space and the spare byte after
    /// it, for a device that reads into the slot in one call.
    /// </summary>
    public Span<byte> Slot(int index) => new(_base + SlotOffset(index), SlotSize);

    /// <summary>Every slot, back to back: slot i starts at i * <see cref="SlotSize"/>, its packet <see cref="DeviceHeaderLength"/> bytes later.</summary>
    public Span<byte> Slots => new(_base, Capacity * SlotSize);

    /// <summary>The packet lengths of the slots in use (writable: 0 drops a packet).</summary>
    public Span<int> Lengths => _lengths.AsSpan(0, Count);

    /// <summary>
    /// Per slot in use: whether the packet's transport checksum holds only the pseudo-header sum,
    /// left for the kernel to finish (checksum offload). Set by a read; a packet built here is
    /// whole and checksummed, so false, and the device writes it as a plain packet.
    /// </summary>
    public Span<bool> ChecksumPartial => _checksumPartial.AsSpan(0, Count);

    /// <summary>The packet length in slot <paramref name="index"/>; 0 means no packet (skipped on write).</summary>
    public int GetLength(int index) => _lengths[index];

    /// <summary>Sets the packet length of slot <paramref name="index"/>, for example after rewriting it.</summary>
    public void SetLength(int index, int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, PacketCapacity);
        _lengths[index] = length;
    }

    /// <summary>Whether the packet in slot <paramref name="index"/> has a partial checksum (see <see cref="ChecksumPartial"/>).</summary>
    public bool IsChecksumPartial(int index) => _checksumPartial[index];

    /// <summary>Sets the "checksum partial" flag of slot <paramref name="index"/> (see <see cref="ChecksumPartial"/>).</summary>
    public void SetChecksumPartial(int index, bool partial) => _checksumPartial[index] = partial;

    /// <summary>Marks slot <paramref name="index"/> as dropped: the next write skips it.</summary>
    public void Drop(int index) => _lengths[index] = 0;

    /// <summary>Copies <paramref name="packet"/> into the next slot and counts it; false when the batch is full.</summary>
    public bool TryAdd(ReadOnlySpan<byte> packet, bool checksumPartial = false)
    {
        if (Count == Capacity || packet.Length > PacketCapacity)
        {
            return false;
        }
        int index = Count;
        packet.CopyTo(PacketSpace(index));
        _lengths[index] = packet.Length;
        _checksumPartial[index] = checksumPartial;
        Count = index + 1;
        return true;
    }

    /// <summary>Empties the batch (lengths, flags and count); the bytes are left as they are.</summary>
    public void Clear()
    {
        Array.Clear(_lengths, 0, Count);
        Array.Clear(_checksumPartial, 0, Count);
        Count = 0;
    }

    private int SlotOffset(int index)
    {
        if ((uint)index >= (uint)Capacity)
        {
            throw new ArgumentOutOfRangeException(nameof(index), index, $"The batch has {Capacity} slots.");
        }
        return index * SlotSize;
    }
}
