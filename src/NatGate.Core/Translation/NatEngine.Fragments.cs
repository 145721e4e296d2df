using NatGate.Core.Addressing;
using NatGate.Core.Checksums;
using NatGate.Core.Packets;
using NatGate.Core.Sessions;

namespace NatGate.Core.Translation;

public sealed partial class NatEngine
{
    /// <summary>Early fragments held for their first fragment.</summary>
    public int HeldFragments => fragments.HeldFragments;

    /// <summary>
    /// Whether the first fragment in <paramref name="packet"/> can be tracked. IPv4 only for now:
    /// an IPv6 first fragment is refused until IPv6 fragments are tracked.
    /// </summary>
    private bool HasRoomForFragments<TAddress>(Span<byte> packet)
        where TAddress : unmanaged, IFlowAddress<TAddress>
    {
        if (TAddress.Size != Ipv4Address.Size || Ipv4Packet.TryParse(packet, out Ipv4Packet ip) != PacketError.None)
        {
            return false;
        }
        return fragments.HasRoom(new FragmentKey(ip.SourceAddress, ip.DestinationAddress, ip.Protocol, ip.Identification));
    }

    /// <summary>A translated first fragment: its later fragments follow it by IP identification.</summary>
    private void RememberFragments<TAddress>(Span<byte> packet, int index, bool forward, long nowTicks)
        where TAddress : unmanaged, IFlowAddress<TAddress>
    {
        if (TAddress.Size != Ipv4Address.Size || Ipv4Packet.TryParse(packet, out Ipv4Packet ip) != PacketError.None)
        {
            return;
        }
        ref Session session = ref table.At(index);
        FlowKey before = forward ? session.Original : session.Translated.Reverse();
        FlowKey after = forward ? session.Translated : session.Original.Reverse();
        ushort delta = forward ? session.IpChecksumDelta : InternetChecksum.Negate(session.IpChecksumDelta);
        fragments.Remember(new FragmentKey(before.Source, before.Destination, ip.Protocol, ip.Identification), after.Source, after.Destination, delta, nowTicks);
    }

    private void RememberPassedFragments<TAddress>(Span<byte> packet, long nowTicks)
        where TAddress : unmanaged, IFlowAddress<TAddress>
    {
        if (TAddress.Size != Ipv4Address.Size || Ipv4Packet.TryParse(packet, out Ipv4Packet ip) != PacketError.None)
        {
            return;
        }
        // Untranslated datagrams still need their later fragments let through, unchanged.
        fragments.Remember(new FragmentKey(ip.SourceAddress, ip.DestinationAddress, ip.Protocol, ip.Identification),
            ip.SourceAddress, ip.DestinationAddress, 0xFFFF, nowTicks);
    }

    private TranslationResult TranslateLaterFragment(Span<byte> buffer, Ipv4Packet ip, long nowTicks)
    {
        var key = new FragmentKey(ip.SourceAddress, ip.DestinationAddress, ip.Protocol, ip.Identification);
        int length = ip.TotalLength;
        if (fragments.TryRewrite(key, buffer[..length]))
        {
            Counters.FragmentsTranslated++;
            return new TranslationResult(Verdict.Forward, DropReason.None, length);
        }
        if (fragments.TryHold(key, buffer[..length], nowTicks, fromOutside: IsExternalAddress(ip.DestinationAddress)))
        {
            return new TranslationResult(Verdict.Held, DropReason.None, 0);
        }
        return Drop(DropReason.FragmentBufferFull);
    }

    /// <summary>
    /// Copies out a held fragment that its first fragment has since released, translated; call
    /// after each batch until it returns false.
    /// </summary>
    public bool TryTakeReleasedPacket(Span<byte> destination, out int length)
    {
        if (fragments.TryTakeReleased(destination, out length))
        {
            Counters.FragmentsTranslated++;
            return true;
        }
        return false;
    }
}
