using System.Text;

namespace NatGate.Linux.Tun;

/// <summary>How to open the TUN device: its name, how many queues, and the per-packet header.</summary>
public sealed record TunOptions
{
    /// <summary>Longest interface name Linux accepts (IFNAMSIZ 16, less the terminating zero).</summary>
    public const int MaximumNameLength = 15;

    /// <summary>The interface name; a <c>%d</c> in it lets the kernel pick a number (<c>natgate%d</c>).</summary>
    public string Name { get; init; } = "natgate0";

    /// <summary>How many queues (file descriptors) to open; more than one sets IFF_MULTI_QUEUE.</summary>
    public int Queues { get; init; } = 1;

    /// <summary>
    /// Sets IFF_VNET_HDR: every packet read or written starts with a 10-byte
    /// <c>virtio_net_hdr</c> (see <see cref="VirtioNetHeader"/>, <see cref="VirtioOffload"/>). Without
    /// <see cref="Offloads"/> the kernel still sends only whole, checksummed packets.
    /// </summary>
    public bool VirtioHeader { get; init; }

    /// <summary>
    /// With <see cref="VirtioHeader"/>: the offloads to ask for with TUNSETOFFLOAD (checksum, TSO,
    /// USO). The kernel then hands over super-packets of up to 64 KiB whose one header stands
    /// for every segment, and checksums left partial (NEEDS_CSUM); batches size their slots for them.
    /// </summary>
    public TunOffloads Offloads { get; init; }

    /// <summary>The interface MTU, set when the device is opened; batches size their slots from it.</summary>
    public int Mtu { get; init; } = 1500;

    /// <summary>Throws <see cref="ArgumentException"/> naming the first bad option.</summary>
    public void Validate()
    {
        if (string.IsNullOrEmpty(Name) || Encoding.UTF8.GetByteCount(Name) > MaximumNameLength || Name.Contains('/', StringComparison.Ordinal)
            || Name.Contains(' ', StringComparison.Ordinal) || Name is "." or "..")
        {
            throw new ArgumentException($"TUN name \"{Name}\" is not a valid interface name: use 1 to {MaximumNameLength} bytes without '/' or spaces.", nameof(Name));
        }
        if (Queues is < 1 or > 256)
        {
            throw new ArgumentException($"TUN queue count {Queues} is out of range: use 1 to 256 (the kernel's MAX_TAP_QUEUES).", nameof(Queues));
        }
        if (Offloads != TunOffloads.None && !VirtioHeader)
        {
            throw new ArgumentException("TUN offloads need the virtio header (VirtioHeader = true).", nameof(Offloads));
        }
        if (Mtu is < 68 or > 65535)
        {
            throw new ArgumentException($"TUN MTU {Mtu} is out of range: IPv4 needs 68 to 65535.", nameof(Mtu));
        }
    }
}
